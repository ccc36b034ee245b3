//! The frame: a fixed 32-byte preamble, a postcard-encoded header, then raw data.
//!
//! ```text
//! offset size field
//!      0    4 magic        b"BFS1"
//!      4    1 version      PROTOCOL_VERSION
//!      5    1 kind         0 = request, 1 = reply
//!      6    2 reserved     zero
//!      8    8 request id   chosen by the client, echoed by the server
//!     16    4 header_len   <= MAX_HEADER
//!     20    4 data_len     <= MAX_DATA
//!     24    4 data_crc     crc32c of the data bytes (0 when data_len = 0)
//!     28    4 reserved     zero
//! ```
//! All integers are little-endian. A receiver checks magic, version and both
//! lengths *before* allocating anything, and verifies `data_crc` after reading.
//! The layout is mirrored in docs/protocol.md.

use thiserror::Error;

pub const MAGIC: [u8; 4] = *b"BFS1";
/// 2: typed requests, ring membership, server-coordinated rename/rmdir, explicit status codes.
/// 4: identity checks (`Expect`, status `Stale`), dropped files' tombstones, `FenceState::Arrived`,
///    `Touch.subdirs` (directory link counts).
/// 5: an `Insert` that finds exactly its record answers `Removed(None)` (a coordinator's
///    resend after a lost reply); the message format is unchanged.
pub const PROTOCOL_VERSION: u8 = 5;
pub const PREAMBLE_LEN: usize = 32;
/// Largest encoded header (paths are <= 4 KiB; readdir pages are capped well below this).
pub const MAX_HEADER: u32 = 1 << 20;
/// Largest data payload: the largest chunk size a cluster may use.
pub const MAX_DATA: u32 = 64 << 20;

const VERSION_OFF: usize = MAGIC.len();
const KIND_OFF: usize = VERSION_OFF + 1;
const ID_OFF: usize = KIND_OFF + 1 + 2;
const HLEN_OFF: usize = ID_OFF + size_of::<u64>();
const DLEN_OFF: usize = HLEN_OFF + size_of::<u32>();
const CRC_OFF: usize = DLEN_OFF + size_of::<u32>();
const _: () = assert!(CRC_OFF + 2 * size_of::<u32>() == PREAMBLE_LEN);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request = 0,
    Reply = 1,
}

/// The decoded fixed part of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preamble {
    pub kind: Kind,
    pub id: u64,
    pub header_len: u32,
    pub data_len: u32,
    pub data_crc: u32,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("bad magic {0:02x?}")]
    BadMagic([u8; 4]),
    #[error("unsupported protocol version {0} (this build speaks {PROTOCOL_VERSION})")]
    BadVersion(u8),
    #[error("unknown frame kind {0}")]
    BadKind(u8),
    #[error("header length {0} exceeds the limit {MAX_HEADER}")]
    HeaderTooLong(u32),
    #[error("data length {0} exceeds the limit {MAX_DATA}")]
    DataTooLong(u32),
    #[error("data checksum mismatch (expected {expected:#010x}, got {actual:#010x})")]
    BadChecksum { expected: u32, actual: u32 },
    #[error("malformed header: {0}")]
    BadHeader(String),
    #[error("reserved preamble bytes are not zero")]
    Reserved,
}

fn u32_at(b: &[u8; PREAMBLE_LEN], off: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(w)
}

impl Preamble {
    pub fn encode(&self) -> [u8; PREAMBLE_LEN] {
        let mut b = [0u8; PREAMBLE_LEN];
        b[..VERSION_OFF].copy_from_slice(&MAGIC);
        b[VERSION_OFF] = PROTOCOL_VERSION;
        b[KIND_OFF] = self.kind as u8;
        b[ID_OFF..HLEN_OFF].copy_from_slice(&self.id.to_le_bytes());
        b[HLEN_OFF..DLEN_OFF].copy_from_slice(&self.header_len.to_le_bytes());
        b[DLEN_OFF..CRC_OFF].copy_from_slice(&self.data_len.to_le_bytes());
        b[CRC_OFF..CRC_OFF + 4].copy_from_slice(&self.data_crc.to_le_bytes());
        b
    }

    /// Validates everything that can be checked before the rest of the frame is read.
    pub fn decode(b: &[u8; PREAMBLE_LEN]) -> Result<Preamble, FrameError> {
        let mut magic = [0u8; 4];
        magic.copy_from_slice(&b[..VERSION_OFF]);
        if magic != MAGIC {
            return Err(FrameError::BadMagic(magic));
        }
        if b[VERSION_OFF] != PROTOCOL_VERSION {
            return Err(FrameError::BadVersion(b[VERSION_OFF]));
        }
        let kind = match b[KIND_OFF] {
            0 => Kind::Request,
            1 => Kind::Reply,
            k => return Err(FrameError::BadKind(k)),
        };
        if b[KIND_OFF + 1..ID_OFF] != [0, 0] || u32_at(b, CRC_OFF + 4) != 0 {
            return Err(FrameError::Reserved);
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&b[ID_OFF..HLEN_OFF]);
        let header_len = u32_at(b, HLEN_OFF);
        if header_len > MAX_HEADER {
            return Err(FrameError::HeaderTooLong(header_len));
        }
        let data_len = u32_at(b, DLEN_OFF);
        if data_len > MAX_DATA {
            return Err(FrameError::DataTooLong(data_len));
        }
        Ok(Preamble { kind, id: u64::from_le_bytes(id), header_len, data_len, data_crc: u32_at(b, CRC_OFF) })
    }
}

/// crc32c of a payload; hardware-accelerated where the CPU has it.
pub fn checksum(data: &[u8]) -> u32 {
    if data.is_empty() {
        0
    } else {
        crc32c::crc32c(data)
    }
}

pub fn encode_header<T: serde::Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let v = postcard::to_stdvec(msg).map_err(|e| FrameError::BadHeader(e.to_string()))?;
    if v.len() > MAX_HEADER as usize {
        return Err(FrameError::HeaderTooLong(u32::try_from(v.len()).unwrap_or(u32::MAX)));
    }
    Ok(v)
}

pub fn decode_header<'a, T: serde::Deserialize<'a>>(b: &'a [u8]) -> Result<T, FrameError> {
    postcard::from_bytes(b).map_err(|e| FrameError::BadHeader(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Preamble {
        Preamble { kind: Kind::Reply, id: 0x0102_0304_0506_0708, header_len: 17, data_len: 4096, data_crc: 0xdead_beef }
    }

    #[test]
    fn preamble_round_trips() {
        assert_eq!(Preamble::decode(&sample().encode()), Ok(sample()));
    }

    #[test]
    fn rejects_oversized_lengths_before_allocating() {
        let mut b = sample().encode();
        b[DLEN_OFF..CRC_OFF].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Preamble::decode(&b), Err(FrameError::DataTooLong(u32::MAX)));
        let mut b = sample().encode();
        b[HLEN_OFF..DLEN_OFF].copy_from_slice(&(MAX_HEADER + 1).to_le_bytes());
        assert_eq!(Preamble::decode(&b), Err(FrameError::HeaderTooLong(MAX_HEADER + 1)));
    }

    #[test]
    fn rejects_bad_magic_version_kind() {
        let mut b = sample().encode();
        b[0] = b'X';
        assert!(matches!(Preamble::decode(&b), Err(FrameError::BadMagic(_))));
        let mut b = sample().encode();
        b[VERSION_OFF] = 99;
        assert_eq!(Preamble::decode(&b), Err(FrameError::BadVersion(99)));
        let mut b = sample().encode();
        b[KIND_OFF + 1] = 1;
        assert_eq!(Preamble::decode(&b), Err(FrameError::Reserved));
        let mut b = sample().encode();
        b[PREAMBLE_LEN - 1] = 1;
        assert_eq!(Preamble::decode(&b), Err(FrameError::Reserved));
        let mut b = sample().encode();
        b[KIND_OFF] = 7;
        assert_eq!(Preamble::decode(&b), Err(FrameError::BadKind(7)));
    }

    #[test]
    fn garbage_headers_are_errors_not_panics() {
        for seed in 0u8..=255 {
            let bytes: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(seed).wrapping_add(seed)).collect();
            let _ = decode_header::<crate::proto::Request>(&bytes);
        }
    }

    /// The bytes of a few messages, pinned: a change here is a protocol change (bump
    /// PROTOCOL_VERSION and update docs/protocol.md).
    #[test]
    fn golden_bytes() {
        use crate::proto::{Reply, Request, Stat, Status};
        let stat = encode_header(&Request::from(Stat { path: "/a".into() })).unwrap();
        assert_eq!(stat, [6, 2, b'/', b'a']);
        let err = Reply::Error { status: Status::Retry, message: "x".into() };
        // Variant 9 (Error), status code 16 as a varint, then the message.
        assert_eq!(encode_header(&err).unwrap(), [9, 16, 1, b'x']);
        let lost = Reply::Error { status: Status::Lost, message: String::new() };
        assert_eq!(encode_header(&lost).unwrap(), [9, 17, 0]);
        assert_eq!(Preamble::decode(&[0u8; PREAMBLE_LEN]), Err(FrameError::BadMagic([0; 4])));
        let p = Preamble { kind: Kind::Request, id: 1, header_len: 4, data_len: 0, data_crc: 0 }.encode();
        assert_eq!(&p[..8], &[b'B', b'F', b'S', b'1', PROTOCOL_VERSION, 0, 0, 0]);
    }
}
