//! Status codes on the wire: a protocol value, never a host errno (hosts may differ).
//!
//! Encoded as the explicit `u16` below (postcard varint), not as serde's declaration
//! index, so reordering the enum cannot change the wire; a golden-bytes test pins it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Reply;
use crate::error::{Error, Result};

macro_rules! statuses {
    ($( $(#[$m:meta])* $name:ident = $v:literal ),* $(,)?) => {
        /// Result of a request as sent by a server. Mapped to [`Error`] (and so to errno) below.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u16)]
        pub enum Status { $( $(#[$m])* $name = $v ),* }

        impl Status {
            pub fn code(self) -> u16 {
                self as u16
            }

            pub fn from_code(c: u16) -> Option<Status> {
                match c { $( $v => Some(Status::$name), )* _ => None }
            }
        }
    };
}

statuses! {
    Ok = 0,
    NotFound = 1,
    Exists = 2,
    NotDir = 3,
    IsDir = 4,
    NotEmpty = 5,
    Invalid = 6,
    NameTooLong = 7,
    NoSpace = 8,
    Io = 9,
    Unsupported = 10,
    Corrupt = 11,
    Busy = 12,
    /// Authentication required or failed.
    Access = 13,
    /// The key is not this server's in the ring the connection uses.
    WrongOwner = 14,
    /// The client's server list is not the ring this server belongs to.
    Membership = 15,
    /// The path is under a directory being moved or removed: send again shortly.
    Retry = 16,
    /// Data that this server should hold is gone (it was replaced by an empty one).
    Lost = 17,
    /// The result would not fit the file size limit.
    TooBig = 18,
    /// The file an `Update` names by id was renamed: the message is its new path.
    Moved = 19,
    /// The path is a symbolic link where the request needs another kind (open).
    Loop = 20,
    /// Not permitted for this kind of file (a hard link to a directory).
    Perm = 21,
    /// The file or directory a request expected is not there: another record (or none)
    /// holds the path an [`super::Expect`] names, or the file's chunks were dropped
    /// (it was removed) and this server refuses to read or write them again.
    Stale = 22,
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.code())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Status, D::Error> {
        let c = u16::deserialize(d)?;
        Status::from_code(c).ok_or_else(|| serde::de::Error::custom(format!("unknown status code {c}")))
    }
}

/// The two directions between the wire's statuses and the caller's [`Error`].
impl Error {
    /// Builds the error for a non-Ok status a server replied with.
    pub fn from_status(status: Status, message: String) -> Error {
        match status {
            Status::NotFound => Error::NotFound(message),
            Status::Exists => Error::Exists(message),
            Status::NotDir => Error::NotDir(message),
            Status::IsDir => Error::IsDir(message),
            Status::NotEmpty => Error::NotEmpty(message),
            Status::Invalid => Error::Invalid(message),
            Status::NameTooLong => Error::NameTooLong(message),
            Status::NoSpace => Error::NoSpace(message),
            Status::Unsupported => Error::Unsupported(message),
            Status::Corrupt => Error::Corrupt(message),
            Status::Access => Error::Auth(message),
            Status::WrongOwner | Status::Membership => Error::Membership(message),
            Status::Retry => Error::Retry(message),
            Status::Lost => Error::Lost(message),
            Status::TooBig => Error::FileTooBig(message),
            Status::Moved => Error::Moved(message),
            Status::Loop => Error::Loop(message),
            Status::Perm => Error::Perm(message),
            Status::Stale => Error::Stale(message),
            Status::Io | Status::Busy | Status::Ok => Error::Io(message),
        }
    }

    /// The status a server relays for this error (a coordinator passing on a peer's answer).
    pub fn status(&self) -> Status {
        match self {
            Error::NotFound(_) => Status::NotFound,
            Error::Exists(_) => Status::Exists,
            Error::NotDir(_) => Status::NotDir,
            Error::IsDir(_) => Status::IsDir,
            Error::NotEmpty(_) => Status::NotEmpty,
            Error::Invalid(_) | Error::Config(_) => Status::Invalid,
            Error::NameTooLong(_) => Status::NameTooLong,
            Error::NoSpace(_) => Status::NoSpace,
            Error::Unsupported(_) => Status::Unsupported,
            Error::Access(_) | Error::Auth(_) => Status::Access,
            Error::Perm(_) => Status::Perm,
            Error::Corrupt(_) => Status::Corrupt,
            Error::Membership(_) => Status::Membership,
            Error::Lost(_) => Status::Lost,
            Error::FileTooBig(_) => Status::TooBig,
            Error::Loop(_) => Status::Loop,
            Error::Retry(_) => Status::Retry,
            Error::Moved(_) => Status::Moved,
            Error::Stale(_) => Status::Stale,
            Error::Io(_)
            | Error::Timeout { .. }
            | Error::Unreachable { .. }
            | Error::ConnectionLost { .. }
            | Error::Protocol { .. } => Status::Io,
        }
    }
}

/// A reply as the caller sees it: `Reply::Error` becomes the matching [`Error`].
pub fn unwrap_reply(reply: Reply, data: Vec<u8>) -> Result<(Reply, Vec<u8>)> {
    match reply {
        Reply::Error { status, message } => Err(Error::from_status(status, message)),
        r => Ok((r, data)),
    }
}
