//! Errors of the server's stores. They speak of records and chunks, not of the wire:
//! the dispatcher maps each to a protocol status.

/// What a store operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Exists(String),
    #[error("{0}")]
    NotDir(String),
    #[error("{0}")]
    IsDir(String),
    #[error("{0}")]
    Invalid(String),
    /// A symbolic link or special file where a regular file is needed (open/create).
    #[error("{0} ({1:?})")]
    NotFile(String, crate::meta::FileKind),
    #[error("{0}")]
    NoSpace(String),
    #[error("{0}")]
    Corrupt(String),
    #[error("chunk store: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata store: {0}")]
    Meta(#[source] redb::Error),
    #[error("metadata store: {0}")]
    MetaIo(#[source] std::io::Error),
    #[error("metadata record: {0}")]
    Record(#[from] postcard::Error),
}

impl StoreError {
    /// True for a full device, whichever store noticed it.
    pub fn is_no_space(&self) -> bool {
        match self {
            StoreError::NoSpace(_) => true,
            StoreError::Io(e) | StoreError::MetaIo(e) => e.raw_os_error() == Some(libc::ENOSPC),
            _ => false,
        }
    }
}

/// redb's errors all convert into `redb::Error`; its I/O errors keep their errno (so a
/// full disk is ENOSPC at the client) and are labelled as the metadata store's.
macro_rules! meta_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                match redb::Error::from(e) {
                    redb::Error::Io(io) => StoreError::MetaIo(io),
                    other => StoreError::Meta(other),
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
