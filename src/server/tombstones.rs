//! Files this server dropped: their ids, so that a writer that still holds one (a C API
//! handle, a mount of another node) cannot recreate chunks that no name owns any more,
//! and a reader gets an error instead of the zeros of chunks that are gone.
//!
//! Bounded: past [`MAX_TOMBSTONES`] the oldest are forgotten (a writer that keeps a
//! removed file open that long is not what an ad hoc file system is for). Persisted with
//! the metadata ([`MetaStore::put_dropped`]), so a restart keeps refusing them.
//!
//! A write checks the set before and after it stores the bytes, and [`Tombstones::add`]
//! happens before the chunks are deleted: whichever order a write and a drop run in, the
//! write's bytes are deleted (by the drop, or by the write that finds it was too late).

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use super::{MetaStore, StoreError};
use crate::meta::FileId;

/// Dropped files remembered at most (16 bytes each in memory, about as much on disk).
pub const MAX_TOMBSTONES: usize = 1 << 20;

pub struct Tombstones {
    /// The ids, and the order they came in (oldest first). A std mutex: never held
    /// across an `.await`.
    inner: Mutex<(HashSet<FileId>, VecDeque<FileId>)>,
}

impl Tombstones {
    /// The tombstones `meta` keeps, oldest first.
    pub fn load(meta: &MetaStore) -> Result<Tombstones, StoreError> {
        let order: VecDeque<FileId> = meta.dropped()?.into();
        let set = order.iter().copied().collect();
        Ok(Tombstones { inner: Mutex::new((set, order)) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashSet<FileId>, VecDeque<FileId>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn contains(&self, fid: FileId) -> bool {
        self.lock().0.contains(&fid)
    }

    /// Remembers `fids` as dropped, here and durably in `meta`.
    pub fn add(&self, meta: &MetaStore, fids: &[FileId]) -> Result<(), StoreError> {
        let (new, evicted) = {
            let mut g = self.lock();
            let (set, order) = &mut *g;
            let new: Vec<FileId> = fids.iter().copied().filter(|f| set.insert(*f)).collect();
            order.extend(&new);
            let over = order.len().saturating_sub(MAX_TOMBSTONES);
            let evicted: Vec<FileId> = order.drain(..over).collect();
            evicted.iter().for_each(|f| {
                set.remove(f);
            });
            (new, evicted)
        };
        if new.is_empty() {
            return Ok(());
        }
        meta.put_dropped(&new, &evicted)
    }
}
