//! Status codes on the wire: a protocol value, never a host errno (hosts may differ).

use serde::{Deserialize, Serialize};

/// Result of a request as sent by a server. Mapped to errno in [`crate::error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u16)]
pub enum Status {
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
}
