//! Reading and writing whole frames on a byte stream.
//!
//! Both functions are used by the client and the server. Reading checks the
//! preamble before allocating; writing sends preamble, header and data with
//! vectored writes so the payload is never copied into a staging buffer.

use std::io::{self, IoSlice};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::proto::frame::{checksum, FrameError, Kind, Preamble, MAX_DATA, MAX_HEADER, PREAMBLE_LEN};

/// The read buffer of one connection, on either side. Preambles and headers are read
/// through it; a payload bigger than it goes straight into its own buffer (tokio's
/// `BufReader` bypasses an empty buffer for large reads), so a bigger one saves few
/// system calls but costs every connection, idle or not: at 64 KiB, the 64,000
/// connections of 1,000 nodes x 64 ranks would pin 4 GiB on each server.
pub const READ_BUFFER: usize = 8 << 10;

/// A received frame; `header` is still encoded (the caller knows its type).
#[derive(Debug)]
pub struct RawFrame {
    pub id: u64,
    pub kind: Kind,
    pub header: Vec<u8>,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("peer stalled inside a frame for {0:?}")]
    Stalled(Duration),
}

/// Reads exactly `n` bytes into a fresh buffer, without zero-filling it first. The
/// reservation is fallible: where memory is not overcommitted, a peer announcing a
/// large frame costs its own connection, never an abort of the process.
async fn read_exact_vec<R: AsyncRead + Unpin>(r: &mut R, n: u32) -> Result<Vec<u8>, ReadError> {
    let n = n as usize;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e))?;
    r.take(n as u64).read_to_end(&mut v).await?;
    if v.len() != n {
        return Err(ReadError::Truncated);
    }
    Ok(v)
}

/// What a reader accepts: the largest header and payload, and how long the rest of a
/// frame may take once its first byte has come (a peer idle *between* frames is fine;
/// one that stalls inside a frame holds its buffers, so it is cut off).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_header: u32,
    pub max_data: u32,
    pub frame_timeout: Option<Duration>,
}

impl Limits {
    /// The protocol's own bounds, no timeout (the client side: calls have deadlines).
    pub const FULL: Limits = Limits { max_header: MAX_HEADER, max_data: MAX_DATA, frame_timeout: None };
}

/// Reads one frame. `Ok(None)` is a clean end of stream between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<RawFrame>, ReadError> {
    read_frame_within(r, Limits::FULL).await
}

/// [`read_frame`] with tighter [`Limits`] (the server before authentication).
pub async fn read_frame_within<R: AsyncRead + Unpin>(r: &mut R, limits: Limits) -> Result<Option<RawFrame>, ReadError> {
    let mut pre = [0u8; PREAMBLE_LEN];
    let n = r.read(&mut pre).await?;
    if n == 0 {
        return Ok(None);
    }
    let rest = read_rest(r, pre, n, limits);
    match limits.frame_timeout {
        Some(t) => tokio::time::timeout(t, rest).await.map_err(|_| ReadError::Stalled(t))?,
        None => rest.await,
    }
    .map(Some)
}

async fn read_rest<R: AsyncRead + Unpin>(
    r: &mut R,
    mut pre: [u8; PREAMBLE_LEN],
    mut got: usize,
    limits: Limits,
) -> Result<RawFrame, ReadError> {
    while got < PREAMBLE_LEN {
        let n = r.read(&mut pre[got..]).await?;
        if n == 0 {
            return Err(ReadError::Truncated);
        }
        got += n;
    }
    let p = Preamble::decode(&pre)?;
    if p.header_len > limits.max_header {
        return Err(FrameError::HeaderTooLong(p.header_len).into());
    }
    if p.data_len > limits.max_data {
        return Err(FrameError::DataTooLong(p.data_len).into());
    }
    let header = read_exact_vec(r, p.header_len).await?;
    let data = read_exact_vec(r, p.data_len).await?;
    let actual = checksum(&data);
    if actual != p.data_crc {
        return Err(FrameError::BadChecksum { expected: p.data_crc, actual }.into());
    }
    Ok(RawFrame { id: p.id, kind: p.kind, header, data })
}

/// Writes one frame: preamble and header in one buffer, data straight from the caller.
pub async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    kind: Kind,
    id: u64,
    header: &[u8],
    data: &[u8],
) -> io::Result<()> {
    let too_big = |what| io::Error::new(io::ErrorKind::InvalidInput, format!("{what} too large for a frame"));
    let p = Preamble {
        kind,
        id,
        header_len: u32::try_from(header.len()).map_err(|_| too_big("header"))?,
        data_len: u32::try_from(data.len()).map_err(|_| too_big("data"))?,
        data_crc: checksum(data),
    };
    let mut head = Vec::with_capacity(PREAMBLE_LEN + header.len());
    head.extend_from_slice(&p.encode());
    head.extend_from_slice(header);
    let mut slices = [IoSlice::new(&head), IoSlice::new(data)];
    let mut bufs: &mut [IoSlice<'_>] = &mut slices;
    IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        let n = w.write_vectored(bufs).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut bufs, n);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frame_round_trips_through_a_pipe() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let d2 = data.clone();
        let w = tokio::spawn(async move { write_frame(&mut a, Kind::Request, 7, b"hdr", &d2).await });
        let f = read_frame(&mut b).await.unwrap().unwrap();
        w.await.unwrap().unwrap();
        assert_eq!((f.id, f.kind, f.header.as_slice()), (7, Kind::Request, &b"hdr"[..]));
        assert_eq!(f.data, data);
    }

    #[tokio::test]
    async fn a_peer_stalling_inside_a_frame_is_cut_off_but_an_idle_one_is_not() {
        let limits = Limits { frame_timeout: Some(std::time::Duration::from_millis(50)), ..Limits::FULL };
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        // Idle between frames: still waiting after several deadlines.
        let idle = tokio::time::timeout(std::time::Duration::from_millis(200), read_frame_within(&mut b, limits));
        assert!(idle.await.is_err(), "an idle peer was cut off");
        // Ten bytes of a preamble, then nothing.
        a.write_all(&[b'B'; 10]).await.unwrap();
        assert!(matches!(read_frame_within(&mut b, limits).await, Err(ReadError::Stalled(_))));
        // Before authentication: a payload is refused before it is read.
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write_frame(&mut a, Kind::Request, 1, b"hdr", b"payload").await.unwrap();
        let pre_auth = Limits { max_data: 0, ..limits };
        assert!(matches!(read_frame_within(&mut b, pre_auth).await, Err(ReadError::Frame(FrameError::DataTooLong(7)))));
    }

    #[tokio::test]
    async fn truncated_and_corrupt_frames_are_errors() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        write_frame(&mut a, Kind::Request, 1, b"hdr", b"payload").await.unwrap();
        let mut raw = vec![0u8; PREAMBLE_LEN + 10];
        b.read_exact(&mut raw).await.unwrap();
        // Truncated: only part of the frame, then EOF.
        let mut short: &[u8] = &raw[..PREAMBLE_LEN + 5];
        assert!(matches!(read_frame(&mut short).await, Err(ReadError::Truncated)));
        // Flipped payload bit: checksum mismatch.
        raw[PREAMBLE_LEN + 4] ^= 1;
        let mut bad: &[u8] = &raw;
        assert!(matches!(read_frame(&mut bad).await, Err(ReadError::Frame(FrameError::BadChecksum { .. }))));
        // Empty stream: clean EOF.
        let mut empty: &[u8] = &[];
        assert!(read_frame(&mut empty).await.unwrap().is_none());
    }
}
