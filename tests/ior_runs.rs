//! End-to-end runs of IOR, mdtest and md-workbench over the BenchFS backend
//! (`-a BENCHFS`, ior_integration/aiori-BENCHFS.c) against two real
//! `benchfsd` servers on loopback.
//!
//! IOR is not part of BenchFS, so these tests only run when pointed at an IOR
//! build that has the backend (see ior_integration/README.md):
//!
//!   BENCHFS_IOR_BIN=/path/to/ior/src/ior \
//!   BENCHFS_MDTEST_BIN=/path/to/ior/src/mdtest \
//!   BENCHFS_MDWORKBENCH_BIN=/path/to/ior/src/md-workbench \
//!   cargo test --release --test ior_runs
//!
//! Optional: BENCHFS_MPIRUN (default `mpirun`, Open MPI flags are used).
//! Without the variables each test prints "skipped: ..." and passes.

use std::env;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use benchfs_testkit::{require, Cluster};

const RUN_TIMEOUT: Duration = Duration::from_secs(600);

/// The runs start MPI jobs of several processes each: one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// The binary named by `var`, or None after printing why the test is skipped (a
/// failure when `BENCHFS_REQUIRE` names `tool`).
fn bin_from_env(var: &str, tool: &str) -> Option<PathBuf> {
    match env::var_os(var) {
        Some(v) if !v.is_empty() => {
            let p = PathBuf::from(v);
            assert!(p.is_file(), "{var}={} is not a file", p.display());
            Some(p)
        }
        _ => {
            require::skip(tool, format_args!("{var} not set"));
            None
        }
    }
}

/// Runs `bin args...` under `mpirun -np 2`, returns its combined output and
/// fails the test on a non-zero exit, a timeout, or any "ERROR" line.
fn mpirun(bin: &Path, args: &[&str], cwd: &Path) -> String {
    let mpirun = env::var("BENCHFS_MPIRUN").unwrap_or_else(|_| "mpirun".to_string());
    let mut cmd = Command::new(&mpirun);
    cmd.args(["--allow-run-as-root", "--oversubscribe", "-np", "2"])
        .arg(bin)
        .args(args)
        .current_dir(cwd)
        // the servers are passed explicitly and run without a secret
        .env_remove("BENCHFS_SERVERS")
        .env_remove("BENCHFS_REGISTRY")
        .env_remove("BENCHFS_SECRET_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = format!("{mpirun} -np 2 {} {}", bin.display(), args.join(" "));
    eprintln!("running: {shown}");

    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {mpirun}: {e}"));
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });

    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(100));
    };
    let output = format!("{}{}", out_reader.join().unwrap(), err_reader.join().unwrap());

    match status {
        None => panic!("{shown}: timed out after {RUN_TIMEOUT:?}\n{output}"),
        Some(s) if !s.success() => panic!("{shown}: exited with {s}\n{output}"),
        Some(_) => {}
    }
    assert!(!output.contains("ERROR"), "{shown}: output contains ERROR\n{output}");
    eprintln!("{output}");
    output
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts two servers and runs `bin -a BENCHFS --benchfs.servers=A,B args`
/// (args split on whitespace) under mpirun in a scratch working directory.
fn run_benchfs(bin: &Path, args: &str) -> String {
    let _guard = serial();
    // Two servers with their data under one temporary directory.
    let cluster = Cluster::start(2);
    let cwd = tempfile::tempdir().unwrap();
    let servers = format!("--benchfs.servers={}", cluster.spec());
    let mut all = vec!["-a", "BENCHFS", servers.as_str()];
    all.extend(args.split_whitespace());
    mpirun(bin, &all, cwd.path())
}

#[test]
fn ior_file_per_process() {
    let Some(ior) = bin_from_env("BENCHFS_IOR_BIN", "ior") else {
        return;
    };
    let out = run_benchfs(&ior, "-o /ior-fpp-testfile -t 1m -b 16m -F -w -r -W -R -C -e");
    assert!(out.contains("Summary of all tests"), "no IOR summary:\n{out}");
}

#[test]
fn ior_shared_file() {
    let Some(ior) = bin_from_env("BENCHFS_IOR_BIN", "ior") else {
        return;
    };
    let out = run_benchfs(&ior, "-o /ior-shared-testfile -t 1m -b 16m -w -r -W -R -C -e");
    assert!(out.contains("Summary of all tests"), "no IOR summary:\n{out}");
}

#[test]
fn mdtest_unique_dirs() {
    let Some(mdtest) = bin_from_env("BENCHFS_MDTEST_BIN", "mdtest") else {
        return;
    };
    let out = run_benchfs(&mdtest, "-d /mdtest-flat -n 200 -u");
    assert!(out.contains("File creation"), "no mdtest summary:\n{out}");
}

#[test]
fn mdtest_tree() {
    let Some(mdtest) = bin_from_env("BENCHFS_MDTEST_BIN", "mdtest") else {
        return;
    };
    let out = run_benchfs(&mdtest, "-d /mdtest-tree -z 2 -b 3 -I 10");
    assert!(out.contains("Tree creation"), "no mdtest summary:\n{out}");
}

#[test]
fn md_workbench_small() {
    let Some(mdwb) = bin_from_env("BENCHFS_MDWORKBENCH_BIN", "md-workbench") else {
        return;
    };
    let out = run_benchfs(&mdwb, "-o /mdwb -D 4 -I 20 -P 20 -R 2");
    assert!(out.contains("benchmark process"), "no md-workbench summary:\n{out}");
}
