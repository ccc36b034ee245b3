//! The one tokio runtime of the process, and the bridge from blocking C calls into it.
//!
//! Flavour (chosen by measurement, see `bench/ffi_overhead.rs`): by default a
//! current-thread runtime whose I/O is driven by the calling threads themselves.
//! A single caller then writes the request, waits in `epoll` and reads the reply on
//! its own thread, with no cross-thread wake-up per call. Many callers share it
//! safely: one thread at a time drives the I/O driver, and tokio hands the driver
//! on to a waiting caller when the driving one returns, so every call makes progress.
//! `BENCHFS_RUNTIME_THREADS=N` (N > 0) switches to a multi-thread runtime with N
//! workers driving the I/O instead; 0 is the default.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use super::error::FfiError;

/// Environment variable selecting the runtime flavour (read once per process).
pub const THREADS_ENV: &str = "BENCHFS_RUNTIME_THREADS";

/// Built on first use and never dropped: C callers have no "unload" hook, and tearing
/// down worker threads from an `atexit` handler is a known source of hangs.
static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

fn build() -> Result<Runtime, String> {
    let threads = match std::env::var(THREADS_ENV) {
        Ok(s) => s.trim().parse::<usize>().map_err(|_| format!("{THREADS_ENV}={s:?} is not a number"))?,
        Err(_) => 0,
    };
    let mut b = if threads == 0 {
        Builder::new_current_thread()
    } else {
        let mut b = Builder::new_multi_thread();
        b.worker_threads(threads).thread_name("benchfs-io");
        b
    };
    b.enable_all().build().map_err(|e| format!("cannot start the I/O runtime: {e}"))
}

/// The runtime, built on first use.
pub fn runtime() -> Result<&'static Runtime, FfiError> {
    RUNTIME.get_or_init(build).as_ref().map_err(|e| FfiError::io(e.clone()))
}

/// Runs a client future to completion on the calling thread.
///
/// # Errors
/// The future's own error, or EIO when the runtime cannot be built.
///
/// # Panics
/// When called from inside an async context (tokio forbids nested `block_on`); the
/// exported functions catch it and return `BENCHFS_EIO`.
pub fn block_on<T, E: Into<FfiError>>(f: impl Future<Output = Result<T, E>>) -> Result<T, FfiError> {
    runtime()?.block_on(f).map_err(Into::into)
}
