//! Chunks in memory, for tests: a map of byte vectors, with a capacity past which
//! writes fail `NoSpace` as a full disk's would. Nothing survives the server; there are
//! no checksums (nothing to corrupt them but a bug, which a test would see anyway).

use std::collections::{BTreeMap, HashMap};
use std::sync::{RwLock, RwLockWriteGuard};

use super::ChunkBackend;
use crate::meta::FileId;
use crate::server::StoreError;

/// The capacity of [`ChunkMemory::new`]: notional, what `statfs` shows.
const DEFAULT_CAPACITY: u64 = 1 << 40;

#[derive(Default)]
struct Chunks {
    /// Per file, its chunks by index.
    files: HashMap<FileId, BTreeMap<u64, Vec<u8>>>,
    /// Bytes held, over all chunks.
    used: u64,
}

pub struct ChunkMemory {
    /// A std lock: held around memcpys, never across an `.await`.
    chunks: RwLock<Chunks>,
    capacity: u64,
}

impl Default for ChunkMemory {
    fn default() -> Self {
        ChunkMemory::new()
    }
}

impl ChunkMemory {
    pub fn new() -> ChunkMemory {
        ChunkMemory::with_capacity(DEFAULT_CAPACITY)
    }

    /// A store that holds at most `capacity` bytes of chunk data.
    pub fn with_capacity(capacity: u64) -> ChunkMemory {
        ChunkMemory { chunks: RwLock::new(Chunks::default()), capacity }
    }

    fn write_lock(&self) -> RwLockWriteGuard<'_, Chunks> {
        self.chunks.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read_lock(&self) -> std::sync::RwLockReadGuard<'_, Chunks> {
        self.chunks.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl ChunkBackend for ChunkMemory {
    fn write(&self, fid: FileId, index: u64, offset: u32, data: &[u8]) -> Result<(), StoreError> {
        if data.is_empty() {
            return Ok(());
        }
        let mut g = self.write_lock();
        let Chunks { files, used } = &mut *g;
        let (off, end) = (offset as usize, offset as usize + data.len());
        let old = files.get(&fid).and_then(|f| f.get(&index)).map_or(0, Vec::len);
        let grow = end.saturating_sub(old) as u64;
        if *used + grow > self.capacity {
            return Err(StoreError::NoSpace(format!("chunk memory is full ({} bytes)", self.capacity)));
        }
        let chunk = files.entry(fid).or_default().entry(index).or_default();
        if chunk.len() < end {
            chunk.resize(end, 0);
        }
        chunk[off..end].copy_from_slice(data);
        *used += grow;
        Ok(())
    }

    fn read(&self, fid: FileId, index: u64, offset: u32, len: u32) -> Result<Vec<u8>, StoreError> {
        let g = self.read_lock();
        let Some(chunk) = g.files.get(&fid).and_then(|f| f.get(&index)) else { return Ok(Vec::new()) };
        let off = (offset as usize).min(chunk.len());
        let end = (off + len as usize).min(chunk.len());
        Ok(chunk[off..end].to_vec())
    }

    fn has_chunk(&self, fid: FileId, index: u64) -> bool {
        self.read_lock().files.get(&fid).is_some_and(|f| f.contains_key(&index))
    }

    fn truncate(&self, fid: FileId, size: u64, chunk_size: u32) -> Result<(), StoreError> {
        let mut g = self.write_lock();
        let Chunks { files, used } = &mut *g;
        let Some(file) = files.get_mut(&fid) else { return Ok(()) };
        let cs = u64::from(chunk_size.max(1));
        let mut freed = 0u64;
        file.retain(|&i, chunk| {
            let start = i.saturating_mul(cs);
            let keep = usize::try_from(size.saturating_sub(start)).unwrap_or(usize::MAX);
            if chunk.len() > keep {
                freed += (chunk.len() - keep) as u64;
                chunk.truncate(keep);
            }
            start < size
        });
        if file.is_empty() {
            files.remove(&fid);
        }
        *used -= freed;
        Ok(())
    }

    fn sync_file(&self, _fid: FileId) -> std::io::Result<()> {
        Ok(())
    }

    fn sync_all(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn space(&self) -> std::io::Result<(u64, u64, u64)> {
        let free = self.capacity.saturating_sub(self.read_lock().used);
        Ok((self.capacity, free, free))
    }

    fn usage(&self) -> std::io::Result<(u64, u64)> {
        let g = self.read_lock();
        Ok((g.files.values().map(|f| f.len() as u64).sum(), g.used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_writes_truncates_and_the_capacity() {
        let m = ChunkMemory::with_capacity(10_000);
        m.write(1, 0, 100, b"abc").unwrap();
        assert_eq!(m.read(1, 0, 98, 10).unwrap(), [0, 0, b'a', b'b', b'c']);
        assert_eq!(m.read(1, 0, 500, 10).unwrap(), b"");
        assert!(!m.has_chunk(1, 1) && m.has_chunk(1, 0));
        m.write(1, 2, 0, &[9; 1000]).unwrap();
        assert_eq!(m.usage().unwrap(), (2, 1103));
        // Chunk size 1000: keep chunk 0 up to byte 101, drop chunk 2.
        m.truncate(1, 101, 1000).unwrap();
        assert_eq!(m.read(1, 0, 0, 1000).unwrap().len(), 101);
        assert!(!m.has_chunk(1, 2));
        assert_eq!(m.usage().unwrap(), (1, 101));
        let e = m.write(2, 0, 0, &[1; 9_900]).unwrap_err();
        assert!(e.is_no_space(), "{e}");
        m.write(2, 0, 0, &[1; 9_899]).unwrap();
        assert_eq!(m.space().unwrap().2, 0);
        m.truncate(2, 0, 1000).unwrap();
        assert_eq!(m.usage().unwrap(), (1, 101));
    }
}
