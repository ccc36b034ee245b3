//! Open file and directory handles: what the `fh` the kernel passes back stands for.
//!
//! A file handle holds the open [`benchfs::File`] (which tracks the size its writes reached
//! until they are published). A directory handle holds a snapshot of the listing taken at
//! opendir, so readdir offsets stay stable while the directory changes; readdirplus
//! refreshes the attributes of its entries once they are older than the attribute timeout.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use benchfs::{DirEntry, File};

use crate::error::{FsError, Result};

/// An open regular file.
pub struct OpenFile {
    pub ino: u64,
    pub file: File,
    /// The file's permission bits as last known here: at open, then from each chmod
    /// through this mount (what a direct write checks for setuid/setgid to clear).
    pub mode: AtomicU32,
    /// Opened with O_APPEND: each write lands at the end of the file wherever the kernel
    /// placed it (see [`crate::fs::BenchFs::write`]). Set at open only: a handle that
    /// gets O_APPEND later (fcntl) may go through the page cache, which must agree with
    /// where its writes land, so the kernel places those.
    pub append: bool,
}

/// A directory listing as it was at opendir.
pub struct DirSnapshot {
    pub ino: u64,
    /// Inode number reported for "..".
    pub parent_ino: u64,
    /// The directory's path at opendir (entries' paths are `path/name`).
    pub path: String,
    /// Sorted by name, without "." and "..". Lock order: after nothing, before the inode
    /// table's lock (readdirplus remembers entries while it holds it); a std mutex, never
    /// held across an `.await`.
    pub entries: Mutex<Vec<Listed>>,
}

/// An entry of a directory snapshot.
pub struct Listed {
    pub entry: DirEntry,
    /// When the servers gave its attributes.
    pub seen: Instant,
    /// Found gone when its attributes were asked again: no longer listed.
    pub gone: bool,
}

impl DirSnapshot {
    pub fn entries(&self) -> std::sync::MutexGuard<'_, Vec<Listed>> {
        lock(&self.entries)
    }
}

#[derive(Default)]
pub struct Handles {
    next_fh: AtomicU64,
    /// Lock order: `files` before `dirs` (no path takes both today). Std mutexes: never
    /// held across an `.await`; callers clone the `Arc` out.
    files: Mutex<FileTable>,
    dirs: Mutex<HashMap<u64, Arc<DirSnapshot>>>,
}

#[derive(Default)]
struct FileTable {
    by_fh: HashMap<u64, Arc<OpenFile>>,
    /// The open handles of each inode (truncate and getattr need them).
    by_ino: HashMap<u64, HashSet<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Handles {
    fn next(&self) -> u64 {
        // Handle 0 is never issued: some kernels treat it as "no handle".
        self.next_fh.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A new handle of `ino` opened with open(2)'s `flags`.
    pub fn insert_file(&self, ino: u64, file: File, flags: i32) -> u64 {
        let fh = self.next();
        let mut t = lock(&self.files);
        let mode = AtomicU32::new(file.attr_at_open().mode);
        let append = flags & libc::O_APPEND != 0;
        t.by_fh.insert(fh, Arc::new(OpenFile { ino, file, mode, append }));
        t.by_ino.entry(ino).or_default().insert(fh);
        fh
    }

    pub fn file(&self, fh: u64) -> Result<Arc<OpenFile>> {
        lock(&self.files).by_fh.get(&fh).cloned().ok_or(FsError::BadHandle(fh))
    }

    pub fn remove_file(&self, fh: u64) -> Result<Arc<OpenFile>> {
        let mut t = lock(&self.files);
        let f = t.by_fh.remove(&fh).ok_or(FsError::BadHandle(fh))?;
        if let Some(set) = t.by_ino.get_mut(&f.ino) {
            set.remove(&fh);
            if set.is_empty() {
                t.by_ino.remove(&f.ino);
            }
        }
        Ok(f)
    }

    /// Every open handle of inode `ino`.
    pub fn files_of(&self, ino: u64) -> Vec<Arc<OpenFile>> {
        let t = lock(&self.files);
        t.by_ino.get(&ino).map(|s| s.iter().filter_map(|fh| t.by_fh.get(fh).cloned()).collect()).unwrap_or_default()
    }

    pub fn insert_dir(&self, dir: DirSnapshot) -> u64 {
        let fh = self.next();
        lock(&self.dirs).insert(fh, Arc::new(dir));
        fh
    }

    pub fn dir(&self, fh: u64) -> Result<Arc<DirSnapshot>> {
        lock(&self.dirs).get(&fh).cloned().ok_or(FsError::BadHandle(fh))
    }

    pub fn remove_dir(&self, fh: u64) -> Result<()> {
        lock(&self.dirs).remove(&fh).map(|_| ()).ok_or(FsError::BadHandle(fh))
    }

    /// Number of open file handles and directory handles.
    pub fn counts(&self) -> (usize, usize) {
        (lock(&self.files).by_fh.len(), lock(&self.dirs).len())
    }
}
