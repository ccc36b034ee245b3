//! Namespace benchmark: what the operations that span servers cost, next to native tmpfs.
//!
//! `cargo bench --bench namespace` starts `BENCHFS_BENCH_SERVERS` (3) `benchfsd` on
//! /dev/shm and, for each of `BENCHFS_BENCH_REPS` (3) repetitions, does in one directory:
//! create (+close) N files, stat them, rename each, unlink them; mkdir N directories and
//! rmdir them; then renames a directory holding N files. N is `BENCHFS_BENCH_FILES`
//! (2000). Prints min and median ops/s of BenchFS and of the same calls on tmpfs, and
//! their ratio. Protocol 2 coordinates renames and rmdirs on the servers (claims and
//! fences); this shows what that costs a caller that does not race.

use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use benchfs::{Client, Config};
use benchfs_testkit::server;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

const PHASES: [&str; 7] = ["create", "stat", "rename", "unlink", "mkdir", "rmdir", "dir rename (entries/s)"];

/// Seconds of each phase, in [`PHASES`] order, through `ops`.
struct Timer(Vec<f64>);

impl Timer {
    fn time<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        self.0.push(t.elapsed().as_secs_f64());
        r
    }
}

fn native(dir: &Path, n: usize) -> Vec<f64> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("d")).expect("mkdir");
    let p = |k: &str, i: usize| dir.join(format!("d/{k}{i}"));
    let mut t = Timer(Vec::new());
    t.time(|| (0..n).for_each(|i| drop(std::fs::File::create(p("f", i)).expect("create"))));
    t.time(|| (0..n).for_each(|i| assert!(std::fs::metadata(p("f", i)).is_ok())));
    t.time(|| (0..n).for_each(|i| std::fs::rename(p("f", i), p("g", i)).expect("rename")));
    t.time(|| (0..n).for_each(|i| std::fs::remove_file(p("g", i)).expect("unlink")));
    t.time(|| (0..n).for_each(|i| std::fs::create_dir(p("s", i)).expect("mkdir")));
    t.time(|| (0..n).for_each(|i| std::fs::remove_dir(p("s", i)).expect("rmdir")));
    (0..n).for_each(|i| drop(std::fs::File::create(p("f", i)).expect("create")));
    t.time(|| std::fs::rename(dir.join("d"), dir.join("e")).expect("dir rename"));
    t.0
}

async fn benchfs(c: &Client, rep: usize, n: usize) -> Vec<f64> {
    let d = format!("/r{rep}");
    c.mkdir(&d, 0o755).await.expect("mkdir");
    let p = |k: &str, i: usize| format!("{d}/{k}{i}");
    let mut t = Vec::new();
    let mut go = Instant::now();
    let lap = |t: &mut Vec<f64>, go: &mut Instant| {
        t.push(go.elapsed().as_secs_f64());
        *go = Instant::now();
    };
    for i in 0..n {
        c.create(&p("f", i), 0o644).await.expect("create").close().await.expect("close");
    }
    lap(&mut t, &mut go);
    for i in 0..n {
        c.stat(&p("f", i)).await.expect("stat");
    }
    lap(&mut t, &mut go);
    for i in 0..n {
        c.rename(&p("f", i), &p("g", i)).await.expect("rename");
    }
    lap(&mut t, &mut go);
    for i in 0..n {
        c.unlink(&p("g", i)).await.expect("unlink");
    }
    lap(&mut t, &mut go);
    for i in 0..n {
        c.mkdir(&p("s", i), 0o755).await.expect("mkdir");
    }
    lap(&mut t, &mut go);
    for i in 0..n {
        c.rmdir(&p("s", i)).await.expect("rmdir");
    }
    lap(&mut t, &mut go);
    for i in 0..n {
        c.create(&p("f", i), 0o644).await.expect("create").close().await.expect("close");
    }
    go = Instant::now();
    c.rename(&d, &format!("/moved{rep}")).await.expect("dir rename");
    lap(&mut t, &mut go);
    t
}

/// (min, median) of a sample.
fn stats(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

fn main() {
    let n = env_or("BENCHFS_BENCH_FILES", 2000).max(1);
    let reps = env_or("BENCHFS_BENCH_REPS", 3).max(1);
    let nservers = env_or("BENCHFS_BENCH_SERVERS", 3).max(1);
    let base = tempfile::Builder::new().prefix("benchfs-bench-").tempdir_in("/dev/shm").expect("tmpfs dir");
    let bin = Path::new(env!("CARGO_BIN_EXE_benchfsd"));
    let (mut children, mut addrs) = (Vec::new(), Vec::new());
    for i in 0..nservers {
        let (c, a) = server::spawn_benchfsd(bin, "127.0.0.1:0", &base.path().join(format!("s{i}")), Stdio::null(), &[]);
        children.push(c);
        addrs.push(a);
    }
    let _servers = server::Servers(children);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let client = rt.block_on(Client::connect(Config::new(addrs).expect("config"))).expect("connect");
    let (mut nat, mut bfs) = (vec![Vec::new(); PHASES.len()], vec![Vec::new(); PHASES.len()]);
    for rep in 0..reps {
        let a = native(&base.path().join("native"), n);
        let b = rt.block_on(benchfs(&client, rep, n));
        for (k, (x, y)) in a.iter().zip(&b).enumerate() {
            nat[k].push(n as f64 / x);
            bfs[k].push(n as f64 / y);
        }
        println!(
            "rep {rep}: {}",
            PHASES.iter().zip(&b).map(|(p, s)| format!("{p} {:.0}", n as f64 / s)).collect::<Vec<_>>().join(", ")
        );
    }
    println!("\n{n} entries, {nservers} servers on tmpfs, {reps} repetitions; ops/s min/median");
    println!("{:<24} {:>16} {:>16} {:>12}", "operation", "native", "benchfs", "ratio(med)");
    for (k, name) in PHASES.iter().enumerate() {
        let ((nmin, nmed), (bmin, bmed)) = (stats(nat[k].clone()), stats(bfs[k].clone()));
        println!("{name:<24} {nmin:>7.0}/{nmed:<8.0} {bmin:>7.0}/{bmed:<8.0} {:>12.3}", bmed / nmed);
    }
}
