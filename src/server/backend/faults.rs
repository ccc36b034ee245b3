//! Failures a test injects into a server's stores: an errno (EIO, ENOSPC, ...) for the
//! calls a [`Fault`] picks, by store, kind of call, count ("after N calls", "N times")
//! or predicate. One [`Faults`] set serves both stores of a node
//! ([`super::StoreBackends::failing`]); a test keeps its `Arc` and changes the rules
//! while the cluster runs.
//!
//! A failed call fails before it reaches the backend underneath, so it changes nothing
//! there: what a test then reads back is what the earlier, successful calls stored.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::ChunkBackend;
use crate::meta::FileId;
use crate::server::StoreError;

/// Which store a call is made to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Chunks,
    /// The metadata store's redb storage.
    Meta,
}

/// What a call does to the bytes underneath.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoKind {
    Read,
    Write,
    /// A chunk truncate, or redb's `set_len`.
    Truncate,
    /// An fsync: a chunk file's, all chunks', or redb's commit.
    Sync,
    /// Asking for sizes: free space, usage, redb's `len`.
    Stat,
}

/// One call, as a [`Fault`]'s predicate sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub store: Store,
    pub kind: IoKind,
    /// The file, for chunk calls that name one.
    pub fid: Option<FileId>,
    /// The chunk, for chunk reads and writes.
    pub index: Option<u64>,
}

type Predicate = Arc<dyn Fn(&Call) -> bool + Send + Sync>;

/// A rule: calls it matches fail with `errno`.
#[derive(Clone)]
pub struct Fault {
    store: Option<Store>,
    kind: Option<IoKind>,
    errno: i32,
    when: Option<Predicate>,
    /// Matching calls let through before the first failure.
    after: u64,
    /// Failures left; None: every matching call fails.
    times: Option<u64>,
    /// Matching calls seen so far.
    seen: u64,
}

impl std::fmt::Debug for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fault")
            .field("store", &self.store)
            .field("kind", &self.kind)
            .field("errno", &self.errno)
            .field("after", &self.after)
            .field("times", &self.times)
            .finish_non_exhaustive()
    }
}

impl Fault {
    /// Every call to `store` of `kind` fails with `errno`.
    pub fn on(store: Store, kind: IoKind, errno: i32) -> Fault {
        Fault { store: Some(store), kind: Some(kind), ..Fault::any(errno) }
    }

    /// Every call, to either store, fails with `errno`.
    pub fn any(errno: i32) -> Fault {
        Fault { store: None, kind: None, errno, when: None, after: 0, times: None, seen: 0 }
    }

    /// The first `n` matching calls succeed.
    pub fn after(mut self, n: u64) -> Fault {
        self.after = n;
        self
    }

    /// Only `n` calls fail; later ones succeed.
    pub fn times(mut self, n: u64) -> Fault {
        self.times = Some(n);
        self
    }

    /// Only calls for which `pred` holds match.
    pub fn when(mut self, pred: impl Fn(&Call) -> bool + Send + Sync + 'static) -> Fault {
        self.when = Some(Arc::new(pred));
        self
    }

    /// Whether `call` fails under this rule (counting it).
    fn fires(&mut self, call: &Call) -> bool {
        let matches = self.store.is_none_or(|s| s == call.store)
            && self.kind.is_none_or(|k| k == call.kind)
            && self.when.as_ref().is_none_or(|p| p(call));
        if !matches || self.times == Some(0) {
            return false;
        }
        self.seen += 1;
        if self.seen <= self.after {
            return false;
        }
        if let Some(t) = &mut self.times {
            *t -= 1;
        }
        true
    }
}

/// The rules in force for one node's stores.
#[derive(Debug, Default)]
pub struct Faults {
    /// First matching rule wins. A std mutex: held for a few comparisons, never across
    /// an `.await`.
    rules: Mutex<Vec<Fault>>,
    injected: AtomicU64,
}

impl Faults {
    pub fn new() -> Arc<Faults> {
        Arc::new(Faults::default())
    }

    fn rules(&self) -> std::sync::MutexGuard<'_, Vec<Fault>> {
        self.rules.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn add(&self, fault: Fault) {
        self.rules().push(fault);
    }

    /// Removes every rule: calls succeed again.
    pub fn clear(&self) {
        self.rules().clear();
    }

    /// Calls failed so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    /// The error `call` fails with, if a rule says it fails.
    pub fn check(&self, call: Call) -> std::io::Result<()> {
        let Some(errno) = self.rules().iter_mut().find_map(|f| f.fires(&call).then_some(f.errno)) else {
            return Ok(());
        };
        self.injected.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(?call, errno, "injected store failure");
        Err(std::io::Error::from_raw_os_error(errno))
    }
}

/// Any chunk backend, failing where its [`Faults`] say.
pub struct FailingChunks {
    inner: Box<dyn ChunkBackend>,
    faults: Arc<Faults>,
}

impl FailingChunks {
    pub fn new(inner: Box<dyn ChunkBackend>, faults: Arc<Faults>) -> FailingChunks {
        FailingChunks { inner, faults }
    }

    fn check(&self, kind: IoKind, fid: Option<FileId>, index: Option<u64>) -> std::io::Result<()> {
        self.faults.check(Call { store: Store::Chunks, kind, fid, index })
    }
}

impl ChunkBackend for FailingChunks {
    fn write(&self, fid: FileId, index: u64, offset: u32, data: &[u8]) -> Result<(), StoreError> {
        self.check(IoKind::Write, Some(fid), Some(index))?;
        self.inner.write(fid, index, offset, data)
    }

    fn read(&self, fid: FileId, index: u64, offset: u32, len: u32) -> Result<Vec<u8>, StoreError> {
        self.check(IoKind::Read, Some(fid), Some(index))?;
        self.inner.read(fid, index, offset, len)
    }

    fn has_chunk(&self, fid: FileId, index: u64) -> bool {
        self.inner.has_chunk(fid, index)
    }

    fn truncate(&self, fid: FileId, size: u64, chunk_size: u32) -> Result<(), StoreError> {
        self.check(IoKind::Truncate, Some(fid), None)?;
        self.inner.truncate(fid, size, chunk_size)
    }

    fn sync_file(&self, fid: FileId) -> std::io::Result<()> {
        self.check(IoKind::Sync, Some(fid), None)?;
        self.inner.sync_file(fid)
    }

    fn sync_all(&self) -> std::io::Result<()> {
        self.check(IoKind::Sync, None, None)?;
        self.inner.sync_all()
    }

    fn space(&self) -> std::io::Result<(u64, u64, u64)> {
        self.check(IoKind::Stat, None, None)?;
        self.inner.space()
    }

    fn usage(&self) -> std::io::Result<(u64, u64)> {
        self.check(IoKind::Stat, None, None)?;
        self.inner.usage()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(kind: IoKind, fid: FileId) -> Call {
        Call { store: Store::Chunks, kind, fid: Some(fid), index: Some(0) }
    }

    #[test]
    fn rules_pick_calls_by_store_kind_count_and_predicate() {
        let f = Faults::new();
        f.add(Fault::on(Store::Chunks, IoKind::Write, libc::ENOSPC).after(2).times(1));
        f.add(Fault::any(libc::EIO).when(|c| c.fid == Some(7)));
        let w = call(IoKind::Write, 1);
        assert!(f.check(w).is_ok() && f.check(w).is_ok(), "the first two writes pass");
        assert_eq!(f.check(w).unwrap_err().raw_os_error(), Some(libc::ENOSPC));
        assert!(f.check(w).is_ok(), "one failure only");
        assert!(f.check(call(IoKind::Read, 1)).is_ok());
        assert_eq!(f.check(call(IoKind::Read, 7)).unwrap_err().raw_os_error(), Some(libc::EIO));
        let meta = Call { store: Store::Meta, kind: IoKind::Write, fid: None, index: None };
        assert!(f.check(meta).is_ok(), "the ENOSPC rule is for chunks, the EIO one for file 7");
        assert_eq!(f.injected(), 2);
        f.clear();
        assert!(f.check(call(IoKind::Read, 7)).is_ok());
    }
}
