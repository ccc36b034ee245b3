//! `driver`: one client process of `bench/run.sh`, running one phase of one workload
//! through one access path, so every path is measured by the same code.
//!
//! The access paths (`--api`):
//! - `posix`: `std::fs` on a directory (native tmpfs, the BenchFS FUSE mount, bindfs);
//! - `client`: the async Rust client (`benchfs::Client`) on a current-thread runtime;
//! - `capi`: the C API (`benchfs_init`, `benchfs_write`, ...), called as a C program would.
//!
//! Protocol with the harness: the driver parses its arguments, connects, prints `ready`
//! and waits for one line on stdin; then it runs the phase (opening and closing files
//! is inside the timed part, as in IOR), prints one JSON line
//! `{"start_ns":..,"end_ns":..,"bytes":..,"ops":..}` (wall clock, so the harness can
//! take the span from the first start to the last end over all processes) and exits.
//! Any failure is one line on stderr and exit status 1.
//!
//! bench/run.sh builds it as the `[[bench]] driver` target (harness = false) when
//! Cargo.toml declares one, else from a throwaway manifest under target/bench-driver/.
//!
//! Phases: `seq-write`/`seq-read` (`--xfer` requests over `--block` bytes; `--layout fpp`
//! gives each rank its own file, `shared` gives each rank a contiguous segment of one
//! file), `rand-write`/`rand-read` (`--ops` requests of `--xfer` bytes at random aligned
//! offsets of the rank's fpp file), `create`/`stat`/`remove` (`--files` empty files per
//! rank in one shared directory), `mkdir` (the directories, rank 0 only) and `clean`.

use std::ffi::{c_void, CString};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use benchfs::{Client, Config, OpenOptions};

fn usage() -> ! {
    eprintln!(
        "usage: driver --api posix|client|capi --root DIR [--registry DIR] --phase PHASE \
         [--layout fpp|shared] [--rank R] [--nprocs P] [--block BYTES] [--xfer BYTES] \
         [--ops N] [--files N] [--seed S] [--no-wait]"
    );
    std::process::exit(2)
}

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("driver: {msg}");
    std::process::exit(1)
}

#[derive(Debug, Clone)]
struct Args {
    api: String,
    root: String,
    registry: Option<String>,
    phase: String,
    layout: String,
    rank: u64,
    nprocs: u64,
    block: u64,
    xfer: u64,
    ops: u64,
    files: u64,
    seed: u64,
    wait: bool,
}

fn parse_size(s: &str) -> u64 {
    benchfs::config::parse_size(s).unwrap_or_else(|e| die(e))
}

fn parse_args() -> Args {
    // `cargo bench` runs every bench target with `--bench`: this one only serves bench/run.sh.
    let raw: Vec<String> = std::env::args().skip(1).collect();
    if raw.is_empty() || raw.iter().all(|a| a == "--bench") {
        println!("driver: one client process of bench/run.sh; run bench/run.sh (--quick) instead");
        std::process::exit(0);
    }
    let mut a = Args {
        api: String::new(),
        root: String::new(),
        registry: std::env::var("BENCHFS_REGISTRY").ok(),
        phase: String::new(),
        layout: "fpp".into(),
        rank: 0,
        nprocs: 1,
        block: 64 << 20,
        xfer: 1 << 20,
        ops: 1000,
        files: 1000,
        seed: 1,
        wait: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        if k == "--no-wait" {
            a.wait = false;
            continue;
        }
        let v = it.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--api" => a.api = v,
            "--root" => a.root = v,
            "--registry" => a.registry = Some(v),
            "--phase" => a.phase = v,
            "--layout" => a.layout = v,
            "--rank" => a.rank = v.parse().unwrap_or_else(|_| usage()),
            "--nprocs" => a.nprocs = v.parse().unwrap_or_else(|_| usage()),
            "--block" => a.block = parse_size(&v),
            "--xfer" => a.xfer = parse_size(&v),
            "--ops" => a.ops = v.parse().unwrap_or_else(|_| usage()),
            "--files" => a.files = v.parse().unwrap_or_else(|_| usage()),
            "--seed" => a.seed = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    if a.api.is_empty() || a.root.is_empty() || a.phase.is_empty() || a.xfer == 0 || a.block < a.xfer {
        usage();
    }
    a
}

/// The file system operations a phase needs, over one access path.
trait Fs {
    type File;
    fn open(&mut self, path: &str, write: bool, create: bool) -> Self::File;
    fn write_at(&mut self, f: &Self::File, buf: &[u8], off: u64);
    fn read_at(&mut self, f: &Self::File, buf: &mut [u8], off: u64);
    fn fsync(&mut self, f: &Self::File);
    fn close(&mut self, f: Self::File);
    fn create_empty(&mut self, path: &str);
    fn stat(&mut self, path: &str);
    fn remove(&mut self, path: &str);
    fn mkdir(&mut self, path: &str);
    fn rmdir(&mut self, path: &str);
    fn exists(&mut self, path: &str) -> bool;
}

struct Posix;

impl Fs for Posix {
    type File = std::fs::File;
    fn open(&mut self, path: &str, write: bool, create: bool) -> std::fs::File {
        std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .create(create)
            .mode(0o644)
            .open(path)
            .unwrap_or_else(|e| die(format!("open {path}: {e}")))
    }
    fn write_at(&mut self, f: &std::fs::File, buf: &[u8], off: u64) {
        f.write_all_at(buf, off).unwrap_or_else(|e| die(format!("write: {e}")));
    }
    fn read_at(&mut self, f: &std::fs::File, buf: &mut [u8], off: u64) {
        f.read_exact_at(buf, off).unwrap_or_else(|e| die(format!("read at {off}: {e}")));
    }
    fn fsync(&mut self, f: &std::fs::File) {
        f.sync_all().unwrap_or_else(|e| die(format!("fsync: {e}")));
    }
    fn close(&mut self, f: std::fs::File) {
        drop(f);
    }
    fn create_empty(&mut self, path: &str) {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .unwrap_or_else(|e| die(format!("create {path}: {e}")));
    }
    fn stat(&mut self, path: &str) {
        std::fs::metadata(path).unwrap_or_else(|e| die(format!("stat {path}: {e}")));
    }
    fn remove(&mut self, path: &str) {
        std::fs::remove_file(path).unwrap_or_else(|e| die(format!("remove {path}: {e}")));
    }
    fn mkdir(&mut self, path: &str) {
        match std::fs::create_dir(path) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => die(format!("mkdir {path}: {e}")),
            _ => {}
        }
    }
    fn rmdir(&mut self, path: &str) {
        let _ = std::fs::remove_dir(path);
    }
    fn exists(&mut self, path: &str) -> bool {
        std::path::Path::new(path).exists()
    }
}

/// The async client, driven by the calling thread (a current-thread runtime), as
/// `bench/core.rs` does.
struct Async {
    rt: tokio::runtime::Runtime,
    c: Client,
}

impl Fs for Async {
    type File = benchfs::File;
    fn open(&mut self, path: &str, write: bool, create: bool) -> benchfs::File {
        let o = OpenOptions { read: true, write, create, ..OpenOptions::default() };
        self.rt.block_on(self.c.open(path, &o)).unwrap_or_else(|e| die(format!("open {path}: {e}")))
    }
    fn write_at(&mut self, f: &benchfs::File, buf: &[u8], off: u64) {
        let n = self.rt.block_on(f.write_at(buf, off)).unwrap_or_else(|e| die(format!("write: {e}")));
        if n != buf.len() {
            die("short write");
        }
    }
    fn read_at(&mut self, f: &benchfs::File, buf: &mut [u8], off: u64) {
        let n = self.rt.block_on(f.read_at(buf, off)).unwrap_or_else(|e| die(format!("read: {e}")));
        if n != buf.len() {
            die(format!("short read at {off}: {n}"));
        }
    }
    fn fsync(&mut self, f: &benchfs::File) {
        self.rt.block_on(f.fsync()).unwrap_or_else(|e| die(format!("fsync: {e}")));
    }
    fn close(&mut self, f: benchfs::File) {
        self.rt.block_on(f.close()).unwrap_or_else(|e| die(format!("close: {e}")));
    }
    fn create_empty(&mut self, path: &str) {
        let f = self
            .rt
            .block_on(self.c.open(path, &OpenOptions::create_new(0o644)))
            .unwrap_or_else(|e| die(format!("create {path}: {e}")));
        self.close(f);
    }
    fn stat(&mut self, path: &str) {
        self.rt.block_on(self.c.stat(path)).unwrap_or_else(|e| die(format!("stat {path}: {e}")));
    }
    fn remove(&mut self, path: &str) {
        self.rt.block_on(self.c.unlink(path)).unwrap_or_else(|e| die(format!("remove {path}: {e}")));
    }
    fn mkdir(&mut self, path: &str) {
        match self.rt.block_on(self.c.mkdir(path, 0o755)) {
            Ok(_) | Err(benchfs::Error::Exists(_)) => {}
            Err(e) => die(format!("mkdir {path}: {e}")),
        }
    }
    fn rmdir(&mut self, path: &str) {
        let _ = self.rt.block_on(self.c.rmdir(path));
    }
    fn exists(&mut self, path: &str) -> bool {
        self.rt.block_on(self.c.stat(path)).is_ok()
    }
}

/// The C API, called exactly as a C program calls it (raw pointers, return codes).
struct CApi {
    ctx: *mut benchfs::ffi::Context,
}

fn cstr(s: &str) -> CString {
    CString::new(s).unwrap_or_else(|_| die("path with NUL"))
}

fn capi_error(what: &str, rc: i64) -> ! {
    // SAFETY: benchfs_get_error returns a NUL-terminated string owned by this thread.
    let msg = unsafe { std::ffi::CStr::from_ptr(benchfs::ffi::benchfs_get_error()) };
    die(format!("{what}: {rc}: {}", msg.to_string_lossy()))
}

impl Fs for CApi {
    type File = *mut benchfs::ffi::FileHandle;
    fn open(&mut self, path: &str, write: bool, create: bool) -> Self::File {
        let p = cstr(path);
        let flags = if write { libc::O_RDWR } else { libc::O_RDONLY };
        // SAFETY: live context, NUL-terminated path.
        let f = unsafe {
            if create {
                benchfs::ffi::benchfs_create(self.ctx, p.as_ptr(), flags, 0o644)
            } else {
                benchfs::ffi::benchfs_open(self.ctx, p.as_ptr(), flags)
            }
        };
        if f.is_null() {
            capi_error(&format!("open {path}"), -1);
        }
        f
    }
    fn write_at(&mut self, f: &Self::File, buf: &[u8], off: u64) {
        // SAFETY: live handle; buf is readable for its length.
        let n = unsafe { benchfs::ffi::benchfs_write(*f, buf.as_ptr().cast::<c_void>(), buf.len(), off as i64) };
        if n != buf.len() as isize {
            capi_error("benchfs_write", n as i64);
        }
    }
    fn read_at(&mut self, f: &Self::File, buf: &mut [u8], off: u64) {
        // SAFETY: live handle; buf is writable for its length.
        let n = unsafe { benchfs::ffi::benchfs_read(*f, buf.as_mut_ptr().cast::<c_void>(), buf.len(), off as i64) };
        if n != buf.len() as isize {
            capi_error("benchfs_read", n as i64);
        }
    }
    fn fsync(&mut self, f: &Self::File) {
        // SAFETY: live handle.
        let rc = unsafe { benchfs::ffi::benchfs_fsync(*f) };
        if rc < 0 {
            capi_error("benchfs_fsync", rc.into());
        }
    }
    fn close(&mut self, f: Self::File) {
        // SAFETY: live handle, not used again.
        let rc = unsafe { benchfs::ffi::benchfs_close(f) };
        if rc < 0 {
            capi_error("benchfs_close", rc.into());
        }
    }
    fn create_empty(&mut self, path: &str) {
        let p = cstr(path);
        // SAFETY: live context, NUL-terminated path.
        let f = unsafe { benchfs::ffi::benchfs_create(self.ctx, p.as_ptr(), libc::O_WRONLY | libc::O_EXCL, 0o644) };
        if f.is_null() {
            capi_error(&format!("create {path}"), -1);
        }
        self.close(f);
    }
    fn stat(&mut self, path: &str) {
        let p = cstr(path);
        // SAFETY: an all-zero struct stat is valid; live context; NUL-terminated path.
        let rc = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            benchfs::ffi::benchfs_stat(self.ctx, p.as_ptr(), &mut st)
        };
        if rc < 0 {
            capi_error(&format!("stat {path}"), rc.into());
        }
    }
    fn remove(&mut self, path: &str) {
        let p = cstr(path);
        // SAFETY: live context, NUL-terminated path.
        let rc = unsafe { benchfs::ffi::benchfs_remove(self.ctx, p.as_ptr()) };
        if rc < 0 {
            capi_error(&format!("remove {path}"), rc.into());
        }
    }
    fn mkdir(&mut self, path: &str) {
        let p = cstr(path);
        // SAFETY: live context, NUL-terminated path.
        let rc = unsafe { benchfs::ffi::benchfs_mkdir(self.ctx, p.as_ptr(), 0o755) };
        if rc < 0 && rc != -libc::EEXIST {
            capi_error(&format!("mkdir {path}"), rc.into());
        }
    }
    fn rmdir(&mut self, path: &str) {
        let p = cstr(path);
        // SAFETY: live context, NUL-terminated path.
        let _ = unsafe { benchfs::ffi::benchfs_rmdir(self.ctx, p.as_ptr()) };
    }
    fn exists(&mut self, path: &str) -> bool {
        let p = cstr(path);
        // SAFETY: an all-zero struct stat is valid; live context; NUL-terminated path.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            benchfs::ffi::benchfs_stat(self.ctx, p.as_ptr(), &mut st) >= 0
        }
    }
}

impl Drop for CApi {
    fn drop(&mut self) {
        // SAFETY: the live context, freed once.
        unsafe { benchfs::ffi::benchfs_finalize(self.ctx) };
    }
}

/// xorshift64*: the random offsets, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn now_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn join(root: &str, name: &str) -> String {
    format!("{}/{name}", root.trim_end_matches('/'))
}

/// Runs the phase; returns (bytes, ops) moved.
fn run<F: Fs>(fs: &mut F, a: &Args) -> (u64, u64) {
    let data_file = |rank: u64| match a.layout.as_str() {
        "shared" => join(&a.root, "seq.shared"),
        _ => join(&a.root, &format!("seq.{rank}")),
    };
    // Each rank's range: its own file from 0, or its segment of the shared file.
    let base = if a.layout == "shared" { a.rank * a.block } else { 0 };
    let reqs = a.block / a.xfer;
    let mut buf = vec![0u8; a.xfer as usize];
    let mut rng = Rng(a.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(a.rank) | 1);
    buf.iter_mut().for_each(|b| *b = rng.next() as u8);
    let md_dir = join(&a.root, "md");
    let md_name = |i: u64| join(&md_dir, &format!("f.{}.{i}", a.rank));
    match a.phase.as_str() {
        "seq-write" => {
            let f = fs.open(&data_file(a.rank), true, true);
            for i in 0..reqs {
                fs.write_at(&f, &buf, base + i * a.xfer);
            }
            fs.fsync(&f);
            fs.close(f);
            (reqs * a.xfer, reqs)
        }
        "seq-read" => {
            let f = fs.open(&data_file(a.rank), false, false);
            for i in 0..reqs {
                fs.read_at(&f, &mut buf, base + i * a.xfer);
            }
            fs.close(f);
            (reqs * a.xfer, reqs)
        }
        "rand-write" | "rand-read" => {
            let write = a.phase == "rand-write";
            let f = fs.open(&join(&a.root, &format!("seq.{}", a.rank)), write, false);
            for _ in 0..a.ops {
                let off = (rng.next() % reqs) * a.xfer;
                if write {
                    fs.write_at(&f, &buf, off);
                } else {
                    fs.read_at(&f, &mut buf, off);
                }
            }
            if write {
                fs.fsync(&f);
            }
            fs.close(f);
            (a.ops * a.xfer, a.ops)
        }
        "create" => {
            (0..a.files).for_each(|i| fs.create_empty(&md_name(i)));
            (0, a.files)
        }
        "stat" => {
            (0..a.files).for_each(|i| fs.stat(&md_name(i)));
            (0, a.files)
        }
        "remove" => {
            (0..a.files).for_each(|i| fs.remove(&md_name(i)));
            (0, a.files)
        }
        "mkdir" => {
            fs.mkdir(&a.root);
            fs.mkdir(&md_dir);
            (0, 0)
        }
        "clean" => {
            // Best effort, after a failed run: whatever the phases left (a rank's md
            // files are probed by their first name), then the directories.
            let mut paths: Vec<String> = (0..a.nprocs).map(|r| join(&a.root, &format!("seq.{r}"))).collect();
            paths.push(join(&a.root, "seq.shared"));
            for r in 0..a.nprocs {
                if fs.exists(&join(&md_dir, &format!("f.{r}.0"))) {
                    paths.extend((0..a.files).map(|i| join(&md_dir, &format!("f.{r}.{i}"))));
                }
            }
            for p in &paths {
                if fs.exists(p) {
                    fs.remove(p);
                }
            }
            fs.rmdir(&md_dir);
            fs.rmdir(&a.root);
            (0, 0)
        }
        p => die(format!("unknown phase {p:?}")),
    }
}

fn main() {
    let a = parse_args();
    let spec = a.registry.as_ref().map(|r| format!("registry:{r}"));
    let result = match a.api.as_str() {
        "posix" => go(&mut Posix, &a),
        "client" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|e| die(format!("runtime: {e}")));
            let spec = spec.unwrap_or_else(|| die("--api client needs --registry or BENCHFS_REGISTRY"));
            let cfg = Config::from_spec(&spec).unwrap_or_else(|e| die(e));
            let c = rt.block_on(Client::connect(cfg)).unwrap_or_else(|e| die(format!("connect: {e}")));
            go(&mut Async { rt, c }, &a)
        }
        "capi" => {
            let spec = cstr(&spec.unwrap_or_else(|| die("--api capi needs --registry or BENCHFS_REGISTRY")));
            // SAFETY: NUL-terminated spec.
            let ctx = unsafe { benchfs::ffi::benchfs_init(spec.as_ptr()) };
            if ctx.is_null() {
                capi_error("benchfs_init", -1);
            }
            go(&mut CApi { ctx }, &a)
        }
        other => die(format!("unknown --api {other:?}")),
    };
    println!("{result}");
}

/// Waits for the harness's go, runs the phase, and formats the result line.
fn go<F: Fs>(fs: &mut F, a: &Args) -> String {
    if a.wait {
        println!("ready");
        let mut line = String::new();
        if std::io::stdin().read_line(&mut line).is_err() || line.trim() != "go" {
            die("no go from the harness");
        }
    }
    let start = now_ns();
    let t = Instant::now();
    let (bytes, ops) = run(fs, a);
    let secs = t.elapsed().as_secs_f64();
    let end = now_ns();
    format!("{{\"start_ns\":{start},\"end_ns\":{end},\"secs\":{secs:.9},\"bytes\":{bytes},\"ops\":{ops}}}")
}
