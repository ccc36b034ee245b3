//! Counts of calls served in user space and of calls on mount paths or served descriptors
//! sent to the kernel: printed at exit with `BENCHFS_PRELOAD_STATS=1`, which is how the
//! tests tell that calls were really served here.

use std::sync::atomic::{AtomicU64, Ordering};

static SERVED: AtomicU64 = AtomicU64::new(0);
static KERNEL: AtomicU64 = AtomicU64::new(0);

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
    crate::write_stderr(line.as_bytes());
}

/// Registers the exit report when `BENCHFS_PRELOAD_STATS` is set (once per process).
pub fn register() {
    if std::env::var_os("BENCHFS_PRELOAD_STATS").is_some_and(|v| !v.is_empty() && v != "0") {
        // SAFETY: a plain extern "C" function with no arguments.
        unsafe { libc::atexit(print_at_exit) };
    }
}
