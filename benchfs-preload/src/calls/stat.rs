//! The stat family (stat, lstat, fstat, fstatat, statx and glibc's `__xstat` forms) and
//! access/faccessat.

use std::ffi::{c_char, c_int, c_uint};
use std::sync::Arc;

use benchfs::{Attr, FileKind};

use super::{on_fd, on_path};
use crate::entry::Outcome;
use crate::fds::{self, OpenFile};
use crate::perm;
use crate::real;
use crate::state::Place;

/// `struct stat` of `a` at `path` on the mount with device `dev`.
fn fill(a: &Attr, path: &str, dev: u64) -> libc::stat {
    let mut st = benchfs::ffi::to_stat(a, path);
    st.st_dev = dev;
    st
}

/// The attributes of `p`: a symbolic link's own when `follow` is false; a link to follow
/// (and the mount's root, whose attributes are the mount's) is the kernel's question.
fn attr_of(p: &Place, follow: bool) -> Outcome<Attr> {
    if p.path == "/" {
        return Outcome::Kernel;
    }
    match p.served.stat(&p.path) {
        Ok(a) if follow && a.kind == FileKind::Symlink => Outcome::Kernel,
        r => r.into(),
    }
}

fn stat_path(p: &Place, follow: bool) -> Outcome<libc::stat> {
    if p.path != "/" {
        if let Some(o) = denied(perm::check(p, perm::Need::Reach)) {
            return o;
        }
    }
    match attr_of(p, follow) {
        Outcome::Done(mut a) => {
            if let Some(size) = fds::own_size(a.fid) {
                a.size = a.size.max(size);
            }
            Outcome::Done(fill(&a, &p.path, p.dev))
        }
        Outcome::Failed(e) => Outcome::Failed(e),
        Outcome::Kernel => Outcome::Kernel,
        Outcome::Pass => Outcome::Pass,
    }
}

/// An open file's attributes: the path's record while it is still this file, with this
/// handle's own unpublished writes in the size; the attributes at open otherwise.
fn stat_open(of: &OpenFile) -> libc::stat {
    let path = of.file.path();
    let links = of.links.load(std::sync::atomic::Ordering::Relaxed);
    let mut a = match of.served.stat(&path) {
        Ok(a) if a.fid == of.file.fid() => a,
        _ => {
            let mut a = of.file.attr_at_open().clone();
            if links != u32::MAX {
                a.nlink = links;
                // (`linked` would count a hard-linked record's links as at least one.)
                a.linked = links > 0;
            }
            a
        }
    };
    a.size = a.size.max(of.file.size());
    fill(&a, &path, of.dev)
}

/// Writes `st` to the caller's buffer.
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn put<T>(out: *mut T, v: Outcome<T>) -> Outcome<c_int> {
    match v {
        Outcome::Done(_) if out.is_null() => Outcome::Failed(libc::EFAULT),
        Outcome::Done(v) => {
            // SAFETY: non-NULL and writable (caller's contract).
            unsafe { out.write(v) };
            Outcome::Done(0)
        }
        Outcome::Failed(e) => Outcome::Failed(e),
        Outcome::Kernel => Outcome::Kernel,
        Outcome::Pass => Outcome::Pass,
    }
}

/// # Safety
/// `path` NULL or NUL-terminated, `st` NULL or writable.
unsafe fn stat_at(
    name: &str,
    dirfd: c_int,
    path: *const c_char,
    st: *mut libc::stat,
    flags: c_int,
    kernel: impl FnOnce() -> c_int,
) -> c_int {
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    // SAFETY: `path` is NULL or NUL-terminated (caller's contract).
    if flags & libc::AT_EMPTY_PATH != 0 && (path.is_null() || unsafe { *path } == 0) {
        // SAFETY: forwarded caller's contract.
        return unsafe { fstat_fd(name, dirfd, st, kernel) };
    }
    // SAFETY: forwarded caller's contract.
    unsafe { on_path(name, dirfd, path, |p| put(st, stat_path(p, follow)), kernel) }
}

/// # Safety
/// `st` NULL or writable.
unsafe fn fstat_fd(name: &str, fd: c_int, st: *mut libc::stat, kernel: impl FnOnce() -> c_int) -> c_int {
    // SAFETY: forwarded caller's contract.
    on_fd(name, fd, |of| unsafe { put(st, Outcome::Done(stat_open(of))) }, kernel)
}

macro_rules! path_stats {
    ($($name:ident($($pre:ident: $pt:ty),*) follow $follow:expr;)*) => {$(
        /// # Safety
        /// As stat(2).
        #[no_mangle]
        pub unsafe extern "C" fn $name($($pre: $pt,)* path: *const c_char, st: *mut libc::stat) -> c_int {
            let flags = if $follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
            // SAFETY: as stat(2).
            unsafe { stat_at(stringify!($name), libc::AT_FDCWD, path, st, flags, || real::$name($($pre,)* path, st)) }
        }
    )*};
}

path_stats! {
    stat() follow true;
    stat64() follow true;
    lstat() follow false;
    lstat64() follow false;
    __xstat(ver: c_int) follow true;
    __xstat64(ver: c_int) follow true;
    __lxstat(ver: c_int) follow false;
    __lxstat64(ver: c_int) follow false;
}

macro_rules! at_stats {
    ($($name:ident($($pre:ident: $pt:ty),*);)*) => {$(
        /// # Safety
        /// As fstatat(2).
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            $($pre: $pt,)* dirfd: c_int, path: *const c_char, st: *mut libc::stat, flags: c_int,
        ) -> c_int {
            let kernel = || unsafe { real::$name($($pre,)* dirfd, path, st, flags) };
            // SAFETY: as fstatat(2).
            unsafe { stat_at(stringify!($name), dirfd, path, st, flags, kernel) }
        }
    )*};
}

at_stats! {
    fstatat();
    fstatat64();
    __fxstatat(ver: c_int);
    __fxstatat64(ver: c_int);
}

/// # Safety
/// As fstat(2).
#[no_mangle]
pub unsafe extern "C" fn fstat(fd: c_int, st: *mut libc::stat) -> c_int {
    // SAFETY: as fstat(2).
    unsafe { fstat_fd("fstat", fd, st, || real::fstat(fd, st)) }
}

/// # Safety
/// As fstat(2).
#[no_mangle]
pub unsafe extern "C" fn fstat64(fd: c_int, st: *mut libc::stat) -> c_int {
    // SAFETY: as fstat(2).
    unsafe { fstat_fd("fstat64", fd, st, || real::fstat64(fd, st)) }
}

/// # Safety
/// As fstat(2).
#[no_mangle]
pub unsafe extern "C" fn __fxstat(ver: c_int, fd: c_int, st: *mut libc::stat) -> c_int {
    // SAFETY: as fstat(2).
    unsafe { fstat_fd("__fxstat", fd, st, || real::__fxstat(ver, fd, st)) }
}

/// # Safety
/// As fstat(2).
#[no_mangle]
pub unsafe extern "C" fn __fxstat64(ver: c_int, fd: c_int, st: *mut libc::stat) -> c_int {
    // SAFETY: as fstat(2).
    unsafe { fstat_fd("__fxstat64", fd, st, || real::__fxstat64(ver, fd, st)) }
}

/// `struct statx` with the basic fields of `st`.
fn to_statx(st: &libc::stat) -> libc::statx {
    // SAFETY: plain old data; all-zero is valid.
    let mut x: libc::statx = unsafe { std::mem::zeroed() };
    let ts = |s: i64, ns: i64| {
        // SAFETY: plain old data; all-zero is valid.
        let mut t: libc::statx_timestamp = unsafe { std::mem::zeroed() };
        t.tv_sec = s;
        t.tv_nsec = u32::try_from(ns).unwrap_or(0);
        t
    };
    x.stx_mask = libc::STATX_BASIC_STATS;
    x.stx_blksize = u32::try_from(st.st_blksize).unwrap_or(u32::MAX);
    x.stx_nlink = u32::try_from(st.st_nlink).unwrap_or(u32::MAX);
    x.stx_uid = st.st_uid;
    x.stx_gid = st.st_gid;
    x.stx_mode = u16::try_from(st.st_mode).unwrap_or(0);
    x.stx_ino = st.st_ino;
    x.stx_size = u64::try_from(st.st_size).unwrap_or(0);
    x.stx_blocks = u64::try_from(st.st_blocks).unwrap_or(0);
    x.stx_atime = ts(st.st_atime, st.st_atime_nsec);
    x.stx_mtime = ts(st.st_mtime, st.st_mtime_nsec);
    x.stx_ctime = ts(st.st_ctime, st.st_ctime_nsec);
    x.stx_rdev_major = libc::major(st.st_rdev);
    x.stx_rdev_minor = libc::minor(st.st_rdev);
    x.stx_dev_major = libc::major(st.st_dev);
    x.stx_dev_minor = libc::minor(st.st_dev);
    x
}

fn map<A, B>(o: Outcome<A>, f: impl FnOnce(A) -> B) -> Outcome<B> {
    match o {
        Outcome::Done(v) => Outcome::Done(f(v)),
        Outcome::Failed(e) => Outcome::Failed(e),
        Outcome::Kernel => Outcome::Kernel,
        Outcome::Pass => Outcome::Pass,
    }
}

/// # Safety
/// As statx(2).
#[no_mangle]
pub unsafe extern "C" fn statx(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mask: c_uint,
    st: *mut libc::statx,
) -> c_int {
    // SAFETY: as statx(2).
    let kernel = || unsafe { real::statx(dirfd, path, flags, mask, st) };
    // SAFETY: `path` is NULL or NUL-terminated (statx's contract).
    let empty = path.is_null() || unsafe { *path } == 0;
    if flags & libc::AT_EMPTY_PATH != 0 && empty {
        // SAFETY: as statx(2).
        return on_fd(
            "statx",
            dirfd,
            |of: &Arc<OpenFile>| unsafe { put(st, Outcome::Done(to_statx(&stat_open(of)))) },
            kernel,
        );
    }
    let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
    // SAFETY: as statx(2).
    unsafe { on_path("statx", dirfd, path, |p| put(st, map(stat_path(p, follow), |s| to_statx(&s))), kernel) }
}

/// A failed or undecided permission check as the call's outcome.
fn denied<T>(o: Outcome<()>) -> Option<Outcome<T>> {
    match o {
        Outcome::Done(()) => None,
        Outcome::Failed(e) => Some(Outcome::Failed(e)),
        Outcome::Kernel => Some(Outcome::Kernel),
        Outcome::Pass => Some(Outcome::Pass),
    }
}

/// access(2): the directories on the way, then the mode bits for the real ids (with the
/// supplementary groups).
fn access_path(p: &Place, mode: c_int) -> Outcome<c_int> {
    if p.path != "/" {
        if let Some(o) = denied(perm::check(p, perm::Need::Reach)) {
            return o;
        }
    }
    match attr_of(p, true) {
        Outcome::Done(a) if perm::access_ok(&a, mode) => Outcome::Done(0),
        Outcome::Done(_) => Outcome::Failed(libc::EACCES),
        o => map(o, |_| 0),
    }
}

/// # Safety
/// As access(2).
#[no_mangle]
pub unsafe extern "C" fn access(path: *const c_char, mode: c_int) -> c_int {
    // SAFETY: as access(2).
    unsafe { on_path("access", libc::AT_FDCWD, path, |p| access_path(p, mode), || real::access(path, mode)) }
}

/// # Safety
/// As faccessat(2).
#[no_mangle]
pub unsafe extern "C" fn faccessat(dirfd: c_int, path: *const c_char, mode: c_int, flags: c_int) -> c_int {
    let kernel = || unsafe { real::faccessat(dirfd, path, mode, flags) };
    if flags != 0 {
        return kernel();
    }
    // SAFETY: as faccessat(2).
    unsafe { on_path("faccessat", dirfd, path, |p| access_path(p, mode), kernel) }
}
