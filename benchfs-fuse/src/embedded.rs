//! The embedded server: a BenchFS server inside the mount process on a local data
//! directory, so that one command gives a working file system when no cluster is given.
//!
//! The mount calls it in-process ([`benchfs::transport::local::LocalTransport`]): no
//! socket, so no other local user can reach it at all, and no loopback round trip per
//! request. A data directory it creates is private (0700).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use benchfs::server::{Node, StoreError};
use benchfs::transport::local::LocalTransport;
use benchfs::{Client, Config};

/// Why the embedded server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("cannot open data directory {}: {source}{BUSY_HINT}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    /// The stores refused to open, or the one-member ring to form.
    #[error("cannot open data directory {}: {source}{BUSY_HINT}", path.display())]
    Open { path: PathBuf, source: benchfs::server::StartError },
    #[error("embedded server: {0}")]
    Store(#[source] benchfs::server::StoreError),
    #[error("embedded server task: {0}")]
    Task(#[source] tokio::task::JoinError),
}

const BUSY_HINT: &str = " (is another benchfs-fuse or benchfsd using it? pick another with --data-dir)";

/// A running in-process server.
pub struct Embedded {
    node: Arc<Node>,
    data_dir: PathBuf,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), StoreError>>,
}

/// `$XDG_RUNTIME_DIR/benchfs-embedded` (per-user already), else `/tmp/benchfs-embedded-$UID`.
pub fn default_data_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty() && Path::new(d).is_dir()) {
        Some(d) => PathBuf::from(d).join("benchfs-embedded"),
        // SAFETY: getuid cannot fail and touches no memory.
        None => PathBuf::from(format!("/tmp/benchfs-embedded-{}", unsafe { libc::getuid() })),
    }
}

/// Creates `dir` (and missing parents) with mode 0700 unless it exists.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        r => r,
    }
}

impl Embedded {
    /// Opens the stores under `data_dir` and starts their background work.
    ///
    /// # Errors
    /// [`EmbeddedError::CreateDir`] or [`EmbeddedError::Open`], naming the data directory.
    pub async fn start(data_dir: &Path) -> Result<Embedded, EmbeddedError> {
        let path = data_dir.to_path_buf();
        create_private_dir(data_dir).map_err(|source| EmbeddedError::CreateDir { path: path.clone(), source })?;
        let node = Node::open_alone(data_dir).await.map_err(|source| EmbeddedError::Open { path, source })?;
        let node = Arc::new(node);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(benchfs::server::run_in_process(node.clone(), async {
            let _ = stopped.await;
        }));
        tracing::debug!(data_dir = %data_dir.display(), "embedded server started");
        Ok(Embedded { node, data_dir: data_dir.to_path_buf(), stop, task })
    }

    /// A client of this server with `cfg`'s tuning.
    pub fn client(&self, cfg: Config) -> Client {
        Client::with_transport(cfg, Arc::new(LocalTransport::new(self.node.clone())))
    }

    pub fn addr(&self) -> &str {
        self.node.addr()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops the background work and flushes the stores to disk.
    ///
    /// # Errors
    /// The store's flush failure.
    pub async fn stop(self) -> Result<(), EmbeddedError> {
        let _ = self.stop.send(());
        self.task.await.map_err(EmbeddedError::Task)?.map_err(EmbeddedError::Store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn serves_in_process_from_a_private_dir_and_persists() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let emb = Embedded::start(&dir).await.unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let c = emb.client(Config::new(vec![emb.addr().to_string()]).unwrap());
        c.mkdir("/x", 0o755).await.unwrap();
        c.rename("/x", "/y").await.unwrap();
        drop(c);
        emb.stop().await.unwrap();
        let emb = Embedded::start(&dir).await.unwrap();
        let c = emb.client(Config::new(vec![emb.addr().to_string()]).unwrap());
        assert!(c.stat("/y").await.unwrap().is_dir());
        assert!(c.stat("/x").await.is_err());
        emb.stop().await.unwrap();
    }
}
