//! The descriptors the interposer makes for itself (the runtime's epoll and wake-up
//! descriptors, its sockets to the servers) are moved to high numbers as they are made.
//! Programs pick low numbers for their own (`exec 3>f` in a shell is dup2 onto 3), and a
//! dup2 onto one of the runtime's descriptors would close it under the runtime.

use std::ffi::c_int;

use crate::entry;
use crate::fd_floor::floor;

/// Moves `fd`, just made by the interposer itself, above [`floor`] (close-on-exec).
pub(super) fn relocate(fd: c_int) -> c_int {
    if fd < 0 || !entry::inside() {
        return fd;
    }
    let min = floor();
    if fd >= min {
        return fd;
    }
    // SAFETY: plain descriptor calls on the descriptor just made.
    unsafe {
        let high = crate::real::fcntl(fd, libc::F_DUPFD_CLOEXEC, libc::c_long::from(min));
        if high < 0 {
            return fd;
        }
        crate::real::close(fd);
        high
    }
}

mod next {
    use std::ffi::{c_int, c_uint};
    real_fns! {
        fn epoll_create(size: c_int) -> c_int;
        fn epoll_create1(flags: c_int) -> c_int;
        fn eventfd(init: c_uint, flags: c_int) -> c_int;
        fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int;
        fn socketpair(domain: c_int, ty: c_int, proto: c_int, sv: *mut c_int) -> c_int;
        fn pipe2(fds: *mut c_int, flags: c_int) -> c_int;
        fn timerfd_create(clock: c_int, flags: c_int) -> c_int;
    }
}

/// # Safety
/// As epoll_create(2).
#[no_mangle]
pub unsafe extern "C" fn epoll_create(size: c_int) -> c_int {
    // SAFETY: as epoll_create(2).
    relocate(unsafe { next::epoll_create(size) })
}

/// # Safety
/// As epoll_create1(2).
#[no_mangle]
pub unsafe extern "C" fn epoll_create1(flags: c_int) -> c_int {
    // SAFETY: as epoll_create1(2).
    relocate(unsafe { next::epoll_create1(flags) })
}

/// # Safety
/// As eventfd(2).
#[no_mangle]
pub unsafe extern "C" fn eventfd(init: std::ffi::c_uint, flags: c_int) -> c_int {
    // SAFETY: as eventfd(2).
    relocate(unsafe { next::eventfd(init, flags) })
}

/// # Safety
/// As socket(2).
#[no_mangle]
pub unsafe extern "C" fn socket(domain: c_int, ty: c_int, proto: c_int) -> c_int {
    // SAFETY: as socket(2).
    relocate(unsafe { next::socket(domain, ty, proto) })
}

/// # Safety
/// As timerfd_create(2).
#[no_mangle]
pub unsafe extern "C" fn timerfd_create(clock: c_int, flags: c_int) -> c_int {
    // SAFETY: as timerfd_create(2).
    relocate(unsafe { next::timerfd_create(clock, flags) })
}

/// # Safety
/// As socketpair(2): `sv` is writable for two descriptors.
#[no_mangle]
pub unsafe extern "C" fn socketpair(domain: c_int, ty: c_int, proto: c_int, sv: *mut c_int) -> c_int {
    // SAFETY: as socketpair(2).
    let r = unsafe { next::socketpair(domain, ty, proto, sv) };
    if r == 0 {
        // SAFETY: filled with two descriptors.
        unsafe { relocate_pair(sv) };
    }
    r
}

/// # Safety
/// As pipe2(2): `fds` is writable for two descriptors.
#[no_mangle]
pub unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    // SAFETY: as pipe2(2).
    let r = unsafe { next::pipe2(fds, flags) };
    if r == 0 {
        // SAFETY: filled with two descriptors.
        unsafe { relocate_pair(fds) };
    }
    r
}

/// # Safety
/// `fds` holds two descriptors.
unsafe fn relocate_pair(fds: *mut c_int) {
    for i in 0..2 {
        // SAFETY: the caller's contract.
        unsafe { *fds.add(i) = relocate(*fds.add(i)) };
    }
}
