//! A current-thread tokio runtime whose I/O is driven by the threads that call into it:
//! a caller writes its request, waits in `epoll` and reads the reply on its own thread,
//! with no cross-thread wake-up per call (the C API's and the mount's model).

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use thread_local::ThreadLocal;
use tokio::runtime::{Builder, Runtime};

/// A runtime left alone this long first catches up on I/O events ([`catch_up`]);
/// back-to-back calls skip that (about 2 µs of CPU per call).
const CATCH_UP_AFTER: Duration = Duration::from_millis(1);

pub struct CallerDriven {
    rt: Runtime,
    /// Origin of `last_driven`.
    epoch: Instant,
    /// Nanoseconds after `epoch` when a caller last finished driving the runtime.
    last_driven: AtomicU64,
}

impl CallerDriven {
    /// # Errors
    /// When the runtime's epoll instance or timers cannot be made.
    pub fn new() -> std::io::Result<CallerDriven> {
        let rt = Builder::new_current_thread().enable_all().build()?;
        Ok(CallerDriven { rt, epoch: Instant::now(), last_driven: AtomicU64::new(0) })
    }

    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Runs `f` to completion on the calling thread, after catching up on the I/O events
    /// that arrived while nobody drove the runtime.
    ///
    /// # Panics
    /// When called from inside an async context (tokio forbids nested `block_on`).
    pub fn block_on<F: Future>(&self, f: F) -> F::Output {
        let since = self.now().saturating_sub(self.last_driven.load(Ordering::Relaxed));
        let idle = u128::from(since) > CATCH_UP_AFTER.as_nanos();
        let out = self.rt.block_on(async {
            if idle {
                catch_up().await;
            }
            f.await
        });
        self.last_driven.fetch_max(self.now(), Ordering::Relaxed);
        out
    }
}

/// Lets the runtime handle the I/O events that arrived while no call was running, before
/// the call starts. Without it, a connection the server closed in the meantime (a
/// restart) is still marked open, and the call fails on it instead of the pool
/// reconnecting, as it does when worker threads watch the sockets. The first yield makes
/// tokio poll the I/O driver, which wakes the connection's reader task; the second lets
/// that task run (and mark the connection closed). Guarded by the server-restart C test,
/// which runs under both flavours.
///
/// Skipped between back-to-back calls: a close landing in such a short gap fails the
/// next call, as a close landing during a call fails that call in either flavour.
async fn catch_up() {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}

/// A [`CallerDriven`] runtime for each thread that calls, for threads that wait on
/// connections of their own ([`crate::transport::per_thread::PerThreadTcp`]): no
/// thread ever waits for another to hand it the I/O driver or its reply.
#[derive(Default)]
pub struct PerThread(ThreadLocal<CallerDriven>);

impl PerThread {
    /// Runs `f` on this thread's runtime, made on its first call.
    ///
    /// # Errors
    /// When this thread's runtime cannot be made.
    ///
    /// # Panics
    /// When called from inside an async context.
    pub fn block_on<F: Future>(&self, f: F) -> std::io::Result<F::Output> {
        Ok(self.0.get_or_try(CallerDriven::new)?.block_on(f))
    }
}
