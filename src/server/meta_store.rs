//! The metadata store: one redb table mapping a path to its record.
//!
//! Key: `parent '\0' name` (the root itself has no record). Children of a directory
//! are therefore one contiguous key range, `dir '\0' ..`, which makes a readdir page
//! a range scan. Value: the postcard-encoded [`Attr`].
//!
//! Commits are non-durable (`Durability::None`): a create costs no disk flush.
//! `sync` (fsync from a client, periodic flush, clean shutdown) commits durably,
//! which also persists every earlier non-durable commit. After `kill -9`, redb
//! recovers to the last durable commit.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::StoreError;
use crate::proto::{Attr, FileKind, SetAttr, Status};

const META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("meta");

pub struct MetaStore {
    db: Database,
    /// Set by every non-durable commit, cleared by `sync`.
    dirty: AtomicBool,
}

fn key(path: &str) -> Result<Vec<u8>, StoreError> {
    let (parent, name) =
        crate::path::split(path).ok_or_else(|| StoreError::Status(Status::Invalid, "the root has no record".into()))?;
    Ok(dir_prefix(parent).into_iter().chain(name.bytes()).collect())
}

fn dir_prefix(dir: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(dir.len() + 1);
    k.extend_from_slice(dir.as_bytes());
    k.push(0);
    k
}

fn not_found(path: &str) -> StoreError {
    StoreError::Status(Status::NotFound, path.to_string())
}

pub fn now() -> (i64, u32) {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos())
}

impl MetaStore {
    pub fn open(path: &Path) -> Result<MetaStore, StoreError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(META)?;
        tx.commit()?;
        Ok(MetaStore { db, dirty: AtomicBool::new(false) })
    }

    pub fn get(&self, path: &str) -> Result<Attr, StoreError> {
        let k = key(path)?;
        let tx = self.db.begin_read()?;
        let t = tx.open_table(META)?;
        let v = t.get(k.as_slice())?.ok_or_else(|| not_found(path))?;
        Ok(postcard::from_bytes(v.value())?)
    }

    /// Runs `f` on the record at `path` (None if absent) in one write transaction;
    /// `f` returns what to store (None: delete) and the result.
    fn update<R>(
        &self,
        path: &str,
        f: impl FnOnce(Option<Attr>) -> Result<(Option<Attr>, R), StoreError>,
    ) -> Result<R, StoreError> {
        let k = key(path)?;
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::None)?;
        let r = {
            let mut t = tx.open_table(META)?;
            let old = match t.get(k.as_slice())? {
                Some(v) => Some(postcard::from_bytes::<Attr>(v.value())?),
                None => None,
            };
            let (new, r) = f(old)?;
            match new {
                Some(a) => {
                    t.insert(k.as_slice(), postcard::to_stdvec(&a)?.as_slice())?;
                }
                None => {
                    t.remove(k.as_slice())?;
                }
            }
            r
        };
        tx.commit()?;
        self.dirty.store(true, Ordering::Release);
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
            Some(_) if exclusive => Err(StoreError::Status(Status::Exists, path.to_string())),
            Some(a) if a.is_dir() => Err(StoreError::Status(Status::IsDir, path.to_string())),
            Some(mut a) => {
                let previous = a.size;
                if truncate && a.size != 0 {
                    a.size = 0;
                    a.mtime = now();
                    a.ctime = a.mtime;
                }
                Ok((Some(a.clone()), (a, Some(previous))))
            }
            None => {
                let t = now();
                let a = Attr {
                    kind: FileKind::File,
                    mode: mode & 0o7777,
                    uid,
                    gid,
                    size: 0,
                    atime: t,
                    mtime: t,
                    ctime: t,
                    fid: new_fid(),
                    chunk_size,
                };
                Ok((Some(a.clone()), (a, None)))
            }
        })
    }

    pub fn mkdir(&self, path: &str, mode: u32, uid: u32, gid: u32) -> Result<Attr, StoreError> {
        self.update(path, |old| match old {
            Some(_) => Err(StoreError::Status(Status::Exists, path.to_string())),
            None => {
                let t = now();
                let a = Attr {
                    kind: FileKind::Dir,
                    mode: mode & 0o7777,
                    uid,
                    gid,
                    size: 0,
                    atime: t,
                    mtime: t,
                    ctime: t,
                    fid: 0,
                    chunk_size: 0,
                };
                Ok((Some(a.clone()), a))
            }
        })
    }

    pub fn set_attr(&self, path: &str, set: &SetAttr) -> Result<Attr, StoreError> {
        self.update(path, |old| {
            let mut a = old.ok_or_else(|| not_found(path))?;
            if (set.size.is_some() || set.grow_to.is_some()) && a.is_dir() {
                return Err(StoreError::Status(Status::IsDir, path.to_string()));
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
            a.atime = set.atime.unwrap_or(a.atime);
            a.mtime = set.mtime.unwrap_or(a.mtime);
            a.ctime = t;
            Ok((Some(a.clone()), a))
        })
    }

    /// Deletes the record; `dir` is what the caller expects it to be (rmdir vs unlink).
    pub fn remove(&self, path: &str, dir: bool) -> Result<Attr, StoreError> {
        self.update(path, |old| match old {
            None => Err(not_found(path)),
            Some(a) if dir && !a.is_dir() => Err(StoreError::Status(Status::NotDir, path.to_string())),
            Some(a) if !dir && a.is_dir() => Err(StoreError::Status(Status::IsDir, path.to_string())),
            Some(a) => Ok((None, a)),
        })
    }

    /// Stores `attr` at `path`; returns the record it replaced.
    pub fn insert(&self, path: &str, attr: &Attr, replace: bool) -> Result<Option<Attr>, StoreError> {
        self.update(path, |old| match old {
            Some(_) if !replace => Err(StoreError::Status(Status::Exists, path.to_string())),
            Some(o) if o.is_dir() && !attr.is_dir() => Err(StoreError::Status(Status::IsDir, path.to_string())),
            Some(o) if !o.is_dir() && attr.is_dir() => Err(StoreError::Status(Status::NotDir, path.to_string())),
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
        let tx = self.db.begin_read()?;
        let t = tx.open_table(META)?;
        let mut out = Vec::new();
        for item in t.range(start.as_slice()..end.as_slice())? {
            let (k, v) = item?;
            if out.len() == limit {
                return Ok((out, true));
            }
            let name = String::from_utf8_lossy(&k.value()[prefix.len()..]).into_owned();
            out.push((name, postcard::from_bytes(v.value())?));
        }
        Ok((out, false))
    }

    pub fn count(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        Ok(tx.open_table(META)?.len()?)
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// A durable (fsynced) commit, which persists every earlier non-durable one.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.dirty.store(false, Ordering::Release);
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        tx.commit()?;
        Ok(())
    }
}

fn new_fid() -> u128 {
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
        let m = MetaStore::open(&dir.path().join("m.redb")).unwrap();
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
        let (root, _) = m.readdir("/", None, 100).unwrap();
        assert_eq!(root.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["a", "ab"]);
    }

    #[test]
    fn create_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaStore::open(&dir.path().join("m.redb")).unwrap();
        let (a, previous) = m.create("/f", 0o644, 1, 2, 4096, true, false).unwrap();
        assert_eq!(previous, None);
        assert!(matches!(m.create("/f", 0o644, 1, 2, 4096, true, false), Err(StoreError::Status(Status::Exists, _))));
        let (b, previous) = m.create("/f", 0o644, 1, 2, 4096, false, false).unwrap();
        assert_eq!(previous, Some(0));
        assert_eq!(a.fid, b.fid);
        m.set_attr("/f", &SetAttr { grow_to: Some(100), ..Default::default() }).unwrap();
        m.set_attr("/f", &SetAttr { grow_to: Some(50), ..Default::default() }).unwrap();
        assert_eq!(m.get("/f").unwrap().size, 100);
        let (t, previous) = m.create("/f", 0o644, 1, 2, 4096, false, true).unwrap();
        assert_eq!((t.size, previous), (0, Some(100)));
        m.mkdir("/d", 0o755, 0, 0).unwrap();
        assert!(matches!(m.create("/d", 0o644, 0, 0, 4096, false, false), Err(StoreError::Status(Status::IsDir, _))));
        assert!(matches!(m.remove("/d", false), Err(StoreError::Status(Status::IsDir, _))));
        assert!(matches!(m.remove("/f", true), Err(StoreError::Status(Status::NotDir, _))));
    }
}
