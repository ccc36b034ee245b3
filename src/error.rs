//! The client-side error type and the one table that maps it to errno.

use crate::proto::Status;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a BenchFS call can fail with. Each variant has exactly one errno
/// ([`Error::errno`]); the match there has no wildcard arm, so a new variant
/// cannot be added without choosing its errno.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}: no such file or directory")]
    NotFound(String),
    #[error("{0}: file exists")]
    Exists(String),
    #[error("{0}: not a directory")]
    NotDir(String),
    #[error("{0}: is a directory")]
    IsDir(String),
    #[error("{0}: directory not empty")]
    NotEmpty(String),
    #[error("invalid argument: {0}")]
    Invalid(String),
    #[error("file too large: {0}")]
    FileTooBig(String),
    #[error("{0}: file name too long")]
    NameTooLong(String),
    #[error("no space left on server {0}")]
    NoSpace(String),
    #[error("operation not supported: {0}")]
    Unsupported(String),
    #[error("{0}: permission denied")]
    Access(String),
    #[error("I/O error: {0}")]
    Io(String),
    #[error("data corruption detected: {0}")]
    Corrupt(String),
    #[error("server {server} did not answer {op} within {secs:.1} s")]
    Timeout { server: String, op: &'static str, secs: f64 },
    #[error("server {server} unreachable: {source}")]
    Unreachable {
        server: String,
        #[source]
        source: std::io::Error,
    },
    #[error("connection to server {server} lost: {reason}")]
    ConnectionLost { server: String, reason: String },
    #[error("protocol error with server {server}: {reason}")]
    Protocol { server: String, reason: String },
    #[error("authentication failed: {0}")]
    Auth(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// The positive errno value for this error.
    pub fn errno(&self) -> i32 {
        match self {
            Error::NotFound(_) => libc::ENOENT,
            Error::Exists(_) => libc::EEXIST,
            Error::NotDir(_) => libc::ENOTDIR,
            Error::IsDir(_) => libc::EISDIR,
            Error::NotEmpty(_) => libc::ENOTEMPTY,
            Error::Invalid(_) => libc::EINVAL,
            Error::FileTooBig(_) => libc::EFBIG,
            Error::NameTooLong(_) => libc::ENAMETOOLONG,
            Error::NoSpace(_) => libc::ENOSPC,
            Error::Unsupported(_) => libc::ENOTSUP,
            Error::Access(_) | Error::Auth(_) => libc::EACCES,
            // A dead server is EIO (a slow one ETIMEDOUT), as DESIGN.md asks: callers
            // such as IOR treat both as I/O failures, while ENOTCONN confuses tools.
            Error::Io(_) | Error::Corrupt(_) | Error::ConnectionLost { .. } | Error::Unreachable { .. } => libc::EIO,
            Error::Timeout { .. } => libc::ETIMEDOUT,
            Error::Protocol { .. } => libc::EPROTO,
            Error::Config(_) => libc::EINVAL,
        }
    }

    /// Builds the error for a non-Ok status a server replied with.
    pub fn from_status(status: Status, message: String) -> Error {
        match status {
            Status::NotFound => Error::NotFound(message),
            Status::Exists => Error::Exists(message),
            Status::NotDir => Error::NotDir(message),
            Status::IsDir => Error::IsDir(message),
            Status::NotEmpty => Error::NotEmpty(message),
            Status::Invalid => Error::Invalid(message),
            Status::NameTooLong => Error::NameTooLong(message),
            Status::NoSpace => Error::NoSpace(message),
            Status::Unsupported => Error::Unsupported(message),
            Status::Corrupt => Error::Corrupt(message),
            Status::Access => Error::Auth(message),
            Status::Io | Status::Busy | Status::Ok => Error::Io(message),
        }
    }

    /// True when the error comes from the transport (server down, slow, or speaking garbage)
    /// rather than from file system semantics.
    pub fn is_transport(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. } | Error::Unreachable { .. } | Error::ConnectionLost { .. } | Error::Protocol { .. }
        )
    }
}
