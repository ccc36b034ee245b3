//! The errors of the mount's file system layer and the one table that maps them to errno.
//! (Those of its control path sit where they are raised: `session`, `embedded`, `mount`.)

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
}
