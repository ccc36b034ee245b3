//! The one list of requests. Each op is declared here once, with everything a server
//! needs to know of it: its fields, the one reply type it is answered with, its
//! [`Class`] (who may send it, whether it may ride in an [`Expect`]), whether a server
//! runs it apart from the connection's read loop, and what it must satisfy before any
//! handler sees it. The types, [`Request`], its per-op rules and the server's dispatch
//! (`server::ops`) are all generated from this list by [`for_each_op`], so a new op is
//! one entry here plus its handler, and the compiler asks for both.

use serde::{Deserialize, Serialize};

use super::validate::{canonical, expect, mknod_kind, name, record, target, Invalid, MAX_MEMBERS};
use super::*;

/// A request and the reply type it is answered with.
pub trait Op: Into<Request> + Send + 'static {
    type Reply: ReplyBody;
    const NAME: &'static str;
}

/// What the list says of a declared op besides its reply (see the module's doc).
pub trait Rules: Op {
    const CLASS: Class;
    /// Whether it carries bytes after its header (a chunk write); others must not.
    const PAYLOAD: bool;
    /// Whether a server serves it as a task of its own: it always waits for the device
    /// or for another server. The rest run inline on the connection, in order; a few of
    /// those call a peer for a hard-linked file's inode record only (Create, Stat,
    /// Update, Unlink, Readdir, Insert), which is rare enough not to pay a task for.
    fn runs_apart(&self) -> bool;
    /// Refuses fields out of bounds and paths that are not canonical ([`super::validate`]).
    fn validate(&self) -> Result<(), Invalid>;
}

/// Who may send an op, and how it may travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The connection itself and the ring: liveness, handshake, ring formation.
    Session,
    /// Metadata, sent to the owner of the path; on behalf of files a client holds it
    /// may ride in an [`Expect`].
    Meta,
    /// Chunk data and a server's own state, sent to the owner of a chunk or to each server.
    Data,
    /// The halves of coordinated changes, chunk drops, batched parent times and hard
    /// links' inode records: served only on a connection that proved it is a peer's
    /// ([`Role::Peer`]); a client sending one is refused before anything is touched.
    Peer,
    /// [`Expect`]: its request's class says who may send it.
    Wrap,
}

/// Calls `$then! { <the list> }`. Each entry: doc, `Name { fields } => Reply [Class]`
/// and its rules: `payload: true` (Write only), `apart: |op| bool`, `valid: |op| Result`.
/// New entries go at the end (postcard encodes the declaration index) and bump
/// [`super::frame::PROTOCOL_VERSION`].
macro_rules! for_each_op {
    ($then:ident) => {
        $then! {
            /// Liveness check; the reply carries the server's protocol version.
            Ping {} => Pong [Session] { apart: |_| false, valid: |_| Ok(()) },
            /// First request on a connection: the caller's nonce and role (see [`crate::auth`]).
            Hello { nonce: [u8; 16], role: Role } => Challenge [Session] { apart: |_| false, valid: |_| Ok(()) },
            /// The caller's proof: HMAC(key, "benchfs-client" || server nonce), where the key is
            /// the cluster secret for a client, the peer key for a peer.
            Auth { proof: [u8; 32] } => Done [Session] { apart: |_| false, valid: |_| Ok(()) },
            /// Binds a server that has no ring yet to `members` (which must include it). With
            /// `formed` the ring already exists elsewhere (a peer forming it); without, the
            /// server forms it and tells its peers. Answered with the ring it serves.
            AdoptRing { members: Vec<String>, formed: Option<u64> } => RingInfo [Session] {
                apart: |_| true,
                valid: |r| {
                    let bounded = !r.members.is_empty() && r.members.len() <= MAX_MEMBERS;
                    if !bounded || r.members.iter().any(|m| m.len() > 256) {
                        return Err((Status::Invalid, "ring member list out of bounds".into()));
                    }
                    Ok(())
                },
            },
            // ---- metadata, sent to the owner of the path ----
            Create { path: String, mode: u32, uid: u32, gid: u32, chunk_size: u32, exclusive: bool, truncate: bool }
                => Created [Meta] { apart: |_| false, valid: |r| canonical(&r.path, false) },
            Mkdir { path: String, mode: u32, uid: u32, gid: u32 } => AttrReply [Meta] {
                apart: |_| true,
                valid: |r| canonical(&r.path, false),
            },
            Stat { path: String } => AttrReply [Meta] { apart: |_| false, valid: |r| canonical(&r.path, true) },
            /// With `fid` (an open handle publishing its size), the record must be that file's:
            /// if it was renamed meanwhile the answer is `Moved` with its new path. Without,
            /// a size is a truncate, which drops chunks on every server: apart.
            Update { path: String, fid: Option<FileId>, set: SetAttr } => AttrReply [Meta] {
                apart: |r| r.fid.is_none() && r.set.size.is_some(),
                valid: |r| canonical(&r.path, false),
            },
            /// Removes a file's name; the reply's `removed` is its record.
            Unlink { path: String } => Changed [Meta] { apart: |_| false, valid: |r| canonical(&r.path, false) },
            /// Removes an empty directory. The owner fences the subtree while it checks.
            Rmdir { path: String } => Changed [Meta] { apart: |_| true, valid: |r| canonical(&r.path, false) },
            /// Renames `from` (sent to its owner, which serialises renames of it) to `to`. The
            /// reply is the record `to` replaced, if any.
            Rename { from: String, to: String, noreplace: bool } => Changed [Meta] {
                apart: |_| true,
                valid: |r| canonical(&r.from, false).and(canonical(&r.to, false)),
            },
            /// One page of the entries this server holds directly under `dir`, names > `after`.
            Readdir { dir: String, after: Option<String>, limit: u32 } => Entries [Meta] {
                apart: |_| false,
                valid: |r| canonical(&r.dir, true).and(r.after.as_deref().map_or(Ok(()), name)),
            },
            // ---- data, sent to the owner of (fid, index) ----
            /// Payload: the bytes to write at `offset` within chunk `index`.
            Write { fid: FileId, index: u64, offset: u32 } => Done [Data] {
                payload: true,
                apart: |_| true,
                valid: |_| Ok(()),
            },
            Read { fid: FileId, index: u64, offset: u32, len: u32 } => Done [Data] {
                apart: |_| true,
                valid: |_| Ok(()),
            },
            /// Drops chunk data at or beyond byte `size` of the file (all chunks when 0).
            TruncateChunks { fid: FileId, size: u64, chunk_size: u32 } => Done [Data] {
                apart: |_| true,
                valid: |_| Ok(()),
            },
            /// Makes this server's chunks of `fid` (or all metadata when None) durable.
            Fsync { fid: Option<FileId> } => Done [Data] { apart: |_| true, valid: |_| Ok(()) },
            /// Space of the server's data directory; with `detail`, also walks the chunk store.
            Usage { detail: bool } => UsageReply [Data] { apart: |_| true, valid: |_| Ok(()) },
            // ---- between servers ----
            /// Puts a record at `path` (a rename's second half). Fails with Exists if `path` is
            /// taken and `replace` is false; with `replace`, returns the record it replaced.
            /// A `path` that holds exactly `attr` already answers `Removed(None)`: the same
            /// Insert sent again after its reply was lost (`Node::peer_again`).
            /// `bypass_fence`: a directory move's own inserts, which land below a held directory.
            Insert { path: String, attr: Attr, replace: bool, bypass_fence: bool } => Removed [Peer] {
                apart: |_| false,
                valid: |r| canonical(&r.path, false).and(record(&r.attr)),
            },
            /// Sets the fence on `dir` and its subtree; with `probe`, answers 1 if this server
            /// holds an entry directly under `dir` (rmdir's emptiness check), else 0.
            Fence { dir: String, state: FenceState, probe: bool } => Done [Peer] {
                apart: |_| false,
                valid: |r| canonical(&r.dir, false),
            },
            /// Moves every record this server holds below `from` to the same place below `to`.
            MoveTree { from: String, to: String } => Done [Peer] {
                apart: |_| true,
                valid: |r| canonical(&r.from, false).and(canonical(&r.to, false)),
            },
            /// Drops every chunk of these files (unlinked; their writers may not have published).
            DropFiles { fids: Vec<FileId> } => Done [Peer] { apart: |_| true, valid: |_| Ok(()) },
            // ---- metadata, sent to the owner of the path (appended: postcard index) ----
            /// Makes a symbolic link at `path` pointing to `target` (stored as given, never
            /// resolved by BenchFS: at most 4095 bytes, not empty, no NUL).
            Symlink { path: String, target: String, uid: u32, gid: u32 } => AttrReply [Meta] {
                apart: |_| false,
                valid: |r| canonical(&r.path, false).and(target(&r.target)),
            },
            /// Makes a FIFO, socket or character/block device record at `path` (`kind` must be
            /// one of those; `mode` is permission bits; `rdev` the device number, else 0).
            Mknod { path: String, kind: FileKind, mode: u32, rdev: u64, uid: u32, gid: u32 } => AttrReply [Meta] {
                apart: |_| false,
                valid: |r| canonical(&r.path, false).and(mknod_kind(r.kind)),
            },
            // ---- between servers (appended: postcard index) ----
            /// Sets mtime = ctime = t of each directory whose ctime is earlier (a batch of parent
            /// directories whose entries changed on the sender, sent to their owner). A directory
            /// with no record here is skipped: nothing is ever created.
            Touch { dirs: Vec<(String, (i64, u32))>, subdirs: Vec<(String, i32)> } => Done [Peer] {
                apart: |_| false,
                valid: |r| r.dirs.iter().try_for_each(|(d, _)| canonical(d, false)),
            },
            // ---- hard links (appended: postcard index) ----
            /// Gives the file at `from` the further name `to` (sent to `from`'s owner, which
            /// claims it). Not for directories (`Perm`). The reply is the file's attributes,
            /// with its new link count. Apart: it always calls the inode's owner and `to`'s.
            Link { from: String, to: String } => AttrReply [Meta] {
                apart: |_| true,
                valid: |r| canonical(&r.from, false).and(canonical(&r.to, false)),
            },
            /// To the inode owner of `attr.fid`: one more name for the file, whose inode record
            /// is made from `attr` (with one name) if there is none yet. Answers the record.
            InodeLink { attr: Attr } => AttrReply [Peer] {
                apart: |_| false,
                valid: |r| {
                    if r.attr.is_dir() {
                        return Err((Status::Perm, "a directory has no inode record: it cannot be linked".into()));
                    }
                    record(&r.attr)
                },
            },
            /// To the inode owner of `fid`: the attributes of a hard-linked file.
            InodeStat { fid: FileId } => AttrReply [Peer] { apart: |_| false, valid: |_| Ok(()) },
            /// To the inode owner of `fid`: changes the attributes of a hard-linked file.
            InodeUpdate { fid: FileId, set: SetAttr } => AttrReply [Peer] { apart: |_| false, valid: |_| Ok(()) },
            /// To the inode owner of `fid`: one name fewer. Answers what remains, or None after
            /// the last name (the owner then has every server drop the file's chunks).
            InodeUnlink { fid: FileId } => Removed [Peer] { apart: |_| false, valid: |_| Ok(()) },
            // ---- identity (appended: postcard index) ----
            /// `request` (a metadata request) on behalf of files the client holds: a kernel
            /// inode, an open handle, the directory a name is looked up in. Served only if each
            /// path of `expect` still holds the record with that id (0: the root, or a directory
            /// made before directories had ids); else `Moved` with the path the server moved
            /// that record to, or `Stale`. Answered as `request` is (any [`Reply`]): send it
            /// as [`Expecting`], which has the request's own reply type.
            Expect { expect: Vec<(String, FileId)>, request: Box<Request> } => Reply [Wrap] {
                apart: |r| r.request.runs_apart(),
                valid: |r| expect(&r.expect, &r.request),
            },
        }
    };
}
pub(crate) use for_each_op;

/// Generates, from the list, each op's type, its [`Op`] and [`Rules`], and [`Request`].
macro_rules! requests {
    (@payload $p:literal) => { $p };
    (@payload) => { false };
    ($(
        $(#[$m:meta])*
        $name:ident { $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)? } => $reply:ident [$class:ident] {
            $(payload: $payload:literal,)?
            apart: |$ap:pat_param| $apart:expr,
            valid: |$vp:pat_param| $valid:expr $(,)?
        }
    ),* $(,)?) => {
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

            impl Rules for $name {
                const CLASS: Class = Class::$class;
                const PAYLOAD: bool = requests!(@payload $($payload)?);
                fn runs_apart(&self) -> bool {
                    let $ap = self;
                    $apart
                }
                fn validate(&self) -> Result<(), Invalid> {
                    let $vp = self;
                    $valid
                }
            }
        )*

        /// Every request, as it travels.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Request { $( $name($name) ),* }

        impl Request {
            /// Every op's name, in the list's order.
            pub const NAMES: &'static [&'static str] = &[$( stringify!($name) ),*];

            pub fn name(&self) -> &'static str {
                match self { $( Request::$name(_) => stringify!($name) ),* }
            }

            pub fn class(&self) -> Class {
                match self { $( Request::$name(_) => <$name as Rules>::CLASS ),* }
            }

            pub fn takes_payload(&self) -> bool {
                match self { $( Request::$name(_) => <$name as Rules>::PAYLOAD ),* }
            }

            /// See [`Rules::runs_apart`].
            pub fn runs_apart(&self) -> bool {
                match self { $( Request::$name(r) => r.runs_apart() ),* }
            }

            /// See [`Rules::validate`].
            pub fn validate(&self) -> Result<(), Invalid> {
                match self { $( Request::$name(r) => r.validate() ),* }
            }
        }
    };
}

for_each_op!(requests);

impl Request {
    /// True for the requests only servers send each other ([`Class::Peer`]), also when
    /// wrapped in an [`Expect`] (which validation refuses anyway).
    pub fn from_peers_only(&self) -> bool {
        self.asked().class() == Class::Peer
    }

    /// What the request asks of the server: the request an [`Expect`] wraps, or itself.
    pub fn asked(&self) -> &Request {
        match self {
            Request::Expect(e) => e.request.asked(),
            r => r,
        }
    }
}
