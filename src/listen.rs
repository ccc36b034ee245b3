//! `benchfsd`'s network front: accepts TCP connections and hands each to
//! [`server::connection::serve`], with the server's background work beside it. Kept out
//! of `server`, which serves any byte stream and reaches its peers through
//! [`crate::transport::Peers`]: it names no socket type.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::server::{self, Background, Node, StoreError};

/// Connections a server accepts at once (each costs a task and buffers); more are closed.
pub const DEFAULT_MAX_CONNECTIONS: usize = 8192;
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
    let background = Background::start(node.clone());
    let mut conns = JoinSet::new();
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
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
                    // Owned halves: unlike a generic split, they share no lock.
                    let (rd, wr) = stream.into_split();
                    let serve = server::connection::serve(rd, wr, peer, node.clone(), background.stopping());
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
    background.stop();
    if tokio::time::timeout(DRAIN_TIMEOUT, async { while conns.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!("in-flight requests did not finish in time; aborting them");
        conns.abort_all();
    }
    background.finish().await
}
