//! The C library's own functions, found with `dlsym(RTLD_NEXT)`: where every call the
//! interposer does not serve goes (the kernel mount, for paths under it).
//!
//! Each is resolved on its first call and cached. A symbol the C library lacks (an old
//! `__xstat` on a libc without it) fails with ENOSYS rather than crashing.

use std::ffi::{c_char, c_int, c_long, c_uint, c_void, CStr};
use std::sync::atomic::{AtomicUsize, Ordering};

use libc::{mode_t, off_t, size_t, ssize_t};

/// The address of `name` in the next object after this one (the C library), 0 if none.
pub(crate) fn resolve(cache: &AtomicUsize, name: &CStr) -> usize {
    match cache.load(Ordering::Relaxed) {
        0 => {
            // SAFETY: `name` is NUL-terminated; RTLD_NEXT is valid from a shared object.
            let p = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) } as usize;
            cache.store(p, Ordering::Relaxed);
            p
        }
        p => p,
    }
}

/// The value a C function of this return type fails with.
pub trait Fail {
    fn fail() -> Self;
}

impl Fail for c_int {
    fn fail() -> Self {
        -1
    }
}

impl Fail for ssize_t {
    fn fail() -> Self {
        -1
    }
}

impl<T> Fail for *mut T {
    fn fail() -> Self {
        std::ptr::null_mut()
    }
}

pub fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
}

macro_rules! real_fns {
    ($( fn $name:ident($($arg:ident: $t:ty),*) -> $ret:ty; )*) => {
        $(
            /// The C library's function of this name.
            ///
            /// # Safety
            /// As for the C function.
            pub unsafe fn $name($($arg: $t),*) -> $ret {
                static CACHE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
                // SAFETY: a literal with its NUL.
                let name = unsafe {
                    std::ffi::CStr::from_bytes_with_nul_unchecked(concat!(stringify!($name), "\0").as_bytes())
                };
                match $crate::real::resolve(&CACHE, name) {
                    0 => {
                        $crate::real::set_errno(libc::ENOSYS);
                        <$ret as $crate::real::Fail>::fail()
                    }
                    p => {
                        // SAFETY: the C library's function of this name has this signature.
                        let f: unsafe extern "C" fn($($t),*) -> $ret = unsafe { std::mem::transmute(p) };
                        // SAFETY: the caller's contract.
                        unsafe { f($($arg),*) }
                    }
                }
            }
        )*
    };
}

// off_t is i64 on the 64-bit targets this builds for, the same type as ssize_t's isize
// only in size: the functions returning offsets go through `ssize_t` wrappers below.
real_fns! {
    fn open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int;
    fn open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int;
    fn openat(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int;
    fn openat64(dirfd: c_int, path: *const c_char, flags: c_int, mode: mode_t) -> c_int;
    fn creat(path: *const c_char, mode: mode_t) -> c_int;
    fn creat64(path: *const c_char, mode: mode_t) -> c_int;
    fn __open_2(path: *const c_char, flags: c_int) -> c_int;
    fn __open64_2(path: *const c_char, flags: c_int) -> c_int;
    fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int;
    fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn read(fd: c_int, buf: *mut c_void, n: size_t) -> ssize_t;
    fn write(fd: c_int, buf: *const c_void, n: size_t) -> ssize_t;
    fn pread(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t;
    fn pread64(fd: c_int, buf: *mut c_void, n: size_t, off: off_t) -> ssize_t;
    fn pwrite(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t;
    fn pwrite64(fd: c_int, buf: *const c_void, n: size_t, off: off_t) -> ssize_t;
    fn readv(fd: c_int, iov: *const libc::iovec, n: c_int) -> ssize_t;
    fn writev(fd: c_int, iov: *const libc::iovec, n: c_int) -> ssize_t;
    fn lseek(fd: c_int, off: off_t, whence: c_int) -> ssize_t;
    fn lseek64(fd: c_int, off: off_t, whence: c_int) -> ssize_t;
    fn fsync(fd: c_int) -> c_int;
    fn fdatasync(fd: c_int) -> c_int;
    fn ftruncate(fd: c_int, len: off_t) -> c_int;
    fn ftruncate64(fd: c_int, len: off_t) -> c_int;
    fn truncate(path: *const c_char, len: off_t) -> c_int;
    fn truncate64(path: *const c_char, len: off_t) -> c_int;
    fn stat(path: *const c_char, st: *mut libc::stat) -> c_int;
    fn stat64(path: *const c_char, st: *mut libc::stat) -> c_int;
    fn lstat(path: *const c_char, st: *mut libc::stat) -> c_int;
    fn lstat64(path: *const c_char, st: *mut libc::stat) -> c_int;
    fn fstat(fd: c_int, st: *mut libc::stat) -> c_int;
    fn fstat64(fd: c_int, st: *mut libc::stat) -> c_int;
    fn fstatat(dirfd: c_int, path: *const c_char, st: *mut libc::stat, flags: c_int) -> c_int;
    fn fstatat64(dirfd: c_int, path: *const c_char, st: *mut libc::stat, flags: c_int) -> c_int;
    fn __xstat(ver: c_int, path: *const c_char, st: *mut libc::stat) -> c_int;
    fn __xstat64(ver: c_int, path: *const c_char, st: *mut libc::stat) -> c_int;
    fn __lxstat(ver: c_int, path: *const c_char, st: *mut libc::stat) -> c_int;
    fn __lxstat64(ver: c_int, path: *const c_char, st: *mut libc::stat) -> c_int;
    fn __fxstat(ver: c_int, fd: c_int, st: *mut libc::stat) -> c_int;
    fn __fxstat64(ver: c_int, fd: c_int, st: *mut libc::stat) -> c_int;
    fn __fxstatat(ver: c_int, dirfd: c_int, path: *const c_char, st: *mut libc::stat, flags: c_int) -> c_int;
    fn __fxstatat64(ver: c_int, dirfd: c_int, path: *const c_char, st: *mut libc::stat, flags: c_int) -> c_int;
    fn statx(dirfd: c_int, path: *const c_char, flags: c_int, mask: c_uint, st: *mut libc::statx) -> c_int;
    fn access(path: *const c_char, mode: c_int) -> c_int;
    fn faccessat(dirfd: c_int, path: *const c_char, mode: c_int, flags: c_int) -> c_int;
    fn unlink(path: *const c_char) -> c_int;
    fn unlinkat(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int;
    fn mkdir(path: *const c_char, mode: mode_t) -> c_int;
    fn mkdirat(dirfd: c_int, path: *const c_char, mode: mode_t) -> c_int;
    fn rmdir(path: *const c_char) -> c_int;
    fn rename(from: *const c_char, to: *const c_char) -> c_int;
    fn renameat(fromfd: c_int, from: *const c_char, tofd: c_int, to: *const c_char) -> c_int;
    fn dup(fd: c_int) -> c_int;
    fn dup2(fd: c_int, to: c_int) -> c_int;
    fn dup3(fd: c_int, to: c_int, flags: c_int) -> c_int;
    fn fcntl(fd: c_int, cmd: c_int, arg: c_long) -> c_int;
    fn fcntl64(fd: c_int, cmd: c_int, arg: c_long) -> c_int;
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn execv(path: *const c_char, argv: *const *const c_char) -> c_int;
    fn execvp(file: *const c_char, argv: *const *const c_char) -> c_int;
    fn execvpe(file: *const c_char, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn fexecve(fd: c_int, argv: *const *const c_char, envp: *const *const c_char) -> c_int;
    fn posix_spawn(pid: *mut libc::pid_t, path: *const c_char, acts: *const c_void, attr: *const c_void,
                   argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fn posix_spawnp(pid: *mut libc::pid_t, file: *const c_char, acts: *const c_void, attr: *const c_void,
                    argv: *const *mut c_char, envp: *const *mut c_char) -> c_int;
    fn system(cmd: *const c_char) -> c_int;
    fn popen(cmd: *const c_char, mode: *const c_char) -> *mut libc::FILE;
    fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int;
}
