//! Where the interposer's own descriptors go: high, out of the way of programs that
//! pick low numbers (see `calls/own_fds.rs`). Its own module: the exit report
//! (`stats.rs`) and the mount lookup need the number too, without the calls' layer.

use std::ffi::c_int;

/// The lowest number the interposer's own descriptors get: the top quarter of the
/// descriptor limit (at most 4096 below it).
pub(crate) fn floor() -> c_int {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is writable.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    let cur = lim.rlim_cur.min(1 << 20);
    c_int::try_from(cur - (cur / 4).min(4096)).unwrap_or(0)
}
