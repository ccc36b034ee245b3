//! A short-lived cache of directories known to exist, so that creating many files in
//! one directory (mdtest, checkpoints) costs one RPC each instead of two.
//!
//! An entry is trusted for `ttl` (as FUSE trusts an entry for its entry timeout):
//! within that window a create may land in a directory another client just removed.
//! This client's own rmdir and rename drop the affected entries at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; past this the cache is cleared (it refills on use).
const MAX_ENTRIES: usize = 4096;

pub struct DirCache {
    ttl: Duration,
    /// Directory path → when it was last seen to exist. A std mutex: never held across `.await`.
    seen: Mutex<HashMap<String, Instant>>,
}

impl DirCache {
    pub fn new(ttl: Duration) -> DirCache {
        DirCache { ttl, seen: Mutex::new(HashMap::new()) }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_dir(&self, path: &str) -> bool {
        !self.ttl.is_zero() && self.map().get(path).is_some_and(|t| t.elapsed() < self.ttl)
    }

    pub fn insert(&self, path: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut m = self.map();
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(path.to_string(), Instant::now());
    }

    /// Forgets `path` and everything below it.
    pub fn remove_tree(&self, path: &str) {
        self.map().retain(|k, _| !crate::path::is_within(k, path));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_trees_are_dropped() {
        let c = DirCache::new(Duration::from_millis(50));
        c.insert("/a");
        c.insert("/a/b");
        c.insert("/ab");
        assert!(c.is_dir("/a/b"));
        c.remove_tree("/a");
        assert!(!c.is_dir("/a") && !c.is_dir("/a/b") && c.is_dir("/ab"));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!c.is_dir("/ab"));
        let off = DirCache::new(Duration::ZERO);
        off.insert("/x");
        assert!(!off.is_dir("/x"));
    }
}
