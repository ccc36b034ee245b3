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
//!
//! Measured against the async client on the same servers: caller-driven costs about
//! the same client CPU per 4 KiB call (within ±4 µs) and as much bandwidth; 1 or 2
//! workers cost 4-9 µs more CPU per call (the wake-up of the blocked caller) and were
//! no faster in wall time, even with 8 calling threads.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use super::error::FfiError;
use crate::caller_driven::CallerDriven;

/// Environment variable selecting the runtime flavour (read once per process).
pub const THREADS_ENV: &str = "BENCHFS_RUNTIME_THREADS";

enum Bridge {
    /// I/O only progresses while some caller is inside `block_on`.
    CallerDriven(CallerDriven),
    Workers(Runtime),
}

/// Built on first use and never dropped: C callers have no "unload" hook, and tearing
/// down worker threads from an `atexit` handler is a known source of hangs.
static BRIDGE: OnceLock<Result<Bridge, String>> = OnceLock::new();

fn build() -> Result<Bridge, String> {
    let threads = match std::env::var(THREADS_ENV) {
        Ok(s) => s.trim().parse::<usize>().map_err(|_| format!("{THREADS_ENV}={s:?} is not a number"))?,
        Err(_) => 0,
    };
    let failed = |e: std::io::Error| format!("cannot start the I/O runtime: {e}");
    if threads == 0 {
        return CallerDriven::new().map(Bridge::CallerDriven).map_err(failed);
    }
    let rt = Builder::new_multi_thread().worker_threads(threads).thread_name("benchfs-io").enable_all().build();
    rt.map(Bridge::Workers).map_err(failed)
}

fn bridge() -> Result<&'static Bridge, FfiError> {
    BRIDGE.get_or_init(build).as_ref().map_err(|e| FfiError::io(e.clone()))
}

/// The runtime, built on first use.
pub fn runtime() -> Result<&'static Runtime, FfiError> {
    bridge().map(|b| match b {
        Bridge::CallerDriven(c) => c.runtime(),
        Bridge::Workers(rt) => rt,
    })
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
    match bridge()? {
        Bridge::CallerDriven(c) => c.block_on(f),
        Bridge::Workers(rt) => rt.block_on(f),
    }
    .map_err(Into::into)
}
