//! The errors of the mount's file system layer and the one table that maps them to errno,
//! and those of its control path (starting, mounting, stopping), which keep their sources.

use std::io;
use std::path::PathBuf;

use crate::mount::MountError;

/// What a file system operation of the mount can fail with. Core errors keep their own
/// errno ([`benchfs::Error::errno`]); the others are states only the mount knows about.
#[derive(Debug, thiserror::Error)]
pub enum FsError {
    #[error(transparent)]
    Core(#[from] benchfs::Error),
    /// The kernel named an inode the table no longer holds (forgotten, or never issued).
    #[error("inode {0} is not known to this mount")]
    StaleInode(u64),
    /// The inode's name was removed while the kernel still held it.
    #[error("inode {0} has been removed")]
    Removed(u64),
    #[error("file handle {0} is not open")]
    BadHandle(u64),
    #[error("{0:?} is not a valid UTF-8 file name")]
    BadName(std::ffi::OsString),
    #[error("not supported by BenchFS: {0}")]
    Unsupported(&'static str),
    #[error("invalid request: {0}")]
    Invalid(&'static str),
}

pub type Result<T, E = FsError> = std::result::Result<T, E>;

impl FsError {
    /// The positive errno to reply with. No wildcard arm: a new variant must choose one.
    pub fn errno(&self) -> i32 {
        match self {
            FsError::Core(e) => e.errno(),
            FsError::StaleInode(_) => libc::ESTALE,
            FsError::Removed(_) => libc::ENOENT,
            FsError::BadHandle(_) => libc::EBADF,
            FsError::BadName(_) => libc::EINVAL,
            FsError::Unsupported(_) => libc::ENOTSUP,
            FsError::Invalid(_) => libc::EINVAL,
        }
    }

    /// How loudly to log the error: expected outcomes (ENOENT, EEXIST, ...) at debug,
    /// transport or internal failures at warn.
    pub fn is_expected(&self) -> bool {
        match self {
            FsError::Core(e) => !(e.is_transport() || matches!(e, benchfs::Error::Io(_) | benchfs::Error::Corrupt(_))),
            FsError::StaleInode(_) | FsError::BadHandle(_) => false,
            FsError::Removed(_) | FsError::BadName(_) | FsError::Unsupported(_) | FsError::Invalid(_) => true,
        }
    }
}

/// Why a mount could not be started, served or stopped; its message is what the user sees.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Mount(#[from] MountError),
    /// The cluster description (flags, environment, registry, secret) is unusable.
    #[error(transparent)]
    Config(#[from] benchfs::Error),
    #[error(
        "--data-dir is for the embedded server, but a cluster was given \
         (--servers/--registry or BENCHFS_SERVERS/BENCHFS_REGISTRY)"
    )]
    DataDirWithCluster,
    #[error("--secret-file is for joining a cluster (--servers/--registry); the embedded server makes its own")]
    SecretWithoutCluster,
    #[error("data directory {}: {source}", path.display())]
    DataDir { path: PathBuf, source: io::Error },
    #[error("cannot reach the cluster: {0}")]
    Unreachable(#[source] benchfs::Error),
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    #[error("cannot start the runtime: {0}")]
    Runtime(#[source] io::Error),
    #[error("signal handlers: {0}")]
    Signals(#[source] io::Error),
    #[error("cannot go to the background: {0}")]
    Daemon(#[source] io::Error),
}

/// Why the embedded server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("cannot open data directory {}: {source}{BUSY_HINT}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    /// The stores refused to open (the server reports a message only).
    #[error("cannot open data directory {}: {reason}{BUSY_HINT}", path.display())]
    Open { path: PathBuf, reason: String },
    #[error("embedded server: {0}")]
    Store(#[source] benchfs::server::StoreError),
    #[error("embedded server task: {0}")]
    Task(#[source] tokio::task::JoinError),
}

const BUSY_HINT: &str = " (is another benchfs-fuse or benchfsd using it? pick another with --data-dir)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_table() {
        assert_eq!(FsError::from(benchfs::Error::NotFound("/x".into())).errno(), libc::ENOENT);
        assert_eq!(FsError::StaleInode(7).errno(), libc::ESTALE);
        assert_eq!(FsError::Unsupported("symlink").errno(), libc::ENOTSUP);
        assert!(!FsError::from(benchfs::Error::Io("x".into())).is_expected());
        assert!(FsError::from(benchfs::Error::Exists("/x".into())).is_expected());
    }

    #[test]
    fn session_errors_keep_their_source() {
        use std::error::Error as _;
        let e = SessionError::Unreachable(benchfs::Error::Io("down".into()));
        assert_eq!(e.to_string(), format!("cannot reach the cluster: {}", benchfs::Error::Io("down".into())));
        assert!(e.source().is_some());
        let e = SessionError::from(EmbeddedError::CreateDir {
            path: "/d".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        });
        assert!(e.to_string().starts_with("cannot open data directory /d: permission denied (is another"), "{e}");
        assert!(e.source().is_some());
    }
}
