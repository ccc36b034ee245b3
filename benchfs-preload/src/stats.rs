//! Counts of calls served in user space and of calls on mount paths or served descriptors
//! sent to the kernel: printed at exit with `BENCHFS_PRELOAD_STATS=1`, which is how the
//! tests tell that calls were really served here.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

static SERVED: AtomicU64 = AtomicU64::new(0);
static KERNEL: AtomicU64 = AtomicU64::new(0);
/// A copy of stderr made at registration: programs that close stderr before they exit
/// (GNU tar, coreutils' close_stdout) still get the report.
static ERR: AtomicI32 = AtomicI32::new(2);

pub fn served() {
    SERVED.fetch_add(1, Ordering::Relaxed);
}

pub fn kernel() {
    KERNEL.fetch_add(1, Ordering::Relaxed);
}

extern "C" fn print_at_exit() {
    let line = format!(
        "benchfs-preload: pid {} served {} calls, sent {} to the kernel mount\n",
        std::process::id(),
        SERVED.load(Ordering::Relaxed),
        KERNEL.load(Ordering::Relaxed)
    );
    // SAFETY: `line` is readable for its length.
    let _ = unsafe { crate::real::write(ERR.load(Ordering::Relaxed), line.as_ptr().cast(), line.len()) };
}

/// Registers the exit report when `BENCHFS_PRELOAD_STATS` is set (once per process).
pub fn register() {
    if std::env::var_os("BENCHFS_PRELOAD_STATS").is_some_and(|v| !v.is_empty() && v != "0") {
        // SAFETY: a descriptor call; a plain extern "C" function with no arguments.
        unsafe {
            let min = libc::c_long::from(crate::fd_floor::floor());
            let copy = crate::real::fcntl(2, libc::F_DUPFD_CLOEXEC, min);
            if copy >= 0 {
                ERR.store(copy, Ordering::Relaxed);
            }
            libc::atexit(print_at_exit);
        }
    }
}
