//! `libbenchfs_preload.so`: an `LD_PRELOAD` interposer that serves calls on paths under
//! benchfs-fuse mounts in user space, through the same caller-driven client as the C API,
//! and sends everything else to the C library, so the kernel mount is always the fallback.
//!
//! ```sh
//! LD_PRELOAD=libbenchfs_preload.so ior -a POSIX -o /mnt/benchfs/f
//! ```
//!
//! # Layout
//! - [`real`]: the C library's functions (`dlsym(RTLD_NEXT)`).
//! - [`entry`]: every exported function's guard (re-entry, panics, errno).
//! - [`mounts`]: finding the mounts and their clusters.
//! - [`attrs`]: the attribute cache (the mount's `--attr-timeout`).
//! - [`perm`]: permission checks (the kernel's, for users other than root).
//! - [`state`]: the process's mounts (again after fork) and path resolution.
//! - [`fds`]: served descriptors (placeholders) and handing them to the kernel.
//! - `calls`: the exported functions.
//! - [`lock`]: the fork-safe lock of the shared tables.
//! - [`stats`]: served/kernel counts (`BENCHFS_PRELOAD_STATS=1`).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

#[macro_use]
mod real;
mod attrs;
mod calls;
mod entry;
mod fd_floor;
mod fds;
mod lock;
mod mounts;
mod perm;
mod state;
mod stats;

use std::sync::Once;

/// Writes to stderr with the C library's write (never through the interposer).
pub(crate) fn write_stderr(b: &[u8]) {
    // SAFETY: `b` is readable for its length.
    let _ = unsafe { real::write(2, b.as_ptr().cast(), b.len()) };
}

/// One line on stderr, prefixed with the library's name.
pub(crate) fn say(msg: &str) {
    write_stderr(format!("benchfs-preload: {msg}\n").as_bytes());
}

/// Process-wide setup at the first call that looks at the mounts: the fork handlers and
/// the exit report. Once per process: a forked child keeps its parent's registrations.
pub(crate) fn on_first_use() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: plain extern "C" functions with no arguments.
        unsafe {
            libc::pthread_atfork(
                Some(calls::before_fork),
                Some(calls::after_fork_in_parent),
                Some(calls::after_fork_in_child),
            )
        };
        stats::register();
        // SAFETY: a plain extern "C" function with no arguments.
        unsafe { libc::atexit(tell_kernel_at_exit) };
    });
}

/// At exit, the mounts learn what this process changed (for whoever looks next through
/// the kernel mount).
extern "C" fn tell_kernel_at_exit() {
    let _ = entry::run(
        "exit",
        || {
            state::tell_kernel_all();
            entry::Outcome::Pass
        },
        || 0,
    );
}
