//! Request and reply bodies. Each request is its own type, paired by [`Op`] with the
//! one reply type it may get, so a call site cannot receive the wrong reply: a server
//! that sends another is a protocol violation ([`crate::Error::Protocol`]).
//!
//! Every field is fixed-meaning and bounded by the frame limits; every path a server is
//! sent is checked by [`Request::validate`] before a handler sees it.

use serde::{Deserialize, Serialize};

use super::Status;
pub use crate::meta::{Attr, FileId, FileKind, SetAttr};

/// A request and the reply type it is answered with.
pub trait Op: Into<Request> + Send + 'static {
    type Reply: ReplyBody;
    const NAME: &'static str;
}

/// A reply body: one variant of [`Reply`].
pub trait ReplyBody: Sized + Send + 'static {
    fn into_reply(self) -> Reply;
    /// The body, or the name of the variant the reply is instead.
    fn from_reply(r: Reply) -> Result<Self, &'static str>;
}

macro_rules! requests {
    ($( $(#[$m:meta])* $name:ident { $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)? } => $reply:ident ),* $(,)?) => {
        $(
            $(#[$m])*
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
            pub struct $name { $( $(#[$fm])* pub $field: $ty ),* }

            impl From<$name> for Request {
                fn from(o: $name) -> Request {
                    Request::$name(o)
                }
            }

            impl Op for $name {
                type Reply = $reply;
                const NAME: &'static str = stringify!($name);
            }
        )*

        /// Every request, as it travels. New variants go at the end (postcard encodes
        /// the declaration index) and bump [`super::frame::PROTOCOL_VERSION`].
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Request { $( $name($name) ),* }

        impl Request {
            pub fn name(&self) -> &'static str {
                match self { $( Request::$name(_) => stringify!($name) ),* }
            }
        }
    };
}

macro_rules! replies {
    // Replies declared after `Error` (the `;` section) follow it in the enum: postcard
    // encodes the variant's index, and `Error`'s must not move.
    ($( $(#[$m:meta])* $name:ident $body:tt ),* ; $( $(#[$am:meta])* $after:ident $abody:tt ),* $(,)?) => {
        $( replies!(@def $(#[$m])* $name $body); )*
        $( replies!(@def $(#[$am])* $after $abody); )*

        /// Every reply, as it travels; `Error` answers any request.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Reply {
            $( $name($name), )*
            Error { status: Status, message: String },
            $( $after($after), )*
        }

        $( replies!(@body $name); )*
        $( replies!(@body $after); )*

        impl Reply {
            pub fn name(&self) -> &'static str {
                match self {
                    $( Reply::$name(_) => stringify!($name), )*
                    $( Reply::$after(_) => stringify!($after), )*
                    Reply::Error { .. } => "Error",
                }
            }
        }
    };
    (@body $name:ident) => {
        impl ReplyBody for $name {
            fn into_reply(self) -> Reply {
                Reply::$name(self)
            }
            fn from_reply(r: Reply) -> Result<Self, &'static str> {
                match r {
                    Reply::$name(b) => Ok(b),
                    other => Err(other.name()),
                }
            }
        }
    };
    (@def $(#[$m:meta])* $name:ident { $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name { $( $(#[$fm])* pub $field: $ty ),* }
    };
    (@def $(#[$m:meta])* $name:ident ( $ty:ty )) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub struct $name(pub $ty);
    };
}

/// What a coordinating server asks every server to do with a directory's subtree while
/// it is renamed or removed (see `server::fence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FenceState {
    /// Requests on the directory and below are answered `Retry` until the next state.
    Hold,
    /// The directory is gone: requests below it are `NotFound` (until it is made again).
    Gone,
    /// Normal service.
    Lift,
    /// A directory arrived here by rename, with its subtree: normal service on it, and
    /// every `Gone` mark below it is dropped too (those names are the moved tree's now).
    /// Appended: postcard index.
    Arrived,
}

/// Who opens a connection, as it says in its [`Hello`]: a client, or another server of
/// the cluster. A peer proves it with the peer key ([`crate::auth`]); requests only
/// servers send each other ([`Request::from_peers_only`]) are served on its connections
/// alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    Client,
    Peer,
}

/// Identity of the ring a connection uses: a hash of the sorted member list and a nonce
/// drawn when the ring was first formed, so that two formations of one list differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RingId {
    pub members_hash: u64,
    pub formed: u64,
}

impl std::fmt::Display for RingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}/{:016x}", self.members_hash, self.formed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirEntryWire {
    pub name: String,
    pub attr: Attr,
}

requests! {
    /// Liveness check; the reply carries the server's protocol version.
    Ping {} => Pong,
    /// First request on a connection: the caller's nonce and role (see [`crate::auth`]).
    Hello { nonce: [u8; 16], role: Role } => Challenge,
    /// The caller's proof: HMAC(key, "benchfs-client" || server nonce), where the key is
    /// the cluster secret for a client, the peer key for a peer.
    Auth { proof: [u8; 32] } => Done,
    /// Binds a server that has no ring yet to `members` (which must include it). With
    /// `formed` the ring already exists elsewhere (a peer forming it); without, the
    /// server forms it and tells its peers. Answered with the ring it serves.
    AdoptRing { members: Vec<String>, formed: Option<u64> } => RingInfo,
    // ---- metadata, sent to the owner of the path ----
    Create { path: String, mode: u32, uid: u32, gid: u32, chunk_size: u32, exclusive: bool, truncate: bool } => Created,
    Mkdir { path: String, mode: u32, uid: u32, gid: u32 } => AttrReply,
    Stat { path: String } => AttrReply,
    /// With `fid` (an open handle publishing its size), the record must be that file's:
    /// if it was renamed meanwhile the answer is `Moved` with its new path.
    Update { path: String, fid: Option<FileId>, set: SetAttr } => AttrReply,
    /// Removes a file's name; the reply's `removed` is its record.
    Unlink { path: String } => Changed,
    /// Removes an empty directory. The owner fences the subtree while it checks.
    Rmdir { path: String } => Changed,
    /// Renames `from` (sent to its owner, which serialises renames of it) to `to`. The
    /// reply is the record `to` replaced, if any.
    Rename { from: String, to: String, noreplace: bool } => Changed,
    /// One page of the entries this server holds directly under `dir`, names > `after`.
    Readdir { dir: String, after: Option<String>, limit: u32 } => Entries,
    // ---- data, sent to the owner of (fid, index) ----
    /// Payload: the bytes to write at `offset` within chunk `index`.
    Write { fid: FileId, index: u64, offset: u32 } => Done,
    Read { fid: FileId, index: u64, offset: u32, len: u32 } => Done,
    /// Drops chunk data at or beyond byte `size` of the file (all chunks when 0).
    TruncateChunks { fid: FileId, size: u64, chunk_size: u32 } => Done,
    /// Makes this server's chunks of `fid` (or all metadata when None) durable.
    Fsync { fid: Option<FileId> } => Done,
    /// Space of the server's data directory; with `detail`, also walks the chunk store.
    Usage { detail: bool } => UsageReply,
    // ---- between servers ----
    /// Puts a record at `path` (a rename's second half). Fails with Exists if `path` is
    /// taken and `replace` is false; with `replace`, returns the record it replaced.
    /// `bypass_fence`: a directory move's own inserts, which land below a held directory.
    Insert { path: String, attr: Attr, replace: bool, bypass_fence: bool } => Removed,
    /// Sets the fence on `dir` and its subtree; with `probe`, answers 1 if this server
    /// holds an entry directly under `dir` (rmdir's emptiness check), else 0.
    Fence { dir: String, state: FenceState, probe: bool } => Done,
    /// Moves every record this server holds below `from` to the same place below `to`.
    MoveTree { from: String, to: String } => Done,
    /// Drops every chunk of these files (unlinked; their writers may not have published).
    DropFiles { fids: Vec<FileId> } => Done,
    // ---- metadata, sent to the owner of the path (appended: postcard index) ----
    /// Makes a symbolic link at `path` pointing to `target` (stored as given, never
    /// resolved by BenchFS: at most 4095 bytes, not empty, no NUL).
    Symlink { path: String, target: String, uid: u32, gid: u32 } => AttrReply,
    /// Makes a FIFO, socket or character/block device record at `path` (`kind` must be
    /// one of those; `mode` is permission bits; `rdev` the device number, else 0).
    Mknod { path: String, kind: FileKind, mode: u32, rdev: u64, uid: u32, gid: u32 } => AttrReply,
    // ---- between servers (appended: postcard index) ----
    /// Sets mtime = ctime = t of each directory whose ctime is earlier (a batch of parent
    /// directories whose entries changed on the sender, sent to their owner). A directory
    /// with no record here is skipped: nothing is ever created.
    Touch { dirs: Vec<(String, (i64, u32))>, subdirs: Vec<(String, i32)> } => Done,
    // ---- hard links (appended: postcard index) ----
    /// Gives the file at `from` the further name `to` (sent to `from`'s owner, which
    /// claims it). Not for directories (`Perm`). The reply is the file's attributes,
    /// with its new link count.
    Link { from: String, to: String } => AttrReply,
    /// To the inode owner of `attr.fid`: one more name for the file, whose inode record
    /// is made from `attr` (with one name) if there is none yet. Answers the record.
    InodeLink { attr: Attr } => AttrReply,
    /// To the inode owner of `fid`: the attributes of a hard-linked file.
    InodeStat { fid: FileId } => AttrReply,
    /// To the inode owner of `fid`: changes the attributes of a hard-linked file.
    InodeUpdate { fid: FileId, set: SetAttr } => AttrReply,
    /// To the inode owner of `fid`: one name fewer. Answers what remains, or None after
    /// the last name (the owner then has every server drop the file's chunks).
    InodeUnlink { fid: FileId } => Removed,
    // ---- identity (appended: postcard index) ----
    /// `request` (a metadata request) on behalf of files the client holds: a kernel
    /// inode, an open handle, the directory a name is looked up in. Served only if each
    /// path of `expect` still holds the record with that id (0: the root, or a directory
    /// made before directories had ids); else `Moved` with the path the server moved
    /// that record to, or `Stale`. Answered as `request` is: send it as [`Expecting`],
    /// which has the right reply type (the `Done` here is nominal).
    Expect { expect: Vec<(String, FileId)>, request: Box<Request> } => Done,
}

impl Request {
    /// True for the requests only servers send each other (the halves of coordinated
    /// changes, chunk drops, batched parent times, hard links' inode records): a server
    /// serves them only on a connection that proved it is a peer's ([`Role::Peer`]).
    /// No wildcard: a new request must choose.
    pub fn from_peers_only(&self) -> bool {
        match self {
            Request::Insert(_)
            | Request::Fence(_)
            | Request::MoveTree(_)
            | Request::DropFiles(_)
            | Request::Touch(_)
            | Request::InodeLink(_)
            | Request::InodeStat(_)
            | Request::InodeUpdate(_)
            | Request::InodeUnlink(_) => true,
            Request::Expect(e) => e.request.from_peers_only(),
            // Clients send these (a peer may too: a `Stat` of a rename's target, a
            // `TruncateChunks` of a truncate, an `AdoptRing` while the ring forms).
            Request::Ping(_)
            | Request::Hello(_)
            | Request::Auth(_)
            | Request::AdoptRing(_)
            | Request::Create(_)
            | Request::Mkdir(_)
            | Request::Stat(_)
            | Request::Update(_)
            | Request::Unlink(_)
            | Request::Rmdir(_)
            | Request::Rename(_)
            | Request::Readdir(_)
            | Request::Write(_)
            | Request::Read(_)
            | Request::TruncateChunks(_)
            | Request::Fsync(_)
            | Request::Usage(_)
            | Request::Symlink(_)
            | Request::Mknod(_)
            | Request::Link(_) => false,
        }
    }

    /// What the request asks of the server: the request an [`Expect`] wraps, or itself.
    pub fn asked(&self) -> &Request {
        match self {
            Request::Expect(e) => e.request.asked(),
            r => r,
        }
    }
}

/// Most paths one [`Expect`] may name (a rename names two directories).
pub const MAX_EXPECT: usize = 4;

/// A typed [`Expect`]: `op`, served only while each path of `expect` holds that id.
#[derive(Debug, Clone)]
pub struct Expecting<O: Op> {
    pub expect: Vec<(String, FileId)>,
    pub op: O,
}

impl<O: Op> From<Expecting<O>> for Request {
    fn from(e: Expecting<O>) -> Request {
        Request::Expect(Expect { expect: e.expect, request: Box::new(e.op.into()) })
    }
}

impl<O: Op> Op for Expecting<O> {
    type Reply = O::Reply;
    const NAME: &'static str = O::NAME;
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

replies! {
    Pong { version: u8 },
    /// Answer to Hello: the server's nonce, whether it requires authentication, (when it
    /// has a secret) its proof HMAC(secret, "benchfs-server" || client nonce), and the
    /// ring it serves (None until a client or peer gave it one).
    Challenge { nonce: [u8; 16], required: bool, proof: Option<[u8; 32]>, ring: Option<RingId> },
    RingInfo { ring: RingId, members: Vec<String> },
    AttrReply(Attr),
    /// Create: the file's record; for a file that existed, its size before the call.
    Created { attr: Attr, previous_size: Option<u64> },
    /// The record that was replaced or removed, if any.
    Removed(Option<Attr>),
    Entries { entries: Vec<DirEntryWire>, more: bool },
    /// Write: bytes written. Read: bytes returned in the payload. Others: a count.
    Done(u32),
    UsageReply(StatFs);
    // ---- after `Error` (appended: postcard index) ----
    /// Unlink, Rmdir, Rename: when the server made the change (`at`: the time it sends
    /// the parent directories' owners as their new mtime and ctime; None when nothing
    /// changed, as for a rename onto itself), and the record removed or replaced, if any.
    Changed { at: Option<(i64, u32)>, removed: Option<Attr> },
}
