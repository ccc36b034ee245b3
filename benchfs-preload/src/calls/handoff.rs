//! Calls on a descriptor that the interposer does not serve (memory maps, locks, xattrs,
//! fallocate, ...): a served descriptor is handed to the kernel mount first
//! ([`fds::to_kernel`]), then the C library's call runs on the kernel's descriptor, so
//! the answer is the mount's and never the placeholder's.

use std::ffi::{c_char, c_int, c_ulong, c_void};

use libc::{off_t, size_t, ssize_t};

use crate::entry::{self, Outcome};
use crate::fds;
use crate::real::Fail;

/// Hands each served descriptor of `fdlist` to the kernel.
fn hand(name: &str, fdlist: &[c_int]) -> Result<(), c_int> {
    let mut result = Ok(());
    let _ = entry::run(
        name,
        || {
            for &fd in fdlist {
                if fds::get(fd).is_some() {
                    if let Err(e) = fds::to_kernel(fd) {
                        result = Err(e);
                        return Outcome::Failed(e);
                    }
                }
            }
            Outcome::Pass
        },
        || 0,
    );
    result
}

mod next {
    use super::*;
    real_fns! {
        fn mmap(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off_t) -> *mut c_void;
        fn mmap64(addr: *mut c_void, len: size_t, prot: c_int, flags: c_int, fd: c_int, off: off_t) -> *mut c_void;
    }
}

macro_rules! handed_over {
    ($( fn $name:ident($($arg:ident: $t:ty),*) -> $ret:ty, fds [$($fd:ident),+]; )*) => {
        mod real_next {
            use super::*;
            real_fns! { $( fn $name($($arg: $t),*) -> $ret; )* }
        }
        $(
            /// Hands served descriptors to the kernel mount, then the C library's call.
            ///
            /// # Safety
            /// As the C function.
            #[no_mangle]
            pub unsafe extern "C" fn $name($($arg: $t),*) -> $ret {
                if let Err(e) = hand(stringify!($name), &[$($fd),+]) {
                    crate::real::set_errno(e);
                    return <$ret as Fail>::fail();
                }
                // SAFETY: the caller's contract.
                unsafe { real_next::$name($($arg),*) }
            }
        )*
    };
}

handed_over! {
    fn flock(fd: c_int, op: c_int) -> c_int, fds [fd];
    fn lockf(fd: c_int, cmd: c_int, len: off_t) -> c_int, fds [fd];
    fn fallocate(fd: c_int, mode: c_int, off: off_t, len: off_t) -> c_int, fds [fd];
    fn fallocate64(fd: c_int, mode: c_int, off: off_t, len: off_t) -> c_int, fds [fd];
    fn posix_fallocate(fd: c_int, off: off_t, len: off_t) -> c_int, fds [fd];
    fn posix_fallocate64(fd: c_int, off: off_t, len: off_t) -> c_int, fds [fd];
    fn posix_fadvise(fd: c_int, off: off_t, len: off_t, advice: c_int) -> c_int, fds [fd];
    fn posix_fadvise64(fd: c_int, off: off_t, len: off_t, advice: c_int) -> c_int, fds [fd];
    fn fgetxattr(fd: c_int, name: *const c_char, v: *mut c_void, n: size_t) -> ssize_t, fds [fd];
    fn fsetxattr(fd: c_int, name: *const c_char, v: *const c_void, n: size_t, flags: c_int) -> c_int, fds [fd];
    fn flistxattr(fd: c_int, list: *mut c_char, n: size_t) -> ssize_t, fds [fd];
    fn fremovexattr(fd: c_int, name: *const c_char) -> c_int, fds [fd];
    fn syncfs(fd: c_int) -> c_int, fds [fd];
    fn ioctl(fd: c_int, req: c_ulong, arg: *mut c_void) -> c_int, fds [fd];
    fn fdopen(fd: c_int, mode: *const c_char) -> *mut libc::FILE, fds [fd];
    fn readahead(fd: c_int, off: off_t, n: size_t) -> ssize_t, fds [fd];
    fn sendfile(out: c_int, inp: c_int, off: *mut off_t, n: size_t) -> ssize_t, fds [out, inp];
    fn sendfile64(out: c_int, inp: c_int, off: *mut off_t, n: size_t) -> ssize_t, fds [out, inp];
    fn copy_file_range(inp: c_int, inoff: *mut off_t, out: c_int, outoff: *mut off_t, n: size_t, flags: u32) -> ssize_t, fds [inp, out];
    fn splice(inp: c_int, inoff: *mut off_t, out: c_int, outoff: *mut off_t, n: size_t, flags: u32) -> ssize_t, fds [inp, out];
    fn preadv(fd: c_int, iov: *const libc::iovec, n: c_int, off: off_t) -> ssize_t, fds [fd];
    fn pwritev(fd: c_int, iov: *const libc::iovec, n: c_int, off: off_t) -> ssize_t, fds [fd];
    fn preadv2(fd: c_int, iov: *const libc::iovec, n: c_int, off: off_t, flags: c_int) -> ssize_t, fds [fd];
    fn pwritev2(fd: c_int, iov: *const libc::iovec, n: c_int, off: off_t, flags: c_int) -> ssize_t, fds [fd];
    fn fchdir(fd: c_int) -> c_int, fds [fd];
}

/// A file's mapping is the kernel's: the descriptor is handed over first. mmap fails with
/// MAP_FAILED, not NULL, so these are written out.
fn mapped(name: &str, flags: c_int, fd: c_int, map: impl FnOnce() -> *mut c_void) -> *mut c_void {
    if flags & libc::MAP_ANONYMOUS == 0 {
        if let Err(e) = hand(name, &[fd]) {
            crate::real::set_errno(e);
            return libc::MAP_FAILED;
        }
    }
    map()
}

/// # Safety
/// As mmap(2).
#[no_mangle]
pub unsafe extern "C" fn mmap(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    // SAFETY: as mmap(2).
    mapped("mmap", flags, fd, || unsafe { next::mmap(addr, len, prot, flags, fd, off) })
}

/// # Safety
/// As mmap(2).
#[no_mangle]
pub unsafe extern "C" fn mmap64(
    addr: *mut c_void,
    len: size_t,
    prot: c_int,
    flags: c_int,
    fd: c_int,
    off: off_t,
) -> *mut c_void {
    // SAFETY: as mmap(2).
    mapped("mmap64", flags, fd, || unsafe { next::mmap64(addr, len, prot, flags, fd, off) })
}
