//! The two sides of a copy behind one trait: a local directory ([`super::local`]) and a
//! BenchFS directory ([`super::remote`]). Stage-in reads a local tree and writes a remote
//! one, stage-out the reverse; the copy code is written once against [`Tree`].
//!
//! Paths given to a tree are relative to its root ("" is the root itself, "a/b" below it).

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::StageError;

/// Seconds and nanoseconds since the epoch (negative seconds: before it).
pub type Time = (i64, u32);

/// What a copy needs of a directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub size: u64,
    /// Permission bits (with setuid/setgid/sticky).
    pub mode: u32,
    pub atime: Time,
    pub mtime: Time,
    /// A symbolic link's target.
    pub target: Option<String>,
    /// A BenchFS file's chunk size (0 on a local file system): ranges align to it.
    pub chunk: u64,
    /// A regular file with more than one name: its identity (device and inode, or file
    /// id), the same for every name, so the copy gets as many names of one file.
    pub link_id: Option<u128>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    /// A FIFO, socket or device: reported and left out.
    Other(&'static str),
}

/// Attributes set on a copy once its content is complete. `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct Attrs {
    /// Exact size (cuts what an older, longer copy left; makes a trailing hole).
    pub size: Option<u64>,
    pub mode: Option<u32>,
    pub times: Option<(Time, Time)>,
}

impl Attrs {
    /// The attributes a finished copy of `m` gets.
    pub fn of(m: &Meta) -> Attrs {
        let size = (m.kind == Kind::File).then_some(m.size);
        let mode = (m.kind != Kind::Symlink).then_some(m.mode);
        Attrs { size, mode, times: Some((m.atime, m.mtime)) }
    }
}

pub type Res<T> = Result<T, StageError>;

/// A directory's entries by name, and why some could not be listed.
pub type Listing = (Vec<(String, Meta)>, Option<StageError>);

/// One side of a copy. Handles are cheap to clone: the ranges of one file are copied by
/// several tasks at once.
///
/// Buffers travel by value (`Vec<u8>` of which the first `len` bytes count) because a
/// local read or write runs on a blocking thread that must own its buffer.
pub trait Tree: Sized + Send + Sync + 'static {
    /// An open file, for reading and (when opened to write) writing.
    type Handle: Clone + Send + Sync + 'static;

    /// The full name of `rel`, for messages.
    fn name(&self, rel: &str) -> String;
    /// The same side rooted at `root` (a full name).
    fn at(&self, root: &str) -> Result<Self, StageError>;
    /// Chunk size of files this side creates (0: no chunks); ranges align to it.
    fn chunk_size(&self) -> u64;
    /// The entry itself (a link is not followed); `None` when there is none.
    fn stat(&self, rel: &str) -> impl Future<Output = Res<Option<Meta>>> + Send;
    /// The entries of a directory, with the error of what could not be listed (a
    /// BenchFS server that is down): the rest is still copied.
    fn list(&self, rel: &str) -> impl Future<Output = Res<Listing>> + Send;
    /// Creates a directory ("": the root, with its parents). Returns whether it is new
    /// (then nothing from an earlier run is in it); an existing directory is not an error.
    /// A symbolic link in its place (below the root) is replaced by the directory, as
    /// rsync does: the copy never writes through it to somewhere outside the root.
    fn mkdir(&self, rel: &str) -> impl Future<Output = Res<bool>> + Send;
    /// Removes a non-directory.
    fn remove(&self, rel: &str) -> impl Future<Output = Res<()>> + Send;
    fn symlink(&self, target: &str, rel: &str) -> impl Future<Output = Res<()>> + Send;
    /// Gives the file at `existing` the further name `rel` (a hard link).
    fn link(&self, existing: &str, rel: &str) -> impl Future<Output = Res<()>> + Send;
    fn open_read(&self, rel: &str) -> impl Future<Output = Res<Self::Handle>> + Send;
    /// Reads `buf[..len]` from `off`; returns the buffer and how much of it was read
    /// (less only at the end of the file).
    fn read(
        &self,
        r: &Self::Handle,
        buf: Vec<u8>,
        len: usize,
        off: u64,
    ) -> impl Future<Output = Res<(Vec<u8>, usize)>> + Send;
    /// Opens (creating if needed, never truncating) a file to write ranges of (and read
    /// them back with `--verify`).
    fn open_write(&self, rel: &str) -> impl Future<Output = Res<Self::Handle>> + Send;
    fn write(&self, w: &Self::Handle, buf: Vec<u8>, len: usize, off: u64) -> impl Future<Output = Res<Vec<u8>>> + Send;
    /// Makes what this writer wrote visible and gives the file `a` (when given).
    fn finish(&self, w: &Self::Handle, a: Option<&Attrs>) -> impl Future<Output = Res<()>> + Send;
    /// Sets attributes by name (directories, links, files other ranks wrote too).
    fn set_attrs(&self, rel: &str, a: &Attrs) -> impl Future<Output = Res<()>> + Send;
}

/// `rel` below `root`, for either kind of path.
pub fn join(root: &str, rel: &str) -> String {
    match (root.trim_end_matches('/'), rel) {
        ("", "") => root.to_string(),
        (r, "") => r.to_string(),
        (r, rel) => format!("{r}/{rel}"),
    }
}

pub fn to_system_time(t: Time) -> SystemTime {
    let secs = Duration::from_secs(t.0.unsigned_abs());
    let base = if t.0 >= 0 { UNIX_EPOCH + secs } else { UNIX_EPOCH - secs };
    base + Duration::from_nanos(u64::from(t.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_the_root_for_the_empty_path() {
        assert_eq!(join("/", ""), "/");
        assert_eq!(join("/", "a/b"), "/a/b");
        assert_eq!(join("/d/", "a"), "/d/a");
        assert_eq!(join("rel", ""), "rel");
    }

    #[test]
    fn times_before_the_epoch_convert() {
        assert_eq!(to_system_time((1, 5)), UNIX_EPOCH + Duration::new(1, 5));
        assert_eq!(to_system_time((-2, 500)), UNIX_EPOCH - Duration::new(2, 0) + Duration::new(0, 500));
    }
}
