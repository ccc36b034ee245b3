//! The embedded server: a `benchfsd` running inside the mount process on a local data
//! directory, so that one command gives a working file system when no cluster is given.
//!
//! Other local users must not get around the mount's permission checks: the server only
//! serves clients that know a secret made at start and kept in memory, and a data directory
//! it creates is private (0700).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use benchfs::auth::Secret;
use benchfs::server::{State, StoreError};

/// A running in-process server listening on 127.0.0.1.
pub struct Embedded {
    addr: String,
    data_dir: PathBuf,
    secret: Secret,
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
    /// Opens the stores under `data_dir` and serves them on 127.0.0.1 (a free port).
    ///
    /// # Errors
    /// A message naming the data directory or the listen failure.
    pub async fn start(data_dir: &Path) -> Result<Embedded, String> {
        let secret = Secret::from_bytes(&rand::random::<[u8; 32]>()).map_err(|e| e.to_string())?;
        let (dir, server_secret) = (data_dir.to_path_buf(), secret.clone());
        let opened = tokio::task::spawn_blocking(move || {
            create_private_dir(&dir)?;
            let mut state = State::open(&dir)?;
            state.secret = Some(server_secret);
            Ok::<_, StoreError>(state)
        });
        let state = opened.await.map_err(|e| e.to_string())?.map_err(|e| {
            format!(
                "cannot open data directory {}: {e} (is another benchfs-fuse or benchfsd using it? \
                 pick another with --data-dir)",
                data_dir.display()
            )
        })?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("embedded server cannot listen on 127.0.0.1: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?.to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(benchfs::server::run(listener, Arc::new(state), async {
            let _ = stopped.await;
        }));
        tracing::debug!(%addr, data_dir = %data_dir.display(), "embedded server started");
        Ok(Embedded { addr, data_dir: data_dir.to_path_buf(), secret, stop, task })
    }

    /// What clients of this server must prove they know.
    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Stops serving, lets in-flight requests finish and flushes the stores to disk.
    ///
    /// # Errors
    /// The store's flush failure.
    pub async fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(r) => r.map_err(|e| format!("embedded server: {e}")),
            Err(e) => Err(format!("embedded server task: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn serves_only_clients_with_its_secret_from_a_private_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        let emb = Embedded::start(&dir).await.unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        let mut cfg = benchfs::Config::new(vec![emb.addr().to_string()]).unwrap();
        assert!(benchfs::Client::connect(cfg.clone()).await.is_err(), "a client without the secret is refused");
        cfg.secret = Some(emb.secret().clone());
        let c = benchfs::Client::connect(cfg).await.unwrap();
        c.mkdir("/x", 0o755).await.unwrap();
        drop(c);
        emb.stop().await.unwrap();
    }
}
