//! What a server's stores keep their bytes on: chunk data behind [`ChunkBackend`], the
//! metadata store's redb database behind [`MetaBackend`]. A server on a data directory
//! uses files ([`StoreBackends::files`]); tests can use memory ([`StoreBackends::memory`])
//! and wrap either in injected failures ([`StoreBackends::failing`]).
//!
//! # Layout
//! - [`chunk_files`]: chunks as plain files with checksums (the server's default).
//! - [`chunk_memory`]: chunks in a map (tests; gone when the server stops).
//! - [`meta_storage`]: the redb database on a file or in memory.
//! - [`faults`]: the failures a test injects, by store, kind of call, count or predicate.
//! - [`device`]: the one way into calls that wait for the device (fsync, a walk).
//!
//! A memory-backed server cannot be restarted with its data: its chunks and records live
//! in the [`Node`](super::Node) and go with it. Only its ring file (in the data directory
//! it is still given) survives, so a restart on that directory is a server whose data
//! vanished, not a replacement: do not restart one.

pub mod chunk_files;
pub mod chunk_memory;
pub mod device;
pub mod faults;
pub mod meta_storage;

use std::path::Path;
use std::sync::Arc;

use super::StoreError;
use crate::meta::FileId;

pub use chunk_files::ChunkFiles;
pub use chunk_memory::ChunkMemory;
pub use faults::{Call, Fault, Faults, IoKind, Store};
pub use meta_storage::MetaBackend;

/// Chunk storage: chunk `index` of file `fid`, a byte array of at most the file's chunk
/// size, sparse (bytes never written read as zeros or are missing at the end).
///
/// Implementations are called inline from the server's async handlers: reads and writes
/// must be quick (memory, page cache); anything that waits for a device goes through
/// [`device::blocking`].
pub trait ChunkBackend: Send + Sync {
    /// Writes `data` at `offset` of the chunk. `NoSpace` (or an ENOSPC `Io`) when full.
    fn write(&self, fid: FileId, index: u64, offset: u32, data: &[u8]) -> Result<(), StoreError>;

    /// Up to `len` bytes at `offset`: shorter (or empty) where the chunk ends or is missing.
    fn read(&self, fid: FileId, index: u64, offset: u32, len: u32) -> Result<Vec<u8>, StoreError>;

    /// True when chunk `index` of `fid` is stored (a hole is not).
    fn has_chunk(&self, fid: FileId, index: u64) -> bool;

    /// Drops every byte at or beyond `size` of the file; `size == 0` removes all its chunks.
    fn truncate(&self, fid: FileId, size: u64, chunk_size: u32) -> Result<(), StoreError>;

    /// Makes every chunk of `fid` held here durable.
    fn sync_file(&self, fid: FileId) -> std::io::Result<()>;

    /// Makes every chunk durable (clean shutdown, `Fsync { fid: None }`).
    fn sync_all(&self) -> std::io::Result<()>;

    /// Space for chunks: (total, free, available) bytes.
    fn space(&self) -> std::io::Result<(u64, u64, u64)>;

    /// (number of chunks, bytes they hold).
    fn usage(&self) -> std::io::Result<(u64, u64)>;
}

/// The backends a [`Node`](super::Node) opens its stores on.
pub struct StoreBackends {
    pub chunks: Box<dyn ChunkBackend>,
    pub meta: MetaBackend,
}

impl StoreBackends {
    /// The server's own: chunk files under `data_dir/chunks`, metadata in
    /// `data_dir/meta.redb`.
    pub fn files(data_dir: &Path) -> Result<StoreBackends, StoreError> {
        super::private::private_dir(data_dir)?;
        let chunks = ChunkFiles::open(&data_dir.join("chunks"))?;
        Ok(StoreBackends { chunks: Box::new(chunks), meta: MetaBackend::File(data_dir.join("meta.redb")) })
    }

    /// Everything in memory (tests): nothing survives the server.
    pub fn memory() -> StoreBackends {
        StoreBackends { chunks: Box::new(ChunkMemory::new()), meta: MetaBackend::memory() }
    }

    /// Both stores fail as `faults` says (its rules pick the store with [`Store`]).
    pub fn failing(self, faults: &Arc<Faults>) -> StoreBackends {
        StoreBackends {
            chunks: Box::new(faults::FailingChunks::new(self.chunks, faults.clone())),
            meta: MetaBackend::Failing(Box::new(self.meta), faults.clone()),
        }
    }
}
