//! Fences on directories that are being moved or removed.
//!
//! While a directory is renamed or removed, its coordinator sets `Hold` on it on every
//! server: requests on it or below it are answered `Retry` (clients retry with backoff,
//! never surfacing it), so no create can slip in behind the move and be lost. When the
//! move is done the old name becomes `Gone`: requests *below* it are `NotFound`, which a
//! create that checked its parent before the move would otherwise miss. A `Gone` mark is
//! lifted when the name is made a directory again (by mkdir, or by a directory renamed
//! onto it or onto a name above it: `Arrived` drops the marks below the target too), or
//! expires after [`GONE_TTL`], far longer than a client trusts its directory cache plus a
//! request's deadline.
//!
//! Setting a fence takes the write lock; request handlers check and change the store under
//! the read lock ([`Fences::read`]), so once `set` returns no request that passed an old
//! check is still changing the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use crate::path::is_within;
use crate::proto::FenceState;

/// How long a removed directory's name refuses creates below it.
pub const GONE_TTL: Duration = Duration::from_secs(600);
/// Marks kept at most; past it, the oldest `Gone` marks are dropped.
const MAX_MARKS: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fenced {
    /// Send again shortly.
    Retry,
    /// Below a removed directory.
    Gone,
}

#[derive(Default)]
pub struct Fences {
    marks: RwLock<HashMap<String, (FenceState, Instant)>>,
    /// Number of marks, read without the lock: the common case (none) costs one load.
    count: AtomicUsize,
}

pub struct FenceRead<'a> {
    marks: Option<RwLockReadGuard<'a, HashMap<String, (FenceState, Instant)>>>,
}

impl FenceRead<'_> {
    /// Whether a request on `path` may proceed.
    pub fn check(&self, path: &str) -> Result<(), Fenced> {
        let Some(marks) = &self.marks else { return Ok(()) };
        if let Some((FenceState::Hold, _)) = marks.get(path) {
            return Err(Fenced::Retry);
        }
        // Every proper ancestor except the root, nearest first.
        let mut end = path.len();
        while let Some(i) = path[..end].rfind('/').filter(|&i| i > 0) {
            match marks.get(&path[..i]) {
                Some((FenceState::Hold, _)) => return Err(Fenced::Retry),
                Some((FenceState::Gone, t)) if t.elapsed() < GONE_TTL => return Err(Fenced::Gone),
                _ => {}
            }
            end = i;
        }
        Ok(())
    }

    /// True when `dir` itself is marked `Gone` (a mkdir of it must lift that everywhere).
    pub fn is_gone(&self, dir: &str) -> bool {
        self.marks.as_ref().is_some_and(|m| matches!(m.get(dir), Some((FenceState::Gone, _))))
    }
}

impl Fences {
    /// The state to check requests against; hold it while changing the store.
    pub fn read(&self) -> FenceRead<'_> {
        if self.count.load(Ordering::Acquire) == 0 {
            return FenceRead { marks: None };
        }
        FenceRead { marks: Some(self.marks.read().unwrap_or_else(|p| p.into_inner())) }
    }

    pub fn set(&self, dir: &str, state: FenceState) {
        let mut marks = self.marks.write().unwrap_or_else(|p| p.into_inner());
        match state {
            FenceState::Lift => {
                marks.remove(dir);
            }
            FenceState::Arrived => {
                // A `Hold` below stays: a rename of something below the new tree that
                // started after it arrived must keep its own fence.
                marks.retain(|p, (st, _)| p != dir && !(*st == FenceState::Gone && is_within(p, dir)));
            }
            s => {
                if marks.len() >= MAX_MARKS {
                    marks.retain(|_, (st, t)| *st == FenceState::Hold || t.elapsed() < GONE_TTL / 2);
                }
                marks.insert(dir.to_string(), (s, Instant::now()));
            }
        }
        self.count.store(marks.len(), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_covers_the_dir_and_below_gone_only_below() {
        let f = Fences::default();
        assert_eq!(f.read().check("/a/b"), Ok(()));
        f.set("/a", FenceState::Hold);
        assert_eq!(f.read().check("/a"), Err(Fenced::Retry));
        assert_eq!(f.read().check("/a/b/c"), Err(Fenced::Retry));
        assert_eq!(f.read().check("/ab"), Ok(()));
        f.set("/a", FenceState::Gone);
        assert_eq!(f.read().check("/a"), Ok(()));
        assert_eq!(f.read().check("/a/b"), Err(Fenced::Gone));
        assert!(f.read().is_gone("/a"));
        f.set("/a", FenceState::Lift);
        assert_eq!(f.read().check("/a/b"), Ok(()));
        assert!(f.read().marks.is_none());
    }

    #[test]
    fn arrived_drops_gone_marks_below_but_keeps_holds() {
        let f = Fences::default();
        f.set("/d/b", FenceState::Gone);
        f.set("/d/b/c", FenceState::Gone);
        f.set("/d/q", FenceState::Hold);
        f.set("/db", FenceState::Gone);
        f.set("/d", FenceState::Hold);
        f.set("/d", FenceState::Arrived);
        assert_eq!(f.read().check("/d/b/c/x"), Ok(()));
        assert_eq!(f.read().check("/d/q/x"), Err(Fenced::Retry));
        assert_eq!(f.read().check("/db/x"), Err(Fenced::Gone));
    }
}
