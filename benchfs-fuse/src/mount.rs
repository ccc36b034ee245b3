//! Mounting and unmounting: up-front checks with clear messages, the fuser session
//! configuration, and an unmount that detaches lazily when the mount is busy.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use fuser::{BackgroundSession, MountOption, SessionACL};

use crate::fs::KernelNames;
use crate::fuse::FuseAdapter;

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mountpoint {0} does not exist (create it with `mkdir -p {0}`)")]
    Missing(PathBuf),
    #[error("mountpoint {0} is not a directory")]
    NotDir(PathBuf),
    #[error(
        "mountpoint {0} is a stale FUSE mount (transport endpoint is not connected: its daemon died); \
         clean it up with `fusermount3 -u {0}` or `umount -l {0}`"
    )]
    Stale(PathBuf),
    #[error("mountpoint {0} is busy: a {1} file system is already mounted there; unmount it first")]
    Busy(PathBuf, String),
    #[error("cannot use mountpoint {path}: {source}")]
    Inaccessible {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "cannot open /dev/fuse: {0} (load the module with `modprobe fuse`; in a container, pass the device \
         and the capability, e.g. `--device /dev/fuse --cap-add SYS_ADMIN`)"
    )]
    NoDevFuse(#[source] io::Error),
    #[error("mounting {path} failed: {source}")]
    Mount {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unmounting {path} failed: {source}")]
    Unmount {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Checks that `path` can be mounted on and returns its canonical form.
///
/// # Errors
/// [`MountError::Missing`], [`MountError::NotDir`], [`MountError::Stale`] (a FUSE mount whose
/// daemon is gone), [`MountError::Busy`] (something is mounted there), or
/// [`MountError::Inaccessible`].
pub fn check_mountpoint(path: &Path) -> Result<PathBuf, MountError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => return Err(MountError::Stale(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(MountError::Missing(path.to_path_buf())),
        Err(source) => return Err(MountError::Inaccessible { path: path.to_path_buf(), source }),
    };
    if !meta.is_dir() {
        return Err(MountError::NotDir(path.to_path_buf()));
    }
    let canonical =
        path.canonicalize().map_err(|source| MountError::Inaccessible { path: path.to_path_buf(), source })?;
    if let Some(fstype) = mounted_at(&canonical) {
        // The kernel may answer stat from cached attributes; statfs always asks the daemon.
        if statfs(&canonical).is_err_and(|e| e.raw_os_error() == Some(libc::ENOTCONN)) {
            return Err(MountError::Stale(canonical));
        }
        return Err(MountError::Busy(canonical, fstype));
    }
    Ok(canonical)
}

fn statfs(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c` is a valid NUL-terminated path and `buf` has room for a statfs.
    if unsafe { libc::statfs(c.as_ptr(), buf.as_mut_ptr()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The type of the file system mounted at `path` (canonical), if any, from /proc/self/mounts.
pub fn mounted_at(path: &Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().rev().find_map(|line| {
        let mut fields = line.split(' ');
        let (_src, dir, fstype) = (fields.next()?, fields.next()?, fields.next()?);
        (unescape_mount_field(dir) == path.as_os_str().as_bytes()).then(|| fstype.to_string())
    })
}

/// Undoes the octal escapes (`\040` for a space, ...) of /proc/self/mounts.
fn unescape_mount_field(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |acc, c| acc.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    out
}

/// Checks that /dev/fuse can be opened (the module is loaded and we may use it).
///
/// # Errors
/// [`MountError::NoDevFuse`] with the reason.
pub fn check_dev_fuse() -> Result<(), MountError> {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse").map(drop).map_err(MountError::NoDevFuse)
}

/// How the session is mounted.
#[derive(Debug, Clone)]
pub struct MountOptions {
    /// Let other users in (`allow_other`; non-root callers need `user_allow_other` in
    /// /etc/fuse.conf).
    pub allow_other: bool,
    /// Session threads reading /dev/fuse, each on its own cloned descriptor.
    pub threads: usize,
    /// Shown as the source in /proc/mounts.
    pub fsname: String,
    /// Read-ahead window to set on the mount, in KiB (best effort, needs root).
    pub read_ahead_kib: Option<u32>,
}

/// A live mount; dropping it unmounts.
pub struct Mounted {
    session: BackgroundSession,
    path: PathBuf,
}

/// How [`Mounted::unmount`] went.
#[derive(Debug, PartialEq, Eq)]
pub enum Unmounted {
    Clean,
    /// The mount was busy: it was detached from the tree and lives on until its last user
    /// lets go (the session then ends by itself).
    Detached,
}

/// Mounts `adapter` on `path` (canonical) and starts the session threads. When this returns
/// the kernel has completed the FUSE handshake, so the mount is live.
///
/// # Errors
/// [`MountError::Mount`] with the kernel's or fusermount3's reason.
pub fn mount(adapter: FuseAdapter, path: &Path, opts: &MountOptions) -> Result<Mounted, MountError> {
    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName(opts.fsname.clone()),
        MountOption::Subtype("benchfs".into()),
        MountOption::DefaultPermissions,
        MountOption::NoAtime,
    ];
    config.acl = if opts.allow_other { SessionACL::All } else { SessionACL::Owner };
    config.n_threads = Some(opts.threads.max(1));
    config.clone_fd = opts.threads > 1;
    let session = fuser::spawn_mount(adapter, path, &config)
        .map_err(|source| MountError::Mount { path: path.to_path_buf(), source })?;
    if let Some(kib) = opts.read_ahead_kib {
        if let Err(e) = raise_read_ahead(path, kib) {
            tracing::debug!(error = %e, "read-ahead left at the kernel's default");
        }
    }
    Ok(Mounted { session, path: path.to_path_buf() })
}

/// Sets the mount's read-ahead window (its BDI's `read_ahead_kb`; root only). The kernel
/// offers FUSE at most its default window (128 KiB) at init, which splits sequential
/// reads into 128 KiB requests; a window of several requests keeps that many in flight
/// (one cold sequential reader: 1.3-1.4 GB/s with 1 MiB, 1.5-1.7 GB/s with 4 MiB here).
fn raise_read_ahead(path: &Path, kib: u32) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata(path)?.dev();
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    std::fs::write(format!("/sys/class/bdi/{major}:{minor}/read_ahead_kb"), kib.to_string())
}

impl Mounted {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Unmounts and waits for the session threads; a busy mount is detached instead
    /// (`umount -l`), and the session ends when its last user is gone.
    ///
    /// # Errors
    /// [`MountError::Unmount`] when neither worked.
    pub fn unmount(self) -> Result<Unmounted, MountError> {
        let path = self.path;
        match self.session.umount_and_join() {
            Ok(()) => Ok(Unmounted::Clean),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                tracing::warn!(path = %path.display(), "mount is busy; detaching it (lazy unmount)");
                detach(&path).map_err(|source| MountError::Unmount { path: path.clone(), source })?;
                Ok(Unmounted::Detached)
            }
            // Already gone (`umount` raced with us).
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(Unmounted::Clean),
            Err(source) => Err(MountError::Unmount { path, source }),
        }
    }

    /// The kernel's name cache of this mount, for [`crate::fs::BenchFs::set_kernel_names`].
    pub fn kernel_names(&self) -> Box<dyn KernelNames> {
        Box::new(Invalidator::start(self.session.notifier()))
    }

    /// Waits for the session threads after the mount went away by itself.
    pub fn join(self) {
        if let Err(e) = self.session.join() {
            tracing::warn!(error = %e, "FUSE session ended with an error");
        }
    }
}

/// Sends FUSE_NOTIFY_INVAL_ENTRY from a thread of its own: the kernel handles it within
/// the write to /dev/fuse and locks the parent directory first, which a request still
/// waiting for the caller's reply may hold. The thread ends with the last sender.
struct Invalidator(std::sync::mpsc::Sender<Inval>);

enum Inval {
    Name(u64, String),
    /// An inode's attributes and cached pages.
    Inode(u64),
    /// Answered once every name sent before it was handed to the kernel.
    Done(std::sync::mpsc::SyncSender<()>),
}

impl Invalidator {
    fn start(notifier: fuser::Notifier) -> Invalidator {
        let (tx, rx) = std::sync::mpsc::channel::<Inval>();
        std::thread::Builder::new()
            .name("benchfs-inval".into())
            .spawn(move || {
                for m in rx {
                    match m {
                        Inval::Name(parent, name) => {
                            // Fails when the mount is going away; nothing is cached then.
                            if let Err(e) = notifier.inval_entry(fuser::INodeNo(parent), name.as_ref()) {
                                tracing::debug!(parent, name, error = %e, "kernel kept a name");
                            }
                        }
                        Inval::Inode(ino) => {
                            if let Err(e) = notifier.inval_inode(fuser::INodeNo(ino), 0, 0) {
                                tracing::debug!(ino, error = %e, "kernel kept an inode's attributes");
                            }
                        }
                        Inval::Done(ack) => {
                            let _ = ack.try_send(());
                        }
                    }
                }
            })
            .map_or_else(|e| tracing::warn!(error = %e, "no thread to invalidate names"), |_| ());
        Invalidator(tx)
    }
}

impl KernelNames for Invalidator {
    fn forget(&self, parent: u64, name: &str) {
        let _ = self.0.send(Inval::Name(parent, name.to_string()));
    }

    fn forget_now(&self, names: Vec<(u64, String)>, inodes: Vec<u64>, wait: std::time::Duration) {
        for (parent, name) in names {
            let _ = self.0.send(Inval::Name(parent, name));
        }
        for ino in inodes {
            let _ = self.0.send(Inval::Inode(ino));
        }
        let (ack, done) = std::sync::mpsc::sync_channel(1);
        if self.0.send(Inval::Done(ack)).is_ok() {
            let _ = done.recv_timeout(wait);
        }
    }
}

/// `umount2(path, MNT_DETACH)`.
fn detach(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_proc_mounts() {
        assert_eq!(unescape_mount_field(r"/mnt/a\040b\134c"), b"/mnt/a b\\c");
        assert_eq!(unescape_mount_field(r"/x\04"), b"/x\\04");
    }

    #[test]
    fn mountpoint_errors() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(check_mountpoint(&dir.path().join("nope")), Err(MountError::Missing(_))));
        let f = dir.path().join("f");
        std::fs::write(&f, b"").unwrap();
        assert!(matches!(check_mountpoint(&f), Err(MountError::NotDir(_))));
        assert_eq!(check_mountpoint(dir.path()).unwrap(), dir.path().canonicalize().unwrap());
        if Path::new("/proc").is_dir() {
            assert!(matches!(check_mountpoint(Path::new("/proc")), Err(MountError::Busy(_, t)) if t == "proc"));
        }
    }
}
