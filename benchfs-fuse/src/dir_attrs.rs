//! Attributes of directories this mount looked at lately, so that the kernel's permission
//! checks do not cost a round trip to a server each.
//!
//! The kernel drops its cached attributes of a directory whenever an entry in it changes
//! through this mount (its mtime moved), and the next path walk through it asks for them
//! again (GETATTR, for `default_permissions`): every create would pay a round trip to the
//! directory's owner for it. The mount answers from here instead, for at most the
//! attribute timeout after it last heard from the owner, with mtime and ctime moved to
//! when this mount changed an entry (which is what the owner sets within ~5 ms; README,
//! "Relaxations of POSIX"). Changes made by other nodes show up after the attribute
//! timeout, as they would from the kernel's own cache.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use benchfs::Attr;

/// Entries past which expired ones are dropped on insert.
const PRUNE_AT: usize = 4096;

pub struct DirAttrs {
    /// Zero: nothing is kept.
    ttl: Duration,
    map: Mutex<HashMap<u64, (Attr, Instant)>>,
}

impl DirAttrs {
    pub fn new(ttl: Duration) -> DirAttrs {
        DirAttrs { ttl, map: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Attr, Instant)>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The attributes of directory `ino` if the owner gave them less than the timeout ago.
    pub fn get(&self, ino: u64) -> Option<Attr> {
        let map = self.lock();
        map.get(&ino).filter(|(_, at)| at.elapsed() < self.ttl).map(|(a, _)| a.clone())
    }

    /// The owner's answer for `ino` (kept only for directories).
    pub fn put(&self, ino: u64, attr: &Attr) {
        if self.ttl.is_zero() || !attr.is_dir() {
            return;
        }
        let mut map = self.lock();
        if map.len() >= PRUNE_AT {
            map.retain(|_, (_, at)| at.elapsed() < self.ttl);
        }
        map.insert(ino, (attr.clone(), Instant::now()));
    }

    /// An entry of directory `ino` changed through this mount at `t`.
    pub fn changed(&self, ino: u64, t: (i64, u32)) {
        if let Some((a, _)) = self.lock().get_mut(&ino) {
            a.mtime = a.mtime.max(t);
            a.ctime = a.ctime.max(t);
        }
    }

    /// `ino` gained `n` subdirectories (lost, when negative) through this mount (mkdir,
    /// rmdir, a directory renamed away or in): its owner counts them in its link count
    /// (with the batched touch), and so does the cached copy.
    pub fn count_subdirs(&self, ino: u64, n: i32) {
        // 1 is "unknown" (a directory without a record to count in): it stays so.
        if let Some((a, _)) = self.lock().get_mut(&ino).filter(|(a, _)| a.nlink >= 2) {
            a.nlink = a.nlink.saturating_add_signed(n).max(2);
        }
    }

    /// `ino` is gone or changed in ways only its owner knows: ask it next time.
    pub fn forget(&self, ino: u64) {
        self.lock().remove(&ino);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_directories_for_the_timeout_and_moves_their_times() {
        let d = DirAttrs::new(Duration::from_millis(200));
        let dir = Attr::synthetic_dir(0o755);
        d.put(2, &dir);
        d.put(3, &Attr::new(benchfs::FileKind::File, 0o644, (0, 0), (0, 0), 1, 4096));
        assert!(d.get(3).is_none(), "files are not kept");
        d.changed(2, (100, 5));
        assert_eq!(d.get(2).map(|a| (a.mtime, a.ctime)), Some(((100, 5), (100, 5))));
        d.forget(2);
        assert!(d.get(2).is_none());
        d.put(2, &dir);
        std::thread::sleep(Duration::from_millis(250));
        assert!(d.get(2).is_none(), "kept past the timeout");
        let off = DirAttrs::new(Duration::ZERO);
        off.put(2, &dir);
        assert!(off.get(2).is_none());
    }
}
