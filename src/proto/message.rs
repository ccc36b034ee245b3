//! Request and reply bodies. Each request is its own type, paired by [`Op`] with the
//! one reply type it may get, so a call site cannot receive the wrong reply: a server
//! that sends another is a protocol violation ([`crate::Error::Protocol`]).
//!
//! Every field is fixed-meaning and bounded by the frame limits; every path a server is
//! sent is checked by [`Request::validate`] before a handler sees it.

use serde::{Deserialize, Serialize};

use super::ops::{Expect, Op, Request};
use super::Status;
pub use crate::meta::{Attr, FileId, FileKind, SetAttr};

/// A reply body: one variant of [`Reply`].
pub trait ReplyBody: Sized + Send + 'static {
    fn into_reply(self) -> Reply;
    /// The body, or the name of the variant the reply is instead.
    fn from_reply(r: Reply) -> Result<Self, &'static str>;
}

/// Any reply: an [`Expect`]'s, which is its request's.
impl ReplyBody for Reply {
    fn into_reply(self) -> Reply {
        self
    }
    fn from_reply(r: Reply) -> Result<Self, &'static str> {
        Ok(r)
    }
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
