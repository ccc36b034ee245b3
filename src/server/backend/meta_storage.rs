//! What the metadata store's redb database is kept on: a file in the data directory,
//! or memory (redb's own `InMemoryBackend`), either one failing where a test says.
//!
//! The store opens its database more than once: redb refuses every commit after an I/O
//! error until the database is opened again, so after a failed commit the store reopens
//! it on the same bytes ([`MetaBackend::open`]). A memory backend is therefore shared
//! (an `Arc`), not handed to redb to keep.

use std::fmt;
use std::ops::Bound;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;

use redb::backends::{FileBackend, InMemoryBackend};
use redb::{BackendError, Database, StorageBackend};

use super::device::blocking;
use super::faults::{Call, Faults, IoKind, Store};
use crate::server::private::{private, FILE_MODE};
use crate::server::StoreError;

/// Where a metadata store's redb database lives.
#[derive(Clone)]
pub enum MetaBackend {
    /// A redb file (`meta.redb` in a data directory), private to the job's user.
    File(PathBuf),
    /// Memory: gone with the last clone of this value.
    Memory(Arc<InMemoryBackend>),
    /// Another backend, failing where the faults say.
    Failing(Box<MetaBackend>, Arc<Faults>),
}

impl fmt::Debug for MetaBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaBackend::File(p) => write!(f, "{}", p.display()),
            MetaBackend::Memory(_) => f.write_str("memory"),
            MetaBackend::Failing(inner, _) => write!(f, "{inner:?} (failing)"),
        }
    }
}

impl MetaBackend {
    pub fn memory() -> MetaBackend {
        MetaBackend::Memory(Arc::new(InMemoryBackend::new()))
    }

    /// True before the database was first made: a new data directory.
    pub fn is_new(&self) -> bool {
        match self {
            MetaBackend::File(p) => !p.exists(),
            MetaBackend::Memory(m) => m.len().is_ok_and(|l| l == 0),
            MetaBackend::Failing(inner, _) => inner.is_new(),
        }
    }

    /// True when the bytes are on the data directory's device (it keeps a ballast for
    /// them: see `private::keep_ballast`).
    pub fn on_disk(&self) -> bool {
        match self {
            MetaBackend::File(_) => true,
            MetaBackend::Memory(_) => false,
            MetaBackend::Failing(inner, _) => inner.on_disk(),
        }
    }

    /// Opens the database (made if new).
    pub fn open(&self) -> Result<Database, StoreError> {
        Ok(Database::builder().create_with_backend(self.storage()?)?)
    }

    fn storage(&self) -> Result<Storage, StoreError> {
        Ok(match self {
            MetaBackend::File(path) => {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .mode(FILE_MODE)
                    .open(path)
                    .map_err(StoreError::MetaIo)?;
                // Made by an older version with the umask's mode: private too.
                private(path, FILE_MODE).map_err(StoreError::MetaIo)?;
                Storage { inner: Arc::new(FileBackend::new(file)?), waits: true, faults: None }
            }
            MetaBackend::Memory(m) => Storage { inner: m.clone(), waits: false, faults: None },
            MetaBackend::Failing(inner, faults) => Storage { faults: Some(faults.clone()), ..inner.storage()? },
        })
    }
}

/// The storage handed to redb: the backend underneath, its commits' fsyncs through
/// [`blocking`] when it is a device, and the faults a test injects.
struct Storage {
    inner: Arc<dyn StorageBackend>,
    /// `sync_data` waits for a device.
    waits: bool,
    faults: Option<Arc<Faults>>,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Storage").field("inner", &self.inner).field("failing", &self.faults.is_some()).finish()
    }
}

impl Storage {
    fn check(&self, kind: IoKind) -> std::io::Result<()> {
        match &self.faults {
            Some(f) => f.check(Call { store: Store::Meta, kind, fid: None, index: None }),
            None => Ok(()),
        }
    }
}

impl StorageBackend for Storage {
    fn len(&self) -> std::io::Result<u64> {
        self.check(IoKind::Stat)?;
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.check(IoKind::Read)?;
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.check(IoKind::Truncate)?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.check(IoKind::Sync)?;
        if self.waits {
            blocking(|| self.inner.sync_data())
        } else {
            self.inner.sync_data()
        }
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.check(IoKind::Write)?;
        self.inner.write(offset, data)
    }

    fn close(&self) -> std::io::Result<()> {
        self.inner.close()
    }

    // Locks (the file backend's keep a second process off the database) pass through.
    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(start, end)
    }
}
