//! Filling C's `struct stat` and `struct statvfs` from BenchFS attributes.

use xxhash_rust::xxh3::xxh3_64;

use crate::path::MAX_NAME;
use crate::{Attr, StatFs};

/// Block size reported by statfs; space is counted in these units.
const FS_BLOCK: u64 = 4096;

/// A C integer field from a wider or differently signed value, saturating
/// instead of wrapping (times and sizes come from the servers).
fn sat<T: TryFrom<u64> + Bounded>(v: u64) -> T {
    T::try_from(v).unwrap_or(T::MAX)
}

fn sat_i64<T: TryFrom<i64> + Bounded>(v: i64) -> T {
    T::try_from(v).unwrap_or(if v < 0 { T::MIN } else { T::MAX })
}

/// The bounds of the integer types in `struct stat` (their widths differ by platform).
trait Bounded {
    const MIN: Self;
    const MAX: Self;
}

macro_rules! bounded {
    ($($t:ty),*) => { $(impl Bounded for $t { const MIN: Self = <$t>::MIN; const MAX: Self = <$t>::MAX; })* };
}
bounded!(i32, u32, i64, u64);

/// Inode number: a hash of the file id, or of the path for directories (which have
/// no id); never 0, which some tools read as "no file".
fn inode(a: &Attr, path: &str) -> u64 {
    let h = if a.is_dir() { xxh3_64(path.as_bytes()) } else { xxh3_64(&a.fid.to_le_bytes()) };
    h.max(1)
}

/// `struct stat` for `a`, found at canonical `path`. Directories
/// report `dir_blksize` (the client's chunk size), having none of their own.
pub fn to_stat(a: &Attr, path: &str, dir_blksize: u32) -> libc::stat {
    // SAFETY: `struct stat` is plain old data; all-zero is a valid value of every field.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let (kind, nlink, blksize) =
        if a.is_dir() { (libc::S_IFDIR, 2, dir_blksize) } else { (libc::S_IFREG, 1, a.chunk_size) };
    st.st_mode = kind | (a.mode & 0o7777);
    st.st_nlink = nlink;
    st.st_ino = sat(inode(a, path));
    st.st_uid = a.uid;
    st.st_gid = a.gid;
    st.st_size = sat(a.size);
    st.st_blksize = sat(u64::from(blksize.max(1)));
    st.st_blocks = sat(a.size.div_ceil(512));
    st.st_atime = sat_i64(a.atime.0);
    st.st_atime_nsec = sat_i64(i64::from(a.atime.1));
    st.st_mtime = sat_i64(a.mtime.0);
    st.st_mtime_nsec = sat_i64(i64::from(a.mtime.1));
    st.st_ctime = sat_i64(a.ctime.0);
    st.st_ctime_nsec = sat_i64(i64::from(a.ctime.1));
    st
}

/// `struct statvfs` for the space summed over all servers. There is no inode table:
/// free inodes are reported as free blocks, an upper bound on what fits.
pub fn to_statvfs(s: &StatFs) -> libc::statvfs {
    // SAFETY: `struct statvfs` is plain old data; all-zero is a valid value of every field.
    let mut v: libc::statvfs = unsafe { std::mem::zeroed() };
    v.f_bsize = sat(FS_BLOCK);
    v.f_frsize = sat(FS_BLOCK);
    v.f_blocks = sat(s.total_bytes / FS_BLOCK);
    v.f_bfree = sat(s.free_bytes / FS_BLOCK);
    v.f_bavail = sat(s.avail_bytes / FS_BLOCK);
    v.f_ffree = sat(s.avail_bytes / FS_BLOCK);
    v.f_favail = v.f_ffree;
    v.f_files = sat(s.inodes.saturating_add(s.avail_bytes / FS_BLOCK));
    v.f_namemax = sat(MAX_NAME as u64);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FileKind;

    fn attr(kind: FileKind, size: u64) -> Attr {
        Attr {
            kind,
            mode: 0o640,
            uid: 7,
            gid: 8,
            size,
            atime: (1, 2),
            mtime: (3, 4),
            ctime: (5, 6),
            fid: 42,
            chunk_size: 1 << 20,
        }
    }

    #[test]
    fn file_and_dir_stat() {
        let f = to_stat(&attr(FileKind::File, 1000), "/f", 4096);
        assert_eq!(f.st_mode, libc::S_IFREG | 0o640);
        assert_eq!((f.st_nlink, f.st_size, f.st_blocks, f.st_blksize), (1, 1000, 2, 1 << 20));
        assert_eq!((f.st_uid, f.st_gid, f.st_mtime, f.st_mtime_nsec), (7, 8, 3, 4));
        // A file's inode follows its id, not its path (rename keeps it).
        assert_eq!(f.st_ino, to_stat(&attr(FileKind::File, 1000), "/g", 4096).st_ino);
        let mut d = attr(FileKind::Dir, 0);
        d.chunk_size = 0;
        let d = to_stat(&d, "/d", 4096);
        assert_eq!((d.st_mode & libc::S_IFMT, d.st_nlink, d.st_blksize), (libc::S_IFDIR, 2, 4096));
        assert_ne!(d.st_ino, 0);
    }

    #[test]
    fn statvfs_in_blocks() {
        let s = StatFs {
            total_bytes: 8192 * 10,
            free_bytes: 8192 * 5,
            avail_bytes: 8192 * 4,
            inodes: 3,
            ..Default::default()
        };
        let v = to_statvfs(&s);
        assert_eq!((v.f_bsize, v.f_blocks, v.f_bfree, v.f_bavail), (4096, 20, 10, 8));
        assert_eq!((v.f_files, v.f_namemax), (11, 255));
    }
}
