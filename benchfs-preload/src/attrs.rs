//! The interposer's attribute cache: what a path's record was, trusted for the mount's
//! `--attr-timeout` (1 s by default), exactly as the kernel trusts the mount's attributes
//! for that long. A stat-heavy program then pays one request per path and timeout, not
//! one per call, with the promise the mount already makes: another node's change may be
//! seen that much later.
//!
//! Close-to-open is kept: an open always asks the servers (and refreshes the entry), and
//! this process's own changes update or drop entries at once: a create or mkdir stores
//! what the server returned; a write, truncate, chmod or utimens drops the file's entry;
//! unlink, rmdir and rename drop the names and everything below them.
//!
//! A std mutex, never held across a request or a fork-unsafe call: a forked child does not
//! touch its parent's cache at all (it starts with fresh clients, see [`crate::state`]).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use benchfs::Attr;

/// Entries kept at most; past this the cache is cleared (it refills on use).
const MAX_ENTRIES: usize = 1 << 16;

pub struct AttrCache {
    ttl: Duration,
    map: Mutex<HashMap<String, (Attr, Instant)>>,
}

impl AttrCache {
    pub fn new(ttl: Duration) -> AttrCache {
        AttrCache { ttl, map: Mutex::new(HashMap::new()) }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, (Attr, Instant)>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The record of `path` if it was seen less than the timeout ago.
    pub fn get(&self, path: &str) -> Option<Attr> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut m = self.map();
        match m.get(path) {
            Some((a, at)) if at.elapsed() < self.ttl => Some(a.clone()),
            Some(_) => {
                m.remove(path);
                None
            }
            None => None,
        }
    }

    /// `path`'s record as the servers just returned it. A file with hard links is not
    /// kept: a change through one of its other names (a write, an unlink) would not drop it.
    pub fn put(&self, path: &str, a: &Attr) {
        if self.ttl.is_zero() || (!a.is_dir() && (a.linked || a.nlink > 1)) {
            return;
        }
        let mut m = self.map();
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(path.to_string(), (a.clone(), Instant::now()));
    }

    /// Forgets `path` (its record changed).
    pub fn forget(&self, path: &str) {
        if self.ttl.is_zero() {
            return;
        }
        self.map().remove(path);
    }

    /// Forgets everything (the kernel follows a symbolic link for this process: whatever
    /// it changes is not known here).
    pub fn clear(&self) {
        self.map().clear();
    }

    /// Forgets `path` and everything below it (it was removed or renamed).
    pub fn forget_tree(&self, path: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut m = self.map();
        m.remove(path);
        if path == "/" {
            m.clear();
            return;
        }
        let below = format!("{path}/");
        m.retain(|k, _| !k.starts_with(&below));
    }
}

/// The timeout: `BENCHFS_ATTR_TIMEOUT` (seconds) if set, else what the mount said, else
/// the mount's default of 1 s.
pub fn timeout(from_mount: Option<Duration>) -> Duration {
    if let Some(t) = std::env::var("BENCHFS_ATTR_TIMEOUT")
        .ok()
        .and_then(|t| t.trim().parse::<f64>().ok())
        .and_then(|t| Duration::try_from_secs_f64(t).ok())
    {
        return t;
    }
    from_mount.unwrap_or(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_trees_are_dropped() {
        let c = AttrCache::new(Duration::from_millis(200));
        let a = Attr::synthetic_dir(0o755);
        for p in ["/a", "/a/b", "/a/b/c", "/ab"] {
            c.put(p, &a);
        }
        assert!(c.get("/a/b").is_some());
        c.forget_tree("/a/b");
        assert!(c.get("/a/b").is_none() && c.get("/a/b/c").is_none());
        assert!(c.get("/a").is_some() && c.get("/ab").is_some());
        c.forget("/a");
        assert!(c.get("/a").is_none());
        std::thread::sleep(Duration::from_millis(250));
        assert!(c.get("/ab").is_none());
        let off = AttrCache::new(Duration::ZERO);
        off.put("/x", &a);
        assert!(off.get("/x").is_none());
    }
}
