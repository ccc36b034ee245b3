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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};

use super::error::FfiError;

/// Environment variable selecting the runtime flavour (read once per process).
pub const THREADS_ENV: &str = "BENCHFS_RUNTIME_THREADS";

/// A caller-driven runtime left alone this long first catches up on I/O events
/// ([`catch_up`]); back-to-back calls skip that (about 2 µs of CPU per call).
const CATCH_UP_AFTER: Duration = Duration::from_millis(1);

struct Bridge {
    rt: Runtime,
    /// Current-thread flavour: I/O only progresses while some caller is inside `block_on`.
    caller_driven: bool,
    /// Origin of `last_driven`.
    epoch: Instant,
    /// Nanoseconds after `epoch` when a caller last finished driving the runtime.
    last_driven: AtomicU64,
}

impl Bridge {
    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn idle(&self) -> bool {
        let since = self.now().saturating_sub(self.last_driven.load(Ordering::Relaxed));
        u128::from(since) > CATCH_UP_AFTER.as_nanos()
    }
}

/// Built on first use and never dropped: C callers have no "unload" hook, and tearing
/// down worker threads from an `atexit` handler is a known source of hangs.
static BRIDGE: OnceLock<Result<Bridge, String>> = OnceLock::new();

fn build() -> Result<Bridge, String> {
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
    let rt = b.enable_all().build().map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    Ok(Bridge { rt, caller_driven: threads == 0, epoch: Instant::now(), last_driven: AtomicU64::new(0) })
}

fn bridge() -> Result<&'static Bridge, FfiError> {
    BRIDGE.get_or_init(build).as_ref().map_err(|e| FfiError::io(e.clone()))
}

/// The runtime, built on first use.
pub fn runtime() -> Result<&'static Runtime, FfiError> {
    bridge().map(|b| &b.rt)
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
    let b = bridge()?;
    if !b.caller_driven {
        return b.rt.block_on(f).map_err(Into::into);
    }
    let idle = b.idle();
    let r = b.rt.block_on(async {
        if idle {
            catch_up().await;
        }
        f.await
    });
    b.last_driven.fetch_max(b.now(), Ordering::Relaxed);
    r.map_err(Into::into)
}

/// Lets a caller-driven runtime handle the I/O events that arrived while no call was
/// running, before the call starts. Without it, a connection the server closed in the
/// meantime (a restart) is still marked open, and the call fails on it instead of the
/// pool reconnecting, as it does when worker threads watch the sockets. The first
/// yield makes tokio poll the I/O driver, which wakes the connection's reader task;
/// the second lets that task run (and mark the connection closed). Guarded by the
/// server-restart C test, which runs under both flavours.
///
/// Skipped between back-to-back calls: a close landing in such a short gap fails the
/// next call, as a close landing during a call fails that call in either flavour.
async fn catch_up() {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}
