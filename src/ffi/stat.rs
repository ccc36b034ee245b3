//! Filling C's `struct stat` and `struct statvfs` from [`crate::stat`]'s figures.

use crate::stat::{ino_of, FsStat, Stat};
use crate::{Attr, StatFs};

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

/// `struct stat` for `a`, found at canonical `path`: the figures of [`Stat::from_attr`],
/// numbered by [`ino_of`] (the C API keeps no inode table).
pub fn to_stat(a: &Attr, path: &str) -> libc::stat {
    let s = Stat::from_attr(a, ino_of(a, path));
    // SAFETY: `struct stat` is plain old data; all-zero is a valid value of every field.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    st.st_mode = s.mode;
    st.st_nlink = sat(u64::from(s.nlink));
    st.st_ino = sat(s.ino);
    st.st_uid = s.uid;
    st.st_gid = s.gid;
    st.st_size = sat(s.size);
    st.st_rdev = sat(s.rdev);
    st.st_blksize = sat(u64::from(s.blksize));
    st.st_blocks = sat(s.blocks);
    st.st_atime = sat_i64(s.atime.0);
    st.st_atime_nsec = sat_i64(i64::from(s.atime.1));
    st.st_mtime = sat_i64(s.mtime.0);
    st.st_mtime_nsec = sat_i64(i64::from(s.mtime.1));
    st.st_ctime = sat_i64(s.ctime.0);
    st.st_ctime_nsec = sat_i64(i64::from(s.ctime.1));
    st
}

/// `struct statvfs` for the space summed over all servers: the figures of
/// [`FsStat::from_statfs`].
pub fn to_statvfs(s: &StatFs) -> libc::statvfs {
    let f = FsStat::from_statfs(s);
    // SAFETY: `struct statvfs` is plain old data; all-zero is a valid value of every field.
    let mut v: libc::statvfs = unsafe { std::mem::zeroed() };
    v.f_bsize = sat(u64::from(f.bsize));
    v.f_frsize = sat(u64::from(f.frsize));
    v.f_blocks = sat(f.blocks);
    v.f_bfree = sat(f.bfree);
    v.f_bavail = sat(f.bavail);
    v.f_files = sat(f.files);
    v.f_ffree = sat(f.ffree);
    v.f_favail = v.f_ffree;
    v.f_namemax = sat(u64::from(f.namemax));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stat::tests::attr;
    use crate::FileKind;

    #[test]
    fn file_and_dir_stat() {
        let f = to_stat(&attr(FileKind::File, 1000, 1 << 20), "/f");
        assert_eq!(f.st_mode, libc::S_IFREG | 0o1640);
        assert_eq!((f.st_nlink, f.st_size, f.st_blocks, f.st_blksize), (3, 1000, 8, 1 << 20));
        assert_eq!((f.st_uid, f.st_gid, f.st_mtime, f.st_mtime_nsec), (7, 8, 3, 4));
        // A file's inode follows its id, not its path (rename keeps it).
        assert_eq!(f.st_ino, to_stat(&attr(FileKind::File, 1000, 1 << 20), "/g").st_ino);
        let d = to_stat(&attr(FileKind::Dir, 0, 0), "/d");
        assert_eq!((d.st_mode & libc::S_IFMT, d.st_nlink, d.st_blksize), (libc::S_IFDIR, 3, 4096));
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
