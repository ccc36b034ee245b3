//! The fuser adapter: each kernel request becomes a call of [`BenchFs`], carried out where
//! the [`Driver`] says.
//!
//! fuser calls these methods synchronously on its session threads. Each one copies what it
//! borrows (names, data, the caller's ids) into the call, and the call sends the reply.
//! By default ([`Driver::Caller`]) the session thread that read the request carries the
//! call out itself, on a runtime and connections of its own: it writes the RPC, waits in
//! `epoll` for the reply and answers the kernel, with no hand-off to another thread on the
//! way (as the C API does). Requests in flight are then as many as session threads. With
//! [`Driver::Tasks`] the call is a task on a multi-thread runtime and the session thread
//! returns at once. Calls that touch no server (forget, readdir pages from the opendir
//! snapshot whose attributes are still fresh, releasedir) run inline either way.
//!
//! Nothing here decides semantics: see `fs.rs`.

use std::ffi::OsStr;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use benchfs::caller_driven::Runtimes;
use benchfs::meta::SetAttr;
use benchfs::mount_info;
use benchfs::stat::{FsStat, Stat};
use benchfs::{Attr, FileKind};
use fuser::{
    AccessFlags, Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    IoctlFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory,
    ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyIoctl, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::error::{FsError, Result};
use crate::fs::{BenchFs, Caller, DirItem, DirReplier, Entry};

/// Kernel-facing settings of the mount.
#[derive(Debug, Clone)]
pub struct FuseOptions {
    /// How long the kernel may cache attributes and names.
    pub attr_ttl: Duration,
    /// Open files with FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES (no page cache).
    pub direct_io: bool,
    /// Largest write request the kernel sends (it caps it at `max_pages_limit` pages).
    pub max_write: u32,
    /// Read-ahead window offered to the kernel at init.
    pub read_ahead: u32,
    /// Background (async read-ahead, direct I/O) requests the kernel keeps in flight.
    pub max_background: u16,
}

/// Where the calls of kernel requests run.
pub enum Driver {
    /// On the session thread that read the request, which drives its own current-thread
    /// runtime (where its connections live: `Client::connect_per_thread`) while it waits.
    /// Never idle-driven: nothing may be spawned on them that must run without a request
    /// in flight.
    Caller(Arc<Runtimes>),
    /// As tasks on a multi-thread runtime.
    Tasks(Handle),
}

pub struct FuseAdapter {
    fs: Arc<BenchFs>,
    driver: Driver,
    opts: FuseOptions,
    /// Fired when the session ends (unmounted by us, by `umount`, or the kernel aborted).
    on_destroy: Option<oneshot::Sender<()>>,
    /// What the ioctl [`benchfs::mount_info::IOCTL`] on the root answers the mount's owner.
    description: Vec<u8>,
}

impl FuseAdapter {
    pub fn new(fs: Arc<BenchFs>, driver: Driver, opts: FuseOptions, on_destroy: oneshot::Sender<()>) -> FuseAdapter {
        FuseAdapter { fs, driver, opts, on_destroy: Some(on_destroy), description: Vec::new() }
    }

    /// Answers the interposer's question about the cluster (`mount_info::encode`) with
    /// `description`.
    #[must_use]
    pub fn with_description(mut self, description: Vec<u8>) -> FuseAdapter {
        self.description = description;
        self
    }

    /// Runs `call` as the [`Driver`] says and replies with `ok` or the error's errno.
    fn spawn<R, T, F>(&self, op: &'static str, reply: R, call: F, ok: impl FnOnce(R, T) + Send + 'static)
    where
        R: ErrorReply + Send + 'static,
        T: Send + 'static,
        F: Future<Output = Result<T>> + Send + 'static,
    {
        let task = async move {
            match call.await {
                Ok(v) => ok(reply, v),
                Err(e) => fail(op, reply, &e),
            }
        };
        let task = task.instrument(tracing::debug_span!("fuse", op));
        match &self.driver {
            Driver::Caller(rts) => {
                if let Err(e) = rts.block_on(task) {
                    // The reply, dropped unsent, answers EIO.
                    tracing::error!(op, error = %e, "cannot make this session thread's runtime");
                }
            }
            Driver::Tasks(rt) => drop(rt.spawn(task)),
        }
    }

    fn reply_entry(&self) -> impl FnOnce(ReplyEntry, Entry) + Send + 'static {
        let ttl = self.opts.attr_ttl;
        move |r: ReplyEntry, e: Entry| r.entry(&ttl, &file_attr(e.ino, &e.attr), Generation(0))
    }

    fn reply_attr(&self, ino: INodeNo) -> impl FnOnce(ReplyAttr, Attr) + Send + 'static {
        let ttl = self.opts.attr_ttl;
        move |r: ReplyAttr, a: Attr| r.attr(&ttl, &file_attr(ino.0, &a))
    }

    /// How the kernel is to treat a handle opened with `flags`.
    fn open_flags(&self, flags: i32) -> FopenFlags {
        let mode = flags & libc::O_ACCMODE;
        let mut fopen = FopenFlags::empty();
        // A write-only descriptor has no use for the page cache (no writeback cache: each
        // write(2) is a request either way), so its writes skip the copy into it, and
        // writes of several processes to one file run in parallel. The kernel drops cached
        // pages of the range written before each such write.
        // An O_APPEND handle's writes land at the file's end as the mount finds it, not
        // where the kernel's cached size put them (see `BenchFs::write`): its pages must
        // not be cached at the kernel's offsets.
        if self.opts.direct_io || mode == libc::O_WRONLY || flags & libc::O_APPEND != 0 {
            fopen |= FopenFlags::FOPEN_DIRECT_IO | FopenFlags::FOPEN_PARALLEL_DIRECT_WRITES;
        }
        // A read-only handle has no size to publish at close: the kernel may skip the
        // FLUSH round trip (close(2) of it then costs nothing here).
        if mode == libc::O_RDONLY {
            fopen |= FopenFlags::FOPEN_NOFLUSH;
        }
        fopen
    }
}

/// The reply types' common `error`, so one helper can answer any of them.
trait ErrorReply {
    fn error(self, e: Errno);
}

macro_rules! error_reply {
    ($($t:ty),*) => {$(
        impl ErrorReply for $t {
            fn error(self, e: Errno) {
                <$t>::error(self, e)
            }
        }
    )*};
}
error_reply!(ReplyEntry, ReplyAttr, ReplyEmpty, ReplyOpen, ReplyData, ReplyWrite, ReplyCreate, ReplyStatfs);
error_reply!(ReplyDirectory, ReplyDirectoryPlus);

fn fail(op: &'static str, reply: impl ErrorReply, e: &FsError) {
    let errno = e.errno();
    if e.is_expected() {
        tracing::debug!(op, errno, error = %e, "request failed");
    } else {
        tracing::warn!(op, errno, error = %e, "request failed");
    }
    reply.error(Errno::from_i32(errno));
}

fn caller(req: &Request) -> Caller {
    Caller { uid: req.uid(), gid: req.gid() }
}

fn system_time((secs, nanos): (i64, u32)) -> SystemTime {
    let d = Duration::new(secs.unsigned_abs(), 0);
    let whole = if secs >= 0 { UNIX_EPOCH.checked_add(d) } else { UNIX_EPOCH.checked_sub(d) };
    whole.and_then(|t| t.checked_add(Duration::from_nanos(u64::from(nanos)))).unwrap_or(UNIX_EPOCH)
}

fn wire_time(t: TimeOrNow) -> (i64, u32) {
    let t = match t {
        TimeOrNow::SpecificTime(t) => t,
        TimeOrNow::Now => SystemTime::now(),
    };
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos()),
        Err(before) => {
            let d = before.duration();
            let secs = -i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            // (secs, nanos) with nanos >= 0: -1.25 s is (-2, 750_000_000).
            if d.subsec_nanos() == 0 {
                (secs, 0)
            } else {
                (secs - 1, 1_000_000_000 - d.subsec_nanos())
            }
        }
    }
}

/// The kernel's view of a BenchFS attribute record: the figures of [`Stat::from_attr`]
/// (shared with the C API), numbered `ino` from the mount's inode table: the kernel
/// names inodes by the numbers lookup returned and counts them for forget, so the
/// mount cannot use the C API's hashed numbers ([`benchfs::stat::ino_of`]).
pub fn file_attr(ino: u64, a: &Attr) -> FileAttr {
    let s = Stat::from_attr(a, ino);
    FileAttr {
        ino: INodeNo(s.ino),
        size: s.size,
        blocks: s.blocks,
        atime: system_time(s.atime),
        mtime: system_time(s.mtime),
        ctime: system_time(s.ctime),
        crtime: system_time(s.ctime),
        kind: file_type(a.kind),
        // At most 0o7777: fits.
        perm: s.perm() as u16,
        nlink: s.nlink,
        uid: s.uid,
        gid: s.gid,
        // The kernel's dev_t is 32 bits (major 12, minor 20: new_encode_dev): a record
        // made through the mount fits; a larger one is cut, as a 32-bit stat would.
        rdev: s.rdev as u32,
        blksize: s.blksize,
        flags: 0,
    }
}

/// The kernel's file type of a record kind.
pub fn file_type(k: FileKind) -> FileType {
    match k {
        FileKind::File => FileType::RegularFile,
        FileKind::Dir => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
        FileKind::Fifo => FileType::NamedPipe,
        FileKind::Socket => FileType::Socket,
        FileKind::CharDev => FileType::CharDevice,
        FileKind::BlockDev => FileType::BlockDevice,
    }
}

struct Plain<'a>(&'a mut ReplyDirectory);

impl DirReplier for Plain<'_> {
    fn add(&mut self, it: DirItem<'_>) -> bool {
        self.0.add(INodeNo(it.ino), it.next_offset, file_type(it.attr.kind), it.name)
    }
}

struct Plus<'a>(&'a mut ReplyDirectoryPlus, Duration);

impl DirReplier for Plus<'_> {
    fn add(&mut self, it: DirItem<'_>) -> bool {
        self.0.add(INodeNo(it.ino), it.next_offset, it.name, &self.1, &file_attr(it.ino, it.attr), Generation(0))
    }
}

/// Sets a kernel limit, or the nearest value the kernel accepts.
fn set_or_nearest<T: Copy>(mut set: impl FnMut(T) -> std::result::Result<T, T>, v: T) {
    if let Err(nearest) = set(v) {
        let _ = set(nearest);
    }
}

impl Filesystem for FuseAdapter {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        set_or_nearest(|v| config.set_max_write(v), self.opts.max_write);
        set_or_nearest(|v| config.set_max_readahead(v), self.opts.read_ahead);
        set_or_nearest(|v| config.set_max_background(v), self.opts.max_background);
        set_or_nearest(|v| config.set_congestion_threshold(v), self.opts.max_background / 4 * 3);
        // Each only where the kernel offers it. With direct I/O, mmap still works
        // (through the page cache) where the kernel allows it.
        let mmap = if self.opts.direct_io { InitFlags::FUSE_DIRECT_IO_ALLOW_MMAP } else { InitFlags::empty() };
        for cap in [
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
            InitFlags::FUSE_ASYNC_DIO,
            mmap,
        ] {
            if config.add_capabilities(cap).is_err() {
                tracing::debug!(?cap, "not offered by the kernel");
            }
        }
        Ok(())
    }

    fn destroy(&mut self) {
        if let Some(tx) = self.on_destroy.take() {
            let _ = tx.send(());
        }
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let (fs, name) = (self.fs.clone(), name.to_owned());
        let (found, ttl) = (self.reply_entry(), self.opts.attr_ttl);
        let call = async move { fs.lookup_or_absent(parent.0, &name).await };
        self.spawn("lookup", reply, call, move |r, e| match e {
            Some(e) => found(r, e),
            // Node id 0: a negative entry the kernel keeps for `ttl` (an ENOENT it would not keep).
            None => r.entry(&ttl, &file_attr(0, &Attr::new(FileKind::File, 0, (0, 0), (0, 0), 0, 0)), Generation(0)),
        });
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        let fs = self.fs.clone();
        self.spawn("getattr", reply, async move { fs.getattr(ino.0).await }, self.reply_attr(ino));
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let fs = self.fs.clone();
        let set = SetAttr {
            mode: mode.map(|m| m & 0o7777),
            uid,
            gid,
            size,
            grow_to: None,
            wrote: None,
            atime: atime.map(wire_time),
            mtime: mtime.map(wire_time),
        };
        self.spawn("setattr", reply, async move { fs.setattr(ino.0, set).await }, self.reply_attr(ino));
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let (fs, name, who) = (self.fs.clone(), name.to_owned(), caller(req));
        let call = async move { fs.mknod(parent.0, &name, mode, rdev, who).await };
        self.spawn("mknod", reply, call, self.reply_entry());
    }

    fn mkdir(&self, req: &Request, parent: INodeNo, name: &OsStr, mode: u32, _umask: u32, reply: ReplyEntry) {
        let (fs, name, who) = (self.fs.clone(), name.to_owned(), caller(req));
        self.spawn("mkdir", reply, async move { fs.mkdir(parent.0, &name, mode, who).await }, self.reply_entry());
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (fs, name) = (self.fs.clone(), name.to_owned());
        self.spawn("unlink", reply, async move { fs.unlink(parent.0, &name).await }, |r, ()| r.ok());
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        let (fs, name) = (self.fs.clone(), name.to_owned());
        self.spawn("rmdir", reply, async move { fs.rmdir(parent.0, &name).await }, |r, ()| r.ok());
    }

    fn symlink(&self, req: &Request, parent: INodeNo, name: &OsStr, target: &Path, reply: ReplyEntry) {
        let (fs, name, target, who) = (self.fs.clone(), name.to_owned(), target.as_os_str().to_owned(), caller(req));
        let call = async move { fs.symlink(parent.0, &name, &target, who).await };
        self.spawn("symlink", reply, call, self.reply_entry());
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let fs = self.fs.clone();
        self.spawn("readlink", reply, async move { fs.readlink(ino.0).await }, |r: ReplyData, t: String| {
            r.data(t.as_bytes())
        });
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let (fs, name, newname) = (self.fs.clone(), name.to_owned(), newname.to_owned());
        let call = async move { fs.rename(parent.0, &name, newparent.0, &newname, flags.bits()).await };
        self.spawn("rename", reply, call, |r, ()| r.ok());
    }

    fn link(&self, _req: &Request, ino: INodeNo, newparent: INodeNo, newname: &OsStr, reply: ReplyEntry) {
        let (fs, newname) = (self.fs.clone(), newname.to_owned());
        let call = async move { fs.link(ino.0, newparent.0, &newname).await };
        self.spawn("link", reply, call, self.reply_entry());
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let fopen = self.open_flags(flags.0);
        let fs = self.fs.clone();
        let call = async move { fs.open(ino.0, flags.0).await };
        self.spawn("open", reply, call, move |r, (fh, keep)| {
            r.opened(FileHandle(fh), if keep { fopen | FopenFlags::FOPEN_KEEP_CACHE } else { fopen });
        });
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let fs = self.fs.clone();
        self.spawn("read", reply, async move { fs.read(fh.0, offset, size).await }, |r, data| r.data(&data));
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let kill = write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID);
        if let Driver::Caller(rts) = &self.driver {
            // The session thread waits for the write: it can send the kernel's buffer as
            // it is, without the copy a task needs.
            return match rts.block_on(self.fs.write(fh.0, offset, data, kill)) {
                Ok(Ok(n)) => reply.written(n),
                Ok(Err(e)) => fail("write", reply, &e),
                Err(e) => fail("write", reply, &FsError::Core(benchfs::Error::Io(e.to_string()))),
            };
        }
        let (fs, data) = (self.fs.clone(), data.to_vec());
        self.spawn("write", reply, async move { fs.write(fh.0, offset, &data, kill).await }, |r, n| r.written(n));
    }

    fn flush(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _lock_owner: LockOwner, reply: ReplyEmpty) {
        let fs = self.fs.clone();
        self.spawn("flush", reply, async move { fs.flush(fh.0).await }, |r, ()| r.ok());
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        let fs = self.fs.clone();
        self.spawn("release", reply, async move { fs.release(fh.0).await }, |r, ()| r.ok());
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let fs = self.fs.clone();
        let call = async move { fs.fallocate(fh.0, offset, length, mode).await };
        self.spawn("fallocate", reply, call, |r, _| r.ok());
    }

    fn fsync(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        let fs = self.fs.clone();
        self.spawn("fsync", reply, async move { fs.fsync(fh.0).await }, |r, ()| r.ok());
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        let fs = self.fs.clone();
        let call = async move { fs.opendir(ino.0).await };
        self.spawn("opendir", reply, call, |r, fh| r.opened(FileHandle(fh), FopenFlags::empty()));
    }

    fn readdir(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        match self.fs.readdir(fh.0, offset, false, &mut Plain(&mut reply)) {
            Ok(()) => reply.ok(),
            Err(e) => fail("readdir", reply, &e),
        }
    }

    fn readdirplus(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, offset: u64, mut reply: ReplyDirectoryPlus) {
        let ttl = self.opts.attr_ttl;
        let stale = match self.fs.stale_entries(fh.0, offset) {
            Ok(stale) => stale,
            Err(e) => return fail("readdirplus", reply, &e),
        };
        if stale.is_empty() {
            return match self.fs.readdir(fh.0, offset, true, &mut Plus(&mut reply, ttl)) {
                Ok(()) => reply.ok(),
                Err(e) => fail("readdirplus", reply, &e),
            };
        }
        // The snapshot's attributes of this page are older than the kernel may keep
        // attributes: asked again first.
        let fs = self.fs.clone();
        let call = async move { fs.refresh_entries(fh.0, stale).await.map(|()| fs) };
        self.spawn("readdirplus", reply, call, move |mut reply, fs| {
            match fs.readdir(fh.0, offset, true, &mut Plus(&mut reply, ttl)) {
                Ok(()) => reply.ok(),
                Err(e) => fail("readdirplus", reply, &e),
            }
        });
    }

    fn releasedir(&self, _req: &Request, _ino: INodeNo, fh: FileHandle, _flags: OpenFlags, reply: ReplyEmpty) {
        match self.fs.releasedir(fh.0) {
            Ok(()) => reply.ok(),
            Err(e) => fail("releasedir", reply, &e),
        }
    }

    fn fsyncdir(&self, _req: &Request, _ino: INodeNo, _fh: FileHandle, _datasync: bool, reply: ReplyEmpty) {
        // Namespace changes are committed by the metadata owners; nothing is held here.
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let fs = self.fs.clone();
        self.spawn("statfs", reply, async move { fs.statfs().await }, |r, s| {
            let f = FsStat::from_statfs(&s);
            r.statfs(f.blocks, f.bfree, f.bavail, f.files, f.ffree, f.bsize, f.namemax, f.frsize)
        });
    }

    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        let fs = self.fs.clone();
        self.spawn("access", reply, async move { fs.access(ino.0).await }, |r, ()| r.ok());
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let (fs, name, who, ttl, fopen) =
            (self.fs.clone(), name.to_owned(), caller(req), self.opts.attr_ttl, self.open_flags(flags));
        let call = async move { fs.create(parent.0, &name, mode, flags, who).await };
        self.spawn("create", reply, call, move |r, (e, fh): (Entry, u64)| {
            r.created(&ttl, &file_attr(e.ino, &e.attr), Generation(0), FileHandle(fh), fopen)
        });
    }

    /// The interposer's question (the root's [`mount_info::IOCTL`]), answered to the user who
    /// mounted (and root) only: the description carries the cluster's secret. Every other
    /// ioctl is ENOTTY, as on a file system without ioctls.
    fn ioctl(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _flags: IoctlFlags,
        cmd: u32,
        _in_data: &[u8],
        out_size: u32,
        reply: ReplyIoctl,
    ) {
        if ino.0 == crate::inode::ROOT_INO && cmd == mount_info::INVAL_IOCTL {
            // Names the interposer changed: the kernel forgets them (this waits for it, so
            // another session thread answers requests meanwhile).
            self.fs.forget_changed(&mount_info::decode_paths(_in_data));
            return reply.ioctl(0, &[]);
        }
        if ino.0 != crate::inode::ROOT_INO || cmd != mount_info::IOCTL || self.description.is_empty() {
            return reply.error(Errno::ENOTTY);
        }
        // SAFETY: geteuid cannot fail and touches no memory.
        let owner = unsafe { libc::geteuid() };
        if req.uid() != owner && req.uid() != 0 {
            return reply.error(Errno::EACCES);
        }
        if self.description.len() > out_size as usize {
            return reply.error(Errno::ERANGE);
        }
        reply.ioctl(i32::try_from(self.description.len()).unwrap_or(i32::MAX), &self.description);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip() {
        for t in [(0, 0), (1_700_000_000, 123), (-2, 750_000_000)] {
            assert_eq!(wire_time(TimeOrNow::SpecificTime(system_time(t))), t);
        }
    }

    #[test]
    fn attrs_for_the_kernel() {
        let mut a = Attr {
            kind: FileKind::File,
            mode: 0o100644,
            uid: 5,
            gid: 6,
            size: 1025,
            atime: (1, 0),
            mtime: (2, 0),
            ctime: (3, 0),
            fid: 9,
            chunk_size: 1 << 20,
            written: 1025,
            rdev: 0,
            target: None,
            nlink: 1,
            linked: false,
        };
        let f = file_attr(7, &a);
        assert_eq!(
            (f.ino, f.kind, f.perm, f.nlink, f.blocks, f.blksize),
            (INodeNo(7), FileType::RegularFile, 0o644, 1, 8, 1 << 20)
        );
        a.kind = FileKind::Dir;
        assert_eq!(file_attr(7, &a).kind, FileType::Directory);
        a.kind = FileKind::CharDev;
        a.rdev = 0x0103;
        let f = file_attr(7, &a);
        assert_eq!((f.kind, f.rdev, f.nlink), (FileType::CharDevice, 0x0103, 1));
        a.kind = FileKind::Symlink;
        assert_eq!(file_attr(7, &a).kind, FileType::Symlink);
    }
}
