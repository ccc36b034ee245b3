//! The inode table: which path each inode number the kernel holds stands for.
//!
//! BenchFS names everything by path; the kernel names everything by inode number. The table
//! issues a number the first time a path is handed to the kernel and keeps it while the
//! kernel holds it.
//!
//! # Invariants
//! 1. Every reply that hands the kernel an entry (lookup, create, mknod, mkdir, each
//!    readdirplus entry other than `.` and `..`) calls [`InodeTable::remember`] *before* the
//!    reply is sent, adding one to the inode's lookup count; `forget(ino, n)` subtracts `n`.
//!    An inode whose count reaches zero is dropped, so its number is never handed out again
//!    for another path while the kernel may still use it (numbers are never reused at all).
//! 2. The root (inode 1, path "/") is never dropped, whatever the kernel forgets.
//! 3. `by_path` and the `path` of live nodes agree: `by_path[p] == ino` iff
//!    `nodes[ino].path == Some(p)`. A node whose name was removed (unlink, rmdir, or replaced
//!    by a rename) has `path == None` and stays until the kernel forgets it.
//! 4. A `hidden` node is a file unlinked (or replaced by a rename) while open: its path is
//!    the hidden name it was moved to, removed for good by whoever ends its last open, be
//!    that a release, a failed open, or the hide itself when every handle was released while
//!    the rename to the hidden name was in flight ([`Hidden::Hiding`]). Exactly one of them
//!    sees "no opens left and hidden", under the table's lock, so the hidden name lives
//!    exactly as long as the last open handle, and is removed once.
//! 5. A hard-linked file is one node whatever name it is reached by (so one `st_ino`, one
//!    page cache and one set of cached attributes in the kernel): its further names are
//!    `aliases`, and `by_path` maps each of them to it too. `by_fid` finds the node of a
//!    file id, for every file the kernel holds, so a name another client linked joins the
//!    node of the name this mount already knows.
//! 6. **An inode number means one file or directory** (its `fid`, a directory's id
//!    included) for as long as the kernel holds it, whatever other clients do with its
//!    names. A name found to hold another record leaves the node ([`InodeTable::remember`]
//!    gives the new record a new number); every request made for an inode carries the id
//!    it expects at the path it is sent to ([`InodeTable::named`]), so a server that finds
//!    another record there answers `Stale` (the name is dropped: [`InodeTable::stale`]) or
//!    `Moved` (the node follows its record), and the mount never acts on whatever took
//!    the name.
//! 7. A node with open handles (or an open in flight, counted from before its request to
//!    the servers) stays, whatever the kernel forgets: the kernel may send FORGET for an
//!    unlinked file before the RELEASE of its last handle, and that release must still
//!    find the node, its hidden name and its state. Opens are counted here, under the same
//!    lock as the lookups and the hidden state, so "last one out" is one decision.
//! 8. Removing a file's last name and opening it exclude each other through the node's
//!    [`gate`](InodeTable::gate): an unlink (or a rename over the file) holds it exclusively
//!    from the moment it looks for open handles until the servers answered, and an open
//!    holds it shared from registering itself until its handle is in the handle table. So
//!    either the unlink sees the open (and the hide moves its handle's path with the
//!    others'), or the open starts after the name is gone and fails with ENOENT: never an
//!    open of a file whose chunks an unlink then drops under it (a reader would read zeros
//!    where the data was), nor a handle left with a name that now means another file.
//!    Requests a handle sends by its path (publications, the size a read asks for) hold it
//!    shared too, so none goes to the name a hide is moving the file from.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use benchfs::meta::FileId;
use benchfs::path::{is_within, join};
use benchfs::{Attr, FileKind};

use crate::error::{FsError, Result};

/// The inode number of the mount's root.
pub const ROOT_INO: u64 = 1;

pub struct InodeTable {
    /// The only lock of the table; never held across an `.await` (a std mutex, as every
    /// operation on it is a few map updates). Lookup and forget race across FUSE threads and
    /// runtime workers, so every count update happens under it.
    inner: Mutex<Inner>,
}

struct Inner {
    nodes: HashMap<u64, Node>,
    by_path: HashMap<String, u64>,
    /// Files (not directories) by id (invariant 5).
    by_fid: HashMap<FileId, u64>,
    next_ino: u64,
}

struct Node {
    /// `None` once the name is gone (see invariant 3).
    path: Option<String>,
    /// Further names of a hard-linked file (invariant 5).
    aliases: Vec<String>,
    /// The id of the file or directory (invariant 6); 0 for the root.
    fid: FileId,
    is_dir: bool,
    /// Unlinked while open, and parked under a hidden name (invariant 4).
    hidden: Hidden,
    /// Entries replied to the kernel minus those it forgot.
    lookups: u64,
    /// Open handles, and opens in flight (invariant 7).
    opens: u64,
    /// Orders removing the last name against opening (invariant 8). A tokio lock: held
    /// across the servers' answer; it works from any runtime (the session threads' own).
    gate: Arc<tokio::sync::RwLock<()>>,
    /// The file as this mount last opened it: the kernel caches no page of the inode from
    /// before that (see [`InodeTable::reopened`]).
    opened: Option<Stamp>,
}

/// Whether a file was unlinked while open (invariant 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hidden {
    No,
    /// The rename to the hidden name is in flight; the hide finishes what a last release
    /// during it left undone.
    Hiding,
    Yes,
}

/// What decides whether a file's cached pages are still its data: its id (the name may
/// now be another file), size, mtime and ctime (any publication of writes, truncation or
/// change of times through any client moves the ctime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    fid: FileId,
    size: u64,
    mtime: (i64, u32),
    ctime: (i64, u32),
}

impl Stamp {
    pub fn of(a: &Attr) -> Stamp {
        Stamp { fid: a.fid, size: a.size, mtime: a.mtime, ctime: a.ctime }
    }
}

impl Node {
    fn new(path: &str, fid: FileId, is_dir: bool) -> Node {
        Node {
            path: Some(path.to_string()),
            aliases: Vec::new(),
            fid,
            is_dir,
            hidden: Hidden::No,
            lookups: 1,
            opens: 0,
            gate: Arc::default(),
            opened: None,
        }
    }

    /// Neither the kernel nor an open handle nor a hide in flight needs it (invariants 1, 7).
    fn unused(&self) -> bool {
        self.lookups == 0 && self.opens == 0 && self.hidden != Hidden::Hiding
    }

    /// Forgets the name `p` of this node; a further name, if any, becomes its path.
    fn drop_name(&mut self, p: &str) {
        if self.path.as_deref() == Some(p) {
            self.path = self.aliases.pop();
        } else {
            self.aliases.retain(|a| a != p);
        }
    }

    /// The name `old` is now `new`.
    fn rename(&mut self, old: &str, new: String) {
        match self.aliases.iter_mut().find(|a| *a == old) {
            Some(a) if self.path.as_deref() != Some(old) => *a = new,
            _ => self.path = Some(new),
        }
    }
}

/// Drops `fid`'s entry in `by_fid` if it still names `ino` (a later node may have it).
fn unindex_fid(by_fid: &mut HashMap<FileId, u64>, fid: FileId, ino: u64) {
    if by_fid.get(&fid) == Some(&ino) {
        by_fid.remove(&fid);
    }
}

impl Inner {
    /// Drops `ino` when nothing needs it any more (see [`Node::unused`]).
    fn drop_if_unused(&mut self, ino: u64) {
        if !self.nodes.get(&ino).is_some_and(Node::unused) {
            return;
        }
        if let Some(node) = self.nodes.remove(&ino) {
            for p in node.path.iter().chain(&node.aliases) {
                if self.by_path.get(p) == Some(&ino) {
                    self.by_path.remove(p);
                }
            }
            unindex_fid(&mut self.by_fid, node.fid, ino);
        }
    }
}

impl Default for InodeTable {
    fn default() -> Self {
        InodeTable::new()
    }
}

impl InodeTable {
    pub fn new() -> InodeTable {
        let root = Node::new("/", 0, true);
        let inner = Inner {
            nodes: HashMap::from([(ROOT_INO, root)]),
            by_path: HashMap::from([("/".to_string(), ROOT_INO)]),
            by_fid: HashMap::new(),
            next_ino: ROOT_INO + 1,
        };
        InodeTable { inner: Mutex::new(inner) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current path of `ino`.
    ///
    /// # Errors
    /// `StaleInode` if the table does not hold `ino`, `Removed` if its name is gone.
    pub fn path(&self, ino: u64) -> Result<String> {
        Ok(self.named(ino)?.0)
    }

    /// The current path of `ino` and the id of the record it stands for: what a request
    /// made for the inode expects to find at that path (invariant 6).
    ///
    /// # Errors
    /// As [`InodeTable::path`].
    pub fn named(&self, ino: u64) -> Result<(String, FileId)> {
        let inner = self.lock();
        let node = inner.nodes.get(&ino).ok_or(FsError::StaleInode(ino))?;
        Ok((node.path.clone().ok_or(FsError::Removed(ino))?, node.fid))
    }

    /// A server found that `path` no longer holds `ino`'s record: the node loses that
    /// name (a hard-linked file keeps its others; invariant 6).
    pub fn stale(&self, ino: u64, path: &str) {
        let mut inner = self.lock();
        if inner.by_path.get(path) == Some(&ino) {
            inner.by_path.remove(path);
        }
        if let Some(node) = inner.nodes.get_mut(&ino) {
            node.drop_name(path);
        }
    }

    /// The path of entry `name` in directory `parent`.
    pub fn child_path(&self, parent: u64, name: &str) -> Result<String> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(FsError::Invalid("not a plain file name"));
        }
        Ok(join(&self.path(parent)?, name))
    }

    /// The inode number for `path` (whose record is `attr`), issuing one if needed, with
    /// its lookup count raised by one: call it right before replying an entry to the
    /// kernel (invariant 1). Another name of a hard-linked file the kernel holds gets that
    /// file's number (invariant 5).
    pub fn remember(&self, path: &str, attr: &Attr) -> u64 {
        let is_dir = attr.kind == FileKind::Dir;
        let fid = attr.fid;
        let mut inner = self.lock();
        let inner = &mut *inner;
        if let Some(&ino) = inner.by_path.get(path) {
            match inner.nodes.get_mut(&ino) {
                Some(node) if node.fid == fid && node.is_dir == is_dir => {
                    node.lookups += 1;
                    if !is_dir {
                        inner.by_fid.insert(fid, ino);
                    }
                    return ino;
                }
                // The name now holds another record (another client replaced it): it
                // leaves the node, which keeps meaning its own file (invariant 6).
                Some(node) => node.drop_name(path),
                None => {}
            }
            inner.by_path.remove(path);
        }
        if attr.linked && !is_dir {
            if let Some(node) = inner.by_fid.get(&fid).and_then(|i| inner.nodes.get_mut(i).map(|n| (*i, n))) {
                let (ino, node) = node;
                node.lookups += 1;
                match node.path {
                    Some(_) => node.aliases.push(path.to_string()),
                    None => node.path = Some(path.to_string()),
                }
                inner.by_path.insert(path.to_string(), ino);
                return ino;
            }
        }
        let ino = inner.next_ino;
        inner.next_ino += 1;
        inner.nodes.insert(ino, Node::new(path, fid, is_dir));
        inner.by_path.insert(path.to_string(), ino);
        if !is_dir {
            inner.by_fid.insert(fid, ino);
        }
        ino
    }

    /// `ino` is being opened and its file is now `now`. True when this mount last opened
    /// it as exactly `now`: nobody has published a write to it, truncated it or replaced
    /// it since, so the pages the kernel cached from it are still its data and the open may
    /// keep them (FOPEN_KEEP_CACHE). Close-to-open holds: whatever another client wrote
    /// and closed moved the stamp. Writes through this mount move it too, at their close:
    /// the next open then starts from an empty cache, as before. A writer that never
    /// publishes (killed before its close) changes chunks without moving the stamp: pages
    /// cached here before stay until something moves it, as close-to-open promises nothing
    /// about writers that did not close.
    pub fn reopened(&self, ino: u64, now: Stamp) -> bool {
        let mut inner = self.lock();
        inner.nodes.get_mut(&ino).is_some_and(|n| n.opened.replace(now) == Some(now))
    }

    /// Whether `ino` is a directory (false for one the table does not hold).
    pub fn is_dir(&self, ino: u64) -> bool {
        self.lock().nodes.get(&ino).is_some_and(|n| n.is_dir)
    }

    /// The inode number of `path` if the kernel holds one; the count is left alone.
    pub fn peek(&self, path: &str) -> Option<u64> {
        self.lock().by_path.get(path).copied()
    }

    /// The kernel dropped `n` references to `ino`.
    pub fn forget(&self, ino: u64, n: u64) {
        if ino == ROOT_INO {
            return;
        }
        let mut inner = self.lock();
        let Some(node) = inner.nodes.get_mut(&ino) else { return };
        debug_assert!(node.lookups >= n, "forget({ino}, {n}) with only {} lookups", node.lookups);
        node.lookups = node.lookups.saturating_sub(n);
        inner.drop_if_unused(ino);
    }

    /// The name `path` was removed (unlink, rmdir): its inode, if any, loses that name
    /// (a hard-linked file keeps its others).
    pub fn removed(&self, path: &str) {
        let mut inner = self.lock();
        if let Some(ino) = inner.by_path.remove(path) {
            if let Some(node) = inner.nodes.get_mut(&ino) {
                node.drop_name(path);
            }
        }
    }

    /// The id of the record `ino` stands for.
    pub fn fid(&self, ino: u64) -> Option<FileId> {
        self.lock().nodes.get(&ino).map(|n| n.fid)
    }

    /// Whether `ino` has a name other than `path` that the kernel knows of.
    pub fn has_other_names(&self, ino: u64, path: &str) -> bool {
        self.lock().nodes.get(&ino).is_some_and(|n| n.path.iter().chain(&n.aliases).any(|p| p != path))
    }

    /// The servers say `path` is the last name of `ino`'s file: the other names this table
    /// still has are stale (another client removed or replaced them) and go.
    pub fn only_name(&self, ino: u64, path: &str) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(node) = inner.nodes.get_mut(&ino) else { return };
        let others: Vec<String> = node.path.iter().chain(&node.aliases).filter(|p| *p != path).cloned().collect();
        for other in others {
            node.drop_name(&other);
            if inner.by_path.get(&other) == Some(&ino) {
                inner.by_path.remove(&other);
            }
        }
    }

    /// `from` was renamed to `to`: the inode at `to`, if any, loses its path, and `from` and
    /// (for a directory) everything below it move. Returns the moved inodes with their new
    /// paths, so open handles can follow.
    pub fn renamed(&self, from: &str, to: &str) -> Vec<(u64, String)> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if let Some(old) = inner.by_path.remove(to) {
            if let Some(node) = inner.nodes.get_mut(&old) {
                node.drop_name(to);
            }
        }
        let is_dir = inner.by_path.get(from).and_then(|i| inner.nodes.get(i)).is_some_and(|n| n.is_dir);
        let moving: Vec<(String, u64)> = if is_dir {
            inner.by_path.iter().filter(|(p, _)| is_within(p, from)).map(|(p, &i)| (p.clone(), i)).collect()
        } else {
            inner.by_path.get(from).map(|&i| (from.to_string(), i)).into_iter().collect()
        };
        let mut moved = Vec::with_capacity(moving.len());
        for (old_path, ino) in moving {
            inner.by_path.remove(&old_path);
            let new_path = format!("{to}{}", &old_path[from.len()..]);
            if let Some(node) = inner.nodes.get_mut(&ino) {
                node.rename(&old_path, new_path.clone());
            }
            moved.push((ino, new_path));
        }
        // Re-insert after all removals: a moved path may equal another moved path's old one
        // only in the trivial from == to case, which the caller never passes.
        for (ino, p) in &moved {
            inner.by_path.insert(p.clone(), *ino);
        }
        moved
    }

    /// The lock that orders removing `ino`'s last name against opening it (invariant 8).
    ///
    /// # Errors
    /// `StaleInode` if the table does not hold `ino`.
    pub fn gate(&self, ino: u64) -> Result<Arc<tokio::sync::RwLock<()>>> {
        self.lock().nodes.get(&ino).map(|n| n.gate.clone()).ok_or(FsError::StaleInode(ino))
    }

    /// An open of `ino` starts (call it holding the gate shared): counts it and returns
    /// the path to open. Every `Ok` must be matched by one [`InodeTable::open_end`].
    ///
    /// # Errors
    /// As [`InodeTable::path`]; nothing is counted then.
    pub fn open_begin(&self, ino: u64) -> Result<String> {
        let mut inner = self.lock();
        let node = inner.nodes.get_mut(&ino).ok_or(FsError::StaleInode(ino))?;
        let path = node.path.clone().ok_or(FsError::Removed(ino))?;
        node.opens += 1;
        Ok(path)
    }

    /// An open of `ino` ended (its handle was released, or the open failed). Returns the
    /// hidden name to remove when this was the file's last open (invariant 4).
    pub fn open_end(&self, ino: u64) -> Option<String> {
        let mut inner = self.lock();
        let node = inner.nodes.get_mut(&ino)?;
        debug_assert!(node.opens > 0, "open_end({ino}) without an open");
        node.opens = node.opens.saturating_sub(1);
        let remove = (node.opens == 0 && node.hidden == Hidden::Yes).then(|| node.path.clone()).flatten();
        inner.drop_if_unused(ino);
        remove
    }

    /// An unlink or replacing rename of `ino`'s last name is about to happen (holding the
    /// gate exclusively): true, and the node is [`Hidden::Hiding`], if it has opens; the
    /// caller then moves it to a hidden name and calls [`InodeTable::hide_end`].
    pub fn hide_begin(&self, ino: u64) -> bool {
        let mut inner = self.lock();
        match inner.nodes.get_mut(&ino) {
            Some(node) if node.opens > 0 && node.hidden == Hidden::No => {
                node.hidden = Hidden::Hiding;
                true
            }
            _ => false,
        }
    }

    /// The rename to the hidden name is done (`moved`) or failed. Returns the hidden name
    /// to remove when every handle was released meanwhile.
    pub fn hide_end(&self, ino: u64, moved: bool) -> Option<String> {
        let mut inner = self.lock();
        let node = inner.nodes.get_mut(&ino)?;
        node.hidden = if moved { Hidden::Yes } else { Hidden::No };
        let remove = (moved && node.opens == 0).then(|| node.path.clone()).flatten();
        inner.drop_if_unused(ino);
        remove
    }

    /// Whether `ino` was unlinked while open (its name is a hidden one, or about to be).
    pub fn is_hidden(&self, ino: u64) -> bool {
        self.lock().nodes.get(&ino).is_some_and(|n| n.hidden != Hidden::No)
    }

    /// Number of inodes the kernel holds (root included).
    pub fn count(&self) -> usize {
        self.lock().nodes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(fid: FileId) -> Attr {
        Attr::new(FileKind::File, 0o644, (0, 0), (0, 0), fid, 4096)
    }

    fn linked(fid: FileId) -> Attr {
        Attr { linked: true, nlink: 2, ..file(fid) }
    }

    fn dir() -> Attr {
        Attr::synthetic_dir(0o755)
    }

    #[test]
    fn every_name_of_a_linked_file_is_one_inode() {
        let t = InodeTable::new();
        let d = t.remember("/d", &dir());
        let a = t.remember("/d/a", &file(7));
        // Another client linked it: the new name joins the node this mount holds.
        assert_eq!(t.remember("/b", &linked(7)), a);
        assert_eq!(t.remember("/d/c", &linked(7)), a);
        assert!(t.has_other_names(a, "/d/a"));
        assert_eq!(t.path(a).unwrap(), "/d/a");
        // Renaming the directory moves the name inside it, not the others.
        t.renamed("/d", "/e");
        t.removed("/e/a");
        let left = t.path(a).unwrap();
        assert!(left == "/e/c" || left == "/b", "{left}");
        t.removed("/b");
        t.removed("/e/c");
        assert!(matches!(t.path(a), Err(FsError::Removed(_))));
        // A file that was never linked, with the same id as a stale one, gets its own node.
        assert_ne!(t.remember("/x", &file(8)), a);
        // A linked name replaced by another file (by another client) leaves the node.
        let e = t.remember("/e2", &linked(9));
        assert_eq!(t.remember("/e3", &linked(9)), e);
        let other = t.remember("/e3", &file(10));
        assert_ne!(other, e);
        assert_eq!(t.path(e).unwrap(), "/e2");
        assert!(!t.has_other_names(e, "/e2"));
        // Forgetting drops every name and the id.
        t.forget(a, 3);
        assert!(matches!(t.path(a), Err(FsError::StaleInode(_))));
        assert_ne!(t.remember("/y", &linked(7)), a);
        assert_eq!(t.path(d).unwrap(), "/e");
    }

    #[test]
    fn a_hidden_file_goes_with_its_last_open_whatever_the_order() {
        let t = InodeTable::new();
        // FORGET before the RELEASE of the last handle: the node waits for the release.
        let a = t.remember("/a", &file(1));
        assert_eq!(t.open_begin(a).unwrap(), "/a");
        assert!(t.hide_begin(a));
        t.renamed("/a", "/.h1");
        assert_eq!(t.hide_end(a, true), None, "still open");
        t.forget(a, 1);
        assert_eq!(t.open_end(a).as_deref(), Some("/.h1"));
        assert!(matches!(t.path(a), Err(FsError::StaleInode(_))));
        // Every handle released while the rename was in flight: the hide removes it.
        let b = t.remember("/b", &file(2));
        t.open_begin(b).unwrap();
        assert!(t.hide_begin(b));
        assert_eq!(t.open_end(b), None, "the hide is not done");
        t.renamed("/b", "/.h2");
        assert_eq!(t.hide_end(b, true).as_deref(), Some("/.h2"));
        // A failed hide leaves the file as it was; no opens, nothing to hide.
        let c = t.remember("/c", &file(3));
        t.open_begin(c).unwrap();
        assert!(t.hide_begin(c));
        assert_eq!(t.hide_end(c, false), None);
        assert_eq!(t.open_end(c), None);
        assert!(!t.hide_begin(c));
        assert_eq!(t.path(c).unwrap(), "/c");
    }

    #[test]
    fn lookups_and_forget() {
        let t = InodeTable::new();
        let a = t.remember("/a", &file(1));
        assert_eq!(t.remember("/a", &file(1)), a);
        assert_eq!(t.path(a).unwrap(), "/a");
        t.forget(a, 1);
        assert_eq!(t.path(a).unwrap(), "/a");
        t.forget(a, 1);
        assert!(matches!(t.path(a), Err(FsError::StaleInode(_))));
        let a2 = t.remember("/a", &file(1));
        assert_ne!(a2, a, "numbers are never reused");
        t.forget(ROOT_INO, 100);
        assert_eq!(t.path(ROOT_INO).unwrap(), "/");
    }

    #[test]
    fn child_paths() {
        let t = InodeTable::new();
        let d = t.remember("/d", &dir());
        assert_eq!(t.child_path(ROOT_INO, "x").unwrap(), "/x");
        assert_eq!(t.child_path(d, "x").unwrap(), "/d/x");
        assert!(t.child_path(d, "a/b").is_err());
        assert!(matches!(t.child_path(99, "x"), Err(FsError::StaleInode(99))));
    }

    #[test]
    fn rename_moves_the_subtree_and_detaches_the_target() {
        let t = InodeTable::new();
        let d = t.remember("/d", &dir());
        let f = t.remember("/d/f", &file(2));
        let g = t.remember("/d/sub/g", &file(3));
        let other = t.remember("/dx", &file(4)); // shares a prefix, not a parent
        let target = t.remember("/e", &dir());
        let mut moved = t.renamed("/d", "/e");
        moved.sort();
        assert_eq!(moved, vec![(d, "/e".into()), (f, "/e/f".into()), (g, "/e/sub/g".into())]);
        assert_eq!(t.path(f).unwrap(), "/e/f");
        assert_eq!(t.path(other).unwrap(), "/dx");
        assert!(matches!(t.path(target), Err(FsError::Removed(_))));
        assert_eq!(t.peek("/e"), Some(d));
        assert_eq!(t.peek("/d/f"), None);
        // The detached node goes away when forgotten, without touching the new owner of /e.
        t.forget(target, 1);
        assert_eq!(t.peek("/e"), Some(d));
    }

    #[test]
    fn rename_of_a_file_and_removal() {
        let t = InodeTable::new();
        let f = t.remember("/f", &file(5));
        assert_eq!(t.renamed("/f", "/g"), vec![(f, "/g".to_string())]);
        t.removed("/g");
        assert!(matches!(t.path(f), Err(FsError::Removed(_))));
        assert_eq!(t.peek("/g"), None);
        let g = t.remember("/g", &file(6));
        assert_ne!(g, f);
        t.forget(f, 1);
        assert_eq!(t.path(g).unwrap(), "/g");
        assert_eq!(t.count(), 2);
    }
}
