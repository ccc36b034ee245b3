//! Core benchmark: BenchFS through the async client vs plain file I/O on tmpfs, in one run.
//!
//! `cargo bench --bench core` starts 2 `benchfsd` (data dirs on /dev/shm), then for
//! each of `BENCHFS_BENCH_REPS` (3) repetitions writes and reads `BENCHFS_BENCH_MIB`
//! (1024) MiB in 1 MiB requests both ways, and creates/stats/unlinks 10^4 empty files.
//! Prints min and median of each figure, the ratios to native, and the servers' peak RSS.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Child;
use std::time::Instant;

use benchfs::{Client, Config, OpenOptions};
use benchfs_testkit::server;

const MIB: usize = 1 << 20;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn start_server(dir: &Path) -> (Child, String) {
    let mut cmd = server::command(Path::new(env!("CARGO_BIN_EXE_benchfsd")), "127.0.0.1:0", dir);
    server::start(cmd.env("RUST_LOG", "warn")).unwrap_or_else(|e| panic!("{e}"))
}

fn peak_rss_mib(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn mibs(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / MIB as f64 / secs
}

fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    (v[0], v[v.len() / 2])
}

fn native_rw(path: &Path, total: usize, buf: &mut [u8]) -> (f64, f64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .expect("create native");
    let t = Instant::now();
    for i in 0..total / MIB {
        f.write_all_at(buf, (i * MIB) as u64).expect("native write");
    }
    let w = mibs(total, t.elapsed().as_secs_f64());
    let t = Instant::now();
    for i in 0..total / MIB {
        f.read_exact_at(buf, (i * MIB) as u64).expect("native read");
    }
    let r = mibs(total, t.elapsed().as_secs_f64());
    std::fs::remove_file(path).expect("rm native");
    (w, r)
}

async fn benchfs_rw(c: &Client, total: usize, buf: &mut [u8]) -> (f64, f64) {
    let f = c.create("/bench.dat", 0o644).await.expect("create");
    let t = Instant::now();
    for i in 0..total / MIB {
        f.write_at(buf, (i * MIB) as u64).await.expect("write");
    }
    f.close().await.expect("close");
    let w = mibs(total, t.elapsed().as_secs_f64());
    let f = c.open("/bench.dat", &OpenOptions::default()).await.expect("open");
    let t = Instant::now();
    for i in 0..total / MIB {
        f.read_at(buf, (i * MIB) as u64).await.expect("read");
    }
    let r = mibs(total, t.elapsed().as_secs_f64());
    c.unlink("/bench.dat").await.expect("unlink");
    (w, r)
}

fn native_md(dir: &Path, n: usize) -> [f64; 3] {
    std::fs::create_dir_all(dir).expect("mkdir");
    let name = |i: usize| dir.join(format!("f{i}"));
    let t = Instant::now();
    (0..n).for_each(|i| drop(std::fs::File::create(name(i)).expect("create")));
    let c = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    (0..n).for_each(|i| {
        std::fs::metadata(name(i)).expect("stat");
    });
    let s = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    (0..n).for_each(|i| std::fs::remove_file(name(i)).expect("rm"));
    [c, s, n as f64 / t.elapsed().as_secs_f64()]
}

async fn benchfs_md(c: &Client, n: usize) -> [f64; 3] {
    c.mkdir("/md", 0o755).await.expect("mkdir");
    let name = |i: usize| format!("/md/f{i}");
    let t = Instant::now();
    for i in 0..n {
        c.create(&name(i), 0o644).await.expect("create").close().await.expect("close");
    }
    let cr = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..n {
        c.stat(&name(i)).await.expect("stat");
    }
    let st = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..n {
        c.unlink(&name(i)).await.expect("unlink");
    }
    let rm = n as f64 / t.elapsed().as_secs_f64();
    c.rmdir("/md").await.expect("rmdir");
    [cr, st, rm]
}

fn main() {
    let total = env_or("BENCHFS_BENCH_MIB", 1024) * MIB;
    let reps = env_or("BENCHFS_BENCH_REPS", 3).max(1);
    let nfiles = env_or("BENCHFS_BENCH_FILES", 10_000);
    let shm = Path::new("/dev/shm");
    let base = tempfile::Builder::new().prefix("benchfs-bench-").tempdir_in(shm).expect("tmpfs dir");
    let (mut children, mut addrs) = (Vec::new(), Vec::new());
    for i in 0..2 {
        let (c, a) = start_server(&base.path().join(format!("s{i}")));
        children.push(c);
        addrs.push(a);
    }
    let servers = server::Servers(children);
    // How the benchmark program drives the client. "current" (default): the calling
    // thread runs the I/O itself; "multi": tokio's worker threads do and wake the caller,
    // which costs a cross-thread wake-up per request (see docs/benchmarks.md).
    let flavor = std::env::var("BENCHFS_BENCH_RT").unwrap_or_else(|_| "current".into());
    let rt = match flavor.as_str() {
        "multi" => tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        _ => tokio::runtime::Builder::new_current_thread().enable_all().build(),
    }
    .expect("runtime");
    let client = rt.block_on(Client::connect(Config::new(addrs).expect("config"))).expect("connect");
    let mut buf = vec![0x5Au8; MIB];
    let (mut nw, mut nr, mut bw, mut br) = (vec![], vec![], vec![], vec![]);
    let (mut nmd, mut bmd) = (vec![], vec![]);
    for rep in 0..reps {
        let (w, r) = native_rw(&base.path().join("native.dat"), total, &mut buf);
        nw.push(w);
        nr.push(r);
        let (w2, r2) = rt.block_on(benchfs_rw(&client, total, &mut buf));
        bw.push(w2);
        br.push(r2);
        let m = native_md(&base.path().join("native-md"), nfiles);
        let m2 = rt.block_on(benchfs_md(&client, nfiles));
        println!(
            "rep {rep}: write native {w:.0} benchfs {w2:.0} MiB/s | read native {r:.0} benchfs {r2:.0} MiB/s | create/stat/unlink native {:.0}/{:.0}/{:.0} benchfs {:.0}/{:.0}/{:.0} ops/s",
            m[0], m[1], m[2], m2[0], m2[1], m2[2]
        );
        nmd.push(m);
        bmd.push(m2);
    }
    println!(
        "\n{} MiB in 1 MiB requests, 2 servers on tmpfs, {reps} repetitions (min / median), {flavor} runtime",
        total / MIB
    );
    println!("{:<22} {:>12} {:>12} {:>12} {:>10}", "figure", "native", "benchfs", "ratio(med)", "target");
    let row = |name: &str, n: Vec<f64>, b: Vec<f64>, target: &str| {
        let ((nmin, nmed), (bmin, bmed)) = (stats(n), stats(b));
        println!("{name:<22} {nmin:>5.0}/{nmed:<6.0} {bmin:>5.0}/{bmed:<6.0} {:>12.2} {target:>10}", bmed / nmed);
    };
    row("write MiB/s", nw, bw, ">= 0.5");
    row("read MiB/s", nr, br, ">= 0.3");
    let col = |v: &Vec<[f64; 3]>, k: usize| v.iter().map(|m| m[k]).collect::<Vec<_>>();
    row("create ops/s", col(&nmd, 0), col(&bmd, 0), ">= 20k/s");
    row("stat ops/s", col(&nmd, 1), col(&bmd, 1), "");
    row("unlink ops/s", col(&nmd, 2), col(&bmd, 2), "");
    for (i, c) in servers.0.iter().enumerate() {
        println!("server {i} peak RSS: {:.1} MiB (target < 256)", peak_rss_mib(c.id()));
    }
}
