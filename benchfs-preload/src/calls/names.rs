//! unlink, unlinkat, mkdir, mkdirat, rmdir, rename, renameat, truncate.

use std::ffi::{c_char, c_int};

use libc::{mode_t, off_t};

use super::{done, on_path, permitted, way_to, Way};
use crate::entry::Outcome;
use crate::perm::{self, Need};
use crate::real;
use crate::state::{self, Place, Target};

/// A namespace change on `p`; the mount's root is never served.
fn change(p: &Place, f: impl FnOnce(&Place) -> benchfs::Result<()>) -> Outcome<c_int> {
    if p.path == "/" {
        return Outcome::Kernel;
    }
    done(f(p).map(|()| 0))
}

/// The record of a name about to be removed, when this process has files open (which
/// then lose their last name: see [`crate::fds::file_removed`]).
fn victim(p: &Place) -> Option<benchfs::Attr> {
    if p.path == "/" || !crate::fds::any_open() {
        return None;
    }
    p.served.stat(&p.path).ok().filter(|a| !a.is_dir())
}

fn unlink_path(p: &Place) -> Outcome<c_int> {
    let gone = victim(p);
    // The last name of a file open here: the mount keeps such a file (hidden) until its
    // last close; with other names left the file stays, and the handles serve on.
    if gone.as_ref().is_some_and(|v| v.nlink <= 1 && crate::fds::hand_open(v.fid)) {
        return Outcome::Kernel;
    }
    let r = permitted(p, Need::Remove, || change(p, |p| p.served.run(p.served.client().unlink(&p.path))));
    if let (Outcome::Done(_), Some(v)) = (&r, gone) {
        crate::fds::file_links(v.fid, v.nlink.saturating_sub(1), true);
    }
    p.served.touched(&p.path);
    r
}

fn rmdir_path(p: &Place) -> Outcome<c_int> {
    let r = permitted(p, Need::Remove, || change(p, |p| p.served.run(p.served.client().rmdir(&p.path))));
    p.served.touched_tree(&p.path);
    r
}

fn mkdir_path(p: &Place, mode: mode_t) -> Outcome<c_int> {
    let mode = mode & 0o7777 & !state::umask();
    permitted(p, Need::Create, || {
        change(p, |p| {
            let ((uid, gid), setgid) = perm::owner_in_parent(p);
            let a = p.served.run(p.served.client().mkdir_as(&p.path, mode | setgid, uid, gid))?;
            p.served.created(&p.path, &a);
            Ok(())
        })
    })
}

/// # Safety
/// As unlink(2).
#[no_mangle]
pub unsafe extern "C" fn unlink(path: *const c_char) -> c_int {
    // SAFETY: as unlink(2).
    unsafe { on_path("unlink", libc::AT_FDCWD, path, unlink_path, || real::unlink(path)) }
}

/// # Safety
/// As unlinkat(2).
#[no_mangle]
pub unsafe extern "C" fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    let serve = |p: &Place| if flags & libc::AT_REMOVEDIR != 0 { rmdir_path(p) } else { unlink_path(p) };
    // SAFETY: as unlinkat(2).
    unsafe { on_path("unlinkat", dirfd, path, serve, || real::unlinkat(dirfd, path, flags)) }
}

/// # Safety
/// As rmdir(2).
#[no_mangle]
pub unsafe extern "C" fn rmdir(path: *const c_char) -> c_int {
    // SAFETY: as rmdir(2).
    unsafe { on_path("rmdir", libc::AT_FDCWD, path, rmdir_path, || real::rmdir(path)) }
}

/// # Safety
/// As mkdir(2).
#[no_mangle]
pub unsafe extern "C" fn mkdir(path: *const c_char, mode: mode_t) -> c_int {
    // SAFETY: as mkdir(2).
    unsafe { on_path("mkdir", libc::AT_FDCWD, path, |p| mkdir_path(p, mode), || real::mkdir(path, mode)) }
}

/// # Safety
/// As mkdirat(2).
#[no_mangle]
pub unsafe extern "C" fn mkdirat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int {
    // SAFETY: as mkdirat(2).
    unsafe { on_path("mkdirat", dirfd, path, |p| mkdir_path(p, mode), || real::mkdirat(dirfd, path, mode)) }
}

fn truncate_path(p: &Place, len: off_t) -> Outcome<c_int> {
    let Ok(len) = u64::try_from(len) else { return Outcome::Failed(libc::EINVAL) };
    let r = permitted(p, Need::File(perm::W), || change(p, |p| p.served.run(p.served.client().truncate(&p.path, len))));
    p.served.touched(&p.path);
    r
}

/// # Safety
/// As truncate(2).
#[no_mangle]
pub unsafe extern "C" fn truncate(path: *const c_char, len: off_t) -> c_int {
    // SAFETY: as truncate(2).
    unsafe { on_path("truncate", libc::AT_FDCWD, path, |p| truncate_path(p, len), || real::truncate(path, len)) }
}

/// # Safety
/// As truncate(2).
#[no_mangle]
pub unsafe extern "C" fn truncate64(path: *const c_char, len: off_t) -> c_int {
    // SAFETY: as truncate(2).
    unsafe { on_path("truncate64", libc::AT_FDCWD, path, |p| truncate_path(p, len), || real::truncate64(path, len)) }
}

/// A rename within one served mount; across mounts, or with either side the kernel's,
/// the kernel answers (EXDEV where it must).
///
/// # Safety
/// `to` is NULL or NUL-terminated.
unsafe fn rename_to(from: &Place, tofd: c_int, to: *const c_char, noreplace: bool) -> Outcome<c_int> {
    // SAFETY: the caller's contract.
    let Target::Served(to) = (unsafe { state::resolve(tofd, to) }) else { return Outcome::Kernel };
    if to.root != from.root || to.path == "/" {
        to.served.attrs.forget_tree(&to.path);
        return Outcome::Kernel;
    }
    // The kernel's order: both parents first (a missing or non-directory one on the way to
    // the target before the checks between the names).
    match target_parent(&to) {
        Outcome::Done(()) => {}
        o => return o.map_done(|()| 0),
    }
    if noreplace && from.path == to.path && from.served.stat(&from.path).is_ok() {
        return Outcome::Failed(libc::EEXIST);
    }
    let moved = |f: &Place| {
        let parent = |p: &str| p.rfind('/').map_or(String::new(), |i| p[..i].to_string());
        match perm::check(&to, Need::Replace) {
            Outcome::Done(()) => {}
            o => return o,
        }
        perm::check_moved_dir(f, parent(&f.path) != parent(&to.path))
    };
    // The kernel's trap check (lock_rename): a target above the source is ENOTEMPTY,
    // whatever the kinds, once both names were found.
    if crate::mounts::under(&from.path, &to.path) && from.path != to.path {
        if let (Ok(_), Ok(_)) = (from.served.stat(&from.path), from.served.stat(&to.path)) {
            // (RENAME_NOREPLACE's EEXIST comes first.)
            return Outcome::Failed(if noreplace { libc::EEXIST } else { libc::ENOTEMPTY });
        }
    }
    let rename = |f: &Place| match moved(f) {
        Outcome::Done(()) => change(f, |f| f.served.run(f.served.client().rename_with(&f.path, &to.path, noreplace))),
        Outcome::Failed(e) => Outcome::Failed(e),
        Outcome::Kernel | Outcome::Pass => Outcome::Kernel,
    };
    let gone = victim(&to);
    // The last name of a file open here: the mount keeps such a file (hidden) until its
    // last close; with other names left the file stays, and the handles serve on.
    if gone.as_ref().is_some_and(|v| v.nlink <= 1 && crate::fds::hand_open(v.fid)) {
        to.served.tell_kernel();
        return Outcome::Kernel;
    }
    let r = permitted(from, Need::Remove, || rename(from));
    if matches!(r, Outcome::Done(_)) && from.path != to.path {
        if let Some(v) = gone {
            crate::fds::file_links(v.fid, v.nlink.saturating_sub(1), true);
        }
        crate::fds::name_moved(&from.root, &from.path, &to.path);
    }
    from.served.touched_tree(&from.path);
    from.served.touched_tree(&to.path);
    match r {
        // Either path may run through a link; `settle` looks at the source only.
        // (and a file on the way to the target is ENOTDIR before a missing source).
        Outcome::Failed(e @ (libc::ENOENT | libc::ENOTDIR)) => match way_to(&to) {
            Way::Link => Outcome::Kernel,
            Way::NotDir => Outcome::Failed(libc::ENOTDIR),
            Way::Dirs => Outcome::Failed(e),
        },
        o => o,
    }
}

/// Whether the directory that would hold `to` is there: ENOENT or ENOTDIR as the kernel's
/// walk finds it, the kernel's answer through a link.
pub(crate) fn target_parent(to: &Place) -> Outcome<()> {
    let parent = match to.path.rfind('/') {
        Some(0) | None => return Outcome::Done(()),
        Some(i) => &to.path[..i],
    };
    match to.served.stat(parent) {
        Ok(a) if a.is_dir() => Outcome::Done(()),
        Ok(a) if a.kind == benchfs::FileKind::Symlink => Outcome::Kernel,
        Ok(_) => Outcome::Failed(libc::ENOTDIR),
        Err(benchfs::Error::NotFound(_)) => match way_to(to) {
            Way::Link => Outcome::Kernel,
            Way::NotDir => Outcome::Failed(libc::ENOTDIR),
            Way::Dirs => Outcome::Failed(libc::ENOENT),
        },
        Err(e) => Outcome::Failed(crate::entry::failed(&e)),
    }
}

/// # Safety
/// As rename(2).
#[no_mangle]
pub unsafe extern "C" fn rename(from: *const c_char, to: *const c_char) -> c_int {
    let serve = |p: &Place| unsafe { rename_to(p, libc::AT_FDCWD, to, false) };
    // SAFETY: as rename(2).
    unsafe { on_path("rename", libc::AT_FDCWD, from, serve, || real::rename(from, to)) }
}

/// # Safety
/// As renameat(2).
#[no_mangle]
pub unsafe extern "C" fn renameat(fromfd: c_int, from: *const c_char, tofd: c_int, to: *const c_char) -> c_int {
    // SAFETY: as renameat(2).
    let serve = |p: &Place| unsafe { rename_to(p, tofd, to, false) };
    // SAFETY: as renameat(2).
    unsafe { on_path("renameat", fromfd, from, serve, || real::renameat(fromfd, from, tofd, to)) }
}

mod next {
    use super::*;
    real_fns! {
        fn renameat2(fromfd: c_int, from: *const c_char, tofd: c_int, to: *const c_char, flags: u32) -> c_int;
    }
}

/// renameat2(2): flags 0 and RENAME_NOREPLACE are served; RENAME_EXCHANGE and
/// RENAME_WHITEOUT are the kernel's (the cached records of both names are dropped).
///
/// # Safety
/// As renameat2(2).
#[no_mangle]
pub unsafe extern "C" fn renameat2(
    fromfd: c_int,
    from: *const c_char,
    tofd: c_int,
    to: *const c_char,
    flags: u32,
) -> c_int {
    let kernel = || unsafe { next::renameat2(fromfd, from, tofd, to, flags) };
    let noreplace = match flags {
        0 => false,
        libc::RENAME_NOREPLACE => true,
        _ => {
            // SAFETY: as renameat2(2).
            let serve = |p: &Place| {
                // SAFETY: as renameat2(2).
                if let Target::Served(t) = unsafe { state::resolve(tofd, to) } {
                    t.served.attrs.forget_tree(&t.path);
                }
                let _ = p;
                Outcome::Kernel
            };
            // SAFETY: as renameat2(2).
            return unsafe { on_path("renameat2", fromfd, from, serve, kernel) };
        }
    };
    // SAFETY: as renameat2(2).
    let serve = |p: &Place| unsafe { rename_to(p, tofd, to, noreplace) };
    // SAFETY: as renameat2(2).
    unsafe { on_path("renameat2", fromfd, from, serve, kernel) }
}
