//! The POSIX view of BenchFS records: what `stat(2)` and `statfs(2)` report for an
//! [`Attr`] and for the space summed over the servers ([`StatFs`]).
//!
//! The one conversion every front end uses (the C API's `struct stat`/`struct statvfs`,
//! the FUSE mount's replies), so the same file shows the same figures through each.
//! Only the inode number is the front end's: see [`Stat::from_attr`].

use xxhash_rust::xxh3::xxh3_64;

use crate::meta::{Attr, FileKind};
use crate::path::MAX_NAME;
use crate::proto::StatFs;

/// Block size reported by statfs (space is counted in these units), and the preferred
/// I/O size of what has no chunk size of its own (directories).
pub const FS_BLOCK: u32 = 4096;

/// `st_blocks` counts units of this many bytes, whatever the block size.
pub const STAT_BLOCK: u64 = 512;

/// What `stat(2)` reports for one file or directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub ino: u64,
    /// Type bits (`S_IFREG`, `S_IFDIR`, `S_IFLNK`, `S_IFIFO`, `S_IFSOCK`, `S_IFCHR`,
    /// `S_IFBLK`) and permission bits.
    pub mode: u32,
    /// A file's names (hard links); 2 for directories (subdirectories are not counted,
    /// as on btrfs' predecessors: tools that rely on the count, like `find`'s leaf
    /// optimisation, treat any value below 2 or a constant 2 safely).
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    /// A file's bytes; a symbolic link's target length; 0 for special files.
    pub size: u64,
    /// Device number of a character or block device, else 0.
    pub rdev: u64,
    /// Units of [`STAT_BLOCK`] bytes: the size rounded up (holes are not known here).
    pub blocks: u64,
    /// A file's chunk size; [`FS_BLOCK`] for directories (and for a file without one).
    pub blksize: u32,
    /// Seconds and nanoseconds since the epoch.
    pub atime: (i64, u32),
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
}

impl Stat {
    /// The stat of `a`, numbered `ino`. Callers without an inode table of their own (the
    /// C API) pass [`ino_of`]; the FUSE mount passes the number its inode table gave the
    /// path, because the kernel names inodes by the numbers lookup returned.
    pub fn from_attr(a: &Attr, ino: u64) -> Stat {
        // 0 links: a file the FUSE mount keeps open after its unlink (never a record's own
        // count, which is at least 1 while a name has it; a linked name's pointer record
        // may carry none of its own, hence the floor for linked files).
        let links = if a.linked { a.nlink.max(1) } else { a.nlink };
        let (nlink, blksize) = match a.kind {
            FileKind::Dir => (a.nlink.max(1), FS_BLOCK),
            FileKind::File if a.chunk_size > 0 => (links, a.chunk_size),
            _ => (links, FS_BLOCK),
        };
        Stat {
            ino,
            mode: a.kind.type_bits() | (a.mode & 0o7777),
            nlink,
            uid: a.uid,
            gid: a.gid,
            size: a.size,
            rdev: a.rdev,
            // Bytes written, in whole 4 KiB blocks as a local file system allocates them.
            blocks: a.written.min(a.size).div_ceil(u64::from(FS_BLOCK)) * (u64::from(FS_BLOCK) / STAT_BLOCK),
            blksize,
            atime: a.atime,
            mtime: a.mtime,
            ctime: a.ctime,
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    /// The permission bits (setuid, setgid and sticky included).
    pub fn perm(&self) -> u32 {
        self.mode & 0o7777
    }
}

/// The inode number of `a` found at canonical `path`, for front ends without an inode
/// table: a hash of the file id (so a rename keeps it), or of the path for directories
/// (which have no id); never 0, which some tools read as "no file".
pub fn ino_of(a: &Attr, path: &str) -> u64 {
    let h = if a.is_dir() { xxh3_64(path.as_bytes()) } else { xxh3_64(&a.fid.to_le_bytes()) };
    h.max(1)
}

/// What `statfs(2)` reports for the space summed over all servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStat {
    pub bsize: u32,
    pub frsize: u32,
    /// Units of `frsize`.
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    /// Records in use plus [`FsStat::ffree`].
    pub files: u64,
    /// There is no inode table: free inodes are reported as available blocks, an upper
    /// bound on what fits, so `df -i` follows the space.
    pub ffree: u64,
    pub namemax: u32,
}

impl FsStat {
    pub fn from_statfs(s: &StatFs) -> FsStat {
        let block = u64::from(FS_BLOCK);
        let ffree = s.avail_bytes / block;
        FsStat {
            bsize: FS_BLOCK,
            frsize: FS_BLOCK,
            blocks: s.total_bytes / block,
            bfree: s.free_bytes / block,
            bavail: s.avail_bytes / block,
            files: s.inodes.saturating_add(ffree),
            ffree,
            namemax: MAX_NAME as u32,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record with every field distinct, for the conversions' tests.
    pub(crate) fn attr(kind: FileKind, size: u64, chunk_size: u32) -> Attr {
        Attr {
            kind,
            mode: 0o1640,
            uid: 7,
            gid: 8,
            size,
            atime: (1, 2),
            mtime: (3, 4),
            ctime: (-5, 6),
            fid: 42,
            chunk_size,
            written: size,
            rdev: 0,
            target: None,
            nlink: 3,
            linked: true,
        }
    }

    #[test]
    fn file_stat() {
        let s = Stat::from_attr(&attr(FileKind::File, 1025, 1 << 20), 9);
        assert_eq!(s.mode, libc::S_IFREG | 0o1640);
        // 1025 bytes written take one 4 KiB block, 8 units of 512 bytes, as on ext4/tmpfs.
        assert_eq!((s.ino, s.nlink, s.size, s.blocks, s.blksize), (9, 3, 1025, 8, 1 << 20));
        // A sparse file counts what was written, not its holes.
        let sparse = Attr { written: 4096, ..attr(FileKind::File, 1 << 30, 1 << 20) };
        assert_eq!(Stat::from_attr(&sparse, 9).blocks, 8);
        let unwritten = Attr { written: 0, ..attr(FileKind::File, 1 << 30, 1 << 20) };
        assert_eq!(Stat::from_attr(&unwritten, 9).blocks, 0);
        assert_eq!((s.uid, s.gid, s.atime, s.mtime, s.ctime), (7, 8, (1, 2), (3, 4), (-5, 6)));
        assert!(!s.is_dir());
        assert_eq!(s.perm(), 0o1640);
        // A file without a chunk size (never expected) still has a usable block size.
        assert_eq!(Stat::from_attr(&attr(FileKind::File, 0, 0), 1).blksize, FS_BLOCK);
        // Stray type bits in the record never leak into the reported mode.
        let mut a = attr(FileKind::File, 0, 4096);
        a.mode = 0o40755;
        assert_eq!(Stat::from_attr(&a, 1).mode, libc::S_IFREG | 0o755);
    }

    #[test]
    fn dir_stat_ignores_chunk_size() {
        // A record's nlink 3: a directory with one subdirectory.
        let s = Stat::from_attr(&attr(FileKind::Dir, 0, 0), 3);
        assert_eq!((s.mode & libc::S_IFMT, s.nlink, s.blksize, s.blocks), (libc::S_IFDIR, 3, FS_BLOCK, 0));
        assert!(s.is_dir());
    }

    #[test]
    fn links_and_special_files() {
        let mut l = attr(FileKind::Symlink, 5, 0);
        l.target = Some("../ab".into());
        let s = Stat::from_attr(&l, 4);
        assert_eq!((s.mode & libc::S_IFMT, s.nlink, s.size, s.blksize), (libc::S_IFLNK, 3, 5, FS_BLOCK));
        for (k, bits) in [
            (FileKind::Fifo, libc::S_IFIFO),
            (FileKind::Socket, libc::S_IFSOCK),
            (FileKind::CharDev, libc::S_IFCHR),
            (FileKind::BlockDev, libc::S_IFBLK),
        ] {
            let mut a = attr(k, 0, 0);
            a.rdev = 0x0103;
            let s = Stat::from_attr(&a, 4);
            assert_eq!((s.mode & libc::S_IFMT, s.rdev, s.perm()), (bits, 0x0103, 0o1640));
            assert_eq!(FileKind::from_mode(s.mode), Some(k));
        }
    }

    #[test]
    fn inode_numbers() {
        let f = attr(FileKind::File, 0, 4096);
        // A file's number follows its id, not its path (rename keeps it).
        assert_eq!(ino_of(&f, "/f"), ino_of(&f, "/g"));
        let d = attr(FileKind::Dir, 0, 0);
        assert_ne!(ino_of(&d, "/d"), ino_of(&d, "/e"));
        assert_ne!(ino_of(&d, "/d"), 0);
    }

    #[test]
    fn fs_stat_in_blocks() {
        let s = StatFs {
            total_bytes: 8192 * 10,
            free_bytes: 8192 * 5 + 100,
            avail_bytes: 8192 * 4,
            inodes: 3,
            ..Default::default()
        };
        let f = FsStat::from_statfs(&s);
        assert_eq!((f.bsize, f.frsize, f.blocks, f.bfree, f.bavail), (4096, 4096, 20, 10, 8));
        assert_eq!((f.files, f.ffree, f.namemax), (11, 8, 255));
        let huge = StatFs { avail_bytes: u64::MAX, inodes: u64::MAX, ..Default::default() };
        assert_eq!(FsStat::from_statfs(&huge).files, u64::MAX);
    }
}
