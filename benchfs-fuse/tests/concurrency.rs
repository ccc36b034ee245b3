//! Concurrency checker: several workers on different front ends (async `Client`s, the C
//! API, two FUSE mounts of one 3-server cluster) run seeded random namespace operations
//! over a small shared namespace at once; after they stop, the tree must make sense.
//!
//! Phase A (creates, RENAME_NOREPLACE renames of files and directories, mkdir; nothing
//! removes or replaces anything): EVERY acknowledged create must be found afterwards under
//! exactly one name with exactly the bytes it wrote.
//! Phase B (adds unlink, rmdir, renames that replace): no content under two names, no
//! corrupt (zero-filled, mixed, wrong-length) content.
//!
//! Each create writes bytes unique to it (a header with worker id and op number, then a
//! pattern seeded by both), so a file's content identifies the create that made it.
//! `BENCHFS_CHECK_SEED` and `BENCHFS_CHECK_OPS` (ops per worker and phase) override the
//! defaults; the seed is printed. Without FUSE the Client and C API workers still run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{CStr, CString};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use benchfs::{Client, Config};
use benchfs_testkit::{mount, mount::TestMount, pattern, read, require, Cluster};

const DEFAULT_SEED: u64 = 0x5eed_c0ff_ee00_0001;
const DEFAULT_OPS: usize = 600;
/// Rounds of (phase A, phase B); later rounds start from the tree earlier ones left.
const ROUNDS: usize = 3;
const NAMES: u64 = 16;
const MAGIC: u32 = 0xB3F5_C4EC;
const HEADER: usize = 16;

// ---------------------------------------------------------------- content

type Id = (u32, u32); // (worker, op number)

fn content(seed: u64, id: Id, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(&MAGIC.to_le_bytes());
    v.extend_from_slice(&id.0.to_le_bytes());
    v.extend_from_slice(&id.1.to_le_bytes());
    v.extend_from_slice(&(len as u32).to_le_bytes());
    let body = pattern(seed ^ ((u64::from(id.0) << 32) | u64::from(id.1)).wrapping_mul(0x9e37_79b9), len - HEADER);
    v.extend_from_slice(&body);
    v
}

fn checksum(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3))
}

/// Which create wrote `b`, or what is wrong with it.
fn identify(seed: u64, b: &[u8]) -> Result<Id, String> {
    if b.len() < HEADER {
        return Err(format!("{} bytes: shorter than a header (first bytes {:02x?})", b.len(), &b[..b.len().min(16)]));
    }
    let word = |i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
    if word(0) != MAGIC {
        let zeros = b.iter().take_while(|&&x| x == 0).count();
        return Err(format!("{} bytes, no header (starts with {zeros} zero bytes)", b.len()));
    }
    let (id, len) = ((word(1), word(2)), word(3) as usize);
    let want = content(seed, id, len);
    if b.len() != len {
        return Err(format!(
            "header says worker {} op {} of {len} bytes, but the file has {} bytes",
            id.0,
            id.1,
            b.len()
        ));
    }
    if let Some(i) = b.iter().zip(&want).position(|(x, y)| x != y) {
        let zeros = b[i..].iter().take_while(|&&x| x == 0).count();
        return Err(format!(
            "worker {} op {} ({len} bytes): differs from what it wrote at byte {i} ({zeros} zero bytes follow)",
            id.0, id.1
        ));
    }
    Ok(id)
}

// ---------------------------------------------------------------- front ends

type R = Result<(), String>;

/// One way into the file system. Paths are absolute in the BenchFS namespace.
trait Front {
    fn name(&self) -> String;
    /// Exclusive create, write all, wait `linger` (the file open and written, so renames
    /// of its directory can race its close), publish (close/fsync). `Err((opened, msg))`.
    fn create(&mut self, path: &str, data: &[u8], linger: Duration) -> Result<(), (bool, String)>;
    fn rename(&mut self, from: &str, to: &str, noreplace: bool) -> R;
    fn has_noreplace(&self) -> bool {
        true
    }
    fn mkdir(&mut self, path: &str) -> R;
    fn unlink(&mut self, path: &str) -> R;
    fn rmdir(&mut self, path: &str) -> R;
}

struct ClientFront {
    c: Client,
    rt: tokio::runtime::Handle,
    tag: usize,
}

impl Front for ClientFront {
    fn name(&self) -> String {
        format!("client{}", self.tag)
    }
    fn create(&mut self, path: &str, data: &[u8], linger: Duration) -> Result<(), (bool, String)> {
        self.rt.block_on(async {
            let f = self.c.create(path, 0o644).await.map_err(|e| (false, e.to_string()))?;
            let w = f.write_at(data, 0).await.map(|_| ());
            if !linger.is_zero() {
                tokio::time::sleep(linger).await;
            }
            let c = f.close().await;
            w.and(c).map_err(|e| (true, e.to_string()))
        })
    }
    fn rename(&mut self, from: &str, to: &str, noreplace: bool) -> R {
        self.rt.block_on(self.c.rename_with(from, to, noreplace)).map_err(|e| e.to_string())
    }
    fn mkdir(&mut self, path: &str) -> R {
        self.rt.block_on(self.c.mkdir(path, 0o755)).map(|_| ()).map_err(|e| e.to_string())
    }
    fn unlink(&mut self, path: &str) -> R {
        self.rt.block_on(self.c.unlink(path)).map_err(|e| e.to_string())
    }
    fn rmdir(&mut self, path: &str) -> R {
        self.rt.block_on(self.c.rmdir(path)).map_err(|e| e.to_string())
    }
}

struct MountFront {
    root: PathBuf,
    tag: String,
}

impl MountFront {
    fn p(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

fn io<T>(r: std::io::Result<T>) -> R {
    r.map(|_| ()).map_err(|e| e.to_string())
}

impl Front for MountFront {
    fn name(&self) -> String {
        self.tag.clone()
    }
    fn create(&mut self, path: &str, data: &[u8], linger: Duration) -> Result<(), (bool, String)> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.p(path))
            .map_err(|e| (false, e.to_string()))?;
        f.write_all(data).map_err(|e| (true, e.to_string()))?;
        if !linger.is_zero() {
            std::thread::sleep(linger);
        }
        f.sync_all().map_err(|e| (true, e.to_string()))?;
        // close(2) errors: std drops them, so close explicitly.
        use std::os::fd::IntoRawFd;
        let fd = f.into_raw_fd();
        // SAFETY: we own fd and close it once.
        if unsafe { libc::close(fd) } != 0 {
            return Err((true, format!("close: {}", std::io::Error::last_os_error())));
        }
        Ok(())
    }
    fn rename(&mut self, from: &str, to: &str, noreplace: bool) -> R {
        let (a, b) = (self.p(from), self.p(to));
        let (a, b) = (CString::new(a.as_os_str().as_bytes()).unwrap(), CString::new(b.as_os_str().as_bytes()).unwrap());
        let flags = if noreplace { libc::RENAME_NOREPLACE } else { 0 };
        // SAFETY: valid NUL-terminated paths.
        let rc = unsafe { libc::renameat2(libc::AT_FDCWD, a.as_ptr(), libc::AT_FDCWD, b.as_ptr(), flags) };
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error().to_string())
        }
    }
    fn mkdir(&mut self, path: &str) -> R {
        io(std::fs::create_dir(self.p(path)))
    }
    fn unlink(&mut self, path: &str) -> R {
        io(std::fs::remove_file(self.p(path)))
    }
    fn rmdir(&mut self, path: &str) -> R {
        io(std::fs::remove_dir(self.p(path)))
    }
}

/// The C API (`benchfs_*`), called directly.
struct CFront {
    ctx: *mut benchfs::ffi::Context,
}

// SAFETY: the C API is thread-safe; the context is used by one worker thread at a time.
unsafe impl Send for CFront {}

fn c_err(what: &str, rc: i64) -> String {
    // SAFETY: benchfs_get_error returns NULL or a NUL-terminated string owned by this thread.
    let msg = unsafe {
        let p = benchfs::ffi::benchfs_get_error();
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    format!("{what}: rc {rc}: {msg}")
}

impl CFront {
    fn rc(what: &str, rc: i32) -> R {
        if rc >= 0 {
            Ok(())
        } else {
            Err(c_err(what, i64::from(rc)))
        }
    }
}

impl Front for CFront {
    fn name(&self) -> String {
        "c-api".into()
    }
    fn create(&mut self, path: &str, data: &[u8], linger: Duration) -> Result<(), (bool, String)> {
        let p = CString::new(path).unwrap();
        // SAFETY: live context, NUL-terminated path, valid buffer.
        unsafe {
            let f = benchfs::ffi::benchfs_create(self.ctx, p.as_ptr(), libc::O_RDWR | libc::O_EXCL, 0o644);
            if f.is_null() {
                return Err((false, c_err("benchfs_create", i64::from(benchfs::ffi::benchfs_errno()))));
            }
            let n = benchfs::ffi::benchfs_write(f, data.as_ptr().cast(), data.len(), 0);
            if !linger.is_zero() {
                std::thread::sleep(linger);
            }
            let rc = benchfs::ffi::benchfs_close(f);
            if n != data.len() as isize {
                return Err((true, c_err("benchfs_write", n as i64)));
            }
            Self::rc("benchfs_close", rc).map_err(|e| (true, e))
        }
    }
    fn rename(&mut self, from: &str, to: &str, _noreplace: bool) -> R {
        let (a, b) = (CString::new(from).unwrap(), CString::new(to).unwrap());
        // SAFETY: live context, NUL-terminated paths.
        Self::rc("benchfs_rename", unsafe { benchfs::ffi::benchfs_rename(self.ctx, a.as_ptr(), b.as_ptr()) })
    }
    fn has_noreplace(&self) -> bool {
        false
    }
    fn mkdir(&mut self, path: &str) -> R {
        let p = CString::new(path).unwrap();
        // SAFETY: live context, NUL-terminated path.
        Self::rc("benchfs_mkdir", unsafe { benchfs::ffi::benchfs_mkdir(self.ctx, p.as_ptr(), 0o755) })
    }
    fn unlink(&mut self, path: &str) -> R {
        let p = CString::new(path).unwrap();
        // SAFETY: live context, NUL-terminated path.
        Self::rc("benchfs_remove", unsafe { benchfs::ffi::benchfs_remove(self.ctx, p.as_ptr()) })
    }
    fn rmdir(&mut self, path: &str) -> R {
        let p = CString::new(path).unwrap();
        // SAFETY: live context, NUL-terminated path.
        Self::rc("benchfs_rmdir", unsafe { benchfs::ffi::benchfs_rmdir(self.ctx, p.as_ptr()) })
    }
}

// ---------------------------------------------------------------- workers

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    A,
    B,
    C,
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        path: String,
        id: Id,
        len: usize,
        sum: u64,
    },
    Rename {
        from: String,
        to: String,
        noreplace: bool,
    },
    Mkdir(String),
    Unlink(String),
    Rmdir(String),
    /// Phase C: read a file back through a Client (no cache) to compare with what its
    /// acknowledged create wrote. `ok`: read and matched; `err`: `MISMATCH ...` or `missing`.
    Verify(String),
}

#[derive(Debug, Clone)]
struct Rec {
    worker: usize,
    front: String,
    op: Op,
    start: Duration,
    end: Duration,
    /// Acknowledged (the call returned success).
    ok: bool,
    /// For a failed create: whether the file had been created before the failure.
    opened: bool,
    err: String,
}

impl std::fmt::Display for Rec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match &self.op {
            Op::Create { path, id, len, sum } => {
                format!("create {path} (w{} op{}, {len} B, sum {sum:016x})", id.0, id.1)
            }
            Op::Rename { from, to, noreplace } => {
                format!("rename{} {from} -> {to}", if *noreplace { "(noreplace)" } else { "" })
            }
            Op::Mkdir(p) => format!("mkdir {p}"),
            Op::Unlink(p) => format!("unlink {p}"),
            Op::Rmdir(p) => format!("rmdir {p}"),
            Op::Verify(p) => format!("verify {p} (read back via a Client)"),
        };
        let res = if self.ok { "OK".to_string() } else { format!("ERR {}", self.err) };
        write!(
            f,
            "[w{} {} {:.3}..{:.3}s] {what}: {res}",
            self.worker,
            self.front,
            self.start.as_secs_f64(),
            self.end.as_secs_f64()
        )
    }
}

/// A directory slot: d0..d3, and for 1..3 the alternate name d5..d7 it is renamed to.
/// `sparse` adds d4, which files rarely land in, so that rmdir can succeed there.
fn dir_name(rng: &mut Rng, sparse: bool) -> String {
    if sparse && rng.below(3) == 0 {
        return "/d4".into();
    }
    if !sparse && rng.below(20) == 0 {
        return "/d4".into();
    }
    let i = rng.below(4);
    if i > 0 && rng.below(2) == 1 {
        format!("/d{}", i + 4)
    } else {
        format!("/d{i}")
    }
}

fn file_name(rng: &mut Rng) -> String {
    format!("{}/f{}", dir_name(rng, false), rng.below(NAMES))
}

/// Every name a file can have (for the orphan check).
fn all_file_slots() -> Vec<String> {
    (0..8).flat_map(|d| (0..NAMES).map(move |f| format!("/d{d}/f{f}"))).collect()
}

/// A name this worker last saw holding a file (so renames and unlinks mostly hit
/// something), or any name (so workers race on the same names).
fn source_name(rng: &mut Rng, known: &mut Vec<String>) -> String {
    if !known.is_empty() && rng.below(3) != 0 {
        let i = rng.below(known.len() as u64) as usize;
        known.swap_remove(i)
    } else {
        file_name(rng)
    }
}

fn dir_pair(rng: &mut Rng) -> (String, String) {
    let i = 1 + rng.below(3);
    let (a, b) = (format!("/d{i}"), format!("/d{}", i + 4));
    if rng.below(2) == 0 {
        (a, b)
    } else {
        (b, a)
    }
}

/// Worker `w`'s random stream for the phase whose ops are numbered from `op_base`
/// (`salt` tells phase C's stream from the others').
fn worker_rng(seed: u64, w: usize, op_base: u32, salt: u64) -> Rng {
    Rng((seed
        ^ (w as u64 + 1).wrapping_mul(0x2545_f491_4f6c_dd1d)
        ^ u64::from(op_base).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ salt)
        | 1)
}

/// Runs `op` through `front` and records it; a create holds its file open `linger`
/// before closing it.
fn apply(front: &mut dyn Front, w: usize, seed: u64, t0: Instant, op: Op, linger: Duration) -> Rec {
    let start = t0.elapsed();
    let mut opened = false;
    let r = match &op {
        Op::Create { path, id, len, .. } => front.create(path, &content(seed, *id, *len), linger).map_err(|(o, e)| {
            opened = o;
            e
        }),
        Op::Rename { from, to, noreplace } => front.rename(from, to, *noreplace),
        Op::Mkdir(p) => front.mkdir(p),
        Op::Unlink(p) => front.unlink(p),
        Op::Rmdir(p) => front.rmdir(p),
        Op::Verify(_) => unreachable!("verify is not a front's op"),
    };
    let end = t0.elapsed();
    Rec { worker: w, front: front.name(), op, start, end, ok: r.is_ok(), opened, err: r.err().unwrap_or_default() }
}

#[allow(clippy::too_many_arguments)]
fn worker(
    w: usize,
    front: &mut dyn Front,
    seed: u64,
    phase: Phase,
    ops: usize,
    op_base: u32,
    t0: Instant,
    barrier: &Barrier,
) -> Vec<Rec> {
    let mut rng = worker_rng(seed, w, op_base, 0);
    let mut out = Vec::with_capacity(ops);
    let mut known = Vec::new();
    barrier.wait();
    for k in 0..ops {
        let roll = rng.below(100);
        let op = match phase {
            Phase::A => match roll {
                0..45 => None,
                45..82 if front.has_noreplace() => Some(Op::Rename {
                    from: source_name(&mut rng, &mut known),
                    to: file_name(&mut rng),
                    noreplace: true,
                }),
                82..92 if front.has_noreplace() => {
                    let (from, to) = dir_pair(&mut rng);
                    Some(Op::Rename { from, to, noreplace: true })
                }
                _ => Some(Op::Mkdir(dir_name(&mut rng, true))),
            },
            Phase::C => unreachable!("phase C runs worker_c"),
            Phase::B => match roll {
                0..35 => None,
                35..57 => {
                    let noreplace = front.has_noreplace() && rng.below(2) == 0;
                    Some(Op::Rename { from: source_name(&mut rng, &mut known), to: file_name(&mut rng), noreplace })
                }
                57..64 => {
                    let (from, to) = dir_pair(&mut rng);
                    Some(Op::Rename { from, to, noreplace: front.has_noreplace() && rng.below(2) == 0 })
                }
                64..74 => Some(Op::Mkdir(dir_name(&mut rng, true))),
                74..92 => Some(Op::Unlink(source_name(&mut rng, &mut known))),
                _ => Some(Op::Rmdir(dir_name(&mut rng, true))),
            },
        };
        let op = op.unwrap_or_else(|| {
            let id = (w as u32, op_base + k as u32);
            let len = 4096 + rng.below(60 * 1024) as usize;
            let sum = checksum(&content(seed, id, len));
            Op::Create { path: file_name(&mut rng), id, len, sum }
        });
        let rec = apply(front, w, seed, t0, op, Duration::ZERO);
        if rec.ok {
            match &rec.op {
                Op::Create { path, .. } => known.push(path.clone()),
                Op::Rename { to, .. } if to.contains("/f") => known.push(to.clone()),
                _ => {}
            }
        }
        out.push(rec);
    }
    out
}

// ---------------------------------------------------------------- phase C

/// Phase C's directory slots: slot k is `/t{k}` or, after a rename, `/u{k}`.
const CDIRS: u64 = 6;

fn cdir(k: u64, u: bool) -> String {
    format!("/{}{k}", if u { 'u' } else { 't' })
}

/// The slot of a phase C path (`/t3/...`, `/u3`), if it is one.
fn cslot(path: &str) -> Option<u64> {
    let first = path.strip_prefix('/')?.split('/').next()?;
    let (t, k) = first.split_at_checked(1)?;
    if t != "t" && t != "u" {
        return None;
    }
    k.parse().ok().filter(|&k| k < CDIRS)
}

/// Phase C file names are unique: `f{worker}_{op}`, so the name says which create made it.
fn cname_id(path: &str) -> Option<Id> {
    let (w, k) = path.rsplit('/').next()?.strip_prefix('f')?.split_once('_')?;
    Some((w.parse().ok()?, k.parse().ok()?))
}

fn is_dir_op(r: &Rec) -> bool {
    match &r.op {
        Op::Rename { from, .. } => from.matches('/').count() == 1,
        Op::Rmdir(_) | Op::Mkdir(_) => true,
        _ => false,
    }
}

fn enoent(e: &str) -> bool {
    e.to_ascii_lowercase().contains("no such file")
}

/// Phase C: short-lived directories really get emptied, removed, recreated and renamed
/// (`/tK` <-> `/uK`) while files are created into them. File names are unique, and each
/// worker unlinks only its own files (keeping at most three), so directories do empty.
#[allow(clippy::too_many_arguments)]
fn worker_c(
    w: usize,
    front: &mut dyn Front,
    reader: &(Client, tokio::runtime::Handle),
    seed: u64,
    ops: usize,
    op_base: u32,
    t0: Instant,
    barrier: &Barrier,
) -> Vec<Rec> {
    let mut rng = worker_rng(seed, w, op_base, 0xc0c0);
    let mut out = Vec::with_capacity(ops + ops / 4);
    // (file name, slot, id, length) of this worker's acknowledged, not yet unlinked creates.
    let mut live: Vec<(String, u64, Id, usize)> = Vec::new();
    // Which name this worker last saw each slot under.
    let mut at_u = [false; CDIRS as usize];
    let run = |front: &mut dyn Front, op: Op, linger: Duration| apply(front, w, seed, t0, op, linger);
    barrier.wait();
    for n in 0..ops {
        let k = rng.below(CDIRS);
        let roll = rng.below(100);
        let ki = k as usize;
        match roll {
            0..60 if (roll < 38 && live.len() < 3) || live.is_empty() => {
                let id = (w as u32, op_base + n as u32);
                let len = 512 + rng.below(8 * 1024) as usize;
                let sum = checksum(&content(seed, id, len));
                let path = format!("{}/f{}_{}", cdir(k, at_u[ki]), id.0, id.1);
                // A quarter of the creates hold their file open a while before closing.
                let linger = Duration::from_micros(if rng.below(4) == 0 { 500 + rng.below(3000) } else { 0 });
                let r = run(front, Op::Create { path: path.clone(), id, len, sum }, linger);
                if r.ok {
                    live.push((path.rsplit('/').next().unwrap().to_string(), k, id, len));
                } else if enoent(&r.err) {
                    at_u[ki] = !at_u[ki];
                }
                out.push(r);
            }
            0..60 => {
                let i = rng.below(live.len() as u64) as usize;
                let (name, k, id, len) = live[i].clone();
                let ki = k as usize;
                // Before removing it: is the acknowledged file whole, wherever its directory went?
                let start = t0.elapsed();
                let want = content(seed, id, len);
                let (mut err, mut path) = (String::from("missing under both names"), cdir(k, at_u[ki]));
                for u in [at_u[ki], !at_u[ki]] {
                    let p = format!("{}/{name}", cdir(k, u));
                    match reader.1.block_on(read::whole(&reader.0, &p)) {
                        Ok(b) if b == want => (err, path) = (String::new(), p),
                        Ok(b) => {
                            let why = identify(seed, &b).err().unwrap_or_else(|| "another file's bytes".into());
                            (err, path) = (format!("MISMATCH: {} bytes, want {len}: {why}", b.len()), p);
                        }
                        Err(benchfs::Error::NotFound(_)) => continue,
                        Err(e) => (err, path) = (format!("read: {e}"), p),
                    }
                    break;
                }
                let end = t0.elapsed();
                let ok = err.is_empty();
                out.push(Rec {
                    worker: w,
                    front: "reader".into(),
                    op: Op::Verify(path),
                    start,
                    end,
                    ok,
                    opened: false,
                    err,
                });
                for _ in 0..2 {
                    let r = run(front, Op::Unlink(format!("{}/{name}", cdir(k, at_u[ki]))), Duration::ZERO);
                    let (ok, missing) = (r.ok, enoent(&r.err));
                    out.push(r);
                    if ok {
                        live.swap_remove(i);
                        break;
                    }
                    if !missing {
                        break;
                    }
                    at_u[ki] = !at_u[ki];
                }
            }
            60..74 => {
                let (from, to) = (cdir(k, at_u[ki]), cdir(k, !at_u[ki]));
                let noreplace = front.has_noreplace();
                let r = run(front, Op::Rename { from, to, noreplace }, Duration::ZERO);
                if r.ok || enoent(&r.err) {
                    at_u[ki] = !at_u[ki];
                }
                out.push(r);
            }
            74..88 => out.push(run(front, Op::Rmdir(cdir(k, rng.below(3) == 0)), Duration::ZERO)),
            _ => {
                let u = rng.below(4) == 0;
                out.push(run(front, Op::Mkdir(cdir(k, u)), Duration::ZERO));
            }
        }
    }
    out
}

// ---------------------------------------------------------------- tree walks

/// Regular files (path -> bytes), directories, and other oddities found by walking via the
/// Client.
type Walk = (BTreeMap<String, Vec<u8>>, BTreeSet<String>, Vec<String>);

fn walk_client(rt: &tokio::runtime::Runtime, c: &Client) -> Walk {
    rt.block_on(async {
        let (mut files, mut dirs, mut odd) = (BTreeMap::new(), BTreeSet::new(), Vec::new());
        let mut stack = vec!["/".to_string()];
        while let Some(d) = stack.pop() {
            let ents = match c.readdir(&d).await {
                Ok(e) => e,
                Err(e) => {
                    odd.push(format!("client: readdir {d}: {e}"));
                    continue;
                }
            };
            for e in ents {
                let p = if d == "/" { format!("/{}", e.name) } else { format!("{d}/{}", e.name) };
                if e.name.starts_with(".benchfs-unlinked-") {
                    // A mount's unlinked-but-open file: not in the namespace (the mounts hide it).
                    eprintln!("note: {p} is left over after every handle was closed");
                    continue;
                }
                if e.attr.is_dir() {
                    dirs.insert(p.clone());
                    stack.push(p);
                    continue;
                }
                match read::whole(c, &p).await {
                    Ok(b) => {
                        files.insert(p, b);
                    }
                    Err(e) => odd.push(format!("client: read {p}: {e}")),
                }
            }
        }
        (files, dirs, odd)
    })
}

fn walk_mount(root: &Path) -> (BTreeMap<String, Vec<u8>>, Vec<String>) {
    let (mut files, mut odd) = (BTreeMap::new(), Vec::new());
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) => {
                odd.push(format!("mount: readdir {}: {e}", d.display()));
                continue;
            }
        };
        for e in rd {
            let e = match e {
                Ok(e) => e,
                Err(e) => {
                    odd.push(format!("mount: readdir {}: {e}", d.display()));
                    continue;
                }
            };
            let p = e.path();
            let rel = format!("/{}", p.strip_prefix(root).unwrap().display());
            match std::fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() => stack.push(p),
                Ok(m) if m.is_file() => match std::fs::read(&p) {
                    Ok(b) => {
                        files.insert(rel, b);
                    }
                    Err(e) => odd.push(format!("mount: read {rel}: {e}")),
                },
                Ok(m) => odd.push(format!("mount: {rel} is neither file nor directory: {:?}", m.file_type())),
                Err(e) => odd.push(format!("mount: stat {rel} (listed by readdir): {e}")),
            }
        }
    }
    (files, odd)
}

// ---------------------------------------------------------------- the checks

/// `recs`: this phase's log; `history`: every phase's log so far.
fn check(
    seed: u64,
    phase: Phase,
    recs: &[Rec],
    history: &[Rec],
    views: &[(String, BTreeMap<String, Vec<u8>>)],
    stat_ok: &[String],
) -> Vec<String> {
    let mut v = Vec::new();
    let creates: HashMap<Id, &Rec> = history
        .iter()
        .filter_map(|r| match &r.op {
            Op::Create { id, .. } => Some((*id, r)),
            _ => None,
        })
        .collect();
    // Views must agree (the walks run after quiescence and after the attribute TTL).
    let (base_name, base) = &views[0];
    for (name, view) in &views[1..] {
        for (p, b) in base {
            match view.get(p) {
                None => v.push(format!("views disagree: {p} is listed by {base_name} but not by {name}")),
                Some(o) if o != b => v.push(format!(
                    "views disagree: {p} has {} bytes (sum {:016x}) via {base_name} but {} bytes (sum {:016x}) via {name}",
                    b.len(),
                    checksum(b),
                    o.len(),
                    checksum(o)
                )),
                _ => {}
            }
        }
        for p in view.keys().filter(|p| !base.contains_key(*p)) {
            v.push(format!("views disagree: {p} is listed by {name} but not by {base_name}"));
        }
    }
    // A file that stat finds but no directory listing shows is cut off from the tree.
    for p in stat_ok.iter().filter(|p| !base.contains_key(*p)) {
        v.push(format!("orphan: stat {p} succeeds but the walk of the tree does not find it"));
    }
    // (b) content is intact; (a) no content under two names.
    let mut found: HashMap<Id, Vec<&String>> = HashMap::new();
    let mut empty = Vec::new();
    for (p, b) in base {
        if b.is_empty() {
            empty.push(p.clone());
            continue;
        }
        match identify(seed, b) {
            Ok(id) => found.entry(id).or_default().push(p),
            Err(e) => v.push(format!("corrupt content at {p}: {e}")),
        }
    }
    for (id, paths) in &found {
        if paths.len() > 1 {
            let how = creates.get(id).map(|r| r.to_string()).unwrap_or_default();
            v.push(format!(
                "content of w{} op{} is under {} names {paths:?}; created by {how}",
                id.0,
                id.1,
                paths.len()
            ));
        }
        if !creates.contains_key(id) {
            v.push(format!("content w{} op{} at {paths:?} was never written by any create", id.0, id.1));
        }
    }
    // An empty file can only be a create that failed after its file existed.
    let unfinished = history.iter().filter(|r| matches!(r.op, Op::Create { .. }) && !r.ok && r.opened).count();
    if empty.len() > unfinished {
        v.push(format!(
            "{} empty files but only {unfinished} creates failed after creating their file: {:?}",
            empty.len(),
            &empty[..empty.len().min(10)]
        ));
    }
    // (c) phase A: every acknowledged create survives.
    if phase == Phase::A {
        let lost = recs.iter().filter(|r| r.ok && matches!(&r.op, Op::Create { id, .. } if !found.contains_key(id)));
        for r in lost {
            v.push(format!("acknowledged create lost (no file has its bytes): {r}"));
        }
    }
    v
}

/// The path an op is about (a rename's source).
fn op_path(op: &Op) -> &str {
    match op {
        Op::Create { path, .. } | Op::Mkdir(path) | Op::Unlink(path) | Op::Rmdir(path) | Op::Verify(path) => path,
        Op::Rename { from, .. } => from,
    }
}

/// Which directory (up to renames between its two names) an op is about: phase C's slot,
/// or for phases A and B the pair `/dN`, `/d(N+4)`.
fn dir_key(path: &str) -> Option<String> {
    if let Some(k) = cslot(path) {
        return Some(format!("t{k}"));
    }
    let n: u64 = path.strip_prefix("/d")?.split('/').next()?.parse().ok()?;
    Some(format!("d{}", if n == 0 || n == 4 { n } else { n % 4 }))
}

/// Acknowledged directory renames and rmdirs, and how much they overlapped (in time)
/// creates into the same directory.
#[derive(Debug, Default, Clone, Copy)]
struct DirCounts {
    dir_renames: usize,
    rmdirs: usize,
    /// Acknowledged directory renames/rmdirs that overlapped some create into that directory.
    dir_ops_racing_creates: usize,
    /// Acknowledged creates that overlapped an acknowledged rename/rmdir of their directory.
    creates_racing_dir_ops: usize,
    /// Acknowledged creates during which (start to end) another worker's acknowledged
    /// rename of their directory completed: the file was open while its directory moved.
    creates_spanning_dir_rename: usize,
}

fn dir_counts(recs: &[Rec]) -> DirCounts {
    let dir_ops: Vec<(&Rec, String)> = recs
        .iter()
        .filter(|r| r.ok && matches!(r.op, Op::Rmdir(_) | Op::Rename { .. }) && is_dir_op(r))
        .filter_map(|r| Some((r, dir_key(op_path(&r.op))?)))
        .collect();
    let creates: Vec<(&Rec, String)> = recs
        .iter()
        .filter(|r| matches!(r.op, Op::Create { .. }))
        .filter_map(|r| Some((r, dir_key(op_path(&r.op))?)))
        .collect();
    let overlap = |a: &Rec, b: &Rec| a.start < b.end && b.start < a.end;
    DirCounts {
        dir_renames: dir_ops.iter().filter(|(r, _)| matches!(r.op, Op::Rename { .. })).count(),
        rmdirs: dir_ops.iter().filter(|(r, _)| matches!(r.op, Op::Rmdir(_))).count(),
        dir_ops_racing_creates: dir_ops
            .iter()
            .filter(|(d, k)| creates.iter().any(|(c, ck)| ck == k && overlap(c, d)))
            .count(),
        creates_racing_dir_ops: creates
            .iter()
            .filter(|(c, ck)| c.ok && dir_ops.iter().any(|(d, k)| ck == k && overlap(c, d)))
            .count(),
        creates_spanning_dir_rename: creates
            .iter()
            .filter(|(c, ck)| {
                c.ok && dir_ops.iter().any(|(d, k)| {
                    ck == k
                        && d.worker != c.worker
                        && matches!(d.op, Op::Rename { .. })
                        && c.start < d.end
                        && d.end < c.end
                })
            })
            .count(),
    }
}

/// Phase C's checks, over every phase C op so far (`history`: all phases, one clock;
/// read-backs only from `since`, the start of this phase, as earlier ones were reported).
/// `files` and `dirs`: the Client's walk; `stat_dirs`: which of `/tK`, `/uK` stat finds.
fn check_c(
    seed: u64,
    history: &[Rec],
    since: Duration,
    files: &BTreeMap<String, Vec<u8>>,
    dirs: &BTreeSet<String>,
    stat_dirs: &[String],
) -> Vec<String> {
    let mut v = Vec::new();
    let recs: Vec<&Rec> = history.iter().filter(|r| cslot(op_path(&r.op)).is_some()).collect();
    let creates: HashMap<Id, &Rec> = recs
        .iter()
        .filter_map(|r| match &r.op {
            Op::Create { id, .. } => Some((*id, *r)),
            _ => None,
        })
        .collect();
    let mut unlinked: HashMap<Id, &Rec> = HashMap::new();
    for r in recs.iter().filter(|r| r.ok && matches!(r.op, Op::Unlink(_))) {
        if let Some(id) = cname_id(op_path(&r.op)) {
            unlinked.entry(id).or_insert(r);
        }
    }
    let dir_ops: Vec<&Rec> = recs.iter().copied().filter(|r| is_dir_op(r)).collect();
    // The sequence that matters for file `id` in slot `k`, for a violation's report.
    let story = |id: Id, k: u64, from: Duration| -> String {
        let mut lines: Vec<String> = recs
            .iter()
            .filter(|r| {
                let mine = cname_id(op_path(&r.op)) == Some(id) && !is_dir_op(r);
                let dir = is_dir_op(r) && cslot(op_path(&r.op)) == Some(k) && r.end + Duration::from_millis(30) >= from;
                mine || (dir && (r.ok || r.start < from + Duration::from_millis(30)))
            })
            .take(30)
            .map(|r| format!("\n        {r}"))
            .collect();
        lines.insert(0, format!("\n      sequence (ops on this file, and on /t{k} and /u{k} from 30 ms before it):"));
        lines.concat()
    };
    // What the walk found under the phase C directories.
    let mut found: HashMap<Id, Vec<&String>> = HashMap::new();
    for (p, b) in files.iter().filter(|(p, _)| cslot(p).is_some()) {
        let Some(id) = cname_id(p) else {
            v.push(format!("C: unexpected name {p} in the tree"));
            continue;
        };
        found.entry(id).or_default().push(p);
        let Some(c) = creates.get(&id) else {
            v.push(format!("C: {p} was never created by any create"));
            continue;
        };
        let k = cslot(p).unwrap();
        if cslot(op_path(&c.op)) != Some(k) {
            v.push(format!("C: {p} is in the wrong directory (it was created by {c})"));
        }
        let may_be_partial = !c.ok && c.opened;
        match identify(seed, b) {
            Ok(got) if got == id => {}
            _ if b.is_empty() && may_be_partial => {}
            Ok(got) => v.push(format!("C: {p} holds the bytes of w{} op{}, not its own ({c})", got.0, got.1)),
            Err(e) => v.push(format!("C: corrupt content at {p}: {e} (created by {c})")),
        }
        if !c.ok && !c.opened {
            v.push(format!("C: create failed before creating its file, yet {p} exists: {c}{}", story(id, k, c.start)));
        }
        if let Some(u) = unlinked.get(&id) {
            v.push(format!("C: {p} still exists after an acknowledged unlink: {u}{}", story(id, k, c.start)));
        }
    }
    // Read-backs before unlinks: an acknowledged create must read back whole.
    let bad_reads = recs.iter().filter(|r| matches!(r.op, Op::Verify(_)) && !r.ok && !r.err.starts_with("missing"));
    for r in bad_reads.filter(|r| r.start >= since) {
        let p = op_path(&r.op);
        let (id, k) = (cname_id(p).unwrap(), cslot(p).unwrap());
        let how = creates.get(&id).map(|c| c.to_string()).unwrap_or_default();
        v.push(format!(
            "C: acknowledged create does not read back whole: {r}; created by {how}{}",
            story(id, k, creates.get(&id).map_or(r.start, |c| c.start))
        ));
    }
    for (id, paths) in found.iter().filter(|(_, p)| p.len() > 1) {
        v.push(format!("C: file w{} op{} is under {} names: {paths:?}", id.0, id.1, paths.len()));
    }
    // Every acknowledged create not unlinked since is somewhere under its directory's name.
    let mut lost: Vec<&Rec> = creates
        .iter()
        .filter(|(id, c)| c.ok && !unlinked.contains_key(id) && !found.contains_key(id))
        .map(|(_, c)| *c)
        .collect();
    lost.sort_by_key(|r| r.start);
    for c in lost {
        let (id, k) = (cname_id(op_path(&c.op)).unwrap(), cslot(op_path(&c.op)).unwrap());
        let name = op_path(&c.op).rsplit('/').next().unwrap();
        let now = [cdir(k, false), cdir(k, true)].into_iter().filter(|d| dirs.contains(d)).collect::<Vec<_>>();
        v.push(format!(
            "C: acknowledged create lost: {c}; {name} is under neither /t{k} nor /u{k} (existing now: {now:?}){}",
            story(id, k, c.start)
        ));
    }
    // An acknowledged rmdir removed an empty directory: no acknowledged create can have
    // been in it. Checked where it is certain the file was in the removed directory: it was
    // created under that name, acknowledged before the rmdir began, not unlinked before the
    // rmdir ended, and no acknowledged rename of its directory's names overlapped that span.
    for c in creates.values().filter(|c| c.ok) {
        let (id, path) = (cname_id(op_path(&c.op)).unwrap(), op_path(&c.op));
        let (k, dir) = (cslot(path).unwrap(), &path[..path.rfind('/').unwrap()]);
        let unlink_start = unlinked.get(&id).map(|u| u.start);
        let bad = dir_ops.iter().find(|r| {
            matches!(&r.op, Op::Rmdir(p) if p == dir)
                && r.ok
                && c.end < r.start
                && unlink_start.is_none_or(|s| s > r.end)
                && !dir_ops.iter().any(|m| {
                    m.ok && matches!(m.op, Op::Rename { .. })
                        && cslot(op_path(&m.op)) == Some(k)
                        && m.start < r.end
                        && m.end > c.start
                })
        });
        if let Some(r) = bad {
            v.push(format!(
                "C: rmdir {dir} acknowledged while it held {path} (acknowledged before, not unlinked, no rename of /t{k} or /u{k} in between): {r}{}",
                story(id, k, c.start)
            ));
        }
    }
    // Directories: what stat finds, the walk lists, and the other way round.
    for k in 0..CDIRS {
        for d in [cdir(k, false), cdir(k, true)] {
            match (stat_dirs.contains(&d), dirs.contains(&d)) {
                (true, false) => {
                    v.push(format!("C: orphan directory: stat {d} succeeds but readdir / does not list it"))
                }
                (false, true) => v.push(format!("C: readdir / lists {d} but stat fails")),
                _ => {}
            }
        }
    }
    v
}

fn report(phase: Phase, seed: u64, recs: &[Rec], v: &[String], nfiles: usize, dc: DirCounts) {
    let acked = |f: fn(&Op) -> bool| recs.iter().filter(|r| f(&r.op) && r.ok).count();
    eprintln!(
        "phase {phase:?}: acknowledged directory renames: {}, rmdirs: {}; of these, {} overlapped a create into that directory; {} acknowledged creates overlapped an acknowledged rename/rmdir of their directory, {} saw another worker's rename of it complete while they ran",
        dc.dir_renames, dc.rmdirs, dc.dir_ops_racing_creates, dc.creates_racing_dir_ops, dc.creates_spanning_dir_rename
    );
    eprintln!(
        "phase {phase:?}: {} ops, acknowledged: {} creates, {} renames, {} mkdirs, {} unlinks, {} rmdirs; {nfiles} files in the tree; {} violations",
        recs.len(),
        acked(|o| matches!(o, Op::Create { .. })),
        acked(|o| matches!(o, Op::Rename { .. })),
        acked(|o| matches!(o, Op::Mkdir(_))),
        acked(|o| matches!(o, Op::Unlink(_))),
        acked(|o| matches!(o, Op::Rmdir(_))),
        v.len()
    );
    let reads = recs.iter().filter(|r| matches!(r.op, Op::Verify(_)));
    let (all, whole) = (reads.clone().count(), reads.filter(|r| r.ok).count());
    if all > 0 {
        eprintln!("phase {phase:?}: {all} read-backs before unlinks, {whole} read back whole");
    }
    let mut errs: BTreeMap<String, usize> = BTreeMap::new();
    for r in recs.iter().filter(|r| !r.ok) {
        let kind = match r.op {
            Op::Create { .. } => "create",
            Op::Rename { .. } => "rename",
            Op::Mkdir(_) => "mkdir",
            Op::Unlink(_) => "unlink",
            Op::Rmdir(_) => "rmdir",
            Op::Verify(_) => "verify",
        };
        let why = r.err.rsplit(": ").next().unwrap_or_default();
        let why = why.split(" (os error").next().unwrap_or_default();
        *errs.entry(format!("{kind}: {why}")).or_default() += 1;
    }
    eprintln!("phase {phase:?}: failed ops by kind and error: {errs:?}");
    if !v.is_empty() {
        eprintln!("phase {phase:?} VIOLATIONS (seed {seed:#x}; first 20 of {}):", v.len());
        for x in v.iter().take(20) {
            eprintln!("  - {x}");
        }
    }
}

// ---------------------------------------------------------------- the test

#[test]
fn concurrent_namespace_ops_keep_every_file_exactly_once() {
    let seed = std::env::var("BENCHFS_CHECK_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(DEFAULT_SEED);
    let ops: usize = std::env::var("BENCHFS_CHECK_OPS").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_OPS);
    eprintln!(
        "concurrency checker: seed {seed:#x} (BENCHFS_CHECK_SEED=hex to repeat), {ROUNDS} rounds, {ops} ops per worker and phase"
    );
    let t_all = Instant::now();

    let cluster = Cluster::start(3);
    let fuse = mount::skip_reason();
    let mounts: Vec<TestMount> = match &fuse {
        None => vec![TestMount::on_servers(&cluster.addrs()), TestMount::on_servers(&cluster.addrs())],
        Some(why) => {
            require::skip("fuse", format_args!("the FUSE mounts ({why}); running the Client and C API workers only"));
            Vec::new()
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let cfg = Config::new(cluster.addrs().clone()).unwrap();
    let clients: Vec<Client> = (0..2).map(|_| rt.block_on(Client::connect(cfg.clone())).expect("connect")).collect();
    let spec = CString::new(cluster.addrs().join(",")).unwrap();
    // SAFETY: NUL-terminated server list.
    let ctx = unsafe { benchfs::ffi::benchfs_init(spec.as_ptr()) };
    assert!(!ctx.is_null(), "{}", c_err("benchfs_init", 0));

    let checker = clients[0].clone();
    for d in 0..4 {
        rt.block_on(checker.mkdir(&format!("/d{d}"), 0o755)).expect("mkdir");
    }
    let mut all_violations = Vec::new();
    let mut op_base = 0u32;
    let mut history: Vec<Rec> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    // One clock for every phase, so ops of different phases can be ordered.
    let t0 = Instant::now();
    let mut totals: BTreeMap<String, DirCounts> = BTreeMap::new();
    for (round, phase) in (0..ROUNDS).flat_map(|r| [(r, Phase::A), (r, Phase::B), (r, Phase::C)]) {
        let mut fronts: Vec<Box<dyn Front + Send>> = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            fronts.push(Box::new(ClientFront { c: c.clone(), rt: rt.handle().clone(), tag: i }));
        }
        for (i, m) in mounts.iter().enumerate() {
            for j in 0..2 {
                fronts.push(Box::new(MountFront { root: m.path().to_path_buf(), tag: format!("mount{i}.{j}") }));
            }
        }
        fronts.push(Box::new(CFront { ctx }));
        let barrier = Barrier::new(fronts.len());
        let reader = &(checker.clone(), rt.handle().clone());
        let started = Instant::now();
        let phase_start = t0.elapsed();
        let mut recs: Vec<Rec> = std::thread::scope(|s| {
            let hs: Vec<_> = fronts
                .into_iter()
                .enumerate()
                .map(|(w, mut f)| {
                    let barrier = &barrier;
                    s.spawn(move || match phase {
                        Phase::C => worker_c(w, f.as_mut(), reader, seed, ops, op_base, t0, barrier),
                        _ => worker(w, f.as_mut(), seed, phase, ops, op_base, t0, barrier),
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().expect("worker panicked")).collect()
        });
        let ran = started.elapsed();
        recs.sort_by_key(|r| r.start);
        op_base += ops as u32;
        history.extend(recs.iter().cloned());
        // Quiescent now; let the mounts' attribute/entry caches expire before walking.
        std::thread::sleep(Duration::from_millis(1100));
        let mut views = Vec::new();
        let (files, dirs, mut odd) = walk_client(&rt, &checker);
        views.push(("client".to_string(), files));
        for (i, m) in mounts.iter().enumerate() {
            let (files, o) = walk_mount(m.path());
            odd.extend(o);
            views.push((format!("mount{i}"), files));
        }
        // Every name a file can have, including each phase C file under both names of its
        // directory: stat must find exactly what the walk finds.
        let mut candidates = all_file_slots();
        let cnames: BTreeSet<(u64, &str)> = history
            .iter()
            .filter(|r| matches!(r.op, Op::Create { .. }))
            .filter_map(|r| Some((cslot(op_path(&r.op))?, op_path(&r.op).rsplit('/').next()?)))
            .collect();
        for (k, name) in &cnames {
            candidates.push(format!("{}/{name}", cdir(*k, false)));
            candidates.push(format!("{}/{name}", cdir(*k, true)));
        }
        let (stat_ok, stat_dirs): (Vec<String>, Vec<String>) = rt.block_on(async {
            let mut ok = Vec::new();
            for p in candidates {
                if checker.stat(&p).await.is_ok() {
                    ok.push(p);
                }
            }
            let mut dirs = Vec::new();
            for d in (0..CDIRS).flat_map(|k| [cdir(k, false), cdir(k, true)]) {
                if checker.stat(&d).await.is_ok_and(|a| a.is_dir()) {
                    dirs.push(d);
                }
            }
            (ok, dirs)
        });
        let mut v: Vec<String> = odd.into_iter().map(|o| format!("walk: {o}")).collect();
        v.extend(check(seed, phase, &recs, &history, &views, &stat_ok));
        if phase == Phase::C {
            v.extend(check_c(seed, &history, phase_start, &views[0].1, &dirs, &stat_dirs));
        }
        let dc = dir_counts(&recs);
        let t = totals.entry(format!("{phase:?}")).or_default();
        t.dir_renames += dc.dir_renames;
        t.rmdirs += dc.rmdirs;
        t.dir_ops_racing_creates += dc.dir_ops_racing_creates;
        t.creates_racing_dir_ops += dc.creates_racing_dir_ops;
        t.creates_spanning_dir_rename += dc.creates_spanning_dir_rename;
        eprintln!("round {round} phase {phase:?}: workers ran {:.1} s", ran.as_secs_f64());
        report(phase, seed, &recs, &v, views[0].1.len(), dc);
        if phase == Phase::C {
            // Phase C exists to race creates against real directory renames and rmdirs.
            assert!(
                dc.dir_renames > 0 && dc.rmdirs > 0 && dc.creates_racing_dir_ops > 0,
                "seed {seed:#x}: round {round} phase C exercised too little: {dc:?}"
            );
        }
        if !v.is_empty() {
            eprintln!("phase {phase:?}: acknowledged destructive/rename ops, for diagnosis (first 40):");
            for r in recs.iter().filter(|r| r.ok && !matches!(r.op, Op::Create { .. } | Op::Mkdir(_))).take(40) {
                eprintln!("    {r}");
            }
            // Every op of this phase on the files a violation names (either name of their
            // directory), and the renames of those directories.
            let named: BTreeSet<String> = v
                .iter()
                .flat_map(|x| x.split(|c: char| c.is_whitespace() || "[]\",:()".contains(c)))
                .filter(|t| t.starts_with("/d") && t.contains("/f"))
                .map(|t| t.rsplit('/').next().unwrap().to_string())
                .collect();
            for name in &named {
                eprintln!("phase {phase:?}: ops on */{name} and directory renames (first 60):");
                let about = |p: &str| p.ends_with(&format!("/{name}"));
                for r in recs
                    .iter()
                    .filter(|r| match &r.op {
                        Op::Rename { from, to, .. } => about(from) || about(to) || is_dir_op(r) && r.ok,
                        op => about(op_path(op)),
                    })
                    .take(60)
                {
                    eprintln!("    {r}");
                }
            }
        }
        // A corrupt or duplicated file found once stays; report it once.
        all_violations.extend(
            v.into_iter().filter(|x| seen.insert(x.clone())).map(|x| format!("round {round} phase {phase:?}: {x}")),
        );
    }
    // SAFETY: the context from benchfs_init, not used again.
    unsafe { benchfs::ffi::benchfs_finalize(ctx) };
    drop(mounts);
    eprintln!("concurrency checker: {:.1} s in all", t_all.elapsed().as_secs_f64());
    for (phase, dc) in &totals {
        eprintln!("phase {phase} over all rounds: {dc:?}");
    }
    // Phases A and B acknowledge few directory renames (a handful in round 0 of A; B's
    // directories are rarely empty or absent, and without FUSE only a Client renames them in
    // A): phase C is the one that must exercise them, and asserts so for every round.
    assert!(
        all_violations.is_empty(),
        "seed {seed:#x}: {} violations; first 20:\n{}",
        all_violations.len(),
        all_violations.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}
