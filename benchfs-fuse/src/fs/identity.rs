//! Requests made for an inode carry the id of the record it stands for (the inode table's
//! invariant 6): the servers check it at the path the request is sent to, so the mount
//! never acts on another file or directory that took the name.
//!
//! A failed check is settled here: `Moved` (the record's old owner knows where it went)
//! moves the inode, and everything below it, to the new path and tries again; `Stale`
//! drops the name and tries the inode's other names (a hard-linked file's), and is ESTALE
//! when none is left (the kernel then looks the path up again once).

use std::collections::HashMap;
use std::future::Future;

use benchfs::meta::FileId;
use benchfs::path::{join, split};
use benchfs::Client;

use super::{name_str, BenchFs};
use crate::error::{FsError, Result};
use crate::inode::ROOT_INO;

/// Renames followed at most for one request.
const MAX_HOPS: usize = 16;

/// What a request for an inode does when its record moved (`Moved`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Moves {
    /// Follows it and goes on: the inode is what the caller holds (an open file, a cwd).
    Follow,
    /// Follows it and answers ESTALE: the caller named a path below it, maybe through
    /// the old name.
    Restart,
}

impl BenchFs {
    /// Runs `op` for inode `ino` with a client whose requests expect its record at the path
    /// `op` is given.
    pub(super) async fn on_inode<T, Fut>(&self, ino: u64, op: impl Fn(Client, String) -> Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        self.on_inode_moving(ino, Moves::Follow, op).await
    }

    async fn on_inode_moving<T, Fut>(&self, ino: u64, moves: Moves, op: impl Fn(Client, String) -> Fut) -> Result<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        if ino == ROOT_INO {
            return op(self.client.clone(), "/".to_string()).await;
        }
        for _ in 0..MAX_HOPS {
            if moves == Moves::Restart && self.lock_moved_away().restart(ino) {
                return Err(benchfs::Error::Stale(format!("inode {ino}: moved by another client")).into());
            }
            let (path, fid) = self.inodes.named(ino)?;
            match op(self.client.expecting(vec![(path.clone(), fid)]), path.clone()).await {
                Err(FsError::Core(benchfs::Error::Moved(to))) => self.moved_by_another(&path, &to),
                Err(FsError::Core(benchfs::Error::Stale(why))) => {
                    self.inodes.stale(ino, &path);
                    if self.inodes.named(ino).is_err() {
                        return Err(benchfs::Error::Stale(why).into());
                    }
                }
                r => return r,
            }
        }
        Err(benchfs::Error::Stale(format!("inode {ino}: renamed more than {MAX_HOPS} times meanwhile")).into())
    }

    /// Runs `op` on entry `name` of directory `parent`, with a client whose requests expect
    /// the directory at the path the entry's is below. The first such request after another
    /// client moved the directory (or one above it) answers ESTALE: the kernel may have
    /// reached it through its old name, even when a request of the same walk (the GETATTR
    /// of its permission check) already followed the move, and on ESTALE it walks the
    /// path again revalidating each name (LOOKUP_REVAL). So `/old/f` after `mv /old /new`
    /// elsewhere is the entry of whatever `/old` is now (or ENOENT), as on a local file
    /// system, never a file in `/new`; a walk that starts at the moved directory itself (a
    /// cwd, a dirfd) reaches it again, at its new path, on the kernel's second try.
    pub(super) async fn in_dir<T, Fut>(
        &self,
        parent: u64,
        name: &std::ffi::OsStr,
        op: impl Fn(Client, String) -> Fut,
    ) -> Result<T>
    where
        Fut: Future<Output = Result<T>>,
    {
        let name = name_str(name)?;
        self.inodes.child_path(parent, name)?; // refuses what is not a plain name
        self.on_inode_moving(parent, Moves::Restart, |c, dir| op(c, join(&dir, name))).await
    }

    /// Another client moved `from` to `to`: the inodes at and below it follow (an open
    /// file, a cwd, a dirfd keep meaning their record), and the kernel is told to forget
    /// both names, so that the next walk through either asks the servers (LOOKUP) instead
    /// of reaching the moved record by its old name. Whatever was learned first, one
    /// request's ESTALE (`in_dir`) or a silent follow (`on_inode`), no later walk of a
    /// new path sees the old name.
    fn moved_by_another(&self, from: &str, to: &str) {
        let names: Vec<(u64, String)> = [from, to]
            .into_iter()
            .filter_map(|p| {
                let (dir, name) = split(p)?;
                let parent = if dir == "/" { Some(ROOT_INO) } else { self.inodes.peek(dir) };
                Some((parent?, name.to_string()))
            })
            .collect();
        let moved = self.follow_rename(from, to);
        self.lock_moved_away().add(moved);
        if let Some(kernel) = self.kernel_names.get() {
            names.iter().for_each(|(parent, name)| kernel.forget(*parent, name));
        }
    }

    fn lock_moved_away(&self) -> std::sync::MutexGuard<'_, MovedAway> {
        self.moved_away.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A client whose requests expect each of `inos` (other than the root) at its path, for
    /// a request that names several (rename, link). A failed check is ESTALE here (which
    /// of the records moved is not said): the kernel looks the paths up again.
    pub(super) fn expecting_all(&self, inos: &[u64]) -> Result<Client> {
        let mut expect: Vec<(String, FileId)> = Vec::with_capacity(inos.len());
        for &ino in inos.iter().filter(|&&i| i != ROOT_INO) {
            expect.push(self.inodes.named(ino)?);
        }
        if expect.is_empty() {
            return Ok(self.client.clone());
        }
        Ok(self.client.expecting(expect))
    }
}

/// Inodes another client moved, by the move they were learned with: the moved directory
/// and everything below it that the kernel holds.
#[derive(Default)]
pub(super) struct MovedAway {
    /// inode → move.
    inodes: HashMap<u64, u64>,
    moves: u64,
}

impl MovedAway {
    fn add(&mut self, inodes: Vec<u64>) {
        self.moves += 1;
        let id = self.moves;
        self.inodes.extend(inodes.into_iter().map(|ino| (ino, id)));
    }

    /// Whether a request naming an entry of `ino` answers ESTALE. One does per move: the
    /// kernel's second walk revalidates every name on its way (LOOKUP_REVAL), so the
    /// other inodes of that move must not fail it again (each ESTALE on the way of one
    /// walk is a retry, and the kernel retries once: `a/b/f` through a moved `a` was
    /// ESTALE to the program when `a` and `b` were both marked).
    fn restart(&mut self, ino: u64) -> bool {
        let Some(id) = self.inodes.remove(&ino) else { return false };
        self.inodes.retain(|_, m| *m != id);
        true
    }
}

/// `Moved` from a request that named several records is, for the caller, a stale handle.
pub(super) fn moved_is_stale<T>(r: benchfs::Result<T>) -> benchfs::Result<T> {
    match r {
        Err(benchfs::Error::Moved(to)) => Err(benchfs::Error::Stale(format!("a directory moved to {to}"))),
        r => r,
    }
}
