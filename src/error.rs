//! The client-side error type and the one table that maps it to errno. (The tables
//! between it and the wire's status codes are the protocol's: `proto::status`.)

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
    /// A symbolic link where the call needs something else (open: BenchFS never follows links).
    #[error("{0}: is a symbolic link (BenchFS does not follow links)")]
    Loop(String),
    #[error("{0}: file name too long")]
    NameTooLong(String),
    #[error("no space left on server {0}")]
    NoSpace(String),
    #[error("operation not supported: {0}")]
    Unsupported(String),
    #[error("{0}: permission denied")]
    Access(String),
    #[error("{0}: operation not permitted")]
    Perm(String),
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
    /// The server list does not match the ring the servers were started with, or a
    /// request reached a server that does not own its key.
    #[error("cluster membership: {0}")]
    Membership(String),
    /// Data a server should hold is gone (it replaced a lost member).
    #[error("data lost: {0}")]
    Lost(String),
    /// The file was renamed; its new path. Handles follow it themselves.
    #[error("moved to {0}")]
    Moved(String),
    /// A directory above the path is being moved; the client retries these itself.
    #[error("{0}: busy, try again")]
    Retry(String),
    /// The file or directory the call was made on is no longer at its path (another took
    /// the name, or it was removed and its data dropped).
    #[error("stale file handle: {0}")]
    Stale(String),
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
            Error::Loop(_) => libc::ELOOP,
            Error::NoSpace(_) => libc::ENOSPC,
            Error::Unsupported(_) => libc::ENOTSUP,
            Error::Access(_) | Error::Auth(_) => libc::EACCES,
            Error::Perm(_) => libc::EPERM,
            // A dead server is EIO (a slow one ETIMEDOUT), as DESIGN.md asks: callers
            // such as IOR treat both as I/O failures, while ENOTCONN confuses tools.
            Error::Io(_) | Error::Corrupt(_) | Error::ConnectionLost { .. } | Error::Unreachable { .. } => libc::EIO,
            Error::Timeout { .. } => libc::ETIMEDOUT,
            Error::Protocol { .. } => libc::EPROTO,
            Error::Config(_) => libc::EINVAL,
            Error::Membership(_) | Error::Lost(_) => libc::EIO,
            Error::Retry(_) => libc::EAGAIN,
            Error::Moved(_) => libc::ENOENT,
            Error::Stale(_) => libc::ESTALE,
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
