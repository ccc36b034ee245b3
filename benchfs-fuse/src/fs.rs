//! The mount's file system semantics, over the async client, by inode number and handle.
//!
//! Not tied to fuser: `fuse.rs` copies each kernel request into a call here and turns the
//! result into a reply. What lives here: resolving inode numbers to paths ([`InodeTable`]),
//! open handles ([`Handles`]), lookup counting, keeping open handles right across truncate
//! and rename, and the sizes reported while writes are not yet published.
//!
//! Permissions are not checked here: the mount uses `default_permissions`, so the kernel
//! checks mode bits before it sends a request.
//!
//! A file unlinked (or replaced by a rename) while open is moved aside to a hidden name in
//! its directory, as NFS clients do, so its open descriptors keep reading and writing it;
//! the end of its last open removes it (the inode table's invariants 4, 6 and 7 say how
//! that holds whatever order RELEASE, FORGET, UNLINK and OPEN arrive in). Readdir does not
//! list hidden names.
//!
//! Sizes handed to the kernel: the owner's, raised by what this mount's open handles
//! wrote and have not yet published ([`BenchFs::pending_end`]); never the size a handle
//! saw at open, which a truncate since may have made stale. The kernel keeps that size
//! as the file's end, so a stale one shows zeros past the data (a short read) or lets an
//! O_APPEND write leave a hole. O_APPEND writes land where the owner and this mount's
//! handles say the file ends now (see [`BenchFs::write`]).

use std::ffi::OsStr;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use benchfs::meta::SetAttr;
use benchfs::path::{join, split};
use benchfs::{Attr, Client, FileKind, OpenOptions, StatFs};

use crate::dir_attrs::DirAttrs;
use crate::error::{FsError, Result};
use crate::handles::{DirSnapshot, Handles, Listed, OpenFile};
use crate::inode::{InodeTable, Stamp, ROOT_INO};

mod identity;

pub use benchfs::path::HIDDEN_PREFIX;

/// How long rmdir waits for hidden files' releases (see [`BenchFs::rmdir`]).
const RELEASE_WAIT: Duration = Duration::from_secs(1);

/// Entries of a directory snapshot whose attributes one readdirplus refreshes at most: a
/// reply page (4 KiB) holds fewer.
const REFRESH_BATCH: usize = 32;

/// Inode number reported by plain readdir for entries the kernel holds no inode for
/// (FUSE_UNKNOWN_INO); readdirplus always reports real numbers.
pub const UNKNOWN_INO: u64 = 0xffff_ffff;

/// An entry handed to the kernel: its inode number (already counted) and attributes.
#[derive(Debug, Clone)]
pub struct Entry {
    pub ino: u64,
    pub attr: Attr,
}

/// Who made a request: owner of what it creates.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
}

/// One directory entry offered to the reply buffer by [`BenchFs::readdir`].
pub struct DirItem<'a> {
    pub ino: u64,
    /// The offset the kernel passes back to continue after this entry.
    pub next_offset: u64,
    pub name: &'a str,
    pub attr: &'a Attr,
}

/// The kernel's reply buffer for readdir/readdirplus.
pub trait DirReplier {
    /// Adds `item`; returns true when the buffer is full and `item` was *not* added.
    fn add(&mut self, item: DirItem<'_>) -> bool;
}

pub struct BenchFs {
    client: Client,
    inodes: InodeTable,
    handles: Handles,
    /// Attributes of the root. The cluster keeps no record of "/" (every client sees a
    /// synthetic one), so the mount owns them: the mounting user's, `--root-mode`, and
    /// whatever chmod/chown/utimens on the mountpoint set since. Not shared with other
    /// mounts; lost at unmount.
    root: Mutex<Attr>,
    /// Directories' attributes for the kernel's permission checks (see `dir_attrs.rs`).
    dirs: DirAttrs,
    /// How long the kernel caches attributes: a directory snapshot's attributes older than
    /// this are asked again before readdirplus hands them over.
    attr_ttl: Duration,
    /// The kernel's cache of names, told to drop those another client changed (see
    /// `fs/identity.rs`); unset until the mount is live, and in tests without a kernel.
    kernel_names: OnceLock<Box<dyn KernelNames>>,
    /// Inodes another client moved, which the kernel may still reach by an old name, each
    /// with the move it was learned by (see `fs/identity.rs`).
    moved_away: Mutex<identity::MovedAway>,
}

/// The kernel's cache of names (dentries), which the mount can only ask to forget one
/// (FUSE_NOTIFY_INVAL_ENTRY). Kept behind a trait so that `fs` stays free of fuser.
pub trait KernelNames: Send + Sync {
    /// Asks the kernel to drop entry `name` of directory `parent` (and what it cached
    /// below it). Must not wait for the kernel: it locks `parent` to do it, which a
    /// request being answered may hold.
    fn forget(&self, parent: u64, name: &str);

    /// As [`KernelNames::forget`] for each of `names`, and drops the kernel's attributes
    /// (and cached pages) of the inodes `inodes`; returns once the kernel has been told (or
    /// after `wait`): for a caller that goes through the kernel next.
    fn forget_now(&self, names: Vec<(u64, String)>, inodes: Vec<u64>, wait: Duration) {
        let _ = (wait, inodes);
        for (parent, name) in names {
            self.forget(parent, &name);
        }
    }
}

/// What a namespace change's reply says of when the server made it: the time the
/// directory's owner gets as its new mtime and ctime (a new entry's ctime).
trait ChangeTime {
    fn change_time(&self) -> Option<(i64, u32)>;
}

impl ChangeTime for Entry {
    fn change_time(&self) -> Option<(i64, u32)> {
        Some(self.attr.ctime)
    }
}

impl ChangeTime for (Entry, u64) {
    fn change_time(&self) -> Option<(i64, u32)> {
        self.0.change_time()
    }
}

/// unlink, rmdir, rename: the time the server's reply says it made the change, if any.
struct Stamped(Option<(i64, u32)>);

impl ChangeTime for Stamped {
    fn change_time(&self) -> Option<(i64, u32)> {
        self.0
    }
}

/// Mode of the mount's root unless `--root-mode` says otherwise.
pub const DEFAULT_ROOT_MODE: u32 = 0o755;

/// The current time as the wire carries it.
fn now() -> (i64, u32) {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos())
}

fn name_str(name: &OsStr) -> Result<&str> {
    name.to_str().ok_or_else(|| FsError::BadName(name.to_os_string()))
}

/// Attributes shown for "." and ".." in readdirplus (the kernel ignores them there).
fn dot_attr() -> Attr {
    Attr::root()
}

/// The bits a write by an unprivileged process clears (the kernel's `should_remove_suid`):
/// setuid, and setgid when group execution is allowed (without it setgid marks mandatory
/// locking, not a privilege).
fn privileges(mode: u32) -> u32 {
    let sgid = if mode & 0o010 != 0 { libc::S_ISGID } else { 0 };
    mode & (libc::S_ISUID | sgid)
}

/// `NotFound` from the servers while publishing a size: the name is gone, so is the need.
fn ignore_not_found(r: benchfs::Result<()>) -> Result<()> {
    match r {
        Err(benchfs::Error::NotFound(_)) => Ok(()),
        r => Ok(r?),
    }
}

impl BenchFs {
    pub fn new(client: Client) -> BenchFs {
        BenchFs::with_root_mode(client, DEFAULT_ROOT_MODE)
    }

    /// A mount whose root has permission bits `mode` and belongs to this process's user.
    pub fn with_root_mode(client: Client, mode: u32) -> BenchFs {
        // SAFETY: getuid/getgid cannot fail and touch no memory.
        let owner = unsafe { (libc::getuid(), libc::getgid()) };
        let mut root = Attr::new(FileKind::Dir, mode, owner, now(), 0, 0);
        // Its subdirectories are not counted (the root has no record): "unknown".
        root.nlink = 1;
        BenchFs {
            client,
            inodes: InodeTable::new(),
            handles: Handles::default(),
            root: Mutex::new(root),
            dirs: DirAttrs::new(Duration::ZERO),
            attr_ttl: Duration::ZERO,
            kernel_names: OnceLock::new(),
            moved_away: Mutex::default(),
        }
    }

    /// From now on names another client moved are dropped from `names` (the kernel's
    /// cache); a second call is ignored.
    pub fn set_kernel_names(&self, names: Box<dyn KernelNames>) {
        let _ = self.kernel_names.set(names);
    }

    /// The interposer changed `paths` (see `benchfs::mount_info::INVAL_IOCTL`): the kernel
    /// forgets each name it may have cached (under a directory it knows), and the mount its
    /// directories' attributes, before this returns (at most a second).
    pub fn forget_changed(&self, paths: &[&str]) {
        let mut names = Vec::new();
        let mut inodes = Vec::new();
        for p in paths {
            if let Some(ino) = self.inodes.peek(p) {
                inodes.push(ino);
            }
            let Some(i) = p.rfind('/') else { continue };
            let (parent, name) = (if i == 0 { "/" } else { &p[..i] }, &p[i + 1..]);
            if name.is_empty() {
                continue;
            }
            if let Some(pino) = self.inodes.peek(parent) {
                self.dirs.forget(pino);
                names.push((pino, name.to_string()));
            }
        }
        if let (Some(k), false) = (self.kernel_names.get(), names.is_empty() && inodes.is_empty()) {
            k.forget_now(names, inodes, Duration::from_secs(1));
        }
    }

    /// Answers the kernel's requests for directories' attributes from what the mount
    /// heard from their owners less than `ttl` ago (the attribute timeout), and lets
    /// readdirplus hand over a snapshot's attributes for as long.
    pub fn with_dir_ttl(mut self, ttl: Duration) -> BenchFs {
        self.dirs = DirAttrs::new(ttl);
        self.attr_ttl = ttl;
        self
    }

    /// Runs `change` of entries of the directories `parents`, then moves their cached
    /// times to the time the server stamped the change with, when its reply says
    /// ([`ChangeTime`]); otherwise, or after a failure, drops them (their owners know what
    /// happened). Never a time of this mount's own: the owner's would replace it later,
    /// and a directory's ctime would move when nothing changed it.
    async fn changing<T: ChangeTime>(
        &self,
        parents: &[u64],
        change: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let r = change.await;
        let t = r.as_ref().ok().and_then(ChangeTime::change_time);
        for &p in parents {
            match t {
                Some(t) => self.dirs.changed(p, t),
                None => self.dirs.forget(p),
            }
        }
        r
    }

    /// Owner of what `caller` creates in `parent`, and whether a new directory takes the
    /// setgid bit: the caller's ids, but the parent's group when the parent is setgid (as
    /// local file systems do; the kernel leaves this to FUSE file systems). The parent's
    /// attributes are mostly cached (the kernel just checked its permissions).
    async fn owner_in(&self, parent: u64, caller: Caller) -> Result<(Caller, u32)> {
        let p = self.getattr(parent).await?;
        if p.mode & libc::S_ISGID != 0 {
            return Ok((Caller { uid: caller.uid, gid: p.gid }, libc::S_ISGID));
        }
        Ok((caller, 0))
    }

    fn root(&self) -> std::sync::MutexGuard<'_, Attr> {
        self.root.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// chmod, chown and utimens of the root, kept in the mount (see [`BenchFs::root`]).
    fn set_root(&self, set: SetAttr) -> Result<Attr> {
        if set.size.is_some() || set.grow_to.is_some() {
            return Err(benchfs::Error::IsDir("/".into()).into());
        }
        let mut r = self.root();
        r.mode = set.mode.map_or(r.mode, |m| m & 0o7777);
        r.uid = set.uid.unwrap_or(r.uid);
        r.gid = set.gid.unwrap_or(r.gid);
        r.atime = set.atime.unwrap_or(r.atime);
        r.mtime = set.mtime.unwrap_or(r.mtime);
        r.ctime = now();
        Ok(r.clone())
    }

    pub fn inodes(&self) -> &InodeTable {
        &self.inodes
    }

    pub fn handles(&self) -> &Handles {
        &self.handles
    }

    /// Raises `attr.size` to what open handles of `ino` have written but not yet published,
    /// so `stat` during a write sees the data that `read` already returns; a file unlinked
    /// while open (kept under a hidden name) has no links.
    fn with_pending_size(&self, ino: u64, mut attr: Attr) -> Attr {
        if self.inodes.is_hidden(ino) {
            attr.nlink = 0;
            attr.linked = false;
        }
        if attr.kind == FileKind::File {
            attr.size = attr.size.max(self.pending_end(ino));
        }
        attr
    }

    /// The end of what open handles of `ino` wrote and the owner has not yet acknowledged
    /// (0: nothing). Only writes count: a handle's size as of its open may be stale.
    fn pending_end(&self, ino: u64) -> u64 {
        self.handles.files_of(ino).iter().map(|h| h.file.pending_end()).max().unwrap_or(0)
    }

    /// Counts one more kernel reference to `path` and builds its entry.
    fn entry(&self, path: &str, attr: Attr) -> Entry {
        let ino = self.inodes.remember(path, &attr);
        self.dirs.put(ino, &attr);
        Entry { ino, attr: self.with_pending_size(ino, attr) }
    }

    pub async fn lookup(&self, parent: u64, name: &OsStr) -> Result<Entry> {
        let (attr, path) = self.in_dir(parent, name, |c, p| async move { Ok((c.stat(&p).await?, p)) }).await?;
        Ok(self.entry(&path, attr))
    }

    /// [`BenchFs::lookup`], with a name the cluster does not have as `None`: the kernel
    /// caches that answer for the attribute timeout, as it caches the names that exist
    /// (and looks again before an exclusive create), so a program probing for missing
    /// files (an interpreter's import path, a shell's `PATH`) asks the cluster once.
    pub async fn lookup_or_absent(&self, parent: u64, name: &OsStr) -> Result<Option<Entry>> {
        match self.lookup(parent, name).await {
            Err(FsError::Core(benchfs::Error::NotFound(_))) => Ok(None),
            r => r.map(Some),
        }
    }

    pub fn forget(&self, ino: u64, n: u64) {
        self.inodes.forget(ino, n);
    }

    pub async fn getattr(&self, ino: u64) -> Result<Attr> {
        if ino == ROOT_INO {
            return Ok(self.root().clone());
        }
        if let Some(a) = self.dirs.get(ino) {
            return Ok(a);
        }
        let attr = self.on_inode(ino, |c, p| async move { Ok(c.stat(&p).await?) }).await?;
        self.dirs.put(ino, &attr);
        self.mode_is(ino, attr.mode);
        let a = self.with_pending_size(ino, attr);
        Ok(a)
    }

    /// The open handles of `ino` learn its permission bits (another client may have
    /// changed them): what their writes check for setuid/setgid to clear.
    fn mode_is(&self, ino: u64, mode: u32) {
        self.handles.files_of(ino).iter().for_each(|h| h.mode.store(mode, Ordering::Release));
    }

    /// chmod, chown, truncate and utimens in one. A size or mtime change first publishes
    /// what open handles of the file wrote: a truncate then cuts those writes too, and an
    /// explicit mtime (futimens before close: tar, `cp -p`) wins over the publication of
    /// writes made before it, which would otherwise set the close's time at close. A
    /// truncate then tells those handles the new size.
    pub async fn setattr(&self, ino: u64, set: SetAttr) -> Result<Attr> {
        if ino == ROOT_INO {
            return self.set_root(set);
        }
        let open = if set.size.is_some() || set.mtime.is_some() { self.handles.files_of(ino) } else { Vec::new() };
        for h in &open {
            ignore_not_found(h.file.flush().await)?;
        }
        // The handles learn the new size before the request too: the servers set it
        // before they drop the chunks past it, and a read of this process in flight (the
        // kernel's read-ahead, an mmap fault) that found a chunk gone would otherwise take
        // the new size for another client's truncate and fail ESTALE (fsx saw SIGBUS).
        let truncated = |size: Option<u64>| {
            if let Some(size) = size {
                open.iter().for_each(|h| h.file.truncated_to(size));
            }
        };
        truncated(set.size);
        let size = set.size;
        let attr = self
            .on_inode(ino, |c: Client, p: String| {
                let set = set.clone();
                async move { Ok(c.set_attr(&p, set).await?) }
            })
            .await?;
        truncated(size);
        self.dirs.put(ino, &attr);
        self.mode_is(ino, attr.mode);
        Ok(self.with_pending_size(ino, attr))
    }

    /// mknod(2): a regular file, or a FIFO, socket or device record (the kernel gives
    /// FIFOs and sockets their semantics locally and opens devices through their drivers;
    /// BenchFS keeps only the record). `rdev` is the kernel's encoding, which for majors
    /// below 4096 is glibc's `makedev`, what the C API stores.
    pub async fn mknod(&self, parent: u64, name: &OsStr, mode: u32, rdev: u32, caller: Caller) -> Result<Entry> {
        let kind = mode & libc::S_IFMT;
        let special = if kind != 0 && kind != libc::S_IFREG {
            let kind = FileKind::from_mode(mode)
                .filter(|k| k.is_special())
                .ok_or(FsError::Invalid("mknod of an unknown file type"))?;
            Some(kind)
        } else {
            None
        };
        self.changing(&[parent], async {
            let (caller, _) = self.owner_in(parent, caller).await?;
            let opts = OpenOptions {
                read: false,
                write: false,
                create: true,
                exclusive: true,
                truncate: false,
                mode: mode & 0o7777,
                owner: Some((caller.uid, caller.gid)),
            };
            let (attr, path) = self
                .in_dir(parent, name, |c, path| {
                    let opts = &opts;
                    async move {
                        let attr = match special {
                            Some(kind) => {
                                let (perm, rdev) = (mode & 0o7777, u64::from(rdev));
                                c.mknod_as(&path, kind, perm, rdev, caller.uid, caller.gid).await?
                            }
                            None => c.open(&path, opts).await?.attr_at_open().clone(),
                        };
                        Ok((attr, path))
                    }
                })
                .await?;
            Ok(self.entry(&path, attr))
        })
        .await
    }

    /// symlink(2): the target is stored as given; the kernel resolves it (relative to the
    /// link's directory, ELOOP, dangling links), asking only [`BenchFs::readlink`].
    pub async fn symlink(&self, parent: u64, name: &OsStr, target: &OsStr, caller: Caller) -> Result<Entry> {
        let target = name_str(target)?;
        self.changing(&[parent], async {
            let (caller, _) = self.owner_in(parent, caller).await?;
            let (attr, path) =
                self.in_dir(parent, name, |c, p| async move {
                    Ok((c.symlink_as(target, &p, caller.uid, caller.gid).await?, p))
                })
                .await?;
            Ok(self.entry(&path, attr))
        })
        .await
    }

    /// readlink(2) of inode `ino`.
    pub async fn readlink(&self, ino: u64) -> Result<String> {
        if ino == ROOT_INO {
            return Err(FsError::Invalid("the root is not a symbolic link"));
        }
        self.on_inode(ino, |c, p| async move { Ok(c.readlink(&p).await?) }).await
    }

    pub async fn mkdir(&self, parent: u64, name: &OsStr, mode: u32, caller: Caller) -> Result<Entry> {
        self.changing(&[parent], async {
            let (caller, setgid) = self.owner_in(parent, caller).await?;
            let (attr, path) = self
                .in_dir(parent, name, |c, p| async move {
                    Ok((c.mkdir_as(&p, (mode & 0o7777) | setgid, caller.uid, caller.gid).await?, p))
                })
                .await?;
            Ok(self.entry(&path, attr))
        })
        .await
        .inspect(|_| self.dirs.count_subdirs(parent, 1))
    }

    pub async fn unlink(&self, parent: u64, name: &OsStr) -> Result<()> {
        self.changing(&[parent], async {
            let (c, path) = self.in_dir(parent, name, |c, p| async move { Ok((c, p)) }).await?;
            let target = self.inodes.peek(&path);
            let last = match target {
                Some(ino) if self.inodes.has_other_names(ino, &path) => self.last_name(&c, ino, &path).await,
                t => t,
            };
            let _removing = self.removing(last).await;
            if let Some(ino) = last.filter(|&ino| self.inodes.hide_begin(ino)) {
                return self.hide(&c, ino, &path).await.map(Stamped);
            }
            let at = c.unlink_stamped(&path).await?;
            self.inodes.removed(&path);
            // An open file with another name publishes its size through that one.
            if let Some((ino, other)) = target.and_then(|ino| Some((ino, self.inodes.path(ino).ok()?))) {
                self.handles.files_of(ino).iter().for_each(|h| h.file.set_path(&other));
            }
            Ok(Stamped(at))
        })
        .await
        .map(drop)
    }

    /// link(2): `newname` in `new_parent` becomes a further name of `ino` (same inode
    /// number, data and attributes; see the inode table's invariant 5).
    pub async fn link(&self, ino: u64, new_parent: u64, new_name: &OsStr) -> Result<Entry> {
        self.changing(&[new_parent], async {
            let from = self.inodes.path(ino)?;
            let to = self.inodes.child_path(new_parent, name_str(new_name)?)?;
            // What the file's open handles wrote goes with it (the inode record is made from
            // the record as it is now).
            for h in self.handles.files_of(ino) {
                ignore_not_found(h.file.flush().await)?;
            }
            let c = self.expecting_all(&[ino, new_parent])?;
            let attr = identity::moved_is_stale(c.link(&from, &to).await)?;
            Ok(self.entry(&to, attr))
        })
        .await
    }

    /// `ino`, when `path` is the last name of its file although this mount knows others:
    /// another client removed them (seed 66 of the two-mount differential unlinked an open
    /// file as if a stale second name kept it, and its reads then failed). Asked only for
    /// files this mount knows by several names.
    async fn last_name(&self, c: &Client, ino: u64, path: &str) -> Option<u64> {
        let attr = c.stat(path).await.ok()?;
        (attr.nlink <= 1).then(|| {
            self.inodes.only_name(ino, path);
            ino
        })
    }

    /// Holds the gate of `ino` (the file whose last name is about to go) exclusively, so
    /// that no open of it starts until the servers answered (the inode table's invariant 7).
    async fn removing(&self, ino: Option<u64>) -> Option<tokio::sync::OwnedRwLockWriteGuard<()>> {
        let gate = self.inodes.gate(ino?).ok()?;
        Some(gate.write_owned().await)
    }

    /// Holds the gate of `ino` shared, so that no hide moves the file while a request by
    /// its path is in flight: sent to the name it is leaving, the request would find
    /// nothing, or another file (see `publishing`, `read`).
    async fn settled(&self, ino: u64) -> Option<tokio::sync::OwnedRwLockReadGuard<()>> {
        let gate = self.inodes.gate(ino).ok()?;
        Some(gate.read_owned().await)
    }

    /// Moves the open file `ino` at `path` to a hidden name in the same directory, where it
    /// lives until its last open ends (after [`InodeTable::hide_begin`], holding the gate).
    /// Returns when the server moved it (the directory's new mtime and ctime).
    async fn hide(&self, c: &Client, ino: u64, path: &str) -> Result<Option<(i64, u32)>> {
        let dir = split(path).map_or("/", |(dir, _)| dir);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
        let tag = (u64::from(std::process::id()) << 40) ^ ino ^ (nanos as u64);
        let hidden = join(dir, &format!("{HIDDEN_PREFIX}{tag:016x}"));
        let moved = c.rename_stamped(path, &hidden, true).await;
        if moved.is_ok() {
            self.follow_rename(path, &hidden);
        }
        // Every handle may have been released while the rename was in flight.
        if let Some(gone) = self.inodes.hide_end(ino, moved.is_ok()) {
            self.remove_hidden(&gone).await?;
        }
        Ok(moved?.at)
    }

    /// Removes the hidden name of a file whose last open ended.
    async fn remove_hidden(&self, path: &str) -> Result<()> {
        let r = self.client.unlink(path).await;
        self.inodes.removed(path);
        ignore_not_found(r)
    }

    /// An open of `ino` ended (released, or failed): the last one of a hidden file removes it.
    async fn open_end(&self, ino: u64) -> Result<()> {
        match self.inodes.open_end(ino) {
            Some(hidden) => self.remove_hidden(&hidden).await,
            None => Ok(()),
        }
    }

    /// Updates the inode table and the open handles after `from` became `to`.
    /// Returns the inodes that moved.
    fn follow_rename(&self, from: &str, to: &str) -> Vec<u64> {
        let moved = self.inodes.renamed(from, to);
        for (ino, path) in &moved {
            self.handles.files_of(*ino).iter().for_each(|h| h.file.set_path(path));
        }
        moved.into_iter().map(|(ino, _)| ino).collect()
    }

    /// rmdir(2). A directory holding only hidden (unlinked, open) files is retried for a
    /// moment: close(2) returns before the kernel sends the release that removes them.
    pub async fn rmdir(&self, parent: u64, name: &OsStr) -> Result<()> {
        self.changing(&[parent], async {
            let (c, path) = self.in_dir(parent, name, |c, p| async move { Ok((c, p)) }).await?;
            let mut pause = std::time::Duration::from_millis(2);
            let at = loop {
                match c.rmdir_stamped(&path).await {
                    Err(benchfs::Error::NotEmpty(_)) if pause < RELEASE_WAIT && self.only_hidden(&path).await => {
                        tokio::time::sleep(pause).await;
                        pause *= 2;
                    }
                    r => break r?,
                }
            };
            if let Some(ino) = self.inodes.peek(&path) {
                self.dirs.forget(ino);
            }
            self.inodes.removed(&path);
            Ok(Stamped(at))
        })
        .await
        .map(|_| self.dirs.count_subdirs(parent, -1))
    }

    async fn only_hidden(&self, dir: &str) -> bool {
        self.client.readdir(dir).await.is_ok_and(|es| es.iter().all(|e| e.name.starts_with(HIDDEN_PREFIX)))
    }

    /// rename(2) / renameat2(2) with `flags` 0 or RENAME_NOREPLACE. RENAME_EXCHANGE (and
    /// RENAME_WHITEOUT) are EINVAL, what the kernel answers for a file system without them.
    pub async fn rename(&self, parent: u64, name: &OsStr, new_parent: u64, new_name: &OsStr, flags: u32) -> Result<()> {
        self.changing(&[parent, new_parent], async {
            if flags & !libc::RENAME_NOREPLACE != 0 {
                return Err(FsError::Invalid("only RENAME_NOREPLACE is supported"));
            }
            let from = self.inodes.child_path(parent, name_str(name)?)?;
            let to = self.inodes.child_path(new_parent, name_str(new_name)?)?;
            let noreplace = flags & libc::RENAME_NOREPLACE != 0;
            let c = self.expecting_all(&[parent, new_parent])?;
            // An open file about to be replaced keeps its data under a hidden name.
            let replaced =
                self.inodes.peek(&to).filter(|&ino| !noreplace && from != to && !self.inodes.has_other_names(ino, &to));
            let _removing = self.removing(replaced).await;
            if let Some(ino) = replaced {
                if identity::moved_is_stale(c.stat(&from).await)?.kind == FileKind::File && self.inodes.hide_begin(ino)
                {
                    self.hide(&c, ino, &to).await?;
                }
            }
            // The kernel looked the source up: the table knows whether it is a directory.
            let dir = self.inodes.peek(&from).is_some_and(|ino| self.inodes.is_dir(ino));
            let changed = identity::moved_is_stale(c.rename_stamped(&from, &to, noreplace).await)?;
            self.follow_rename(&from, &to);
            // The moved record's ctime changed on its owner.
            if let Some(ino) = self.inodes.peek(&to) {
                self.dirs.forget(ino);
            }
            if dir && changed.at.is_some() {
                // A directory leaves its parent and joins the other, unless it replaced one.
                self.dirs.count_subdirs(parent, -1);
                if !changed.removed.is_some_and(|r| r.is_dir()) {
                    self.dirs.count_subdirs(new_parent, 1);
                }
            }
            Ok(Stamped(changed.at))
        })
        .await
        .map(drop)
    }

    /// Opens an existing file; `flags` are open(2)'s (the kernel has already dealt with
    /// O_CREAT, O_EXCL and O_TRUNC). Returns the handle and whether the kernel may keep the
    /// pages it cached of the file ([`InodeTable::reopened`]).
    pub async fn open(&self, ino: u64, flags: i32) -> Result<(u64, bool)> {
        // Counted before its request leaves, and under the gate until its handle is in the
        // table (the inode table's invariants 7 and 8): an unlink either waits and then
        // finds it (and moves its path with the others'), or was done before it started.
        let gate = self.inodes.gate(ino)?;
        let opening = gate.read().await;
        self.inodes.open_begin(ino)?;
        let mut opts = OpenOptions::from_flags(flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC), 0);
        // The kernel checked access at open; it may read through any handle (page cache
        // fills for a write-only descriptor, mmap).
        opts.read = true;
        let opened = self
            .on_inode(ino, |c, p| {
                let opts = &opts;
                async move { Ok(c.open(&p, opts).await?) }
            })
            .await;
        let file = match opened {
            Ok(file) => file,
            Err(e) => {
                drop(opening);
                self.open_end(ino).await?;
                return Err(e);
            }
        };
        let keep = self.inodes.reopened(ino, Stamp::of(file.attr_at_open()));
        Ok((self.handles.insert_file(ino, file, flags), keep))
    }

    /// Creates (or, without O_EXCL, opens) `name` and opens it. Returns the entry and handle.
    pub async fn create(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        caller: Caller,
    ) -> Result<(Entry, u64)> {
        self.changing(&[parent], async {
            let mut opts = OpenOptions::from_flags(flags | libc::O_CREAT, mode & 0o7777);
            opts.read = true;
            let (caller, _) = self.owner_in(parent, caller).await?;
            opts.owner = Some((caller.uid, caller.gid));
            let (file, path) = self
                .in_dir(parent, name, |c, p| {
                    let opts = &opts;
                    async move { Ok((c.open(&p, opts).await?, p)) }
                })
                .await?;
            let entry = self.entry(&path, file.attr_at_open().clone());
            // The record as the owner has it (the entry's size may include open handles').
            self.inodes.reopened(entry.ino, Stamp::of(file.attr_at_open()));
            // The kernel holds the directory locked until the reply: no unlink of the name
            // can come between, so no gate is needed.
            self.inodes.open_begin(entry.ino)?;
            let fh = self.handles.insert_file(entry.ino, file, flags);
            Ok((entry, fh))
        })
        .await
    }

    /// A read. Bytes that other handles of the file wrote here and have not yet published
    /// exist (their chunks are written) though the owner's size does not cover them: a
    /// read short of them would have the kernel cut the file's size (and then place an
    /// O_APPEND write over them, or show zeros).
    pub async fn read(&self, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>> {
        let h = self.handles.file(fh)?;
        // A read past the size the handle knows asks the owner by the file's path.
        let _settled = self.settled(h.ino).await;
        let data = h.file.read_owned_knowing(offset, size as usize, self.pending_end(h.ino)).await?;
        if data.len() < size as usize && h.file.shrank() {
            // Another client truncated the file under this handle. The kernel still has
            // the old size, and of several short reads in flight it takes only one as the
            // new end: the others' pages would read as zeros. An error reads as nothing.
            return Err(benchfs::Error::Stale(format!("inode {}: truncated by another client", h.ino)).into());
        }
        Ok(data)
    }

    /// A write; `kill_privs`: the writer may not keep setuid/setgid (the kernel asks that
    /// of direct writes by a process without CAP_FSETID; on the page cache path it sends
    /// the chmod itself). Cleared before the data lands, as the kernel does, from the mode
    /// this mount knows (as the kernel's check uses the mode it has cached).
    pub async fn write(&self, fh: u64, offset: u64, data: &[u8], kill_privs: bool) -> Result<u32> {
        let h = self.handles.file(fh)?;
        let mode = h.mode.load(Ordering::Acquire);
        let kill = if kill_privs { privileges(mode) } else { 0 };
        if kill != 0 {
            self.setattr(h.ino, SetAttr { mode: Some(mode & !kill), ..SetAttr::default() }).await?;
        }
        let offset = if h.append { self.end_of(&h).await? } else { offset };
        let n = h.file.write_at(data, offset).await?;
        u32::try_from(n).map_err(|_| FsError::Invalid("write larger than 4 GiB"))
    }

    /// Where an O_APPEND write through `h` lands: the end of the file as its metadata owner
    /// has it now, or past what this mount's handles wrote and have not yet published,
    /// whichever is further. Not the offset the kernel sent: the kernel places it at the
    /// size it cached, which may predate another client's append and close (NFS asks the
    /// server at open for that reason) or another process's truncate here. The kernel
    /// sends the O_APPEND writes of one file one at a time (it holds the inode's lock), and
    /// the handle bypasses the page cache (see `fuse.rs`), so nothing cached disagrees.
    async fn end_of(&self, h: &OpenFile) -> Result<u64> {
        let owner = match self.client.stat(&h.file.path()).await {
            Ok(a) => a.size,
            // Removed by another client: what this handle knows.
            Err(benchfs::Error::NotFound(_)) => h.file.size(),
            Err(e) => return Err(e.into()),
        };
        Ok(owner.max(self.pending_end(h.ino)))
    }

    /// fallocate(2) with mode 0 (posix_fallocate): the file grows to `offset + length` if
    /// it is shorter (the new bytes read as zeros, as past a truncate) and its mtime and
    /// ctime move, as on tmpfs. BenchFS reserves no space (README, "Relaxations of
    /// POSIX"): a later write may still find a server full. Other modes (punching or
    /// zeroing a range, keeping the size) are EOPNOTSUPP, which tells the C library to
    /// fall back to writing the range.
    pub async fn fallocate(&self, fh: u64, offset: u64, length: u64, mode: i32) -> Result<Attr> {
        if mode != 0 {
            return Err(FsError::Unsupported("fallocate modes other than 0"));
        }
        let h = self.handles.file(fh)?;
        // The kernel refuses an end past the largest file size (EFBIG) before asking.
        let end = offset.checked_add(length).ok_or(FsError::Invalid("fallocate past the largest offset"))?;
        self.setattr(h.ino, SetAttr { grow_to: Some(end), ..SetAttr::default() }).await
    }

    /// close(2) on a descriptor of the handle: publish the size its writes reached.
    pub async fn flush(&self, fh: u64) -> Result<()> {
        let h = self.handles.file(fh)?;
        self.publish(h.ino, &h.file).await
    }

    /// The last descriptor of the handle is gone; a hidden file goes with its last open.
    /// The handle stays in the table while it publishes, so that its writes count in the
    /// sizes handed to the kernel until the owner has them.
    pub async fn release(&self, fh: u64) -> Result<()> {
        let h = self.handles.file(fh)?;
        // A hidden file too: other handles may still read it.
        let published = self.publish(h.ino, &h.file).await;
        self.handles.remove_file(fh)?;
        self.open_end(h.ino).await?;
        published
    }

    async fn publish(&self, ino: u64, file: &benchfs::File) -> Result<()> {
        self.publishing(ino, file.flush()).await
    }

    pub async fn fsync(&self, fh: u64) -> Result<()> {
        let h = self.handles.file(fh)?;
        self.publishing(h.ino, h.file.fsync()).await
    }

    /// Runs a publication of `ino`'s writes, never while a hide moves the file: sent to
    /// the name it is leaving, it would find nothing, and the size of a file other handles
    /// still read would stay behind its data (invariant 7 of the inode table).
    async fn publishing(
        &self,
        ino: u64,
        publish: impl std::future::Future<Output = benchfs::Result<()>>,
    ) -> Result<()> {
        let _settled = self.settled(ino).await;
        match self.inodes.path(ino) {
            // Removed (or replaced by a rename): its size has nowhere to go.
            Err(FsError::Removed(_)) => Ok(()),
            _ => ignore_not_found(publish.await),
        }
    }

    /// Takes the snapshot of the listing that the handle's readdir calls page through.
    pub async fn opendir(&self, ino: u64) -> Result<u64> {
        let seen = Instant::now();
        let (mut entries, path) = self.on_inode(ino, |c, p| async move { Ok((c.readdir(&p).await?, p)) }).await?;
        entries.retain(|e| !e.name.starts_with(HIDDEN_PREFIX));
        let entries = entries.into_iter().map(|entry| Listed { entry, seen, gone: false }).collect();
        let parent_ino = match split(&path) {
            None => ROOT_INO,
            Some((parent, _)) => self.inodes.peek(parent).unwrap_or(UNKNOWN_INO),
        };
        Ok(self.handles.insert_dir(DirSnapshot { ino, parent_ino, path, entries: Mutex::new(entries) }))
    }

    /// The entries that a readdirplus of `fh` from `offset` would hand over with
    /// attributes older than the attribute timeout (at most [`REFRESH_BATCH`]): their
    /// indexes and names. The kernel takes a readdirplus entry's size as the file's, so an
    /// old snapshot (a directory handle read again later, after a rewind) would roll back
    /// another client's append, and an O_APPEND after it would overwrite it.
    pub fn stale_entries(&self, fh: u64, offset: u64) -> Result<Vec<(usize, String)>> {
        let dir = self.handles.dir(fh)?;
        let skip = usize::try_from(offset).unwrap_or(usize::MAX).saturating_sub(2);
        let entries = dir.entries();
        let live = entries.iter().enumerate().skip(skip).filter(|(_, l)| !l.gone).take(REFRESH_BATCH);
        Ok(live.filter(|(_, l)| l.seen.elapsed() >= self.attr_ttl).map(|(i, l)| (i, l.entry.name.clone())).collect())
    }

    /// Asks the owners again for the attributes of `stale` entries of `fh` (from
    /// [`BenchFs::stale_entries`]); an entry found gone is no longer listed.
    pub async fn refresh_entries(&self, fh: u64, stale: Vec<(usize, String)>) -> Result<()> {
        let dir = self.handles.dir(fh)?;
        let seen = Instant::now();
        let stats = stale.iter().map(|(_, name)| {
            let path = join(&dir.path, name);
            async move { self.client.stat(&path).await }
        });
        let attrs = futures::future::join_all(stats).await;
        let mut entries = dir.entries();
        for ((i, _), attr) in stale.into_iter().zip(attrs) {
            let Some(l) = entries.get_mut(i) else { continue };
            match attr {
                Ok(a) => l.entry.attr = a,
                Err(benchfs::Error::NotFound(_)) => l.gone = true,
                Err(e) => return Err(e.into()),
            }
            l.seen = seen;
        }
        Ok(())
    }

    /// Fills `out` from the snapshot of `fh`, starting after the entry whose `next_offset`
    /// was `offset` (0: from the start). Offsets: "." is 1, ".." is 2, entry i is i + 3.
    /// With `plus`, each entry other than "." and ".." counts as a lookup (readdirplus).
    pub fn readdir(&self, fh: u64, offset: u64, plus: bool, out: &mut impl DirReplier) -> Result<()> {
        let dir = self.handles.dir(fh)?;
        let dot = dot_attr();
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, ino, name) in [(0usize, dir.ino, "."), (1, dir.parent_ino, "..")] {
            if i >= start && out.add(DirItem { ino, next_offset: i as u64 + 1, name, attr: &dot }) {
                return Ok(());
            }
        }
        let skip = start.saturating_sub(2);
        let entries = dir.entries();
        for (i, e) in entries.iter().enumerate().skip(skip).filter(|(_, l)| !l.gone).map(|(i, l)| (i, &l.entry)) {
            let path = benchfs::path::join(&dir.path, &e.name);
            let next_offset = i as u64 + 3;
            if plus {
                let entry = self.entry(&path, e.attr.clone());
                if out.add(DirItem { ino: entry.ino, next_offset, name: &e.name, attr: &entry.attr }) {
                    self.inodes.forget(entry.ino, 1); // not handed to the kernel after all
                    return Ok(());
                }
            } else {
                let ino = self.inodes.peek(&path).unwrap_or(UNKNOWN_INO);
                if out.add(DirItem { ino, next_offset, name: &e.name, attr: &e.attr }) {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    pub fn releasedir(&self, fh: u64) -> Result<()> {
        self.handles.remove_dir(fh)
    }

    pub async fn statfs(&self) -> Result<StatFs> {
        Ok(self.client.statfs().await?)
    }

    /// access(2): with `default_permissions` the kernel answers it itself; if asked anyway,
    /// report whether the inode still exists.
    pub async fn access(&self, ino: u64) -> Result<()> {
        self.on_inode(ino, |c, p| async move { Ok(c.stat(&p).await.map(drop)?) }).await
    }
}

#[cfg(test)]
mod tests {
    //! The semantics against a real in-process server, without a kernel.

    use std::ffi::OsString;
    use std::sync::Arc;

    use super::*;

    struct Server {
        fs: BenchFs,
        _dir: tempfile::TempDir,
    }

    /// The file system over an in-process server (no socket).
    async fn server() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let node = Arc::new(benchfs::server::Node::open_alone(dir.path()).await.unwrap());
        let transport = Arc::new(benchfs::transport::local::LocalTransport::new(node.clone()));
        let mut cfg = benchfs::Config::new(vec![node.addr().to_string()]).unwrap();
        cfg.check_parent = false;
        let client = Client::with_transport(cfg, transport);
        Server { fs: BenchFs::new(client), _dir: dir }
    }

    const ME: Caller = Caller { uid: 1000, gid: 100 };

    fn n(s: &str) -> OsString {
        OsString::from(s)
    }

    #[derive(Default)]
    struct Collect {
        cap: usize,
        items: Vec<(u64, u64, String)>,
    }

    impl DirReplier for Collect {
        fn add(&mut self, it: DirItem<'_>) -> bool {
            if self.items.len() == self.cap {
                return true;
            }
            self.items.push((it.ino, it.next_offset, it.name.to_string()));
            false
        }
    }

    #[tokio::test]
    async fn create_write_stat_before_and_after_release() {
        let s = server().await;
        let (e, fh) = s.fs.create(ROOT_INO, &n("f"), 0o640, libc::O_WRONLY, ME).await.unwrap();
        assert_eq!((e.attr.uid, e.attr.gid, e.attr.mode), (1000, 100, 0o640));
        assert_eq!(s.fs.write(fh, 10, b"hello", false).await.unwrap(), 5);
        // Not yet published, but visible to stat through the open handle.
        assert_eq!(s.fs.getattr(e.ino).await.unwrap().size, 15);
        s.fs.release(fh).await.unwrap();
        assert_eq!(s.fs.getattr(e.ino).await.unwrap().size, 15);
        let (fh, keep) = s.fs.open(e.ino, libc::O_RDONLY).await.unwrap();
        assert!(!keep, "the release published a write since the create: cached pages may be stale");
        assert_eq!(s.fs.read(fh, 8, 100).await.unwrap(), b"\0\0hello");
        assert!(matches!(s.fs.read(999, 0, 1).await, Err(FsError::BadHandle(999))));
        let (_, keep) = s.fs.open(e.ino, libc::O_RDONLY).await.unwrap();
        assert!(keep, "nothing changed since the last open");
    }

    #[tokio::test]
    async fn an_unprivileged_write_clears_setuid_and_setgid() {
        let s = server().await;
        let (e, fh) = s.fs.create(ROOT_INO, &n("s"), 0o644, libc::O_WRONLY, ME).await.unwrap();
        s.fs.setattr(e.ino, SetAttr { mode: Some(0o6755), ..Default::default() }).await.unwrap();
        s.fs.write(fh, 0, b"by root", false).await.unwrap();
        assert_eq!(s.fs.getattr(e.ino).await.unwrap().mode, 0o6755, "a privileged write keeps them");
        s.fs.write(fh, 0, b"by a user", true).await.unwrap();
        assert_eq!(s.fs.getattr(e.ino).await.unwrap().mode, 0o755);
        // setgid without group execution is not a privilege: it stays.
        s.fs.setattr(e.ino, SetAttr { mode: Some(0o2644), ..Default::default() }).await.unwrap();
        s.fs.write(fh, 0, b"again", true).await.unwrap();
        assert_eq!(s.fs.getattr(e.ino).await.unwrap().mode, 0o2644);
    }

    #[tokio::test]
    async fn truncate_with_open_writer() {
        let s = server().await;
        let (e, fh) = s.fs.create(ROOT_INO, &n("t"), 0o644, libc::O_RDWR, ME).await.unwrap();
        s.fs.write(fh, 0, &[7u8; 10_000], false).await.unwrap();
        let a = s.fs.setattr(e.ino, SetAttr { size: Some(100), ..Default::default() }).await.unwrap();
        assert_eq!(a.size, 100);
        s.fs.release(fh).await.unwrap();
        assert_eq!(s.fs.getattr(e.ino).await.unwrap().size, 100, "release must not regrow the file");
        let a = s.fs.setattr(e.ino, SetAttr { size: Some(200), ..Default::default() }).await.unwrap();
        assert_eq!(a.size, 200);
        let (fh, _) = s.fs.open(e.ino, libc::O_RDONLY).await.unwrap();
        let data = s.fs.read(fh, 0, 300).await.unwrap();
        assert_eq!(data.len(), 200);
        assert!(data[..100].iter().all(|&b| b == 7) && data[100..].iter().all(|&b| b == 0));
    }

    #[tokio::test]
    async fn rename_follows_open_handles_and_subtrees() {
        let s = server().await;
        let d = s.fs.mkdir(ROOT_INO, &n("d"), 0o755, ME).await.unwrap();
        let (f, fh) = s.fs.create(d.ino, &n("f"), 0o644, libc::O_RDWR, ME).await.unwrap();
        s.fs.write(fh, 0, b"abc", false).await.unwrap();
        s.fs.rename(ROOT_INO, &n("d"), ROOT_INO, &n("e"), 0).await.unwrap();
        assert_eq!(s.fs.inodes().path(f.ino).unwrap(), "/e/f");
        s.fs.release(fh).await.unwrap(); // publishes to the new path
        let looked = s.fs.lookup(d.ino, &n("f")).await.unwrap();
        assert_eq!((looked.ino, looked.attr.size), (f.ino, 3));
        // NOREPLACE onto an existing name; EXCHANGE is not supported.
        s.fs.mknod(ROOT_INO, &n("g"), libc::S_IFREG | 0o600, 0, ME).await.unwrap();
        let r = s.fs.rename(d.ino, &n("f"), ROOT_INO, &n("g"), libc::RENAME_NOREPLACE).await;
        assert_eq!(r.unwrap_err().errno(), libc::EEXIST);
        let r = s.fs.rename(d.ino, &n("f"), ROOT_INO, &n("g"), libc::RENAME_EXCHANGE).await;
        assert_eq!(r.unwrap_err().errno(), libc::EINVAL);
        // A plain rename replaces the target, whose inode loses its name.
        let g = s.fs.lookup(ROOT_INO, &n("g")).await.unwrap();
        s.fs.rename(d.ino, &n("f"), ROOT_INO, &n("g"), 0).await.unwrap();
        assert_eq!(s.fs.getattr(g.ino).await.unwrap_err().errno(), libc::ENOENT);
        assert_eq!(s.fs.getattr(f.ino).await.unwrap().size, 3);
    }

    #[tokio::test]
    async fn errors_have_the_right_errno() {
        let s = server().await;
        let e = |r: Result<Entry>| r.unwrap_err().errno();
        assert_eq!(e(s.fs.lookup(ROOT_INO, &n("nope")).await), libc::ENOENT);
        s.fs.mkdir(ROOT_INO, &n("d"), 0o755, ME).await.unwrap();
        assert_eq!(e(s.fs.mkdir(ROOT_INO, &n("d"), 0o755, ME).await), libc::EEXIST);
        assert_eq!(e(s.fs.mknod(ROOT_INO, &n("d/x"), 0o644, 0, ME).await), libc::EINVAL);
        let d = s.fs.lookup(ROOT_INO, &n("d")).await.unwrap();
        s.fs.mknod(d.ino, &n("x"), 0o644, 0, ME).await.unwrap();
        assert_eq!(s.fs.rmdir(ROOT_INO, &n("d")).await.unwrap_err().errno(), libc::ENOTEMPTY);
        let fifo = s.fs.mknod(ROOT_INO, &n("fifo"), libc::S_IFIFO | 0o644, 0, ME).await.unwrap();
        assert_eq!((fifo.attr.kind, fifo.attr.mode), (FileKind::Fifo, 0o644));
        assert_eq!(e(s.fs.mknod(ROOT_INO, &n("fifo"), libc::S_IFIFO | 0o644, 0, ME).await), libc::EEXIST);
        assert_eq!(e(s.fs.mknod(ROOT_INO, &n("bad"), 0o170000 | 0o644, 0, ME).await), libc::EINVAL);
        let chr = s.fs.mknod(ROOT_INO, &n("null"), libc::S_IFCHR | 0o666, 0x0103, ME).await.unwrap();
        assert_eq!((chr.attr.kind, chr.attr.rdev), (FileKind::CharDev, 0x0103));
        let l = s.fs.symlink(ROOT_INO, &n("l"), &n("../x/y"), ME).await.unwrap();
        assert_eq!((l.attr.kind, l.attr.size), (FileKind::Symlink, 6));
        assert_eq!(s.fs.readlink(l.ino).await.unwrap(), "../x/y");
        assert_eq!(s.fs.readlink(fifo.ino).await.unwrap_err().errno(), libc::EINVAL);
        assert_eq!(e(s.fs.symlink(ROOT_INO, &n("l"), &n("z"), ME).await), libc::EEXIST);
        assert_eq!(e(s.fs.lookup(ROOT_INO, &n(&"x".repeat(300))).await), libc::ENAMETOOLONG);
        assert_eq!(s.fs.getattr(12345).await.unwrap_err().errno(), libc::ESTALE);
        let x = s.fs.lookup(d.ino, &n("x")).await.unwrap();
        s.fs.unlink(d.ino, &n("x")).await.unwrap();
        assert_eq!(s.fs.getattr(x.ino).await.unwrap_err().errno(), libc::ENOENT);
        s.fs.rmdir(ROOT_INO, &n("d")).await.unwrap();
    }

    #[tokio::test]
    async fn unlinked_open_files_live_until_released() {
        let s = server().await;
        let (e, fh) = s.fs.create(ROOT_INO, &n("tmp"), 0o644, libc::O_RDWR, ME).await.unwrap();
        s.fs.write(fh, 0, b"still here", false).await.unwrap();
        s.fs.unlink(ROOT_INO, &n("tmp")).await.unwrap();
        assert_eq!(s.fs.lookup(ROOT_INO, &n("tmp")).await.unwrap_err().errno(), libc::ENOENT);
        assert_eq!(s.fs.read(fh, 0, 100).await.unwrap(), b"still here");
        assert_eq!(s.fs.getattr(e.ino).await.unwrap().size, 10);
        let dh = s.fs.opendir(ROOT_INO).await.unwrap();
        let mut c = Collect { cap: 100, ..Default::default() };
        s.fs.readdir(dh, 0, false, &mut c).unwrap();
        assert_eq!(c.items.len(), 2, "only . and ..: the hidden name is not listed");
        // Replacing an open file by rename keeps it too.
        let (g, gh) = s.fs.create(ROOT_INO, &n("g"), 0o644, libc::O_RDWR, ME).await.unwrap();
        s.fs.write(gh, 0, b"old g", false).await.unwrap();
        s.fs.mknod(ROOT_INO, &n("new"), 0o644, 0, ME).await.unwrap();
        s.fs.rename(ROOT_INO, &n("new"), ROOT_INO, &n("g"), 0).await.unwrap();
        assert_eq!(s.fs.read(gh, 0, 100).await.unwrap(), b"old g");
        assert_eq!(s.fs.lookup(ROOT_INO, &n("g")).await.unwrap().attr.size, 0);
        // The last release removes the hidden files.
        s.fs.release(fh).await.unwrap();
        s.fs.release(gh).await.unwrap();
        assert!(matches!(s.fs.getattr(g.ino).await, Err(FsError::Removed(_))));
        assert_eq!(s.fs.client.readdir("/").await.unwrap().len(), 1, "only g remains");
    }

    #[tokio::test]
    async fn readdir_pages_a_stable_snapshot() {
        let s = server().await;
        for i in 0..10 {
            s.fs.mknod(ROOT_INO, &n(&format!("f{i}")), 0o644, 0, ME).await.unwrap();
        }
        let fh = s.fs.opendir(ROOT_INO).await.unwrap();
        // Changes after opendir do not shift offsets.
        s.fs.unlink(ROOT_INO, &n("f0")).await.unwrap();
        s.fs.mknod(ROOT_INO, &n("a"), 0o644, 0, ME).await.unwrap();
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let mut page = Collect { cap: 3, ..Default::default() };
            s.fs.readdir(fh, offset, true, &mut page).unwrap();
            let Some(last) = page.items.last() else { break };
            offset = last.1;
            all.extend(page.items);
        }
        let names: Vec<_> = all.iter().map(|i| i.2.as_str()).collect();
        assert_eq!(names, [".", "..", "f0", "f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"]);
        // readdirplus counted one lookup per entry handed over, none for the one refused
        // at the end of the first page (f1): mknod's one plus readdirplus's one.
        let f1 = all.iter().find(|i| i.2 == "f1").unwrap().0;
        s.fs.forget(f1, 1);
        assert_eq!(s.fs.inodes().path(f1).unwrap(), "/f1");
        s.fs.forget(f1, 1);
        assert!(matches!(s.fs.inodes().path(f1), Err(FsError::StaleInode(_))));
        s.fs.releasedir(fh).unwrap();
        assert_eq!(s.fs.handles().counts(), (0, 0));
    }
}
