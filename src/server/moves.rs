//! Where files went: for a while after this server renamed a file away (or moved it with
//! its directory), it remembers the new path, keyed by the old path and the file id.
//!
//! An open handle publishes its size to the path it knows. When another client renamed
//! the file (or a directory above it) meanwhile, that publication would find no record
//! and the size of acknowledged writes would be lost; instead the old owner answers
//! `Moved` with the new path, and the handle follows it. Keyed with the file id, so a
//! handle never publishes into another file that took the name.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use super::fence::GONE_TTL;
use crate::meta::FileId;

/// Moves remembered at most; past it, the older half is forgotten.
const MAX_MOVES: usize = 100_000;

#[derive(Default)]
pub struct Moves {
    /// (old path, file id) → (new path, when). A std mutex: never held across an `.await`.
    /// Keyed by the id too: another file moved away from the same path later (or moved
    /// into it) says nothing about where this one went.
    map: Mutex<HashMap<(String, FileId), (String, Instant)>>,
}

impl Moves {
    pub fn record(&self, from: &str, fid: FileId, to: &str) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= MAX_MOVES {
            m.retain(|_, (_, t)| t.elapsed() < GONE_TTL / 2);
        }
        m.insert((from.to_string(), fid), (to.to_string(), Instant::now()));
    }

    /// Record `fid` was moved to `path` (this server owns it): its move remembered away
    /// from there is over. Only its own: a handle of another file that left `path` still
    /// follows its move (a directory renamed onto `/a` made a handle of a file renamed
    /// from `/a` to `/e` publish into nothing: ENOENT, simulation seed 2). Moves are
    /// remembered by the old path's owner, so `d2/f -> d3/f` on one server and
    /// `d3/f -> d2/f` on another would otherwise both stay, and a client following them
    /// went round until its hop limit. With this, every move of a file remembered ends at
    /// a path it did not move away from since: the chain a client follows ends.
    pub fn arrived(&self, path: &str, fid: FileId) {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).remove(&(path.to_string(), fid));
    }

    /// Where file `fid`, once at `path`, went (if this server moved it lately).
    pub fn find(&self, path: &str, fid: FileId) -> Option<String> {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&(path.to_string(), fid)).filter(|(_, t)| t.elapsed() < GONE_TTL).map(|(to, _)| to.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_back_forgets_the_move_away() {
        let m = Moves::default();
        m.record("/d2/f", 7, "/d3/f");
        m.record("/d3/f", 7, "/d2/f");
        m.arrived("/d2/f", 7);
        assert_eq!(m.find("/d3/f", 7).as_deref(), Some("/d2/f"));
        assert_eq!(m.find("/d2/f", 7), None, "the file is at /d2/f again");
        assert_eq!(m.find("/d3/f", 8), None, "another file id");
    }

    #[test]
    fn another_record_arriving_keeps_the_move_away() {
        let m = Moves::default();
        m.record("/a", 7, "/e");
        m.arrived("/a", 9);
        m.record("/a", 8, "/b");
        assert_eq!(m.find("/a", 7).as_deref(), Some("/e"), "file 7 is still at /e");
        assert_eq!(m.find("/a", 8).as_deref(), Some("/b"));
    }
}
