//! Cost of the C API's bridge (a blocking call handed to the tokio runtime) against
//! the async client it wraps, on 2 local `benchfsd` with data dirs on /dev/shm.
//!
//! `cargo bench --bench ffi_overhead` measures, per variant and repetition:
//! - `write4k` / `read4k`: µs per call of `BENCHFS_BENCH_OPS` (10^5) sequential 4 KiB
//!   writes, then reads (offsets wrap at 64 MiB so the file stays small);
//! - `write4k x8`: µs per call (wall time / calls) of the same writes spread over 8
//!   threads (C) or tasks (async), each on its own file;
//! - `write1m` / `read1m`: MiB/s of `BENCHFS_BENCH_MIB` (1024) MiB in 1 MiB calls.
//!
//! Variants: `async-mt` (a task on tokio's default multi-thread runtime: the
//! baseline), `async-ct` (one current-thread runtime), and the C API's exported
//! functions called from Rust with `BENCHFS_RUNTIME_THREADS` = each value of
//! `BENCHFS_BENCH_FLAVOURS` (default "0,1,2": 0 is the current-thread runtime the
//! library uses by default, N a multi-thread one with N workers). The C API keeps its
//! runtime in a process-wide static, so every variant runs in a child process (this
//! binary re-executed with `--child`). Prints min and median over `BENCHFS_BENCH_REPS`
//! (3) repetitions, each C variant's added µs per call and bandwidth ratio to the
//! baseline.

use std::ffi::CString;
use std::process::Command;
use std::time::Instant;

use benchfs::ffi::{self, Context, FileHandle};
use benchfs::{Client, Config, OpenOptions};
use benchfs_testkit::Cluster;

const KIB4: usize = 4096;
const MIB: usize = 1 << 20;
/// 4 KiB offsets wrap here: spread over chunks and servers, without filling tmpfs.
const WRAP: u64 = 64 << 20;
const THREADS: usize = 8;
const BASELINE: &str = "async-mt";

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The knobs every child gets from the parent's environment.
#[derive(Clone, Copy)]
struct Load {
    ops: usize,
    mib: usize,
}

fn offset(i: usize) -> u64 {
    (i as u64 * KIB4 as u64) % WRAP
}

/// CPU time (user + system, all threads) this process has used, in seconds.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage fills the zeroed struct we pass; it cannot fail for RUSAGE_SELF.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(ru.ru_utime) + secs(ru.ru_stime)
}

/// Wall and CPU time since a start; CPU time is what a loaded machine distorts least.
struct Clock {
    wall: Instant,
    cpu: f64,
}

impl Clock {
    fn start() -> Clock {
        Clock { wall: Instant::now(), cpu: cpu_seconds() }
    }

    /// Records `name` (wall µs per call) and `name cpu` (client CPU µs per call).
    fn per_call(self, out: &mut Vec<(String, f64)>, name: &str, calls: usize) {
        out.push((name.to_string(), self.wall.elapsed().as_secs_f64() * 1e6 / calls as f64));
        out.push((format!("{name} cpu"), (cpu_seconds() - self.cpu) * 1e6 / calls as f64));
    }
}

fn mib_per_sec(start: Clock, mib: usize) -> f64 {
    mib as f64 / start.wall.elapsed().as_secs_f64()
}

// ---- the async client, used directly ----

async fn async_load(client: Client, load: Load) -> Vec<(String, f64)> {
    let rw = OpenOptions::from_flags(libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC, 0o644);
    let mut out = Vec::new();
    let f = client.open("/async-4k", &rw).await.expect("open");
    let mut buf = vec![7u8; KIB4];
    let t = Clock::start();
    for i in 0..load.ops {
        f.write_at(&buf, offset(i)).await.expect("write");
    }
    t.per_call(&mut out, "write4k", load.ops);
    let t = Clock::start();
    for i in 0..load.ops {
        f.read_at(&mut buf, offset(i)).await.expect("read");
    }
    t.per_call(&mut out, "read4k", load.ops);
    f.close().await.expect("close");

    let t = Clock::start();
    let tasks: Vec<_> = (0..THREADS)
        .map(|k| {
            let (client, rw) = (client.clone(), rw.clone());
            tokio::spawn(async move {
                let f = client.open(&format!("/async-4k-{k}"), &rw).await.expect("open");
                let buf = vec![k as u8; KIB4];
                for i in 0..load.ops / THREADS {
                    f.write_at(&buf, offset(i)).await.expect("write");
                }
                f.close().await.expect("close");
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    t.per_call(&mut out, "write4k x8", load.ops / THREADS * THREADS);

    let f = client.open("/async-1m", &rw).await.expect("open");
    let mut buf = vec![9u8; MIB];
    let t = Clock::start();
    for i in 0..load.mib {
        f.write_at(&buf, (i * MIB) as u64).await.expect("write");
    }
    out.push(("write1m".into(), mib_per_sec(t, load.mib)));
    let t = Clock::start();
    for i in 0..load.mib {
        f.read_at(&mut buf, (i * MIB) as u64).await.expect("read");
    }
    out.push(("read1m".into(), mib_per_sec(t, load.mib)));
    f.close().await.expect("close");
    for p in
        ["/async-4k", "/async-1m"].into_iter().map(String::from).chain((0..THREADS).map(|k| format!("/async-4k-{k}")))
    {
        client.unlink(&p).await.expect("unlink");
    }
    out
}

// ---- the C API's exported functions ----

/// A C handle passed to other threads (the API is thread-safe by contract).
struct Shared<T>(*mut T);

// By hand: derive would demand `T: Copy`, and a pointer is Copy whatever it points to.
impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<T> {}
// SAFETY: the C API allows any thread to use a context or file handle concurrently.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as above; the pointer is only passed to thread-safe C API calls.
unsafe impl<T> Sync for Shared<T> {}

impl<T> Shared<T> {
    /// A method, so closures capture the whole `Send` wrapper, not its pointer field.
    fn get(self) -> *mut T {
        self.0
    }
}

fn c_open(ctx: *mut Context, path: &str) -> *mut FileHandle {
    let p = CString::new(path).expect("path");
    // SAFETY: a live context and a NUL-terminated path.
    let f = unsafe { ffi::benchfs_open(ctx, p.as_ptr(), libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC) };
    assert!(!f.is_null(), "benchfs_open {path} failed");
    f
}

fn c_check(rc: isize, want: usize) {
    assert_eq!(rc, want as isize, "C API call failed");
}

fn c_load(spec: &str, load: Load) -> Vec<(String, f64)> {
    let spec = CString::new(spec).expect("spec");
    // SAFETY: a NUL-terminated server list.
    let ctx = unsafe { ffi::benchfs_init(spec.as_ptr()) };
    assert!(!ctx.is_null(), "benchfs_init failed");
    let mut out = Vec::new();
    let f = c_open(ctx, "/c-4k");
    let mut buf = vec![7u8; KIB4];
    // SAFETY (every call below): live handles and buffers of the given length.
    let t = Clock::start();
    for i in 0..load.ops {
        c_check(unsafe { ffi::benchfs_write(f, buf.as_ptr().cast(), KIB4, offset(i) as i64) }, KIB4);
    }
    t.per_call(&mut out, "write4k", load.ops);
    let t = Clock::start();
    for i in 0..load.ops {
        c_check(unsafe { ffi::benchfs_read(f, buf.as_mut_ptr().cast(), KIB4, offset(i) as i64) }, KIB4);
    }
    t.per_call(&mut out, "read4k", load.ops);
    assert_eq!(unsafe { ffi::benchfs_close(f) }, 0);

    let shared = Shared(ctx);
    let t = Clock::start();
    std::thread::scope(|s| {
        for k in 0..THREADS {
            s.spawn(move || {
                let f = c_open(shared.get(), &format!("/c-4k-{k}"));
                let buf = vec![k as u8; KIB4];
                for i in 0..load.ops / THREADS {
                    c_check(unsafe { ffi::benchfs_write(f, buf.as_ptr().cast(), KIB4, offset(i) as i64) }, KIB4);
                }
                assert_eq!(unsafe { ffi::benchfs_close(f) }, 0);
            });
        }
    });
    t.per_call(&mut out, "write4k x8", load.ops / THREADS * THREADS);

    let f = c_open(ctx, "/c-1m");
    let mut buf = vec![9u8; MIB];
    let t = Clock::start();
    for i in 0..load.mib {
        c_check(unsafe { ffi::benchfs_write(f, buf.as_ptr().cast(), MIB, (i * MIB) as i64) }, MIB);
    }
    out.push(("write1m".into(), mib_per_sec(t, load.mib)));
    let t = Clock::start();
    for i in 0..load.mib {
        c_check(unsafe { ffi::benchfs_read(f, buf.as_mut_ptr().cast(), MIB, (i * MIB) as i64) }, MIB);
    }
    out.push(("read1m".into(), mib_per_sec(t, load.mib)));
    assert_eq!(unsafe { ffi::benchfs_close(f) }, 0);
    for p in ["/c-4k".to_string(), "/c-1m".to_string()].into_iter().chain((0..THREADS).map(|k| format!("/c-4k-{k}"))) {
        let p = CString::new(p).expect("path");
        assert_eq!(unsafe { ffi::benchfs_remove(ctx, p.as_ptr()) }, 0);
    }
    assert_eq!(unsafe { ffi::benchfs_finalize(ctx) }, 0);
    out
}

// ---- parent: runs every variant in a child, then summarises ----

fn child(variant: &str, spec: &str, load: Load) {
    let results = match variant {
        "async-mt" => {
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
            let client = rt.block_on(Client::connect(Config::from_spec(spec).expect("spec"))).expect("connect");
            rt.block_on(async move { tokio::spawn(async_load(client, load)).await.expect("task") })
        }
        "async-ct" => {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            let client = rt.block_on(Client::connect(Config::from_spec(spec).expect("spec"))).expect("connect");
            rt.block_on(async_load(client, load))
        }
        _ => c_load(spec, load),
    };
    for (name, v) in results {
        println!("{name}\t{v}");
    }
}

fn run_child(variant: &str, flavour: Option<&str>, spec: &str, load: Load) -> Vec<(String, f64)> {
    let exe = std::env::current_exe().expect("own path");
    let mut cmd = Command::new(exe);
    cmd.args(["--child", variant, spec, &load.ops.to_string(), &load.mib.to_string()]);
    if let Some(f) = flavour {
        cmd.env("BENCHFS_RUNTIME_THREADS", f);
    }
    let out = cmd.output().expect("run child");
    assert!(out.status.success(), "{variant} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_string(), v.parse().expect("number")))
        .collect()
}

fn min_median(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let load = Load { ops: args[4].parse().expect("ops"), mib: args[5].parse().expect("mib") };
        child(&args[2], &args[3], load);
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list` probes every bench target
    }
    let reps = env_or("BENCHFS_BENCH_REPS", 3).max(1);
    let load = Load { ops: env_or("BENCHFS_BENCH_OPS", 100_000), mib: env_or("BENCHFS_BENCH_MIB", 1024) };
    let flavours = std::env::var("BENCHFS_BENCH_FLAVOURS").unwrap_or_else(|_| "0,1,2".into());
    let mut variants: Vec<(String, Option<String>)> = vec![(BASELINE.into(), None), ("async-ct".into(), None)];
    variants.extend(flavours.split(',').map(|f| (format!("c rt={}", f.trim()), Some(f.trim().to_string()))));

    let cluster = Cluster::start(2);
    println!(
        "ffi_overhead: 2 servers on {}, {} reps, {} x 4 KiB calls, {} x 1 MiB calls",
        cluster.dir.path().display(),
        reps,
        load.ops,
        load.mib
    );
    // results[variant][metric] = one value per repetition; variants interleaved per rep
    // so that drift (page cache, CPU frequency) hits all of them alike.
    let mut results: Vec<Vec<(String, Vec<f64>)>> = vec![Vec::new(); variants.len()];
    for rep in 0..reps {
        for (i, (name, flavour)) in variants.iter().enumerate() {
            let kind = if name.starts_with("c ") { "c" } else { name.as_str() };
            for (metric, v) in run_child(kind, flavour.as_deref(), &cluster.spec(), load) {
                match results[i].iter_mut().find(|(m, _)| *m == metric) {
                    Some((_, vs)) => vs.push(v),
                    None => results[i].push((metric, vec![v])),
                }
            }
        }
        eprintln!("rep {} of {reps} done", rep + 1);
    }

    let base: Vec<(String, f64)> = results[0].iter().map(|(m, vs)| (m.clone(), min_median(vs.clone()).1)).collect();
    println!("\n{:<12} {:<15} {:>10} {:>10}  vs {BASELINE} (median)", "variant", "metric", "min", "median");
    for ((name, _), metrics) in variants.iter().zip(&results) {
        for (metric, vs) in metrics {
            let (min, med) = min_median(vs.clone());
            let b = base.iter().find(|(m, _)| m == metric).map_or(f64::NAN, |(_, b)| *b);
            let (unit, cmp) = if metric.ends_with("1m") {
                ("MiB/s", format!("{:.2}x bandwidth", med / b))
            } else if metric.ends_with("cpu") {
                ("cpu us", format!("{:+.2} us of CPU per call", med - b))
            } else {
                ("us/call", format!("{:+.2} us per call", med - b))
            };
            println!("{name:<12} {metric:<15} {min:>10.2} {med:>10.2}  {unit:<8} {cmp}");
        }
    }
}
