//! Asking many servers the same question with a bounded number of requests in flight.
//!
//! A client's readdir, statfs, truncate or fsync asks every server (or many), and so does
//! a server's fence, chunk drop or batch of parent times. Unbounded, that is one
//! connection attempt and one reply buffer per server at the same instant: a thousand-server job would open a
//! thousand sockets at once from every client and take every reply into memory before
//! the first is used. [`MAX_IN_FLIGHT`] requests at a time keep all servers busy
//! (each answers in parallel) while capping what one call holds.

use std::future::Future;

use futures::stream::{self, StreamExt};

/// Requests of one fan-out in flight at once.
pub const MAX_IN_FLIGHT: usize = 64;

/// `f(0)`, ..., `f(n - 1)`, at most [`MAX_IN_FLIGHT`] at a time; results in index order.
pub async fn each<T, Fut: Future<Output = T>>(n: usize, f: impl FnMut(usize) -> Fut) -> Vec<T> {
    all((0..n).map(f)).await
}

/// Every one of `calls`, at most [`MAX_IN_FLIGHT`] at a time; results in their order.
/// (The server's broadcasts to its peers use it too.)
pub async fn all<T, Fut: Future<Output = T>>(calls: impl IntoIterator<Item = Fut>) -> Vec<T> {
    stream::iter(calls).buffered(MAX_IN_FLIGHT).collect().await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn keeps_order_and_bounds_concurrency() {
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let out = each(1000, |i| {
            let (now, peak) = (&now, &peak);
            async move {
                peak.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                now.fetch_sub(1, Ordering::SeqCst);
                i
            }
        })
        .await;
        assert_eq!(out, (0..1000).collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= MAX_IN_FLIGHT);
    }
}
