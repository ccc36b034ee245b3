//! `benchfsd` internals: the stores, the rules every request passes, the coordinated
//! namespace changes and the accept loop.
//!
//! Data flows one way: [`connection`] (frames) → [`Node`] (validation, ownership, fences,
//! claims; [`namespace`] for changes that span servers) → the stores, which know nothing
//! of the wire or the ring.

pub mod backend;
mod claims;
mod connection;
mod dir_ids;
mod fence;
mod identity;
mod membership;
mod meta_store;
mod moves;
mod namespace;
mod node;
mod ops;
pub(crate) mod private;
mod store_error;
mod tombstones;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

pub use backend::{ChunkBackend, StoreBackends};
pub use meta_store::MetaStore;
pub use node::Node;
pub use store_error::StoreError;

/// Requests in flight per connection; with chunks of at most 64 MiB this bounds the
/// memory one client can pin on a server (1 MiB chunks: 32 MiB).
pub const MAX_IN_FLIGHT_PER_CONN: usize = 32;
/// Connections a server accepts at once (each costs a task and buffers); more are closed.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;
/// How often unlinked files' chunks are dropped everywhere (batched, off the reply path).
const DROP_INTERVAL: Duration = Duration::from_millis(100);
/// How often parent directories' time changes go to their owners (batched, off the reply
/// path: see `Node::touch_parent`). The longest a directory's stat lags a change in it.
pub(crate) const TOUCH_INTERVAL: Duration = Duration::from_millis(5);
/// How long a stopping server waits for in-flight requests before giving up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `listener` until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish, and flushes the stores.
pub async fn run(
    listener: TcpListener,
    node: Arc<Node>,
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StoreError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    let flusher = tokio::spawn(periodic_flush(node.clone(), stop_rx.clone()));
    let dropper = tokio::spawn(periodic_drop(node.clone(), stop_rx.clone()));
    let toucher = tokio::spawn(periodic_touch(node.clone(), stop_rx.clone()));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, max_connections, "connection limit reached; closing the new connection");
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let serve = connection::serve(stream, peer, node.clone(), stop_rx.clone());
                    conns.spawn(async move {
                        serve.await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    // Out of fds and similar: back off instead of spinning.
                    tracing::warn!(error = %crate::fd_limit::explain(e), "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    tracing::info!(connections = conns.len(), "shutting down: draining in-flight requests");
    let _ = stop_tx.send(true);
    if tokio::time::timeout(DRAIN_TIMEOUT, async { while conns.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!("in-flight requests did not finish in time; aborting them");
        conns.abort_all();
    }
    finish(node, [flusher, dropper, toucher]).await
}

/// Runs an in-process server's background work (metadata commits, dropping unlinked
/// files' chunks) until `shutdown`, then flushes: a server without a listener.
pub async fn run_in_process(node: Arc<Node>, shutdown: impl Future<Output = ()>) -> Result<(), StoreError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let flusher = tokio::spawn(periodic_flush(node.clone(), stop_rx.clone()));
    let dropper = tokio::spawn(periodic_drop(node.clone(), stop_rx.clone()));
    let toucher = tokio::spawn(periodic_touch(node.clone(), stop_rx));
    shutdown.await;
    let _ = stop_tx.send(true);
    finish(node, [flusher, dropper, toucher]).await
}

async fn finish(node: Arc<Node>, tasks: [tokio::task::JoinHandle<()>; 3]) -> Result<(), StoreError> {
    for t in tasks {
        let _ = t.await;
    }
    node.touch_dirs().await;
    node.drop_unlinked().await;
    tokio::task::spawn_blocking(move || node.flush()).await.map_err(|e| StoreError::Io(std::io::Error::other(e)))?
}

/// Drops the chunks of recently unlinked files on every server, in batches.
async fn periodic_drop(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(DROP_INTERVAL) => node.drop_unlinked().await,
            _ = stop.changed() => return,
        }
    }
}

/// Sends parent directories' time changes to their owners, in batches.
async fn periodic_touch(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(TOUCH_INTERVAL) => node.touch_dirs().await,
            _ = stop.changed() => return,
        }
    }
}

/// Commits metadata durably every second when it changed, so that a crash loses at most
/// about a second of namespace changes even without fsync (fsync makes it immediate).
async fn periodic_flush(node: Arc<Node>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        if node.meta.is_dirty() {
            let st = node.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || st.sync_meta()).await {
                tracing::warn!(error = %e, "periodic metadata commit failed");
            }
        }
    }
}
