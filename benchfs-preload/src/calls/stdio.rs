//! fopen and freopen: the C library opens those with its internal open, which the
//! interposer does not see, so they are the kernel mount's; on a path under a served
//! mount the mount is first told what this process changed ([`Served::tell_kernel`]), so
//! that the kernel does not answer from a stale cache (a name it found missing before
//! this process made it, say).
//!
//! [`Served::tell_kernel`]: crate::mounts::Served::tell_kernel

use std::ffi::{c_char, c_int};

use crate::entry::{self, Outcome};
use crate::state::{self, Target};

mod next {
    use super::*;
    real_fns! {
        fn fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE;
        fn fopen64(path: *const c_char, mode: *const c_char) -> *mut libc::FILE;
        fn freopen(path: *const c_char, mode: *const c_char, f: *mut libc::FILE) -> *mut libc::FILE;
        fn freopen64(path: *const c_char, mode: *const c_char, f: *mut libc::FILE) -> *mut libc::FILE;
    }
}

/// Tells the mount of `path` (if it is served) what changed; the call itself is the
/// kernel's.
///
/// # Safety
/// `path` is NULL or NUL-terminated.
unsafe fn before_kernel(path: *const c_char) {
    let _ = entry::run(
        "fopen",
        || {
            // SAFETY: the caller's contract.
            if let Target::Served(p) = unsafe { state::resolve(libc::AT_FDCWD, path) } {
                p.served.tell_kernel();
            }
            Outcome::Pass
        },
        || 0 as c_int,
    );
}

/// # Safety
/// As fopen(3).
#[no_mangle]
pub unsafe extern "C" fn fopen(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: as fopen(3).
    unsafe {
        before_kernel(path);
        next::fopen(path, mode)
    }
}

/// # Safety
/// As fopen(3).
#[no_mangle]
pub unsafe extern "C" fn fopen64(path: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    // SAFETY: as fopen(3).
    unsafe {
        before_kernel(path);
        next::fopen64(path, mode)
    }
}

/// # Safety
/// As freopen(3).
#[no_mangle]
pub unsafe extern "C" fn freopen(path: *const c_char, mode: *const c_char, f: *mut libc::FILE) -> *mut libc::FILE {
    // SAFETY: as freopen(3).
    unsafe {
        before_kernel(path);
        next::freopen(path, mode, f)
    }
}

/// # Safety
/// As freopen(3).
#[no_mangle]
pub unsafe extern "C" fn freopen64(path: *const c_char, mode: *const c_char, f: *mut libc::FILE) -> *mut libc::FILE {
    // SAFETY: as freopen(3).
    unsafe {
        before_kernel(path);
        next::freopen64(path, mode, f)
    }
}
