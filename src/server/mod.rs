//! `benchfsd` internals: the stores, the request handlers and the accept loop.

mod chunk_store;
mod connection;
mod handler;
mod meta_store;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use chunk_store::ChunkStore;
pub use meta_store::MetaStore;

use crate::proto::Status;

/// Errors of the server's stores, carried to the client as a [`Status`] and a message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{1}")]
    Status(Status, String),
    #[error("chunk store: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata store: {0}")]
    Meta(String),
}

impl StoreError {
    pub fn status(&self) -> Status {
        match self {
            StoreError::Status(s, _) => *s,
            StoreError::Io(e) if e.raw_os_error() == Some(libc::ENOSPC) => Status::NoSpace,
            StoreError::Io(_) | StoreError::Meta(_) => Status::Io,
        }
    }
}

/// redb's errors all convert into `redb::Error`; its I/O errors keep their errno (so a
/// full disk is ENOSPC at the client), the rest become a message.
macro_rules! meta_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                match redb::Error::from(e) {
                    redb::Error::Io(io) => StoreError::Io(io),
                    other => StoreError::Meta(other.to_string()),
                }
            }
        }
    )*};
}
meta_err!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

impl From<postcard::Error> for StoreError {
    fn from(e: postcard::Error) -> Self {
        StoreError::Meta(e.to_string())
    }
}

/// What every handler shares: the two stores of this server.
pub struct State {
    pub meta: MetaStore,
    pub chunks: ChunkStore,
    pub data_dir: PathBuf,
    /// When set, every connection must authenticate before it is served.
    pub secret: Option<crate::auth::Secret>,
}

impl State {
    /// Opens (or creates) the stores under `data_dir`.
    /// Everything under `data_dir` is private to the server's user (0700 directories,
    /// 0600 files), an existing `data_dir` included.
    pub fn open(data_dir: &Path) -> Result<State, StoreError> {
        chunk_store::private_dir(data_dir)?;
        let meta_path = data_dir.join("meta.redb");
        let state = State {
            meta: MetaStore::open(&meta_path)?,
            chunks: ChunkStore::open(&data_dir.join("chunks"))?,
            data_dir: data_dir.to_path_buf(),
            secret: None,
        };
        // redb creates its file with the umask's mode; the 0700 directory already kept
        // others out, this makes the file itself private too.
        chunk_store::private(&meta_path, chunk_store::FILE_MODE)?;
        Ok(state)
    }

    /// Makes everything durable: metadata commit and a sync of the data file system.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.meta.sync()?;
        self.chunks.sync_all()?;
        Ok(())
    }
}

/// Requests in flight per connection; with chunks of at most 64 MiB this bounds the
/// memory one client can pin on a server (1 MiB chunks: 32 MiB).
pub const MAX_IN_FLIGHT_PER_CONN: usize = 32;
/// How long a stopping server waits for in-flight requests before giving up on them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `listener` until `shutdown` resolves, then stops accepting, lets in-flight
/// requests finish, and flushes the stores.
pub async fn run(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), StoreError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    let flusher = tokio::spawn(periodic_flush(state.clone(), stop_rx.clone()));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(connection::serve(stream, peer, state.clone(), stop_rx.clone()));
                }
                Err(e) => {
                    // Out of fds and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
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
    let _ = flusher.await;
    let st = state.clone();
    tokio::task::spawn_blocking(move || st.flush()).await.map_err(|e| StoreError::Meta(e.to_string()))?
}

/// Commits metadata durably every second when it changed, so that a crash loses at most
/// about a second of namespace changes even without fsync (fsync makes it immediate).
async fn periodic_flush(state: Arc<State>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        if state.meta.is_dirty() {
            let st = state.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || st.meta.sync()).await {
                tracing::warn!(error = %e, "periodic metadata commit failed");
            }
        }
    }
}
