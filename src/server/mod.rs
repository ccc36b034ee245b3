//! `benchfsd` internals: the stores, the rules every request passes, the coordinated
//! namespace changes, one connection's serving and the background work. The accept loop
//! is `crate::listen`; peers are reached through [`crate::transport::Peers`]: this module
//! names no socket type.
//!
//! Data flows one way: [`connection`] (frames) → [`Node`] (validation, ownership, fences,
//! claims) → one handler per op ([`ops`]; [`namespace`] for changes that span servers)
//! → the stores, which know nothing of the wire or the ring.

pub mod backend;
mod claims;
pub mod connection;
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

use tokio::sync::watch;

pub use backend::{ChunkBackend, StoreBackends};
pub use membership::RingError;
pub(crate) use meta_store::seed_file_ids;
pub use meta_store::MetaStore;
pub use node::{Node, StartError};
pub use store_error::StoreError;

/// Requests in flight per connection; with chunks of at most 64 MiB this bounds the
/// memory one client can pin on a server (1 MiB chunks: 32 MiB).
pub const MAX_IN_FLIGHT_PER_CONN: usize = 32;
/// How often unlinked files' chunks are dropped everywhere (batched, off the reply path).
const DROP_INTERVAL: Duration = Duration::from_millis(100);
/// How often parent directories' time changes go to their owners (batched, off the reply
/// path: see `Node::touch_parent`). The longest a directory's stat lags a change in it.
pub(crate) const TOUCH_INTERVAL: Duration = Duration::from_millis(5);

/// A server's background work: metadata commits, dropping unlinked files' chunks,
/// parent directories' batched times. Connections watch [`Background::stopping`] to end.
pub struct Background {
    node: Arc<Node>,
    stop: watch::Sender<bool>,
    tasks: [tokio::task::JoinHandle<()>; 3],
}

impl Background {
    pub fn start(node: Arc<Node>) -> Background {
        let (stop, stop_rx) = watch::channel(false);
        let tasks = [
            tokio::spawn(periodic_flush(node.clone(), stop_rx.clone())),
            tokio::spawn(periodic_drop(node.clone(), stop_rx.clone())),
            tokio::spawn(periodic_touch(node.clone(), stop_rx)),
        ];
        Background { node, stop, tasks }
    }

    /// Changes when the server stops.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Tells the background work and the connections to stop.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }

    /// Stops, lets the background work end, sends what it still held and flushes.
    pub async fn finish(self) -> Result<(), StoreError> {
        self.stop();
        for t in self.tasks {
            let _ = t.await;
        }
        let node = self.node;
        node.touch_dirs().await;
        node.drop_unlinked().await;
        tokio::task::spawn_blocking(move || node.flush()).await.map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }
}

/// Runs an in-process server's background work (metadata commits, dropping unlinked
/// files' chunks) until `shutdown`, then flushes: a server without a listener.
pub async fn run_in_process(node: Arc<Node>, shutdown: impl Future<Output = ()>) -> Result<(), StoreError> {
    let background = Background::start(node);
    shutdown.await;
    background.finish().await
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
