//! Request and reply bodies. Every field is fixed-meaning and bounded by the frame limits.

use serde::{Deserialize, Serialize};

use super::Status;

/// 128-bit file id, assigned by the metadata owner at create; chunks are keyed by it,
/// so rename never moves data.
pub type FileId = u128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FileKind {
    File,
    Dir,
}

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
    /// Zero for directories.
    pub fid: FileId,
    /// Chunk size the file was created with; zero for directories.
    pub chunk_size: u32,
}

impl Attr {
    /// A fresh record: every time `t`, size 0; `fid` and `chunk_size` are 0 for directories.
    pub fn new(kind: FileKind, mode: u32, (uid, gid): (u32, u32), t: (i64, u32), fid: FileId, chunk_size: u32) -> Attr {
        Attr { kind, mode: mode & 0o7777, uid, gid, size: 0, atime: t, mtime: t, ctime: t, fid, chunk_size }
    }

    /// A directory owned by root with times at the epoch (the root, "." and "..").
    pub fn synthetic_dir(mode: u32) -> Attr {
        Attr::new(FileKind::Dir, mode, (0, 0), (0, 0), 0, 0)
    }

    pub fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }
}

/// Changes applied by [`Request::SetAttr`]; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Exact new size (truncate).
    pub size: Option<u64>,
    /// Raise the size to at least this (close/fsync after writes); bumps mtime.
    pub grow_to: Option<u64>,
    pub atime: Option<(i64, u32)>,
    pub mtime: Option<(i64, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntryWire {
    pub name: String,
    pub attr: Attr,
}

/// Per-server usage, summed by the client for statfs and shown by `benchfs status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatFs {
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub avail_bytes: u64,
    pub chunks: u64,
    pub chunk_bytes: u64,
    pub inodes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Liveness check; the reply carries the server's protocol version.
    Ping,
    /// First request on a connection: the client's nonce (see [`crate::auth`]).
    Hello {
        nonce: [u8; 16],
    },
    /// The client's proof: HMAC(secret, "benchfs-client" || server nonce).
    Auth {
        proof: [u8; 32],
    },
    // ---- metadata, sent to the owner of the path ----
    Create {
        path: String,
        mode: u32,
        uid: u32,
        gid: u32,
        chunk_size: u32,
        exclusive: bool,
        truncate: bool,
    },
    Mkdir {
        path: String,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Stat {
        path: String,
    },
    SetAttr {
        path: String,
        set: SetAttr,
    },
    /// Removes the record; `dir` says whether the caller expects a directory (rmdir).
    Remove {
        path: String,
        dir: bool,
    },
    /// Puts a record at `path` (rename's second half). Fails with Exists if `path`
    /// is taken and `replace` is false; with `replace`, returns the record it replaced.
    Insert {
        path: String,
        attr: Attr,
        replace: bool,
    },
    /// One page of the entries this server holds directly under `dir`, names > `after`.
    Readdir {
        dir: String,
        after: Option<String>,
        limit: u32,
    },
    // ---- data, sent to the owner of (fid, index) ----
    /// Payload: the bytes to write at `offset` within chunk `index`.
    Write {
        fid: FileId,
        index: u64,
        offset: u32,
    },
    Read {
        fid: FileId,
        index: u64,
        offset: u32,
        len: u32,
    },
    /// Drops chunk data at or beyond byte `size` of the file (all chunks when 0).
    TruncateChunks {
        fid: FileId,
        size: u64,
        chunk_size: u32,
    },
    /// Makes this server's chunks of `fid` (or all metadata when None) durable.
    Fsync {
        fid: Option<FileId>,
    },
    /// Space of the server's data directory; with `detail`, also walks the chunk store
    /// to count chunks and bytes (slow: for `benchfs status`, not for `df`).
    StatFs {
        detail: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Pong {
        version: u8,
    },
    /// Answer to Hello: the server's nonce, whether it requires authentication, and
    /// (when it has a secret) its proof HMAC(secret, "benchfs-server" || client nonce).
    Challenge {
        nonce: [u8; 16],
        required: bool,
        proof: Option<[u8; 32]>,
    },
    Attr(Attr),
    /// Create: the file's record; for a file that existed, its size before the call
    /// (with O_TRUNC the client then drops the chunks that size covered).
    Created {
        attr: Attr,
        previous_size: Option<u64>,
    },
    /// Insert/Remove: the record that was replaced or removed, if any.
    Removed(Option<Attr>),
    Entries {
        entries: Vec<DirEntryWire>,
        more: bool,
    },
    /// Write: bytes written. Read: bytes returned in the payload.
    Done(u32),
    StatFs(StatFs),
    Error {
        status: Status,
        message: String,
    },
}

impl Request {
    pub fn name(&self) -> &'static str {
        match self {
            Request::Ping => "ping",
            Request::Hello { .. } => "hello",
            Request::Auth { .. } => "auth",
            Request::Create { .. } => "create",
            Request::Mkdir { .. } => "mkdir",
            Request::Stat { .. } => "stat",
            Request::SetAttr { .. } => "setattr",
            Request::Remove { .. } => "remove",
            Request::Insert { .. } => "insert",
            Request::Readdir { .. } => "readdir",
            Request::Write { .. } => "write",
            Request::Read { .. } => "read",
            Request::TruncateChunks { .. } => "truncate_chunks",
            Request::Fsync { .. } => "fsync",
            Request::StatFs { .. } => "statfs",
        }
    }
}
