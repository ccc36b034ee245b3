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

/// The runtimes a pool of long-lived calling threads (the mount's session threads) drive.
pub enum Runtimes {
    /// A [`CallerDriven`] runtime for each thread, for threads that wait on connections of
    /// their own ([`crate::transport::per_thread::PerThreadTcp`]): no thread ever waits for
    /// another to hand it the I/O driver or its reply.
    PerThread(Box<ThreadLocal<CallerDriven>>),
    /// One runtime for all, and so one connection per server for all: tokio hands the I/O
    /// driver from a thread that returns to one that waits, and a reply read by one thread
    /// wakes the thread waiting for it. For clusters too large for a connection per server
    /// per thread.
    Shared(CallerDriven),
}

impl Runtimes {
    /// # Errors
    /// When the shared runtime cannot be made.
    pub fn new(per_thread: bool) -> std::io::Result<Runtimes> {
        Ok(if per_thread { Runtimes::PerThread(Box::default()) } else { Runtimes::Shared(CallerDriven::new()?) })
    }

    /// Runs `f` on this thread's runtime (made on its first call) or the shared one.
    ///
    /// # Errors
    /// When this thread's runtime cannot be made.
    ///
    /// # Panics
    /// When called from inside an async context.
    pub fn block_on<F: Future>(&self, f: F) -> std::io::Result<F::Output> {
        let rt = match self {
            Runtimes::PerThread(each) => each.get_or_try(CallerDriven::new)?,
            Runtimes::Shared(rt) => rt,
        };
        Ok(rt.block_on(f))
    }
}
