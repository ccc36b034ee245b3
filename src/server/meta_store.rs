//! The metadata store: every record in memory, persisted to one redb table in batches.
//!
//! Key: `parent '\0' name` (the root itself has no record). Children of a directory
//! are therefore one contiguous key range, `dir '\0' ..`, which makes a readdir page
//! a range scan. Value in redb: the postcard-encoded [`Attr`].
//!
//! Requests are served from an in-memory `BTreeMap` (an ad hoc file system's namespace
//! fits in a node's memory: ~150 bytes a record). Changes are queued and written to
//! redb by `sync` in one transaction: `Fsync` from a client, the server's once-a-second
//! flusher and its shutdown. A redb commit costs ~15 us, more than the rest of a create,
//! so batching is what lets one server take tens of thousands of creates a second.
//! After `kill -9`, the store comes back as of the last `sync` (whatever was fsynced is
//! there) — the same guarantee non-durable per-request commits would give.
//!
//! Hard-linked files also have an inode record, keyed `0x01 fid` (see [`Attr::linked`]).

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::backend::MetaBackend;
use super::StoreError;
use crate::meta::{now, Attr, FileId, FileKind, SetAttr};

const META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("meta");
/// Files whose chunks this server dropped (see `server::tombstones`): id → when (ns).
const DROPPED: TableDefinition<u128, u64> = TableDefinition::new("dropped");

pub struct MetaStore {
    /// None after a failed commit until `sync` reopens it: redb refuses every commit after
    /// an I/O error (a full disk) until the database is opened again.
    db: Mutex<Option<Database>>,
    /// What the database is kept on (opened again after a failed commit).
    backend: MetaBackend,
    /// Every record. Lock order: `mem` before `pending`. std locks: never held across `.await`.
    mem: RwLock<BTreeMap<Vec<u8>, Attr>>,
    /// Changes not yet in redb, latest per key (None: deleted).
    pending: Mutex<BTreeMap<Vec<u8>, Option<Attr>>>,
    /// Serialises `sync` calls so batches reach redb in order.
    syncing: Mutex<()>,
}

/// Pending changes past which a writer flushes inline (bounds the queue's memory).
const MAX_PENDING: usize = 100_000;

fn key(path: &str) -> Result<Vec<u8>, StoreError> {
    let (parent, name) =
        crate::path::split(path).ok_or_else(|| StoreError::Invalid("the root has no record".into()))?;
    Ok(dir_prefix(parent).into_iter().chain(name.bytes()).collect())
}

fn dir_prefix(dir: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(dir.len() + 1);
    k.extend_from_slice(dir.as_bytes());
    k.push(0);
    k
}

/// The path a key stands for (`parent '\0' name`).
fn path_of(key: &[u8]) -> Option<String> {
    let i = key.iter().position(|&b| b == 0)?;
    let (parent, name) = (std::str::from_utf8(&key[..i]).ok()?, std::str::from_utf8(&key[i + 1..]).ok()?);
    Some(crate::path::join(parent, name))
}

fn not_found(path: &str) -> StoreError {
    StoreError::NotFound(path.to_string())
}

/// First byte of an inode record's key: paths begin with '/', so inode records sort
/// apart from every directory's key range.
const INODE_TAG: u8 = 1;

fn inode_key(fid: FileId) -> Vec<u8> {
    let mut k = Vec::with_capacity(17);
    k.push(INODE_TAG);
    k.extend_from_slice(&fid.to_be_bytes());
    k
}

fn inode_not_found(fid: FileId) -> StoreError {
    StoreError::NotFound(format!("inode record of file {fid:032x}"))
}

impl MetaStore {
    pub fn open(backend: MetaBackend) -> Result<MetaStore, StoreError> {
        let db = backend.open()?;
        let tx = db.begin_write()?;
        tx.open_table(META)?;
        tx.open_table(DROPPED)?;
        tx.commit()?;
        let mut mem = BTreeMap::new();
        {
            let tx = db.begin_read()?;
            let t = tx.open_table(META)?;
            for item in t.iter()? {
                let (k, v) = item?;
                mem.insert(k.value().to_vec(), postcard::from_bytes::<Attr>(v.value())?);
            }
        }
        Ok(MetaStore {
            db: Mutex::new(Some(db)),
            backend,
            mem: RwLock::new(mem),
            pending: Mutex::new(BTreeMap::new()),
            syncing: Mutex::new(()),
        })
    }

    fn read_mem(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, Attr>> {
        self.mem.read().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, Option<Attr>>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, path: &str) -> Result<Attr, StoreError> {
        let k = key(path)?;
        self.read_mem().get(&k).cloned().ok_or_else(|| not_found(path))
    }

    /// Runs `f` on the record at `path` (None if absent) atomically with respect to other
    /// updates; `f` returns what to store (None: delete) and the result.
    fn update<R>(
        &self,
        path: &str,
        f: impl FnOnce(Option<Attr>) -> Result<(Option<Attr>, R), StoreError>,
    ) -> Result<R, StoreError> {
        self.update_key(key(path)?, f)
    }

    fn update_key<R>(
        &self,
        k: Vec<u8>,
        f: impl FnOnce(Option<Attr>) -> Result<(Option<Attr>, R), StoreError>,
    ) -> Result<R, StoreError> {
        let (queued, r) = {
            let mut mem = self.mem.write().unwrap_or_else(|p| p.into_inner());
            let (new, r) = f(mem.get(&k).cloned())?;
            match &new {
                Some(a) => mem.insert(k.clone(), a.clone()),
                None => mem.remove(&k),
            };
            let mut pending = self.lock_pending();
            pending.insert(k, new);
            (pending.len(), r)
        };
        if queued > MAX_PENDING {
            self.sync()?;
        }
        Ok(r)
    }

    /// Creates a file record, or returns the existing one and its size before this call
    /// (truncated to 0 with `truncate`) unless `exclusive`.
    #[allow(clippy::too_many_arguments)]
    pub fn create(
        &self,
        path: &str,
        mode: u32,
        uid: u32,
        gid: u32,
        chunk_size: u32,
        exclusive: bool,
        truncate: bool,
    ) -> Result<(Attr, Option<u64>), StoreError> {
        self.update(path, |old| match old {
            // O_EXCL wins over the type check: open(2) gives EEXIST for a directory too.
            Some(_) if exclusive => Err(StoreError::Exists(path.to_string())),
            Some(a) if a.is_dir() => Err(StoreError::IsDir(path.to_string())),
            // Never follows a link nor opens a special file's record as a file.
            Some(a) if !a.is_file() => Err(StoreError::NotFile(path.to_string(), a.kind)),
            Some(mut a) => {
                let previous = a.size;
                if truncate && a.size != 0 {
                    a.size = 0;
                    a.written = 0;
                    a.mtime = now();
                    a.ctime = a.mtime;
                }
                Ok((Some(a.clone()), (a, Some(previous))))
            }
            None => {
                let a = Attr::new(FileKind::File, mode, (uid, gid), now(), new_fid(), chunk_size);
                Ok((Some(a.clone()), (a, None)))
            }
        })
    }

    pub fn mkdir(&self, path: &str, mode: u32, uid: u32, gid: u32) -> Result<Attr, StoreError> {
        self.update(path, |old| match old {
            Some(_) => Err(StoreError::Exists(path.to_string())),
            None => {
                // An id of its own, as a file's: what a client holding the directory
                // expects at its path (server::identity).
                let a = Attr::new(FileKind::Dir, mode, (uid, gid), now(), new_fid(), 0);
                Ok((Some(a.clone()), a))
            }
        })
    }

    /// Creates a symbolic link record (its size is the target's length).
    pub fn symlink(&self, path: &str, target: &str, uid: u32, gid: u32) -> Result<Attr, StoreError> {
        self.update(path, |old| match old {
            Some(_) => Err(StoreError::Exists(path.to_string())),
            None => {
                let mut a = Attr::new(FileKind::Symlink, 0o777, (uid, gid), now(), new_fid(), 0);
                a.size = target.len() as u64;
                a.target = Some(target.to_string());
                Ok((Some(a.clone()), a))
            }
        })
    }

    /// Creates a FIFO, socket or device record (`kind` is one of those: validated).
    pub fn mknod(
        &self,
        path: &str,
        kind: FileKind,
        mode: u32,
        rdev: u64,
        uid: u32,
        gid: u32,
    ) -> Result<Attr, StoreError> {
        self.update(path, |old| match old {
            Some(_) => Err(StoreError::Exists(path.to_string())),
            None => {
                let mut a = Attr::new(kind, mode, (uid, gid), now(), new_fid(), 0);
                a.rdev = if matches!(kind, FileKind::CharDev | FileKind::BlockDev) { rdev } else { 0 };
                Ok((Some(a.clone()), a))
            }
        })
    }

    pub fn set_attr(&self, path: &str, set: &SetAttr) -> Result<Attr, StoreError> {
        self.update(path, |old| {
            let a = apply(old.ok_or_else(|| not_found(path))?, set, path)?;
            Ok((Some(a.clone()), a))
        })
    }

    /// The inode record of hard-linked file `fid` (see [`Attr::linked`]).
    pub fn inode(&self, fid: FileId) -> Result<Attr, StoreError> {
        self.read_mem().get(&inode_key(fid)).cloned().ok_or_else(|| inode_not_found(fid))
    }

    /// One more name for `attr.fid`; its inode record is made from `attr` (one name) if
    /// there is none yet.
    pub fn inode_link(&self, attr: &Attr) -> Result<Attr, StoreError> {
        self.update_key(inode_key(attr.fid), |old| {
            let mut a = old.unwrap_or_else(|| Attr { nlink: 1, ..attr.clone() });
            a.linked = true;
            a.nlink = a.nlink.saturating_add(1);
            a.ctime = now();
            Ok((Some(a.clone()), a))
        })
    }

    pub fn inode_set(&self, fid: FileId, set: &SetAttr) -> Result<Attr, StoreError> {
        self.update_key(inode_key(fid), |old| {
            let a = apply(old.ok_or_else(|| inode_not_found(fid))?, set, &format!("inode {fid:032x}"))?;
            Ok((Some(a.clone()), a))
        })
    }

    /// One name fewer for `fid`. Answers the record with its new count; at zero the
    /// record is deleted (the caller drops the file's chunks).
    pub fn inode_unlink(&self, fid: FileId) -> Result<Attr, StoreError> {
        self.update_key(inode_key(fid), |old| {
            let mut a = old.ok_or_else(|| inode_not_found(fid))?;
            a.nlink = a.nlink.saturating_sub(1);
            a.ctime = now();
            Ok(((a.nlink > 0).then(|| a.clone()), a))
        })
    }

    /// Whether the record at `path` is a hard-linked file's, and its id if so.
    pub fn linked_fid(&self, path: &str) -> Option<FileId> {
        let k = key(path).ok()?;
        self.read_mem().get(&k).filter(|a| a.linked).map(|a| a.fid)
    }

    /// Sets mtime = ctime = `t` of the directory at `path` (an entry in it changed at `t`)
    /// unless its ctime is already `t` or later: then the record changed since (a later
    /// entry, or a utimens that must not be undone by a touch that arrives after it, as
    /// `rsync` and `tar` set a directory's times after filling it). Returns whether it
    /// changed anything: a missing record or one that is not a directory is left alone
    /// (never created).
    pub fn touch_dir(&self, path: &str, t: (i64, u32)) -> Result<bool, StoreError> {
        self.change_dir(path, |a| {
            if a.ctime >= t {
                return false;
            }
            a.mtime = t;
            a.ctime = t;
            true
        })
    }

    /// Adds `delta` subdirectories to the count of the directory at `path` (its `nlink`,
    /// never below 2). Returns whether there was such a directory.
    pub fn count_subdirs(&self, path: &str, delta: i32) -> Result<bool, StoreError> {
        self.change_dir(path, |a| {
            a.nlink = u32::try_from((i64::from(a.nlink) + i64::from(delta)).max(2)).unwrap_or(u32::MAX);
            true
        })
    }

    /// Applies `change` to the directory record at `path` in memory and queues it for the
    /// next sync; `change` says whether it changed anything. Returns that (false for a
    /// missing record or one that is not a directory, which is never created).
    fn change_dir(&self, path: &str, change: impl FnOnce(&mut Attr) -> bool) -> Result<bool, StoreError> {
        let k = key(path)?;
        let queued = {
            let mut mem = self.mem.write().unwrap_or_else(|p| p.into_inner());
            let Some(a) = mem.get_mut(&k).filter(|a| a.is_dir()) else { return Ok(false) };
            if !change(a) {
                return Ok(false);
            }
            let a = a.clone();
            let mut pending = self.lock_pending();
            pending.insert(k, Some(a));
            pending.len()
        };
        if queued > MAX_PENDING {
            self.sync()?;
        }
        Ok(true)
    }

    /// Deletes the record; `dir` is what the caller expects it to be (rmdir vs unlink).
    pub fn remove(&self, path: &str, dir: bool) -> Result<Attr, StoreError> {
        self.update(path, |old| match old {
            None => Err(not_found(path)),
            Some(a) if dir && !a.is_dir() => Err(StoreError::NotDir(path.to_string())),
            Some(a) if !dir && a.is_dir() => Err(StoreError::IsDir(path.to_string())),
            Some(a) => Ok((None, a)),
        })
    }

    /// Stores `attr` at `path`; returns the record it replaced.
    pub fn insert(&self, path: &str, attr: &Attr, replace: bool) -> Result<Option<Attr>, StoreError> {
        self.update(path, |old| match old {
            Some(_) if !replace => Err(StoreError::Exists(path.to_string())),
            Some(o) if o.is_dir() && !attr.is_dir() => Err(StoreError::IsDir(path.to_string())),
            Some(o) if !o.is_dir() && attr.is_dir() => Err(StoreError::NotDir(path.to_string())),
            old => Ok((Some(attr.clone()), old)),
        })
    }

    /// Up to `limit` entries directly under `dir` whose names sort after `after`.
    /// Returns the entries and whether more remain.
    pub fn readdir(
        &self,
        dir: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<(String, Attr)>, bool), StoreError> {
        let prefix = dir_prefix(dir);
        let mut start = prefix.clone();
        if let Some(a) = after {
            start.extend_from_slice(a.as_bytes());
            start.push(0); // first key strictly after `after`
        }
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last = 1; // `dir '\x01'`: just past every `dir '\0' ...` key
        }
        let mem = self.read_mem();
        let mut out = Vec::new();
        for (k, v) in mem.range(start..end) {
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push((String::from_utf8_lossy(&k[prefix.len()..]).into_owned(), v.clone()));
        }
        Ok((out, false))
    }

    /// Removes whatever record is at `path` (a rename's or a move's last step).
    pub fn take(&self, path: &str) -> Result<Option<Attr>, StoreError> {
        self.update(path, |old| Ok((None, old)))
    }

    /// Every path below `dir` (children, grandchildren, ...), in key order.
    pub fn descendants(&self, dir: &str) -> Vec<String> {
        let mem = self.read_mem();
        let mut out = Vec::new();
        // Children are `dir '\0' name`; deeper records are `dir '/' ...  '\0' name`.
        for sep in [0u8, b'/'] {
            let mut start = dir.as_bytes().to_vec();
            start.push(sep);
            let mut end = start.clone();
            if let Some(last) = end.last_mut() {
                *last += 1;
            }
            for k in mem.range(start..end).map(|(k, _)| k) {
                if let Some(p) = path_of(k) {
                    out.push(p);
                }
            }
        }
        out
    }

    pub fn count(&self) -> Result<u64, StoreError> {
        Ok(self.read_mem().len() as u64)
    }

    pub fn is_dirty(&self) -> bool {
        !self.lock_pending().is_empty()
    }

    /// The ids of dropped files, oldest first.
    pub fn dropped(&self) -> Result<Vec<FileId>, StoreError> {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let Some(d) = db.as_ref() else { return Err(StoreError::Invalid("metadata store closed".into())) };
        let tx = d.begin_read()?;
        let t = tx.open_table(DROPPED)?;
        let mut all = Vec::new();
        for item in t.iter()? {
            let (k, v) = item?;
            all.push((v.value(), k.value()));
        }
        all.sort_unstable();
        Ok(all.into_iter().map(|(_, f)| f).collect())
    }

    /// Durably adds `new` to the dropped files and forgets `evicted`, in one transaction.
    pub fn put_dropped(&self, new: &[FileId], evicted: &[FileId]) -> Result<(), StoreError> {
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let t = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let Some(d) = db.as_ref() else { return Err(StoreError::Invalid("metadata store closed".into())) };
        let mut tx = d.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        {
            let mut table = tx.open_table(DROPPED)?;
            for f in evicted {
                table.remove(*f)?;
            }
            for f in new {
                table.insert(*f, t)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Writes every queued change to redb in one durable (fsynced) transaction.
    pub fn sync(&self) -> Result<(), StoreError> {
        let _order = self.syncing.lock().unwrap_or_else(|p| p.into_inner());
        let batch = std::mem::take(&mut *self.lock_pending());
        let mut db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let result = (|| {
            if db.is_none() {
                *db = Some(self.backend.open()?);
            }
            let Some(d) = db.as_ref() else { return Err(StoreError::Invalid("metadata store closed".into())) };
            let mut tx = d.begin_write()?;
            tx.set_durability(Durability::Immediate)?;
            {
                let mut t = tx.open_table(META)?;
                for (k, v) in &batch {
                    match v {
                        Some(a) => t.insert(k.as_slice(), postcard::to_stdvec(a)?.as_slice())?,
                        None => t.remove(k.as_slice())?,
                    };
                }
            }
            tx.commit()?;
            Ok(())
        })();
        if result.is_err() {
            // Reopen on the next sync (redb is poisoned after an I/O error), and put the
            // batch back (newer changes win) so that sync retries it.
            *db = None;
            let mut pending = self.lock_pending();
            for (k, v) in batch {
                pending.entry(k).or_insert(v);
            }
        }
        result
    }
}

/// Applies `set` to `a` (the record of `what`): a size change only for regular files.
fn apply(mut a: Attr, set: &SetAttr, what: &str) -> Result<Attr, StoreError> {
    if (set.size.is_some() || set.grow_to.is_some() || set.wrote.is_some()) && !a.is_file() {
        if a.is_dir() {
            return Err(StoreError::IsDir(what.to_string()));
        }
        return Err(StoreError::Invalid(format!("{what}: only a regular file has a size to change")));
    }
    let t = now();
    if let Some(m) = set.mode {
        a.mode = m & 0o7777;
    }
    a.uid = set.uid.unwrap_or(a.uid);
    a.gid = set.gid.unwrap_or(a.gid);
    if let Some(s) = set.size {
        a.size = s;
        a.mtime = t;
    }
    if let Some(g) = set.grow_to {
        a.size = a.size.max(g);
        a.mtime = t;
    }
    a.written = a.written.saturating_add(set.wrote.unwrap_or(0)).min(a.size);
    a.atime = set.atime.unwrap_or(a.atime);
    a.mtime = set.mtime.unwrap_or(a.mtime);
    a.ctime = t;
    Ok(a)
}

thread_local! {
    /// Where this thread's file ids come from when a test replays a seed (see
    /// [`seed_file_ids`]): a splitmix64 state instead of the random generator.
    static SEEDED_FIDS: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Makes the file ids this thread assigns from now on a sequence fixed by `seed`: chunks
/// and inodes are placed by file id, so a simulation on one thread replays exactly.
pub(crate) fn seed_file_ids(seed: u64) {
    SEEDED_FIDS.set(Some(seed));
}

fn new_fid() -> u128 {
    if let Some(mut x) = SEEDED_FIDS.get() {
        let mut next = || {
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let f = (u128::from(next()) << 64 | u128::from(next())).max(1);
        SEEDED_FIDS.set(Some(x));
        return f;
    }
    loop {
        let f: u128 = rand::random();
        if f != 0 {
            return f;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readdir_lists_only_direct_children_in_pages() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaStore::open(MetaBackend::File(dir.path().join("m.redb"))).unwrap();
        m.mkdir("/a", 0o755, 0, 0).unwrap();
        m.mkdir("/a/b", 0o755, 0, 0).unwrap();
        m.mkdir("/ab", 0o755, 0, 0).unwrap();
        for i in 0..5 {
            m.create(&format!("/a/f{i}"), 0o644, 0, 0, 4096, true, false).unwrap();
        }
        m.create("/a/b/deep", 0o644, 0, 0, 4096, true, false).unwrap();
        let (p1, more) = m.readdir("/a", None, 4).unwrap();
        assert!(more);
        let (p2, more) = m.readdir("/a", Some(&p1[3].0), 4).unwrap();
        assert!(!more);
        let names: Vec<_> = p1.iter().chain(&p2).map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "f0", "f1", "f2", "f3", "f4"]);
        assert_eq!(m.descendants("/a"), ["/a/b", "/a/f0", "/a/f1", "/a/f2", "/a/f3", "/a/f4", "/a/b/deep"]);
        assert_eq!(m.descendants("/a/b"), ["/a/b/deep"]);
        let (root, _) = m.readdir("/", None, 100).unwrap();
        assert_eq!(root.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["a", "ab"]);
    }

    #[test]
    fn synced_changes_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.redb");
        {
            let m = MetaStore::open(MetaBackend::File(path.clone())).unwrap();
            m.mkdir("/d", 0o700, 1, 1).unwrap();
            m.create("/d/f", 0o644, 0, 0, 4096, true, false).unwrap();
            m.create("/gone", 0o644, 0, 0, 4096, true, false).unwrap();
            m.remove("/gone", false).unwrap();
            assert!(m.is_dirty());
            m.sync().unwrap();
            assert!(!m.is_dirty());
        }
        let m = MetaStore::open(MetaBackend::File(path.clone())).unwrap();
        assert_eq!(m.get("/d").unwrap().mode, 0o700);
        assert!(m.get("/d/f").is_ok());
        assert!(matches!(m.get("/gone"), Err(StoreError::NotFound(_))));
        assert_eq!(m.count().unwrap(), 2);
    }

    #[test]
    fn inode_records_count_names_and_stay_out_of_listings() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.redb");
        let m = MetaStore::open(MetaBackend::File(path.clone())).unwrap();
        let (f, _) = m.create("/f", 0o644, 0, 0, 4096, true, false).unwrap();
        assert_eq!(m.inode_link(&f).unwrap().nlink, 2);
        let third = m.inode_link(&Attr { mode: 0, ..f.clone() }).unwrap();
        assert_eq!((third.nlink, third.mode, third.linked), (3, 0o644, true), "an existing record is kept");
        let set = SetAttr { grow_to: Some(10), wrote: Some(10), ..Default::default() };
        assert_eq!(m.inode_set(f.fid, &set).unwrap().size, 10);
        assert_eq!(m.readdir("/", None, 10).unwrap().0.len(), 1, "the inode record is listed");
        assert_eq!(m.descendants("/"), ["/f"]);
        m.sync().unwrap();
        drop(m);
        let m = MetaStore::open(MetaBackend::File(path.clone())).unwrap();
        assert_eq!(m.inode(f.fid).unwrap().size, 10);
        assert_eq!(m.inode_unlink(f.fid).unwrap().nlink, 2);
        assert_eq!(m.inode_unlink(f.fid).unwrap().nlink, 1);
        assert_eq!(m.inode_unlink(f.fid).unwrap().nlink, 0);
        assert!(matches!(m.inode(f.fid), Err(StoreError::NotFound(_))));
        assert!(matches!(m.inode_unlink(f.fid), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn a_late_touch_does_not_undo_a_later_change() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaStore::open(MetaBackend::File(dir.path().join("m.redb"))).unwrap();
        m.mkdir("/d", 0o755, 0, 0).unwrap();
        let entry_changed = now();
        let set = SetAttr { mtime: Some((1_000, 0)), ..Default::default() };
        m.set_attr("/d", &set).unwrap();
        assert!(!m.touch_dir("/d", entry_changed).unwrap());
        assert_eq!(m.get("/d").unwrap().mtime, (1_000, 0));
        let later = (i64::MAX / 2, 0);
        assert!(m.touch_dir("/d", later).unwrap());
        assert_eq!((m.get("/d").unwrap().mtime, m.get("/d").unwrap().ctime), (later, later));
    }

    #[test]
    fn create_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaStore::open(MetaBackend::File(dir.path().join("m.redb"))).unwrap();
        let (a, previous) = m.create("/f", 0o644, 1, 2, 4096, true, false).unwrap();
        assert_eq!(previous, None);
        assert!(matches!(m.create("/f", 0o644, 1, 2, 4096, true, false), Err(StoreError::Exists(_))));
        let (b, previous) = m.create("/f", 0o644, 1, 2, 4096, false, false).unwrap();
        assert_eq!(previous, Some(0));
        assert_eq!(a.fid, b.fid);
        m.set_attr("/f", &SetAttr { grow_to: Some(100), ..Default::default() }).unwrap();
        m.set_attr("/f", &SetAttr { grow_to: Some(50), ..Default::default() }).unwrap();
        assert_eq!(m.get("/f").unwrap().size, 100);
        let (t, previous) = m.create("/f", 0o644, 1, 2, 4096, false, true).unwrap();
        assert_eq!((t.size, previous), (0, Some(100)));
        m.mkdir("/d", 0o755, 0, 0).unwrap();
        assert!(matches!(m.create("/d", 0o644, 0, 0, 4096, false, false), Err(StoreError::IsDir(_))));
        assert!(matches!(m.remove("/d", false), Err(StoreError::IsDir(_))));
        assert!(matches!(m.remove("/f", true), Err(StoreError::NotDir(_))));
    }
}
