//! The fuzzing harness for BenchFS's wire decoders, shared by three users:
//! the libFuzzer targets in `fuzz/fuzz_targets/` and the stand-alone driver
//! `fuzz/src/bin/drive.rs` (stable Rust, no sanitizer), which reach it as
//! `benchfs_fuzz::harness`, and the quick and live runs in the main test suite
//! (`tests/reliability_fuzz.rs`, `tests/reliability_live.rs`).
//!
//! Each `check_*` function feeds one input to a decoder and asserts what must hold
//! for *any* input: no panic, no hang, and agreement between what was accepted and
//! what the encoder produces. [`Gen`] builds valid frames of every message and
//! mutates them, so random runs get past the magic/version checks that pure noise
//! almost never passes. [`Counting`] is a global allocator that measures the peak
//! heap use of one input, so drivers can check that no input allocates more than
//! its declared (and capped) lengths.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use benchfs::proto::frame::{
    checksum, decode_header, encode_header, FrameError, Kind, Preamble, MAGIC, MAX_DATA, MAX_HEADER, PREAMBLE_LEN,
    PROTOCOL_VERSION,
};
use benchfs::proto::*;
use benchfs::rpc::wire::{read_frame, ReadError};
use tokio::io::{AsyncRead, ReadBuf};

/// Byte offsets of the preamble fields (see `src/proto/frame.rs`).
pub const VERSION_OFF: usize = 4;
pub const KIND_OFF: usize = 5;
pub const ID_OFF: usize = 8;
pub const HLEN_OFF: usize = 16;
pub const DLEN_OFF: usize = 20;
pub const CRC_OFF: usize = 24;

/// Heap a header decode may use beyond what its input accounts for: serde caps the
/// up-front capacity of a decoded `Vec` at 1 MiB ("cautious" size hints).
pub const HEADER_ALLOC_SLACK: usize = (1 << 20) + (64 << 10);

// ---------------------------------------------------------------------------
// Preamble

/// `Preamble::decode` on the first 32 bytes of `data` (zero-padded).
/// Returns the decoded preamble, if any.
pub fn check_preamble(data: &[u8]) -> Option<Preamble> {
    let mut b = [0u8; PREAMBLE_LEN];
    let n = data.len().min(PREAMBLE_LEN);
    b[..n].copy_from_slice(&data[..n]);
    match Preamble::decode(&b) {
        Ok(p) => {
            assert!(b[..4] == MAGIC && b[VERSION_OFF] == PROTOCOL_VERSION, "accepted a bad magic/version: {b:02x?}");
            assert!(p.header_len <= MAX_HEADER && p.data_len <= MAX_DATA, "accepted oversized lengths: {p:?}");
            // Everything but the two reserved fields round-trips (decode does not
            // require the reserved bytes to be zero).
            let mut canon = b;
            canon[6..8].fill(0);
            canon[28..32].fill(0);
            assert_eq!(p.encode(), canon, "decode/encode disagree");
            Some(p)
        }
        Err(e) => {
            let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
            // The error names the first field (in wire order) that is wrong.
            match e {
                FrameError::BadMagic(m) => assert!(m != MAGIC && m[..] == b[..4]),
                FrameError::BadVersion(v) => assert!(b[..4] == MAGIC && v != PROTOCOL_VERSION),
                FrameError::BadKind(k) => assert!(b[VERSION_OFF] == PROTOCOL_VERSION && k > 1),
                FrameError::HeaderTooLong(h) => assert!(h > MAX_HEADER && h == u32_at(HLEN_OFF)),
                FrameError::DataTooLong(d) => {
                    assert!(d > MAX_DATA && d == u32_at(DLEN_OFF) && u32_at(HLEN_OFF) <= MAX_HEADER)
                }
                FrameError::Reserved => assert!(b[KIND_OFF] <= 1 && (b[6..8] != [0, 0] || b[28..32] != [0; 4])),
                other => panic!("Preamble::decode returned {other:?}"),
            }
            None
        }
    }
}

// ---------------------------------------------------------------------------
// Headers

/// `decode_header::<Request>` and `decode_header::<Reply>` over `data`. Whatever
/// decodes must re-encode to at most as many bytes as it was decoded from (no value
/// bigger than its input) and decode back to the same value.
pub fn check_header(data: &[u8]) -> (bool, bool) {
    (check_decode::<Request>(data), check_decode::<Reply>(data))
}

/// Decodes `data` as a `T`: on success checks the round trip, on failure the error kind.
fn check_decode<T>(data: &[u8]) -> bool
where
    T: serde::Serialize + for<'a> serde::Deserialize<'a> + PartialEq + std::fmt::Debug,
{
    match decode_header::<T>(data) {
        Ok(v) => {
            round_trip(&v, data.len());
            true
        }
        Err(e) => {
            assert!(matches!(e, FrameError::BadHeader(_)), "{e:?}");
            false
        }
    }
}

fn round_trip<T>(v: &T, input_len: usize)
where
    T: serde::Serialize + for<'a> serde::Deserialize<'a> + PartialEq + std::fmt::Debug,
{
    let enc = encode_header(v).expect("a decoded message re-encodes");
    assert!(enc.len() <= input_len, "{} bytes decoded into a value encoding to {}: {v:?}", input_len, enc.len());
    let back: T = decode_header(&enc).expect("re-encoded message decodes");
    assert_eq!(&back, v, "re-encoded message decodes differently");
}

// ---------------------------------------------------------------------------
// read_frame

/// An in-memory byte stream that hands out at most `step` bytes per read and
/// answers `Pending` (after waking its task) every `pending_every`-th poll, the
/// way a socket delivers a frame in pieces.
pub struct Trickle<'a> {
    pub data: &'a [u8],
    pub pos: usize,
    step: usize,
    pending_every: usize,
    polls: usize,
}

impl<'a> Trickle<'a> {
    pub fn new(data: &'a [u8], step: usize, pending_every: usize) -> Trickle<'a> {
        Trickle { data, pos: 0, step: step.max(1), pending_every, polls: 0 }
    }
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        self.polls += 1;
        if self.pending_every > 0 && self.polls.is_multiple_of(self.pending_every) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let n = self.step.min(buf.remaining()).min(self.data.len() - self.pos);
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// Polls `fut` to completion with a no-op waker. The readers used here never wait
/// for anything outside themselves, so a future still pending after `max_polls`
/// polls is a hang: it panics.
pub fn block_on_bounded<F: Future>(fut: F, max_polls: usize) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..max_polls {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
    panic!("future still pending after {max_polls} polls on a finite in-memory input: a hang");
}

/// What one `check_read_frame` call saw.
#[derive(Debug, Default, Clone, Copy)]
pub struct FrameStats {
    pub frames: usize,
    pub clean_eof: bool,
    pub truncated: bool,
    pub rejected: bool,
    /// Largest `header_len + data_len` a preamble in this input declared.
    pub declared: usize,
}

/// Runs `rpc::wire::read_frame` repeatedly over a stream. The first byte of `data`
/// picks how the stream is delivered (piece size and how often a read is
/// `Pending`); the rest is the stream. Every accepted frame must be exactly the
/// bytes the preamble declared (nothing read past it, checksum right); every error
/// must be explained by the bytes; an in-memory stream must never yield an I/O
/// error or hang.
pub fn check_read_frame(data: &[u8]) -> FrameStats {
    let Some((&ctl, stream)) = data.split_first() else { return FrameStats::default() };
    let step = match ctl & 0x0f {
        0 => usize::MAX,
        k => 1usize << (k - 1), // 1 byte .. 16 KiB
    };
    // Never every poll (that would be a reader that never delivers): 0 (never) or 2..=8.
    let pending_every = match (ctl >> 4) & 0x07 {
        0 => 0,
        k => usize::from(k) + 1,
    };
    let mut rd = Trickle::new(stream, step, pending_every);
    let mut st = FrameStats::default();
    // Every poll of the reader moves at least one byte, reports the end, or is one
    // of the Pending answers (at most every other poll), so this many is plenty.
    let max_polls = 8 * stream.len() + 1024;
    loop {
        let start = rd.pos;
        let rest = &stream[start..];
        let pre = (rest.len() >= PREAMBLE_LEN).then(|| check_preamble(rest));
        if let Some(Some(p)) = pre {
            st.declared = st.declared.max(p.header_len as usize + p.data_len as usize);
        }
        let res = block_on_bounded(read_frame(&mut rd), max_polls);
        let consumed = rd.pos - start;
        match res {
            Ok(Some(f)) => {
                let p = pre.flatten().expect("a frame was accepted without a valid preamble");
                let (hl, dl) = (p.header_len as usize, p.data_len as usize);
                assert_eq!(consumed, PREAMBLE_LEN + hl + dl, "read_frame consumed the wrong number of bytes");
                assert_eq!((f.id, f.kind), (p.id, p.kind));
                assert!(f.header == rest[PREAMBLE_LEN..PREAMBLE_LEN + hl], "header bytes differ");
                assert!(f.data == rest[PREAMBLE_LEN + hl..consumed], "data bytes differ");
                assert_eq!(checksum(&f.data), p.data_crc, "accepted a payload with a wrong checksum");
                check_header(&f.header);
                st.frames += 1;
                if st.frames >= 64 {
                    return st;
                }
            }
            Ok(None) => {
                assert!(rest.is_empty(), "clean EOF reported with {} bytes left", rest.len());
                st.clean_eof = true;
                return st;
            }
            Err(ReadError::Truncated) => {
                let need = match pre {
                    Some(Some(p)) => PREAMBLE_LEN + p.header_len as usize + p.data_len as usize,
                    _ => PREAMBLE_LEN,
                };
                assert!(!rest.is_empty() && rest.len() < need, "Truncated with {} of {need} bytes", rest.len());
                assert_eq!(consumed, rest.len(), "Truncated before the stream ended");
                st.truncated = true;
                return st;
            }
            Err(ReadError::Frame(FrameError::BadChecksum { expected, actual })) => {
                let p = pre.flatten().expect("checksum checked without a valid preamble");
                assert_eq!(expected, p.data_crc);
                let (hl, dl) = (p.header_len as usize, p.data_len as usize);
                assert_eq!(consumed, PREAMBLE_LEN + hl + dl);
                assert_eq!(actual, checksum(&rest[PREAMBLE_LEN + hl..consumed]));
                assert_ne!(expected, actual);
                st.rejected = true;
                return st;
            }
            Err(ReadError::Frame(e)) => {
                // Rejected on the preamble alone: nothing past it was read.
                assert!(matches!(pre, Some(None)), "preamble error {e:?} but the preamble decodes: {pre:?}");
                assert_eq!(consumed, PREAMBLE_LEN, "read past a rejected preamble");
                st.rejected = true;
                return st;
            }
            Err(ReadError::Io(e)) => panic!("I/O error from an in-memory stream: {e}"),
            Err(ReadError::Stalled(t)) => panic!("stalled after {t:?} without a frame deadline"),
        }
    }
}

// ---------------------------------------------------------------------------
// One input, checked

/// The fuzzed entry points.
pub const TARGETS: [&str; 3] = ["preamble", "header", "read_frame"];

/// What the inputs of one target led to: [accepted, rejected, truncated/other].
pub type Outcomes = [u64; 3];

/// Runs one input through the checks of `target` (one of [`TARGETS`]), including its
/// heap bound, and counts the outcome. Returns the peak heap bytes the input used.
/// The heap checks need [`Counting`] as the global allocator.
pub fn run_checked(target: &str, input: &[u8], out: &mut Outcomes) -> usize {
    match target {
        "preamble" => {
            let (p, peak, allocs) = measure(|| check_preamble(input));
            assert_eq!(allocs, 0, "Preamble::decode allocated");
            out[usize::from(p.is_none())] += 1;
            peak
        }
        "header" => {
            let ((req, rep), peak, _) = measure(|| check_header(input));
            let bound = HEADER_ALLOC_SLACK + 16 * input.len();
            assert!(peak <= bound, "header decode of {} bytes used {peak} bytes of heap (bound {bound})", input.len());
            out[if req || rep { 0 } else { 1 }] += 1;
            peak
        }
        _ => {
            let (st, peak, _) = measure(|| check_read_frame(input));
            // Buffers for what the preambles declared (capped at MAX_HEADER + MAX_DATA
            // by Preamble::decode), plus decoding the accepted headers.
            let bound = st.declared + HEADER_ALLOC_SLACK + 16 * input.len();
            assert!(peak <= bound, "read_frame used {peak} bytes of heap; declared {} (bound {bound})", st.declared);
            out[0] += st.frames as u64;
            out[1] += u64::from(st.rejected);
            out[2] += u64::from(st.truncated);
            peak
        }
    }
}

// ---------------------------------------------------------------------------
// Allocation accounting

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static ALLOCS: Cell<usize> = const { Cell::new(0) };
}

/// A global allocator that counts, per thread, live heap bytes, their peak and the
/// number of allocations. Install with
/// `#[global_allocator] static A: harness::Counting = harness::Counting;`.
pub struct Counting;

fn note_alloc(size: usize) {
    let _ = LIVE.try_with(|l| {
        let v = l.get() + size;
        l.set(v);
        let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
    });
    let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
}

fn note_free(size: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(size)));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged;
// the bookkeeping touches only const-initialised thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note_free(layout.size());
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_free(layout.size());
        note_alloc(new_size);
        // SAFETY: forwarded contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Heap use of one closure on this thread: (peak bytes above the starting level,
/// number of allocations). Meaningful only where [`Counting`] is the global allocator.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let a0 = ALLOCS.with(Cell::get);
    let v = f();
    let peak = PEAK.with(Cell::get).saturating_sub(base);
    (v, peak, ALLOCS.with(Cell::get) - a0)
}

/// Resident set of this process, from `/proc/self/status` (KiB): (VmRSS, VmHWM).
pub fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

// ---------------------------------------------------------------------------
// Input generation

/// xorshift64*: small, fast, deterministic per seed.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.u64() % n as u64) as usize
        }
    }
    pub fn u32(&mut self) -> u32 {
        (self.u64() >> 32) as u32
    }
    pub fn bool(&mut self) -> bool {
        self.u64() & 1 == 1
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.u64() as u8).collect()
    }
    /// A number that is often at an edge: 0, 1, small, powers of two and their
    /// neighbours, the type's maximum.
    pub fn edgy_u64(&mut self) -> u64 {
        match self.below(6) {
            0 => [0, 1, u64::MAX, u64::from(u32::MAX), 1 << 63, 4096][self.below(6)],
            1 => (1u64 << self.below(64)).wrapping_add(self.below(3) as u64).wrapping_sub(1),
            2 => self.below(1 << 16) as u64,
            _ => self.u64(),
        }
    }
    pub fn edgy_u32(&mut self) -> u32 {
        match self.below(5) {
            0 => [0, 1, u32::MAX, MAX_HEADER, MAX_HEADER + 1, MAX_DATA, MAX_DATA + 1, 1 << 20][self.below(8)],
            1 => (1u32 << self.below(32)).wrapping_add(self.below(3) as u32).wrapping_sub(1),
            2 => self.below(1 << 12) as u32,
            _ => self.u32(),
        }
    }
    pub fn path(&mut self) -> String {
        let depth = 1 + self.below(4);
        let mut p = String::new();
        for _ in 0..depth {
            p.push('/');
            let max = if self.below(50) == 0 { 300 } else { 12 };
            let len = 1 + self.below(max);
            for _ in 0..len {
                // Mostly ASCII, sometimes multi-byte UTF-8.
                let c = match self.below(20) {
                    0 => 'é',
                    1 => '名',
                    _ => char::from(b'a' + self.below(26) as u8),
                };
                p.push(c);
            }
        }
        p
    }
    fn opt<T>(&mut self, f: impl FnOnce(&mut Gen) -> T) -> Option<T> {
        self.bool().then(|| f(self))
    }
    fn time(&mut self) -> (i64, u32) {
        (self.edgy_u64() as i64, self.below(1_000_000_000) as u32)
    }
    pub fn attr(&mut self) -> Attr {
        let kind = match self.below(12) {
            0..=2 => FileKind::Dir,
            3 => FileKind::Symlink,
            4 => FileKind::Fifo,
            5 => FileKind::Socket,
            6 => FileKind::CharDev,
            7 => FileKind::BlockDev,
            _ => FileKind::File,
        };
        let dir = kind == FileKind::Dir;
        Attr {
            kind,
            mode: self.u32() & 0o7777,
            uid: self.edgy_u32(),
            gid: self.edgy_u32(),
            size: self.edgy_u64(),
            atime: self.time(),
            mtime: self.time(),
            ctime: self.time(),
            fid: if dir { 0 } else { (u128::from(self.u64()) << 64) | u128::from(self.u64()) },
            chunk_size: if dir { 0 } else { 1 << (12 + self.below(15)) },
            written: self.edgy_u64(),
            rdev: self.edgy_u64(),
            target: if kind == FileKind::Symlink { Some(self.path()) } else { None },
            nlink: self.edgy_u32(),
            linked: self.bool(),
        }
    }
    fn file_kind(&mut self) -> FileKind {
        [
            FileKind::File,
            FileKind::Dir,
            FileKind::Symlink,
            FileKind::Fifo,
            FileKind::Socket,
            FileKind::CharDev,
            FileKind::BlockDev,
        ][self.below(7)]
    }
    fn status(&mut self) -> Status {
        loop {
            if let Some(s) = Status::from_code(self.below(22) as u16) {
                return s;
            }
        }
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        std::array::from_fn(|_| self.u64() as u8)
    }
    pub fn fid(&mut self) -> u128 {
        (u128::from(self.edgy_u64()) << 64) | u128::from(self.u64())
    }

    fn set_attr(&mut self) -> SetAttr {
        SetAttr {
            mode: self.opt(Gen::u32),
            uid: self.opt(Gen::edgy_u32),
            gid: self.opt(Gen::edgy_u32),
            size: self.opt(Gen::edgy_u64),
            grow_to: self.opt(Gen::edgy_u64),
            wrote: self.opt(Gen::edgy_u64),
            atime: self.opt(Gen::time),
            mtime: self.opt(Gen::time),
        }
    }

    fn fence_state(&mut self) -> FenceState {
        [FenceState::Hold, FenceState::Gone, FenceState::Lift][self.below(3)]
    }

    /// Any request, with fields anywhere in their range.
    pub fn request(&mut self) -> Request {
        match self.below(30) {
            0 => Ping {}.into(),
            1 => Hello { nonce: self.array(), role: if self.bool() { Role::Peer } else { Role::Client } }.into(),
            2 => Auth { proof: self.array() }.into(),
            3 => {
                let n = self.below(4);
                AdoptRing { members: (0..n).map(|_| self.path()).collect(), formed: self.opt(Gen::edgy_u64) }.into()
            }
            4 => Create {
                path: self.path(),
                mode: self.u32(),
                uid: self.edgy_u32(),
                gid: self.edgy_u32(),
                chunk_size: self.edgy_u32(),
                exclusive: self.bool(),
                truncate: self.bool(),
            }
            .into(),
            5 => Mkdir { path: self.path(), mode: self.u32(), uid: self.edgy_u32(), gid: self.edgy_u32() }.into(),
            6 => Stat { path: self.path() }.into(),
            7 => Update { path: self.path(), fid: self.opt(Gen::fid), set: self.set_attr() }.into(),
            8 => Unlink { path: self.path() }.into(),
            9 => Rmdir { path: self.path() }.into(),
            10 => Rename { from: self.path(), to: self.path(), noreplace: self.bool() }.into(),
            11 => Readdir { dir: self.path(), after: self.opt(Gen::path), limit: self.edgy_u32() }.into(),
            12 => Write { fid: self.fid(), index: self.edgy_u64(), offset: self.edgy_u32() }.into(),
            13 => {
                Read { fid: self.fid(), index: self.edgy_u64(), offset: self.edgy_u32(), len: self.edgy_u32() }.into()
            }
            14 => TruncateChunks { fid: self.fid(), size: self.edgy_u64(), chunk_size: self.edgy_u32() }.into(),
            15 => Fsync { fid: self.opt(Gen::fid) }.into(),
            16 => Usage { detail: self.bool() }.into(),
            17 => {
                Insert { path: self.path(), attr: self.attr(), replace: self.bool(), bypass_fence: self.bool() }.into()
            }
            18 => Fence { dir: self.path(), state: self.fence_state(), probe: self.bool() }.into(),
            19 => MoveTree { from: self.path(), to: self.path() }.into(),
            20 => Symlink { path: self.path(), target: self.path(), uid: self.edgy_u32(), gid: self.edgy_u32() }.into(),
            21 => Mknod {
                path: self.path(),
                kind: self.file_kind(),
                mode: self.u32(),
                rdev: self.edgy_u64(),
                uid: self.edgy_u32(),
                gid: self.edgy_u32(),
            }
            .into(),
            22 => {
                let n = self.below(4);
                let dirs = (0..n).map(|_| (self.path(), (self.u64() as i64, self.edgy_u32()))).collect();
                let subdirs = (0..self.below(3)).map(|_| (self.path(), self.edgy_u32() as i32)).collect();
                Touch { dirs, subdirs }.into()
            }
            23 => Link { from: self.path(), to: self.path() }.into(),
            24 => InodeLink { attr: self.attr() }.into(),
            25 => InodeStat { fid: self.fid() }.into(),
            26 => InodeUpdate { fid: self.fid(), set: self.set_attr() }.into(),
            27 => InodeUnlink { fid: self.fid() }.into(),
            28 => {
                // Nested at random too (a nested Expect is refused by validation).
                let n = self.below(6);
                let expect = (0..n).map(|_| (self.path(), self.fid())).collect();
                Expect { expect, request: Box::new(self.request()) }.into()
            }
            _ => {
                let n = self.below(4);
                DropFiles { fids: (0..n).map(|_| self.fid()).collect() }.into()
            }
        }
    }

    fn ring_id(&mut self) -> RingId {
        RingId { members_hash: self.u64(), formed: self.edgy_u64() }
    }

    /// Any reply.
    pub fn reply(&mut self) -> Reply {
        match self.below(11) {
            0 => Reply::Pong(Pong { version: self.u64() as u8 }),
            1 => Reply::Challenge(Challenge {
                nonce: self.array(),
                required: self.bool(),
                proof: self.opt(Gen::array),
                ring: self.opt(Gen::ring_id),
            }),
            2 => {
                let n = self.below(4);
                Reply::RingInfo(RingInfo { ring: self.ring_id(), members: (0..n).map(|_| self.path()).collect() })
            }
            3 => Reply::AttrReply(AttrReply(self.attr())),
            4 => Reply::Created(Created { attr: self.attr(), previous_size: self.opt(Gen::edgy_u64) }),
            5 => Reply::Removed(Removed(self.opt(Gen::attr))),
            6 => {
                let n = self.below(6);
                Reply::Entries(Entries {
                    entries: (0..n)
                        .map(|_| DirEntryWire { name: self.path()[1..].to_string(), attr: self.attr() })
                        .collect(),
                    more: self.bool(),
                })
            }
            7 => Reply::Done(Done(self.edgy_u32())),
            8 => Reply::UsageReply(UsageReply(StatFs {
                total_bytes: self.edgy_u64(),
                free_bytes: self.edgy_u64(),
                avail_bytes: self.edgy_u64(),
                chunks: self.edgy_u64(),
                chunk_bytes: self.edgy_u64(),
                inodes: self.edgy_u64(),
            })),
            9 => Reply::Changed(Changed { at: self.opt(Gen::time), removed: self.opt(Gen::attr) }),
            _ => Reply::Error { status: self.status(), message: self.path() },
        }
    }

    /// A well-formed frame (right lengths, right checksum) carrying a random request
    /// or reply and, for writes and read replies, a payload of up to `max_data` bytes.
    pub fn valid_frame(&mut self, max_data: usize) -> Vec<u8> {
        let (kind, header, has_data) = if self.below(3) > 0 {
            let r = self.request();
            let d = matches!(r, Request::Write(_));
            (Kind::Request, encode_header(&r), d)
        } else {
            let r = self.reply();
            let d = matches!(r, Reply::Done(_));
            (Kind::Reply, encode_header(&r), d)
        };
        let header = header.expect("generated messages fit a frame");
        let n = self.below(max_data + 1);
        let data = if has_data { self.bytes(n) } else { Vec::new() };
        frame_bytes(kind, self.u64(), &header, &data)
    }

    /// Applies 1..=4 random mutations: bit flips, edge values, length-field
    /// overwrites, truncation, insertion, deletion, splicing in another frame.
    pub fn mutate(&mut self, v: &mut Vec<u8>) {
        for _ in 0..1 + self.below(4) {
            match self.below(9) {
                0 | 1 if !v.is_empty() => {
                    let i = self.below(v.len());
                    v[i] ^= 1 << self.below(8);
                }
                2 if !v.is_empty() => {
                    let i = self.below(v.len());
                    v[i] = [0, 1, 0x7f, 0x80, 0xff, 0xfe][self.below(6)];
                }
                3 if v.len() >= PREAMBLE_LEN => {
                    // Lie about a length, or break the checksum.
                    let off = [HLEN_OFF, DLEN_OFF, CRC_OFF][self.below(3)];
                    let val = self.edgy_u32();
                    v[off..off + 4].copy_from_slice(&val.to_le_bytes());
                }
                4 => {
                    let keep = self.below(v.len() + 1);
                    v.truncate(keep);
                }
                5 => {
                    let at = self.below(v.len() + 1);
                    let n = 1 + self.below(16);
                    let ins = self.bytes(n);
                    v.splice(at..at, ins);
                }
                6 if !v.is_empty() => {
                    let a = self.below(v.len());
                    let b = (a + 1 + self.below(16)).min(v.len());
                    v.drain(a..b);
                }
                7 => {
                    let f = self.valid_frame(64);
                    v.extend_from_slice(&f);
                }
                _ if v.len() > PREAMBLE_LEN => {
                    // Flip a byte inside the postcard header (past the preamble).
                    let i = PREAMBLE_LEN + self.below(v.len() - PREAMBLE_LEN);
                    v[i] = self.u64() as u8;
                }
                _ => {}
            }
        }
    }

    /// One input for `check_read_frame`: a delivery-control byte, then a stream of
    /// valid, mutated or random frames.
    pub fn read_frame_input(&mut self) -> Vec<u8> {
        let mut v = vec![self.u64() as u8];
        match self.below(8) {
            0 => {
                let n = self.below(200);
                v.extend(self.bytes(n));
            }
            1 => {
                // Several valid frames back to back: all must be read.
                for _ in 0..1 + self.below(4) {
                    let f = self.valid_frame(2048);
                    v.extend_from_slice(&f);
                }
            }
            _ => {
                let mut f = self.valid_frame(2048);
                self.mutate(&mut f);
                v.extend_from_slice(&f);
            }
        }
        v
    }

    /// One input for `check_header`: an encoded message, mutated or not, or noise.
    pub fn header_input(&mut self) -> Vec<u8> {
        match self.below(6) {
            0 => {
                let n = self.below(64);
                self.bytes(n)
            }
            k => {
                let mut h = if k % 2 == 0 { encode_header(&self.request()) } else { encode_header(&self.reply()) }
                    .expect("generated messages fit a frame");
                if k > 1 {
                    for _ in 0..1 + self.below(3) {
                        match self.below(4) {
                            0 if !h.is_empty() => {
                                let i = self.below(h.len());
                                h[i] = self.u64() as u8;
                            }
                            1 => {
                                let keep = self.below(h.len() + 1);
                                h.truncate(keep);
                            }
                            2 if !h.is_empty() => {
                                // A varint that claims a huge length or variant.
                                let i = self.below(h.len());
                                let ins = [0xff, 0xff, 0xff, 0xff, 0x0f];
                                h.splice(i..i, ins.into_iter().take(1 + self.below(5)));
                            }
                            _ => {
                                let i = self.below(h.len() + 1);
                                h.insert(i, self.u64() as u8);
                            }
                        }
                    }
                }
                h
            }
        }
    }

    /// One input for `check_preamble`: valid, field-mutated, or noise.
    pub fn preamble_input(&mut self) -> Vec<u8> {
        let p = Preamble {
            kind: if self.bool() { Kind::Request } else { Kind::Reply },
            id: self.edgy_u64(),
            header_len: self.edgy_u32(),
            data_len: self.edgy_u32(),
            data_crc: self.u32(),
        };
        let mut b = p.encode().to_vec();
        match self.below(4) {
            0 => {
                let n = self.below(40);
                b = self.bytes(n);
            }
            1 => {}
            _ => {
                let i = self.below(b.len());
                b[i] = self.u64() as u8;
            }
        }
        b
    }
}

/// Fails to compile when a message gains a variant, so that the generators above
/// (`Gen::request`, `Gen::reply`) are taught to produce it (`Gen::status` draws every code).
#[allow(clippy::match_single_binding)]
fn _generators_cover_every_variant(r: &Request, p: &Reply) {
    match r {
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
        | Request::Insert(_)
        | Request::Fence(_)
        | Request::MoveTree(_)
        | Request::DropFiles(_)
        | Request::Symlink(_)
        | Request::Mknod(_)
        | Request::Touch(_)
        | Request::Link(_)
        | Request::InodeLink(_)
        | Request::InodeStat(_)
        | Request::InodeUpdate(_)
        | Request::InodeUnlink(_)
        | Request::Expect(_) => {}
    }
    match p {
        Reply::Pong(_)
        | Reply::Challenge(_)
        | Reply::RingInfo(_)
        | Reply::AttrReply(_)
        | Reply::Created(_)
        | Reply::Removed(_)
        | Reply::Entries(_)
        | Reply::Done(_)
        | Reply::UsageReply(_)
        | Reply::Error { .. }
        | Reply::Changed(_) => {}
    }
}

/// Encodes a frame with the library's own preamble layout.
pub fn frame_bytes(kind: Kind, id: u64, header: &[u8], data: &[u8]) -> Vec<u8> {
    let p = Preamble {
        kind,
        id,
        header_len: u32::try_from(header.len()).expect("header fits"),
        data_len: u32::try_from(data.len()).expect("data fits"),
        data_crc: checksum(data),
    };
    let mut v = p.encode().to_vec();
    v.extend_from_slice(header);
    v.extend_from_slice(data);
    v
}
