//! The ids of directories other servers own, as the identity check (`identity`) learnt
//! them from their owners.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::meta::FileId;
use crate::path::is_within;

/// Directory ids remembered at most; past it, all are forgotten.
const MAX_DIR_IDS: usize = 100_000;

/// Ids of directories other servers own, as they answered: a name created or looked up
/// in a directory checks the directory's id on the name's owner, and only the first
/// check of a directory there costs a hop to its owner. A directory's record changes
/// identity only by a rename or rmdir, each under a fence set on every server, and every
/// fence forgets what it covers ([`DirIds::forget_below`]), so an id kept here is current.
#[derive(Default)]
pub struct DirIds {
    /// (generation: fences seen, path → id). A std mutex: never held across an `.await`.
    inner: Mutex<(u64, HashMap<String, FileId>)>,
}

impl DirIds {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<String, FileId>)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn get(&self, path: &str) -> (u64, Option<FileId>) {
        let g = self.lock();
        (g.0, g.1.get(path).copied())
    }

    /// Keeps `id` for `path` unless a fence came since `generation` (the answer may be older).
    pub(super) fn put(&self, generation: u64, path: &str, id: FileId) {
        let mut g = self.lock();
        if g.0 != generation {
            return;
        }
        if g.1.len() >= MAX_DIR_IDS {
            g.1.clear();
        }
        g.1.insert(path.to_string(), id);
    }

    /// A fence on `dir`: its record, and every record below it, may change identity.
    pub fn forget_below(&self, dir: &str) {
        let mut g = self.lock();
        g.0 += 1;
        g.1.retain(|p, _| !is_within(p, dir));
    }
}
