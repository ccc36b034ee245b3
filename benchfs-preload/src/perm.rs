//! Permission checks, as the kernel makes them for the mount (`default_permissions`:
//! the kernel's `generic_permission` from the mode bits, the owner, the group and the
//! caller's supplementary groups), so that other users than root can be served: the
//! client makes none, and the servers trust the ids they are sent.
//!
//! Root passes every check but execution (which no served call asks for). For others,
//! every served path call checks search permission on each directory from the mount's
//! root down, then what the call needs on the file or its directory, in the kernel's
//! order: a name that is missing (or already there, for a create) is ENOENT (EEXIST)
//! before a missing write permission on its directory is EACCES. The directories'
//! records come from the attribute cache, as the kernel's come from its own.

use std::ffi::CString;

use benchfs::{Attr, FileKind};

use crate::entry::Outcome;
use crate::real;
use crate::state::Place;

pub const R: u32 = 4;
pub const W: u32 = 2;
pub const X: u32 = 1;

/// The caller's effective ids (the file system ids, which equal them but in programs
/// that call setfsuid) and supplementary groups.
pub struct Who {
    pub uid: u32,
    pub gid: u32,
    groups: Vec<u32>,
}

impl Who {
    /// The calling thread's ids; `None` for root, whom no check below binds.
    pub fn current() -> Option<Who> {
        // SAFETY: geteuid cannot fail.
        let uid = unsafe { libc::geteuid() };
        if uid == 0 {
            return None;
        }
        // SAFETY: getegid cannot fail.
        Some(Who { uid, gid: unsafe { libc::getegid() }, groups: Vec::new() })
    }

    /// The caller's ids whoever it is (for a new file's owner).
    pub fn ids() -> (u32, u32) {
        // SAFETY: geteuid/getegid cannot fail.
        unsafe { (libc::geteuid(), libc::getegid()) }
    }

    pub fn in_group(&mut self, gid: u32) -> bool {
        if gid == self.gid {
            return true;
        }
        if self.groups.is_empty() {
            // SAFETY: with size 0, getgroups only counts; then fills `n` slots.
            let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
            let mut g = vec![0; usize::try_from(n).unwrap_or(0)];
            // SAFETY: `g` has room for `n` ids.
            let n = unsafe { libc::getgroups(n, g.as_mut_ptr()) };
            g.truncate(usize::try_from(n).unwrap_or(0));
            // Never empty again: the primary group is always in it.
            g.push(self.gid);
            self.groups = g;
        }
        self.groups.contains(&gid)
    }

    /// Whether the mode bits of `a` grant all of `want` (R, W, X).
    pub fn may(&mut self, a: &Attr, want: u32) -> bool {
        let bits = if self.uid == a.uid {
            a.mode >> 6
        } else if self.in_group(a.gid) {
            a.mode >> 3
        } else {
            a.mode
        } & 7;
        want & !bits == 0
    }

    /// The sticky bit of `dir` keeps others than the owners of `dir` and of `victim` from
    /// removing or renaming `victim`.
    fn sticky_forbids(&self, dir: &Attr, victim: &Attr) -> bool {
        dir.mode & libc::S_ISVTX != 0 && self.uid != dir.uid && self.uid != victim.uid
    }
}

/// The mount's root as the kernel reports it (its mode and owner are the mount's own).
fn root_attr(p: &Place) -> Result<Attr, Outcome<()>> {
    if let Some(a) = p.served.attrs.get("/") {
        return Ok(a);
    }
    let c = CString::new(if p.root.is_empty() { "/" } else { p.root.as_str() }).map_err(|_| Outcome::Kernel)?;
    // SAFETY: all-zero is a valid stat; a NUL-terminated path and a writable buffer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { real::stat(c.as_ptr(), &mut st) } != 0 {
        return Err(Outcome::Kernel);
    }
    let mut a = Attr::synthetic_dir(st.st_mode & 0o7777);
    a.uid = st.st_uid;
    a.gid = st.st_gid;
    p.served.attrs.put("/", &a);
    Ok(a)
}

/// The record of directory `dir` on the way to a path: `Err(Kernel)` for a link (the
/// kernel follows it), `Ok(None)` when it is missing or not a directory (the call then
/// fails as BenchFS says, see `calls::settle`).
fn dir_attr(p: &Place, dir: &str) -> Result<Option<Attr>, Outcome<()>> {
    if dir == "/" {
        return root_attr(p).map(Some);
    }
    match p.served.stat(dir) {
        Ok(a) if a.is_dir() => Ok(Some(a)),
        Ok(a) if a.kind == FileKind::Symlink => Err(Outcome::Kernel),
        Ok(_) | Err(benchfs::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(Outcome::Failed(crate::entry::failed(&e))),
    }
}

fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Search permission on every directory above `p.path`; `Ok(Some(parent))` with the
/// parent's record, `Ok(None)` when a directory on the way is missing (the call's own
/// answer, ENOENT or ENOTDIR, is then the kernel's too).
fn walk(p: &Place, who: &mut Who) -> Result<Option<Attr>, Outcome<()>> {
    let mut at = 0;
    let mut dir = dir_attr(p, "/")?;
    loop {
        let Some(d) = &dir else { return Ok(None) };
        if !who.may(d, X) {
            return Err(Outcome::Failed(libc::EACCES));
        }
        match p.path[at + 1..].find('/') {
            Some(i) => {
                at += 1 + i;
                dir = dir_attr(p, &p.path[..at])?;
            }
            None => return Ok(dir),
        }
    }
}

/// What a call on a path needs.
pub enum Need {
    /// Only to reach it (stat, access, readlink).
    Reach,
    /// `R`/`W` on the file (open of an existing file, truncate).
    File(u32),
    /// Open with O_CREAT: `R`/`W` on the file if it exists, else to create it.
    OpenCreate(u32),
    /// A new name in the directory (mkdir, symlink, link's new name): EEXIST first.
    Create,
    /// Removing the name (unlink, rmdir, rename's source).
    Remove,
    /// A rename's target name: created, or replaced (sticky bit).
    Replace,
    /// The owner only (chmod, and utimensat with explicit times).
    Owner,
    /// utimensat to now: the owner or write permission.
    OwnerOrWrite,
}

/// Checks what `need` on `p` for the caller: `Done(())` to go on, `Failed(errno)` to
/// answer that, `Kernel` to let the kernel decide. Root passes at once.
pub fn check(p: &Place, need: Need) -> Outcome<()> {
    let Some(mut who) = Who::current() else { return Outcome::Done(()) };
    match check_as(p, &mut who, need) {
        Ok(()) => Outcome::Done(()),
        Err(o) => o,
    }
}

fn check_as(p: &Place, who: &mut Who, need: Need) -> Result<(), Outcome<()>> {
    if p.path == "/" {
        // The mount's root is the kernel's in every call.
        return Err(Outcome::Kernel);
    }
    let Some(parent) = walk(p, who)? else { return Ok(()) };
    let target = || match p.served.stat(&p.path) {
        Ok(a) => Ok(Some(a)),
        Err(benchfs::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(Outcome::Failed(crate::entry::failed(&e))),
    };
    let deny = |e| Err(Outcome::Failed(e));
    match need {
        Need::Reach => Ok(()),
        Need::File(want) => match target()? {
            Some(a) if !who.may(&a, want) => deny(libc::EACCES),
            _ => Ok(()),
        },
        Need::OpenCreate(want) => match target()? {
            Some(a) if !who.may(&a, want) => deny(libc::EACCES),
            Some(_) => Ok(()),
            None if !who.may(&parent, W | X) => deny(libc::EACCES),
            None => Ok(()),
        },
        Need::Create => match target()? {
            Some(_) => Ok(()),
            None if !who.may(&parent, W | X) => deny(libc::EACCES),
            None => Ok(()),
        },
        Need::Remove => match target()? {
            None => Ok(()),
            Some(_) if !who.may(&parent, W | X) => deny(libc::EACCES),
            Some(a) if who.sticky_forbids(&parent, &a) => deny(libc::EPERM),
            Some(_) => Ok(()),
        },
        Need::Replace => {
            if !who.may(&parent, W | X) {
                return deny(libc::EACCES);
            }
            match target()? {
                Some(a) if who.sticky_forbids(&parent, &a) => deny(libc::EPERM),
                _ => Ok(()),
            }
        }
        Need::Owner => match target()? {
            Some(a) if a.uid != who.uid => deny(libc::EPERM),
            _ => Ok(()),
        },
        Need::OwnerOrWrite => match target()? {
            Some(a) if a.uid != who.uid && !who.may(&a, W) => deny(libc::EACCES),
            _ => Ok(()),
        },
    }
}

/// For a rename of a directory to another directory: write permission on the directory
/// itself (its `..` changes), as the kernel asks.
pub fn check_moved_dir(p: &Place, to_parent_differs: bool) -> Outcome<()> {
    let Some(mut who) = Who::current() else { return Outcome::Done(()) };
    if !to_parent_differs {
        return Outcome::Done(());
    }
    match p.served.stat(&p.path) {
        Ok(a) if a.is_dir() && !who.may(&a, W) => Outcome::Failed(libc::EACCES),
        _ => Outcome::Done(()),
    }
}

/// The owner of what the caller creates in `p`'s directory, and the setgid bit a new
/// directory takes: the parent's group when the parent is setgid, as the mount does.
pub fn owner_in_parent(p: &Place) -> ((u32, u32), u32) {
    let (uid, gid) = Who::ids();
    let parent = parent_of(&p.path);
    let a = if parent == "/" { root_attr(p).ok() } else { p.served.stat(parent).ok() };
    match a {
        Some(a) if a.mode & libc::S_ISGID != 0 => ((uid, a.gid), libc::S_ISGID),
        _ => ((uid, gid), 0),
    }
}

/// access(2)'s answer from `a` for the real ids (as access checks, with the supplementary
/// groups); root is granted all but execution of a file without any execution bit.
pub fn access_ok(a: &Attr, mode: i32) -> bool {
    let want = u32::try_from(mode & (libc::R_OK | libc::W_OK | libc::X_OK)).unwrap_or(7);
    // SAFETY: getuid/getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    if uid == 0 {
        return want & X == 0 || a.is_dir() || a.mode & 0o111 != 0;
    }
    Who { uid, gid, groups: Vec::new() }.may(a, want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_groups() {
        let mut a = Attr::synthetic_dir(0o750);
        a.uid = 10;
        a.gid = 20;
        let mut owner = Who { uid: 10, gid: 99, groups: vec![99] };
        assert!(owner.may(&a, R | W | X));
        let mut member = Who { uid: 11, gid: 99, groups: vec![20, 99] };
        assert!(member.may(&a, R | X) && !member.may(&a, W));
        let mut other = Who { uid: 12, gid: 99, groups: vec![99] };
        assert!(!other.may(&a, X));
        // The owner's class decides even when the group's would grant more.
        a.mode = 0o070;
        assert!(!owner.may(&a, R));
        a.mode = 0o1777;
        let mut victim = Attr::synthetic_dir(0o644);
        victim.uid = 13;
        assert!(other.sticky_forbids(&a, &victim));
        victim.uid = 12;
        assert!(!other.sticky_forbids(&a, &victim));
        assert_eq!(parent_of("/a/b"), "/a");
        assert_eq!(parent_of("/a"), "/");
    }
}
