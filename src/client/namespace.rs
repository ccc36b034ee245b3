//! Namespace operations: open/create, stat, mkdir/rmdir, unlink, rename, readdir,
//! truncate and attribute changes.

use super::{Client, DirEntry, File};
use crate::error::{Error, Result};
use crate::meta::{Attr, FileId, FileKind, SetAttr};
use crate::path::{is_within, normalize, split};
use crate::proto::{
    AttrReply, Changed, Create, Created, Link, Mkdir, Mknod, Readdir, Rename, Rmdir, Stat, Symlink, Unlink, Update,
};

/// Renames followed at most while publishing an open file's size.
pub(super) const MAX_MOVE_HOPS: usize = 16;

/// How to open a file; [`OpenOptions::from_flags`] maps open(2) flags.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub read: bool,
    pub write: bool,
    pub create: bool,
    pub exclusive: bool,
    pub truncate: bool,
    /// Permission bits for a file this call creates.
    pub mode: u32,
    /// Owner for a file this call creates (default: the calling process's ids).
    pub owner: Option<(u32, u32)>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            read: true,
            write: false,
            create: false,
            exclusive: false,
            truncate: false,
            mode: 0o644,
            owner: None,
        }
    }
}

impl OpenOptions {
    pub fn from_flags(flags: i32, mode: u32) -> OpenOptions {
        let acc = flags & libc::O_ACCMODE;
        OpenOptions {
            read: acc == libc::O_RDONLY || acc == libc::O_RDWR,
            write: acc == libc::O_WRONLY || acc == libc::O_RDWR,
            create: flags & libc::O_CREAT != 0,
            exclusive: flags & libc::O_EXCL != 0,
            truncate: flags & libc::O_TRUNC != 0,
            mode,
            owner: None,
        }
    }

    /// Read-write, created exclusively: what `Client::create` uses.
    pub fn create_new(mode: u32) -> OpenOptions {
        OpenOptions { read: true, write: true, create: true, exclusive: true, truncate: false, mode, owner: None }
    }
}

fn process_owner() -> (u32, u32) {
    // SAFETY: getuid/getgid cannot fail and touch no memory.
    unsafe { (libc::getuid(), libc::getgid()) }
}

/// Attributes reported for "/", which has no record (it always exists).
pub fn root_attr() -> Attr {
    Attr::root()
}

/// Why `open` refuses a record that is not a regular file or directory: BenchFS never
/// follows a symbolic link (ELOOP, as open(2) with O_NOFOLLOW), and it carries no data
/// for FIFOs, sockets or devices (ENOTSUP; on the mount the kernel opens those itself).
fn not_openable(p: &str, a: &Attr) -> Option<Error> {
    match a.kind {
        FileKind::File | FileKind::Dir => None,
        FileKind::Symlink => Some(Error::Loop(p.to_string())),
        k => Some(Error::Unsupported(format!("{p}: opening a {k:?} through the BenchFS client"))),
    }
}

impl Client {
    /// The record at `path` itself: a symbolic link's own record (lstat). BenchFS never
    /// follows links, in the last component or any other (on the mount, the kernel does).
    pub async fn stat(&self, path: &str) -> Result<Attr> {
        let p = normalize(path)?;
        self.stat_norm(&p).await
    }

    async fn stat_norm(&self, p: &str) -> Result<Attr> {
        if p == "/" {
            return Ok(root_attr());
        }
        Ok(self.meta_op(p, Stat { path: p.to_string() }).await?.0)
    }

    /// ENOENT/ENOTDIR unless the parent of `p` is an existing directory.
    async fn check_parent(&self, p: &str) -> Result<()> {
        let Some((parent, _)) = split(p) else { return Ok(()) };
        if !self.config().check_parent || parent == "/" || self.inner.dirs.is_dir(parent) {
            return Ok(());
        }
        if self.stat_norm(parent).await?.is_dir() {
            self.inner.dirs.insert(parent);
            Ok(())
        } else {
            Err(Error::NotDir(parent.to_string()))
        }
    }

    /// Creates a new file (fails with EEXIST if it exists) open for reading and writing.
    pub async fn create(&self, path: &str, mode: u32) -> Result<File> {
        self.open(path, &OpenOptions::create_new(mode)).await
    }

    pub async fn open(&self, path: &str, o: &OpenOptions) -> Result<File> {
        let p = normalize(path)?;
        if p == "/" {
            return Err(Error::IsDir(p));
        }
        let attr = if o.create {
            self.check_parent(&p).await?;
            let (uid, gid) = o.owner.unwrap_or_else(process_owner);
            let req = Create {
                path: p.clone(),
                mode: o.mode,
                uid,
                gid,
                chunk_size: self.config().chunk_size,
                exclusive: o.exclusive,
                truncate: o.truncate && o.write,
            };
            let Created { attr, previous_size } = self.meta_op(&p, req).await?;
            if o.truncate && o.write && previous_size.is_some() {
                self.truncate_chunks(attr.fid, attr.chunk_size, 0, None).await?;
            }
            attr
        } else {
            let attr = self.stat_norm(&p).await?;
            if let Some(e) = not_openable(&p, &attr) {
                return Err(e);
            }
            if attr.is_dir() {
                return Err(Error::IsDir(p));
            }
            if o.truncate && o.write {
                self.set_attr_norm(&p, SetAttr { size: Some(0), ..Default::default() }).await?
            } else {
                attr
            }
        };
        Ok(File::new(self.clone(), p, attr, o.read, o.write))
    }

    /// Makes a symbolic link at `path` pointing to `target`, stored as given (relative or
    /// absolute, dangling or not: BenchFS never resolves it).
    pub async fn symlink(&self, target: &str, path: &str) -> Result<Attr> {
        let (uid, gid) = process_owner();
        self.symlink_as(target, path, uid, gid).await
    }

    pub async fn symlink_as(&self, target: &str, path: &str, uid: u32, gid: u32) -> Result<Attr> {
        let p = normalize(path)?;
        if p == "/" {
            return Err(Error::Exists(p));
        }
        crate::proto::validate::target(target).map_err(|(s, m)| Error::from_status(s, m))?;
        self.check_parent(&p).await?;
        Ok(self.meta_op(&p, Symlink { path: p.clone(), target: target.to_string(), uid, gid }).await?.0)
    }

    /// link(2): makes `path` a further name of the file at `existing` (not a directory:
    /// EPERM). Both names then share data and attributes; the file's data is freed when
    /// its last name is removed. Returns the file's attributes with the new count.
    pub async fn link(&self, existing: &str, path: &str) -> Result<Attr> {
        let (from, to) = (normalize(existing)?, normalize(path)?);
        if to == "/" {
            return Err(Error::Exists(to));
        }
        if from == "/" {
            return Err(Error::Perm(from));
        }
        self.check_parent(&to).await?;
        Ok(self.meta_op(&from, Link { from: from.clone(), to }).await?.0)
    }

    /// The target of the symbolic link at `path` (EINVAL if it is not one).
    pub async fn readlink(&self, path: &str) -> Result<String> {
        let p = normalize(path)?;
        let a = self.stat_norm(&p).await?;
        a.target.ok_or_else(|| Error::Invalid(format!("{p} is not a symbolic link")))
    }

    /// Makes a FIFO, socket, or character or block device record (`kind`); `mode` is
    /// its permission bits, `rdev` its device number (devices only).
    pub async fn mknod(&self, path: &str, kind: FileKind, mode: u32, rdev: u64) -> Result<Attr> {
        let (uid, gid) = process_owner();
        self.mknod_as(path, kind, mode, rdev, uid, gid).await
    }

    pub async fn mknod_as(&self, path: &str, kind: FileKind, mode: u32, rdev: u64, uid: u32, gid: u32) -> Result<Attr> {
        let p = normalize(path)?;
        if p == "/" {
            return Err(Error::Exists(p));
        }
        if !kind.is_special() {
            return Err(Error::Invalid(format!("mknod makes FIFOs, sockets and devices, not {kind:?}")));
        }
        self.check_parent(&p).await?;
        Ok(self.meta_op(&p, Mknod { path: p.clone(), kind, mode: mode & 0o7777, rdev, uid, gid }).await?.0)
    }

    pub async fn mkdir(&self, path: &str, mode: u32) -> Result<Attr> {
        let (uid, gid) = process_owner();
        self.mkdir_as(path, mode, uid, gid).await
    }

    pub async fn mkdir_as(&self, path: &str, mode: u32, uid: u32, gid: u32) -> Result<Attr> {
        let p = normalize(path)?;
        if p == "/" {
            return Err(Error::Exists(p));
        }
        self.check_parent(&p).await?;
        Ok(self.meta_op(&p, Mkdir { path: p.clone(), mode, uid, gid }).await?.0)
    }

    /// Removes an empty directory. Its owner fences it on every server while it checks
    /// emptiness, so a create racing the rmdir either fails or keeps the directory.
    pub async fn rmdir(&self, path: &str) -> Result<()> {
        self.rmdir_stamped(path).await.map(drop)
    }

    /// [`Client::rmdir`], returning when the server removed the directory: the mtime and
    /// ctime its parent's owner gets (within ~5 ms, see `Node::touch_parent`), which a
    /// mount's cached copy of the parent can take at once.
    pub async fn rmdir_stamped(&self, path: &str) -> Result<Option<(i64, u32)>> {
        let p = normalize(path)?;
        if p == "/" {
            return Err(Error::Invalid("cannot remove the root".into()));
        }
        self.inner.dirs.remove_tree(&p);
        Ok(self.meta_op(&p, Rmdir { path: p.clone() }).await?.at)
    }

    /// Removes a file's name. Its owner then has every server drop the file's chunks
    /// (batched, off this call's path), including chunks of writers that never published.
    pub async fn unlink(&self, path: &str) -> Result<()> {
        self.unlink_stamped(path).await.map(drop)
    }

    /// [`Client::unlink`], returning when the server removed the name (as
    /// [`Client::rmdir_stamped`]; None for a mount's hidden name, whose removal changes
    /// no time).
    pub async fn unlink_stamped(&self, path: &str) -> Result<Option<(i64, u32)>> {
        let p = normalize(path)?;
        Ok(self.meta_op(&p, Unlink { path: p.clone() }).await?.at)
    }

    /// All entries directly under `path`, sorted by name (without "." and "..").
    pub async fn readdir(&self, path: &str) -> Result<Vec<DirEntry>> {
        match self.readdir_partial(path).await? {
            (all, None) => Ok(all),
            (_, Some(e)) => Err(e),
        }
    }

    /// The entries of `path` that the reachable servers hold, sorted by name, and the
    /// first error of a server that did not answer: a copy tool copies what it can see
    /// and names what it could not list.
    pub async fn readdir_partial(&self, path: &str) -> Result<(Vec<DirEntry>, Option<Error>)> {
        let p = normalize(path)?;
        let attr = self.stat_norm(&p).await?;
        if !attr.is_dir() {
            return Err(Error::NotDir(p));
        }
        // Asked in parallel, at most `fan_out::MAX_IN_FLIGHT` servers at a time, each
        // page by page.
        let lists = crate::fan_out::each(self.server_count(), |i| self.list_server(i, &p)).await;
        let (mut all, mut first_err) = (Vec::new(), None);
        for l in lists {
            match l {
                Ok(l) => all.extend(l),
                Err(e) if first_err.is_none() => first_err = Some(e),
                Err(_) => {}
            }
        }
        all.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok((all, first_err))
    }

    /// Every page of one server's entries under `dir`.
    async fn list_server(&self, i: usize, dir: &str) -> Result<Vec<DirEntry>> {
        let mut out: Vec<DirEntry> = Vec::new();
        loop {
            let after = out.last().map(|e| e.name.clone());
            let req = Readdir { dir: dir.to_string(), after, limit: 1024 };
            let crate::proto::Entries { entries, more } = self.named_op(i, req).await?;
            out.extend(entries.into_iter().map(|e| DirEntry { name: e.name, attr: e.attr }));
            if !more {
                return Ok(out);
            }
        }
    }

    pub async fn truncate(&self, path: &str, size: u64) -> Result<()> {
        self.set_attr(path, SetAttr { size: Some(size), ..Default::default() }).await.map(|_| ())
    }

    /// Changes attributes; a size change also drops the chunk data beyond the new size.
    pub async fn set_attr(&self, path: &str, set: SetAttr) -> Result<Attr> {
        let p = normalize(path)?;
        if p == "/" {
            return Ok(root_attr());
        }
        self.set_attr_norm(&p, set).await
    }

    async fn set_attr_norm(&self, p: &str, set: SetAttr) -> Result<Attr> {
        if set.size.is_some() {
            let old = self.stat_norm(p).await?;
            if old.is_dir() {
                return Err(Error::IsDir(p.to_string()));
            }
            if !old.is_file() {
                return Err(Error::Invalid(format!("{p}: only a regular file has a size to change")));
            }
            // The size's owner drops the chunks past it, after setting it (see the
            // server's `drop_truncated`): a concurrent reader never reads them as zeros.
        }
        let AttrReply(a) = self.meta_op(p, Update { path: p.to_string(), fid: None, set }).await?;
        Ok(a)
    }

    /// Publishes an open file's attributes (its size after writes) to wherever the file
    /// is now: if another client renamed it (or a directory above it) since it was
    /// opened, its old owner answers `Moved` and this follows. Returns the path it found
    /// the file at and the new attributes.
    pub(crate) async fn update_file(&self, path: &str, fid: FileId, set: SetAttr) -> Result<(String, Attr)> {
        let mut p = path.to_string();
        for _ in 0..MAX_MOVE_HOPS {
            match self.meta_op(&p, Update { path: p.clone(), fid: Some(fid), set: set.clone() }).await {
                Err(Error::Moved(to)) => p = to,
                r => return r.map(|AttrReply(a)| (p, a)),
            }
        }
        Err(Error::Io(format!("{path}: renamed more than {MAX_MOVE_HOPS} times while its size was published")))
    }

    pub async fn chmod(&self, path: &str, mode: u32) -> Result<()> {
        self.set_attr(path, SetAttr { mode: Some(mode), ..Default::default() }).await.map(|_| ())
    }

    pub async fn utimens(&self, path: &str, atime: Option<(i64, u32)>, mtime: Option<(i64, u32)>) -> Result<()> {
        self.set_attr(path, SetAttr { atime, mtime, ..Default::default() }).await.map(|_| ())
    }

    /// access(2) for the calling process: F_OK, or R_OK/W_OK/X_OK against the mode bits.
    pub async fn access(&self, path: &str, mode: i32) -> Result<()> {
        let a = self.stat(path).await?;
        let (uid, gid) = process_owner();
        if a.allows(uid, gid, mode) {
            Ok(())
        } else {
            Err(Error::Access(path.to_string()))
        }
    }

    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.rename_with(from, to, false).await
    }

    /// rename(2); with `noreplace` (RENAME_NOREPLACE) an existing target is EEXIST.
    /// The source's owner carries it out (see `server::namespace`): racing renames of one
    /// source are serialised there, and a directory moves under a fence.
    pub async fn rename_with(&self, from: &str, to: &str, noreplace: bool) -> Result<()> {
        self.rename_stamped(from, to, noreplace).await.map(drop)
    }

    /// [`Client::rename_with`], returning what the server did: when (the mtime and ctime
    /// both parents' owners get, as [`Client::rmdir_stamped`]; None when nothing changed,
    /// a rename onto itself) and the record the target replaced.
    pub async fn rename_stamped(&self, from: &str, to: &str, noreplace: bool) -> Result<Changed> {
        let (from, to) = (normalize(from)?, normalize(to)?);
        if from == "/" || to == "/" {
            return Err(Error::Invalid("cannot rename the root".into()));
        }
        if from != to && is_within(&to, &from) && self.stat_norm(&from).await?.is_dir() {
            return Err(Error::Invalid(format!("cannot move {from} into itself")));
        }
        if let Err(e) = self.check_parent(&to).await {
            // A missing source is the first thing rename(2) reports.
            self.stat_norm(&from).await?;
            return Err(e);
        }
        self.inner.dirs.remove_tree(&from);
        self.meta_op(&from, Rename { from: from.clone(), to, noreplace }).await
    }
}
