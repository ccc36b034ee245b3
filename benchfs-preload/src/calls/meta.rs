//! chmod, fchmod, fchmodat; utimensat, futimens; symlink, symlinkat, readlink,
//! readlinkat, link, linkat; statfs, statvfs, fstatfs, fstatvfs.
//!
//! A change made here is the kernel mount's to learn as another node's: its caches of the
//! file (attributes, `--attr-timeout`) may show the old mode or times for that long.

use std::ffi::{c_char, c_int, CString};
use std::sync::{Arc, OnceLock};

use benchfs::meta::SetAttr;
use benchfs::{Attr, FileKind};
use libc::{mode_t, size_t, ssize_t};

use super::{done, on_fd, on_path, permitted};
use crate::entry::Outcome;
use crate::fds::{self, OpenFile};
use crate::perm::{self, Need, Who};
use crate::state::{self, Place, Target};

mod next {
    use super::*;
    real_fns! {
        fn chmod(path: *const c_char, mode: mode_t) -> c_int;
        fn fchmod(fd: c_int, mode: mode_t) -> c_int;
        fn fchmodat(dirfd: c_int, path: *const c_char, mode: mode_t, flags: c_int) -> c_int;
        fn utimensat(dirfd: c_int, path: *const c_char, times: *const libc::timespec, flags: c_int) -> c_int;
        fn futimens(fd: c_int, times: *const libc::timespec) -> c_int;
        fn symlink(target: *const c_char, path: *const c_char) -> c_int;
        fn symlinkat(target: *const c_char, dirfd: c_int, path: *const c_char) -> c_int;
        fn readlink(path: *const c_char, buf: *mut c_char, n: size_t) -> ssize_t;
        fn readlinkat(dirfd: c_int, path: *const c_char, buf: *mut c_char, n: size_t) -> ssize_t;
        fn link(from: *const c_char, to: *const c_char) -> c_int;
        fn linkat(fromfd: c_int, from: *const c_char, tofd: c_int, to: *const c_char, flags: c_int) -> c_int;
        fn statfs(path: *const c_char, buf: *mut libc::statfs) -> c_int;
        fn statfs64(path: *const c_char, buf: *mut libc::statfs) -> c_int;
        fn statvfs(path: *const c_char, buf: *mut libc::statvfs) -> c_int;
        fn statvfs64(path: *const c_char, buf: *mut libc::statvfs) -> c_int;
        fn fstatfs(fd: c_int, buf: *mut libc::statfs) -> c_int;
        fn fstatfs64(fd: c_int, buf: *mut libc::statfs) -> c_int;
        fn fstatvfs(fd: c_int, buf: *mut libc::statvfs) -> c_int;
        fn fstatvfs64(fd: c_int, buf: *mut libc::statvfs) -> c_int;
    }
}

/// The record of `p` to change: a link to follow (chmod and utimensat follow) and the
/// mount's root (the mount keeps its own) are the kernel's.
fn followed(p: &Place) -> Outcome<Attr> {
    if p.path == "/" {
        return Outcome::Kernel;
    }
    match p.served.stat(&p.path) {
        Ok(a) if a.kind == FileKind::Symlink => {
            // The kernel changes the link's target, at a path not known here.
            p.served.attrs.clear();
            Outcome::Kernel
        }
        r => r.into(),
    }
}

/// An attribute change on `p` once the caller may; the cached record is dropped.
fn set_attr(p: &Place, need: Need, set: impl FnOnce(&Attr) -> Option<SetAttr>) -> Outcome<c_int> {
    let a = match followed(p) {
        Outcome::Done(a) => a,
        Outcome::Failed(e) => return Outcome::Failed(e),
        o => return o.map_done(|_| 0),
    };
    permitted(p, need, || match set(&a) {
        Some(s) => changed(p, s),
        None => Outcome::Done(0),
    })
}

/// Sets `s` on `p`; the record the server returns replaces the cached one (so that the
/// next change of the same file, fchown then fchmod then futimens, asks nothing first).
fn changed(p: &Place, s: SetAttr) -> Outcome<c_int> {
    match p.served.run(p.served.client().set_attr(&p.path, s)) {
        Ok(a) => {
            p.served.changed_to(&p.path, &a);
            Outcome::Done(0)
        }
        Err(e) => {
            p.served.touched(&p.path);
            Outcome::Failed(crate::entry::failed(&e))
        }
    }
}

/// chmod's new mode: a caller outside the file's group cannot set its setgid bit (the
/// kernel clears it, as it does for the mount).
fn chmod_set(a: &Attr, mode: mode_t) -> Option<SetAttr> {
    let mut mode = mode & 0o7777;
    if let Some(mut who) = Who::current() {
        if !who.in_group(a.gid) {
            mode &= !libc::S_ISGID;
        }
    }
    Some(SetAttr { mode: Some(mode), ..Default::default() })
}

fn chmod_path(p: &Place, mode: mode_t) -> Outcome<c_int> {
    set_attr(p, Need::Owner, |a| chmod_set(a, mode))
}

/// # Safety
/// As chmod(2).
#[no_mangle]
pub unsafe extern "C" fn chmod(path: *const c_char, mode: mode_t) -> c_int {
    // SAFETY: as chmod(2).
    unsafe { on_path("chmod", libc::AT_FDCWD, path, |p| chmod_path(p, mode), || next::chmod(path, mode)) }
}

/// # Safety
/// As fchmodat(2).
#[no_mangle]
pub unsafe extern "C" fn fchmodat(dirfd: c_int, path: *const c_char, mode: mode_t, flags: c_int) -> c_int {
    let kernel = || unsafe { next::fchmodat(dirfd, path, mode, flags) };
    if flags != 0 {
        return kernel();
    }
    // SAFETY: as fchmodat(2).
    unsafe { on_path("fchmodat", dirfd, path, |p| chmod_path(p, mode), kernel) }
}

/// The place of a served descriptor's file, while its path still names it; `None` (the
/// descriptor is then handed to the kernel) when it was renamed or removed meanwhile.
fn place_of(of: &Arc<OpenFile>) -> Option<Place> {
    let path = of.file.path();
    // A record from the attribute cache will do: this process's own changes keep it.
    match of.served.stat(&path) {
        Ok(a) if a.fid == of.file.fid() => {
            Some(Place { served: of.served.clone(), root: of.root.clone(), dev: of.dev, path })
        }
        _ => None,
    }
}

/// A call on a served descriptor by its path; handed to the kernel when the path no
/// longer names the file.
fn by_path(fd: c_int, of: &Arc<OpenFile>, f: impl FnOnce(&Place) -> Outcome<c_int>) -> Outcome<c_int> {
    match place_of(of) {
        Some(p) => match f(&p) {
            // The record's owner class, from the open file: no walk for a descriptor.
            Outcome::Failed(libc::EACCES) | Outcome::Kernel => handed(fd),
            o => o,
        },
        None => handed(fd),
    }
}

fn handed(fd: c_int) -> Outcome<c_int> {
    match fds::to_kernel(fd) {
        Ok(()) => Outcome::Kernel,
        Err(e) => Outcome::Failed(e),
    }
}

/// # Safety
/// As fchmod(2).
#[no_mangle]
pub unsafe extern "C" fn fchmod(fd: c_int, mode: mode_t) -> c_int {
    // SAFETY: as fchmod(2).
    on_fd("fchmod", fd, |of| by_path(fd, of, |p| chmod_path(p, mode)), || unsafe { next::fchmod(fd, mode) })
}

/// (atime, mtime) to set (`None`: left as is), and whether both are "now".
type Times = (Option<(i64, u32)>, Option<(i64, u32)>, bool);

/// The current time, as utimensat's UTIME_NOW sets it.
fn now() -> (i64, u32) {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos())
}

/// utimensat's times as (atime, mtime) to set (`None`: UTIME_OMIT), and whether both are
/// "now" (then write permission suffices).
///
/// # Safety
/// `times` is NULL or points to two timespecs.
unsafe fn times_of(times: *const libc::timespec) -> Result<Times, c_int> {
    if times.is_null() {
        let t = now();
        return Ok((Some(t), Some(t), true));
    }
    // SAFETY: two timespecs (caller's contract).
    let ts = unsafe { [*times, *times.add(1)] };
    let one = |t: libc::timespec| match t.tv_nsec {
        libc::UTIME_OMIT => Ok(None),
        libc::UTIME_NOW => Ok(Some(now())),
        n if (0..1_000_000_000).contains(&n) => Ok(Some((t.tv_sec, u32::try_from(n).unwrap_or(0)))),
        _ => Err(libc::EINVAL),
    };
    let all_now = ts.iter().all(|t| matches!(t.tv_nsec, libc::UTIME_NOW | libc::UTIME_OMIT));
    Ok((one(ts[0])?, one(ts[1])?, all_now))
}

fn utimens_path(p: &Place, t: Times) -> Outcome<c_int> {
    let (atime, mtime, all_now) = t;
    let need = if all_now { Need::OwnerOrWrite } else { Need::Owner };
    if atime.is_none() && mtime.is_none() {
        return permitted(p, Need::Reach, || followed(p).map_done(|_| 0));
    }
    set_attr(p, need, |_| Some(SetAttr { atime, mtime, ..Default::default() }))
}

/// # Safety
/// As utimensat(2).
#[no_mangle]
pub unsafe extern "C" fn utimensat(
    dirfd: c_int,
    path: *const c_char,
    times: *const libc::timespec,
    flags: c_int,
) -> c_int {
    let kernel = || unsafe { next::utimensat(dirfd, path, times, flags) };
    // A NULL path is futimens on `dirfd` (the kernel's), flags other than 0 (a link's own
    // times, an empty path) too.
    if path.is_null() || flags != 0 {
        return kernel();
    }
    // SAFETY: as utimensat(2).
    let t = match unsafe { times_of(times) } {
        Ok(t) => t,
        Err(_) => return kernel(),
    };
    // SAFETY: as utimensat(2).
    unsafe { on_path("utimensat", dirfd, path, |p| utimens_path(p, t), kernel) }
}

/// # Safety
/// As futimens(3).
#[no_mangle]
pub unsafe extern "C" fn futimens(fd: c_int, times: *const libc::timespec) -> c_int {
    let kernel = || unsafe { next::futimens(fd, times) };
    // SAFETY: as futimens(3).
    let serve = |of: &Arc<OpenFile>| match unsafe { times_of(times) } {
        Ok(t) => {
            // Pending writes would set the mtime again at close: publish them first.
            if let Err(e) = of.flush() {
                return Outcome::Failed(crate::entry::failed(&e));
            }
            by_path(fd, of, |p| utimens_path(p, t))
        }
        Err(e) => Outcome::Failed(e),
    };
    on_fd("futimens", fd, serve, kernel)
}

/// `target` as UTF-8 (what BenchFS stores), or `None` for the kernel.
///
/// # Safety
/// `s` is NULL or NUL-terminated.
unsafe fn text<'a>(s: *const c_char) -> Option<&'a str> {
    if s.is_null() {
        return None;
    }
    // SAFETY: NUL-terminated (caller's contract).
    unsafe { std::ffi::CStr::from_ptr(s) }.to_str().ok()
}

fn symlink_path(p: &Place, target: &str) -> Outcome<c_int> {
    if p.path == "/" {
        return Outcome::Failed(libc::EEXIST);
    }
    if target.is_empty() {
        return Outcome::Failed(libc::ENOENT);
    }
    let r = permitted(p, Need::Create, || {
        let ((uid, gid), _) = perm::owner_in_parent(p);
        done(p.served.run(p.served.client().symlink_as(target, &p.path, uid, gid)).map(|_| 0))
    });
    p.served.touched(&p.path);
    r
}

/// # Safety
/// As symlink(2).
#[no_mangle]
pub unsafe extern "C" fn symlink(target: *const c_char, path: *const c_char) -> c_int {
    let kernel = || unsafe { next::symlink(target, path) };
    // SAFETY: as symlink(2).
    let Some(t) = (unsafe { text(target) }) else { return kernel() };
    // SAFETY: as symlink(2).
    unsafe { on_path("symlink", libc::AT_FDCWD, path, |p| symlink_path(p, t), kernel) }
}

/// # Safety
/// As symlinkat(2).
#[no_mangle]
pub unsafe extern "C" fn symlinkat(target: *const c_char, dirfd: c_int, path: *const c_char) -> c_int {
    let kernel = || unsafe { next::symlinkat(target, dirfd, path) };
    // SAFETY: as symlinkat(2).
    let Some(t) = (unsafe { text(target) }) else { return kernel() };
    // SAFETY: as symlinkat(2).
    unsafe { on_path("symlinkat", dirfd, path, |p| symlink_path(p, t), kernel) }
}

/// # Safety
/// `buf` is writable for `n` bytes.
unsafe fn readlink_path(p: &Place, buf: *mut c_char, n: size_t) -> Outcome<ssize_t> {
    if p.path == "/" {
        return Outcome::Kernel;
    }
    if n == 0 {
        return Outcome::Failed(libc::EINVAL);
    }
    permitted(p, Need::Reach, || match p.served.stat(&p.path) {
        Ok(a) => match a.target {
            Some(t) => {
                let len = t.len().min(n);
                if len > 0 && buf.is_null() {
                    return Outcome::Failed(libc::EFAULT);
                }
                // SAFETY: `buf` is writable for `n` >= `len` bytes (caller's contract).
                unsafe { std::ptr::copy_nonoverlapping(t.as_ptr(), buf.cast::<u8>(), len) };
                Outcome::Done(ssize_t::try_from(len).unwrap_or(ssize_t::MAX))
            }
            None => Outcome::Failed(libc::EINVAL),
        },
        Err(e) => Outcome::Failed(crate::entry::failed(&e)),
    })
}

/// # Safety
/// As readlink(2).
#[no_mangle]
pub unsafe extern "C" fn readlink(path: *const c_char, buf: *mut c_char, n: size_t) -> ssize_t {
    // SAFETY: as readlink(2).
    unsafe { on_path("readlink", libc::AT_FDCWD, path, |p| readlink_path(p, buf, n), || next::readlink(path, buf, n)) }
}

/// # Safety
/// As readlinkat(2).
#[no_mangle]
pub unsafe extern "C" fn readlinkat(dirfd: c_int, path: *const c_char, buf: *mut c_char, n: size_t) -> ssize_t {
    let kernel = || unsafe { next::readlinkat(dirfd, path, buf, n) };
    // SAFETY: as readlinkat(2).
    unsafe { on_path("readlinkat", dirfd, path, |p| readlink_path(p, buf, n), kernel) }
}

/// link(2) within one served mount (the kernel answers across mounts: EXDEV). With the
/// kernel's protected_hardlinks, a user who does not own the file needs to be able to
/// read and write it, and it must be a regular file without setuid (or setgid-exec).
///
/// # Safety
/// `to` is NULL or NUL-terminated.
unsafe fn link_to(from: &Place, tofd: c_int, to: *const c_char) -> Outcome<c_int> {
    // SAFETY: the caller's contract.
    let Target::Served(to) = (unsafe { state::resolve(tofd, to) }) else { return Outcome::Kernel };
    if to.root != from.root || from.path == "/" {
        return Outcome::Kernel;
    }
    if to.path == "/" {
        return Outcome::Failed(libc::EEXIST);
    }
    let src = match permitted(from, Need::Reach, || from.served.stat(&from.path).into()) {
        Outcome::Done(a) => a,
        o => return o.map_done(|_| 0),
    };
    // The kernel's order: the new name's directory, then the name taken (EEXIST), then a
    // directory to link (EPERM).
    match super::names::target_parent(&to) {
        Outcome::Done(()) => {}
        o => return o.map_done(|()| 0),
    }
    if to.served.stat(&to.path).is_ok() {
        return match perm::check(&to, Need::Reach) {
            Outcome::Done(()) => Outcome::Failed(libc::EEXIST),
            o => o.map_done(|()| 0),
        };
    }
    if src.is_dir() {
        return Outcome::Failed(libc::EPERM);
    }
    if let Some(mut who) = Who::current() {
        let privileged = src.mode & libc::S_ISUID != 0 || src.mode & (libc::S_ISGID | 0o010) == (libc::S_ISGID | 0o010);
        if src.uid != who.uid && (!src.is_file() || privileged || !who.may(&src, perm::R | perm::W)) {
            return Outcome::Failed(libc::EPERM);
        }
    }
    let r = permitted(&to, Need::Create, || {
        let linked = from.served.run(from.served.client().link(&from.path, &to.path));
        if let Ok(a) = &linked {
            crate::fds::file_links(a.fid, a.nlink, false);
        }
        done(linked.map(|_| 0))
    });
    from.served.touched(&from.path);
    from.served.touched(&to.path);
    r
}

/// # Safety
/// As link(2).
#[no_mangle]
pub unsafe extern "C" fn link(from: *const c_char, to: *const c_char) -> c_int {
    // SAFETY: as link(2).
    let serve = |p: &Place| unsafe { link_to(p, libc::AT_FDCWD, to) };
    // SAFETY: as link(2).
    unsafe { on_path("link", libc::AT_FDCWD, from, serve, || next::link(from, to)) }
}

/// # Safety
/// As linkat(2).
#[no_mangle]
pub unsafe extern "C" fn linkat(
    fromfd: c_int,
    from: *const c_char,
    tofd: c_int,
    to: *const c_char,
    flags: c_int,
) -> c_int {
    let kernel = || unsafe { next::linkat(fromfd, from, tofd, to, flags) };
    // AT_SYMLINK_FOLLOW (follow a link at `from`) and AT_EMPTY_PATH are the kernel's.
    if flags != 0 {
        return kernel();
    }
    // SAFETY: as linkat(2).
    let serve = |p: &Place| unsafe { link_to(p, tofd, to) };
    // SAFETY: as linkat(2).
    unsafe { on_path("linkat", fromfd, from, serve, kernel) }
}

/// What the kernel reports for the mount that the servers do not tell (type, ids, flags,
/// name length), asked once per process and mount root.
fn template(root: &str) -> Option<libc::statfs> {
    static T: OnceLock<std::sync::Mutex<Vec<(String, libc::statfs)>>> = OnceLock::new();
    let t = T.get_or_init(Default::default);
    let mut t = t.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, s)) = t.iter().find(|(r, _)| r == root) {
        return Some(*s);
    }
    let c = CString::new(if root.is_empty() { "/" } else { root }).ok()?;
    // SAFETY: all-zero is a valid statfs; a NUL-terminated path and a writable buffer.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { next::statfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    t.push((root.to_string(), s));
    Some(s)
}

/// statfs of the mount at `root` as the mount answers it: the kernel's template with the
/// servers' counts (as the mount fills them, `FsStat::from_statfs`).
fn statfs_of(served: &crate::mounts::Served, root: &str) -> Outcome<libc::statfs> {
    let Some(mut s) = template(root) else { return Outcome::Kernel };
    let f = match served.run(served.client().statfs()) {
        Ok(f) => f,
        Err(e) => return Outcome::Failed(crate::entry::failed(&e)),
    };
    let v = benchfs::ffi::to_statvfs(&f);
    let bs = |x: u64| x;
    s.f_blocks = bs(v.f_blocks);
    s.f_bfree = bs(v.f_bfree);
    s.f_bavail = bs(v.f_bavail);
    s.f_files = bs(v.f_files);
    s.f_ffree = bs(v.f_ffree);
    s.f_bsize = v.f_bsize.try_into().unwrap_or(s.f_bsize);
    s.f_frsize = v.f_frsize.try_into().unwrap_or(s.f_frsize);
    Outcome::Done(s)
}

/// statvfs from statfs, as the C library makes it (the flags from the mount's options).
fn to_vfs(s: &libc::statfs, root: &str) -> Outcome<libc::statvfs> {
    let c = match CString::new(if root.is_empty() { "/" } else { root }) {
        Ok(c) => c,
        Err(_) => return Outcome::Kernel,
    };
    static FLAGS: OnceLock<std::sync::Mutex<Vec<(String, u64)>>> = OnceLock::new();
    let flags = FLAGS.get_or_init(Default::default);
    let mut flags = flags.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let flag = match flags.iter().find(|(r, _)| r == root) {
        Some((_, f)) => *f,
        None => {
            // SAFETY: all-zero is a valid statvfs; a NUL-terminated path, a writable buffer.
            let mut v: libc::statvfs = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            if unsafe { next::statvfs(c.as_ptr(), &mut v) } != 0 {
                return Outcome::Kernel;
            }
            flags.push((root.to_string(), v.f_flag));
            v.f_flag
        }
    };
    // SAFETY: all-zero is a valid statvfs.
    let mut v: libc::statvfs = unsafe { std::mem::zeroed() };
    v.f_bsize = s.f_bsize as _;
    v.f_frsize = if s.f_frsize != 0 { s.f_frsize as _ } else { s.f_bsize as _ };
    v.f_blocks = s.f_blocks as _;
    v.f_bfree = s.f_bfree as _;
    v.f_bavail = s.f_bavail as _;
    v.f_files = s.f_files as _;
    v.f_ffree = s.f_ffree as _;
    v.f_favail = s.f_ffree as _;
    // SAFETY: fsid_t is two ints.
    let ids: [i32; 2] = unsafe { std::mem::transmute(s.f_fsid) };
    v.f_fsid = (ids[0] as u32 as u64) | ((ids[1] as u32 as u64) << 32);
    v.f_flag = flag;
    v.f_namemax = s.f_namelen as _;
    Outcome::Done(v)
}

/// # Safety
/// `out` NULL or writable.
unsafe fn put<T>(out: *mut T, v: Outcome<T>) -> Outcome<c_int> {
    match v {
        Outcome::Done(_) if out.is_null() => Outcome::Failed(libc::EFAULT),
        Outcome::Done(v) => {
            // SAFETY: non-NULL and writable (caller's contract).
            unsafe { out.write(v) };
            Outcome::Done(0)
        }
        o => o.map_done(|_| 0),
    }
}

fn statfs_path(p: &Place) -> Outcome<libc::statfs> {
    let reach = permitted(p, Need::Reach, || {
        if p.path == "/" {
            Outcome::Done(())
        } else {
            p.served.stat(&p.path).map(drop).into()
        }
    });
    reach.and_then(|()| statfs_of(&p.served, &p.root))
}

fn statvfs_path(p: &Place) -> Outcome<libc::statvfs> {
    statfs_path(p).and_then(|s| to_vfs(&s, &p.root))
}

macro_rules! statfs_calls {
    ($($name:ident, $fname:ident, $t:ty, $path_fn:ident, $fd_fn:expr;)*) => {$(
        /// # Safety
        /// As statfs(2) / statvfs(3).
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: *const c_char, buf: *mut $t) -> c_int {
            // SAFETY: as statfs(2).
            unsafe { on_path(stringify!($name), libc::AT_FDCWD, path, |p| put(buf, $path_fn(p)), || next::$name(path, buf)) }
        }

        /// # Safety
        /// As fstatfs(2) / fstatvfs(3).
        #[no_mangle]
        pub unsafe extern "C" fn $fname(fd: c_int, buf: *mut $t) -> c_int {
            // SAFETY: as fstatfs(2).
            on_fd(stringify!($fname), fd, |of| unsafe { put(buf, $fd_fn(of)) }, || unsafe { next::$fname(fd, buf) })
        }
    )*};
}

fn fstatfs_of(of: &Arc<OpenFile>) -> Outcome<libc::statfs> {
    statfs_of(&of.served, &of.root)
}

fn fstatvfs_of(of: &Arc<OpenFile>) -> Outcome<libc::statvfs> {
    fstatfs_of(of).and_then(|s| to_vfs(&s, &of.root))
}

statfs_calls! {
    statfs, fstatfs, libc::statfs, statfs_path, fstatfs_of;
    statfs64, fstatfs64, libc::statfs, statfs_path, fstatfs_of;
    statvfs, fstatvfs, libc::statvfs, statvfs_path, fstatvfs_of;
    statvfs64, fstatvfs64, libc::statvfs, statvfs_path, fstatvfs_of;
}

mod changed_by_kernel {
    use super::*;
    real_fns! {
        fn mknod(path: *const c_char, mode: mode_t, dev: libc::dev_t) -> c_int;
        fn mknodat(dirfd: c_int, path: *const c_char, mode: mode_t, dev: libc::dev_t) -> c_int;
        fn mkfifo(path: *const c_char, mode: mode_t) -> c_int;
        fn mkfifoat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int;
    }
}

/// Calls on paths that change them and that the kernel mount carries out (not served):
/// the cached record of the path is dropped first (and the mount told what this process
/// changed, as before any kernel call), so that a stat right after sees the change.
macro_rules! kernel_changes {
    ($($name:ident($($pre:ident: $pt:ty),*; $dirfd:expr, $path:ident $(, $arg:ident: $t:ty)*);)*) => {$(
        /// Dropped from the attribute cache, then the C library's call.
        ///
        /// # Safety
        /// As the C function.
        #[no_mangle]
        pub unsafe extern "C" fn $name($($pre: $pt,)* $path: *const c_char $(, $arg: $t)*) -> c_int {
            let kernel = || unsafe { changed_by_kernel::$name($($pre,)* $path $(, $arg)*) };
            // SAFETY: as the C function.
            unsafe { on_path(stringify!($name), $dirfd, $path, |_| Outcome::Kernel, kernel) }
        }
    )*};
}

kernel_changes! {
    mknod(; libc::AT_FDCWD, path, mode: mode_t, dev: libc::dev_t);
    mknodat(dirfd: c_int; dirfd, path, mode: mode_t, dev: libc::dev_t);
    mkfifo(; libc::AT_FDCWD, path, mode: mode_t);
    mkfifoat(dirfd: c_int; dirfd, path, mode: mode_t);
}

mod owners {
    use super::*;
    real_fns! {
        fn chown(path: *const c_char, uid: libc::uid_t, gid: libc::gid_t) -> c_int;
        fn lchown(path: *const c_char, uid: libc::uid_t, gid: libc::gid_t) -> c_int;
        fn fchownat(dirfd: c_int, path: *const c_char, uid: libc::uid_t, gid: libc::gid_t, flags: c_int) -> c_int;
        fn fchown(fd: c_int, uid: libc::uid_t, gid: libc::gid_t) -> c_int;
    }
}

/// chown's change of `a` (`u32::MAX`: keep), as the kernel makes it: root changes any;
/// the owner may only set a group it is in (EPERM otherwise); a file that is not a
/// directory loses setuid, and setgid when group-executable (Linux clears them for root
/// too).
fn chown_set(a: &Attr, uid: u32, gid: u32) -> Result<Option<SetAttr>, c_int> {
    if uid == u32::MAX && gid == u32::MAX {
        return Ok(None);
    }
    if let Some(mut who) = Who::current() {
        let uid_ok = uid == u32::MAX || uid == a.uid;
        let gid_ok = gid == u32::MAX || gid == a.gid || who.in_group(gid);
        if a.uid != who.uid || !uid_ok || !gid_ok {
            return Err(libc::EPERM);
        }
    }
    let mut set =
        SetAttr { uid: (uid != u32::MAX).then_some(uid), gid: (gid != u32::MAX).then_some(gid), ..Default::default() };
    if !a.is_dir() {
        let mut mode = a.mode & !libc::S_ISUID;
        if mode & 0o010 != 0 {
            mode &= !libc::S_ISGID;
        }
        if mode != a.mode {
            set.mode = Some(mode);
        }
    }
    Ok(Some(set))
}

/// chown on `p` (a link itself when `follow` is false; a link to follow is the kernel's).
fn chown_path(p: &Place, uid: u32, gid: u32, follow: bool) -> Outcome<c_int> {
    if p.path == "/" {
        return Outcome::Kernel;
    }
    let a = if follow {
        match followed(p) {
            Outcome::Done(a) => a,
            o => return o.map_done(|_| 0),
        }
    } else {
        match p.served.stat(&p.path) {
            Ok(a) => a,
            Err(e) => return Outcome::Failed(crate::entry::failed(&e)),
        }
    };
    permitted(p, Need::Reach, || match chown_set(&a, uid, gid) {
        Ok(Some(s)) => changed(p, s),
        Ok(None) => Outcome::Done(0),
        Err(e) => Outcome::Failed(e),
    })
}

/// # Safety
/// As chown(2).
#[no_mangle]
pub unsafe extern "C" fn chown(path: *const c_char, uid: libc::uid_t, gid: libc::gid_t) -> c_int {
    // SAFETY: as chown(2).
    unsafe {
        on_path("chown", libc::AT_FDCWD, path, |p| chown_path(p, uid, gid, true), || owners::chown(path, uid, gid))
    }
}

/// # Safety
/// As lchown(2).
#[no_mangle]
pub unsafe extern "C" fn lchown(path: *const c_char, uid: libc::uid_t, gid: libc::gid_t) -> c_int {
    let kernel = || unsafe { owners::lchown(path, uid, gid) };
    // SAFETY: as lchown(2).
    unsafe { on_path("lchown", libc::AT_FDCWD, path, |p| chown_path(p, uid, gid, false), kernel) }
}

/// # Safety
/// As fchownat(2).
#[no_mangle]
pub unsafe extern "C" fn fchownat(
    dirfd: c_int,
    path: *const c_char,
    uid: libc::uid_t,
    gid: libc::gid_t,
    flags: c_int,
) -> c_int {
    let kernel = || unsafe { owners::fchownat(dirfd, path, uid, gid, flags) };
    // SAFETY: `path` is NULL or NUL-terminated (fchownat's contract).
    let empty = path.is_null() || unsafe { *path } == 0;
    if flags & !libc::AT_SYMLINK_NOFOLLOW != 0 || empty {
        if flags & libc::AT_EMPTY_PATH != 0 && empty {
            // SAFETY: as fchown(2).
            return unsafe { fchown(dirfd, uid, gid) };
        }
        return kernel();
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    // SAFETY: as fchownat(2).
    unsafe { on_path("fchownat", dirfd, path, |p| chown_path(p, uid, gid, follow), kernel) }
}

/// # Safety
/// As fchown(2).
#[no_mangle]
pub unsafe extern "C" fn fchown(fd: c_int, uid: libc::uid_t, gid: libc::gid_t) -> c_int {
    // SAFETY: as fchown(2).
    on_fd(
        "fchown",
        fd,
        |of| by_path(fd, of, |p| chown_path(p, uid, gid, true)),
        || unsafe { owners::fchown(fd, uid, gid) },
    )
}
