//! The file system's records: what a metadata store keeps, the wire carries and the
//! client returns. Neutral ground: neither storage nor wire code owns these types.

use serde::{Deserialize, Serialize};

/// 128-bit file id, assigned by the metadata owner at create; chunks are keyed by it,
/// so rename never moves data.
pub type FileId = u128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    File,
    Dir,
    // New kinds go at the end: postcard encodes the declaration index.
    /// A symbolic link: [`Attr::target`] is what it points to.
    Symlink,
    /// Special files: metadata records only. The kernel gives a mounted FIFO or socket
    /// its semantics locally; BenchFS never carries their data.
    Fifo,
    Socket,
    CharDev,
    BlockDev,
}

impl FileKind {
    /// The `S_IFMT` type bits of this kind.
    pub fn type_bits(self) -> u32 {
        match self {
            FileKind::File => libc::S_IFREG,
            FileKind::Dir => libc::S_IFDIR,
            FileKind::Symlink => libc::S_IFLNK,
            FileKind::Fifo => libc::S_IFIFO,
            FileKind::Socket => libc::S_IFSOCK,
            FileKind::CharDev => libc::S_IFCHR,
            FileKind::BlockDev => libc::S_IFBLK,
        }
    }

    /// The kind of the `S_IFMT` bits of `mode`, if any.
    pub fn from_mode(mode: u32) -> Option<FileKind> {
        Some(match mode & libc::S_IFMT {
            libc::S_IFREG => FileKind::File,
            libc::S_IFDIR => FileKind::Dir,
            libc::S_IFLNK => FileKind::Symlink,
            libc::S_IFIFO => FileKind::Fifo,
            libc::S_IFSOCK => FileKind::Socket,
            libc::S_IFCHR => FileKind::CharDev,
            libc::S_IFBLK => FileKind::BlockDev,
            _ => return None,
        })
    }

    /// A FIFO, socket or device: what `Mknod` makes.
    pub fn is_special(self) -> bool {
        matches!(self, FileKind::Fifo | FileKind::Socket | FileKind::CharDev | FileKind::BlockDev)
    }
}

/// Longest symbolic link target, in bytes (PATH_MAX less its NUL).
pub const MAX_TARGET: usize = 4095;

/// Attributes of a path, as stored by its metadata owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attr {
    pub kind: FileKind,
    /// Permission bits only (no type bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    /// Seconds and nanoseconds since the epoch.
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
    /// Symbolic links, special files and directories get one too, as their identity
    /// only: they have no chunks. Zero for the root (and for directories made before
    /// protocol version 4).
    pub fid: FileId,
    /// Chunk size the file was created with; zero for everything but regular files.
    pub chunk_size: u32,
    /// Bytes its writers reported writing, at most `size`: what `st_blocks` counts, so a
    /// sparse file's holes are not (overwrites can only make it count fewer holes).
    pub written: u64,
    /// Device number of a character or block device; zero for everything else.
    pub rdev: u64,
    /// What a symbolic link points to (at most [`MAX_TARGET`] bytes, never empty, no NUL);
    /// None for everything else. Its length is the link's `size`.
    pub target: Option<String>,
    /// Names this file has. 1 until the file is first hard-linked; a directory's is 2 plus
    /// its subdirectories (kept by its owner from the batched touches of its parent).
    pub nlink: u32,
    /// The file has (or had) more than one name: a name's record is then only a pointer
    /// (kind and `fid`), and the attributes live in one inode record keyed by `fid` at
    /// [`crate::placement::Ring::inode_owner`]. Never-linked files have no inode record,
    /// so they pay nothing for hard links.
    pub linked: bool,
}

impl Attr {
    /// access(2)'s answer for `uid`/`gid` and `mode` (R_OK, W_OK, X_OK bits) from the mode
    /// bits: root may read and write anything, and execute what anyone may execute.
    pub fn allows(&self, uid: u32, gid: u32, mode: i32) -> bool {
        let bits = if uid == 0 {
            0o6 | if self.is_dir() || self.mode & 0o111 != 0 { 0o1 } else { 0 }
        } else if uid == self.uid {
            (self.mode >> 6) & 7
        } else if gid == self.gid {
            (self.mode >> 3) & 7
        } else {
            self.mode & 7
        };
        let want = (mode & (libc::R_OK | libc::W_OK | libc::X_OK)) as u32;
        want & !bits == 0
    }

    /// A fresh record: every time `t`, size 0; `chunk_size` is 0 for directories.
    pub fn new(kind: FileKind, mode: u32, (uid, gid): (u32, u32), t: (i64, u32), fid: FileId, chunk_size: u32) -> Attr {
        Attr {
            kind,
            mode: mode & 0o7777,
            uid,
            gid,
            size: 0,
            atime: t,
            mtime: t,
            ctime: t,
            fid,
            chunk_size,
            written: 0,
            rdev: 0,
            target: None,
            nlink: if kind == FileKind::Dir { 2 } else { 1 },
            linked: false,
        }
    }

    /// The root, "/": it has no record and always exists. One answer everywhere (the
    /// client, the servers, the mount's "." and ".."): world-writable, as a job's scratch
    /// space is shared by its ranks, owned by root.
    pub fn root() -> Attr {
        Attr::synthetic_dir(ROOT_MODE)
    }

    /// A directory owned by root with times at the epoch (the root, "." and "..").
    /// A directory without a record (the root, "." and ".." in listings): its count of
    /// subdirectories is unknown, so its `nlink` is 1, which tools read as "unknown".
    pub fn synthetic_dir(mode: u32) -> Attr {
        let mut a = Attr::new(FileKind::Dir, mode, (0, 0), (0, 0), 0, 0);
        a.nlink = 1;
        a
    }

    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }

    /// A regular file: the only kind with chunks.
    pub fn is_file(&self) -> bool {
        self.kind == FileKind::File
    }

    pub fn is_symlink(&self) -> bool {
        self.kind == FileKind::Symlink
    }
}

/// The permission bits of "/" ([`Attr::root`]).
pub const ROOT_MODE: u32 = 0o777;

/// A change of attributes; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Exact new size (truncate).
    pub size: Option<u64>,
    /// Raise the size to at least this (close/fsync after writes); bumps mtime.
    pub grow_to: Option<u64>,
    /// Bytes written since the writer last published (added to `Attr::written`).
    pub wrote: Option<u64>,
    pub atime: Option<(i64, u32)>,
    pub mtime: Option<(i64, u32)>,
}

/// Seconds and nanoseconds since the epoch, now.
pub fn now() -> (i64, u32) {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    (i64::try_from(d.as_secs()).unwrap_or(i64::MAX), d.subsec_nanos())
}
