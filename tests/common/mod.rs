//! Test clusters: real `benchfsd` processes on loopback ports with temporary data dirs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Child;

use benchfs::{Client, Config};

#[path = "../support/read.rs"]
pub mod read;
#[path = "../support/require.rs"]
pub mod require;
#[path = "../support/server.rs"]
pub mod server;

pub struct Server {
    child: Option<Child>,
    pub addr: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    extra: Vec<String>,
}

/// Starts `benchfsd` and waits for its "listening" line; panics with its log if it dies.
fn spawn(listen: &str, data_dir: &Path, log: &Path, extra: &[String]) -> (Child, String) {
    let logf = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
    let started = server::start(
        server::command(Path::new(env!("CARGO_BIN_EXE_benchfsd")), listen, data_dir)
            .args(extra)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stderr(logf),
    );
    started.unwrap_or_else(|e| panic!("{e}; its log:\n{}", std::fs::read_to_string(log).unwrap_or_default()))
}

pub struct Cluster {
    pub servers: Vec<Server>,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// `n` servers with data dirs on tmpfs when available.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_with(n, |_| Vec::new())
    }

    /// `n` servers announcing themselves (and sharing a generated secret) in `registry()`.
    pub fn start_with_registry(n: usize) -> Cluster {
        Cluster::start_with(n, |dir| vec!["--registry".into(), dir.join("registry").display().to_string()])
    }

    pub fn registry(&self) -> PathBuf {
        self.dir.path().join("registry")
    }

    /// `n` servers, each given the extra arguments `extra(test dir)`.
    pub fn start_with(n: usize, extra: impl Fn(&Path) -> Vec<String>) -> Cluster {
        Cluster::start_each(n, extra, |_| {})
    }

    /// [`Cluster::start_with`], calling `between(cluster so far)` after each server
    /// started (what a user's readiness loop does while a job's servers come up).
    pub fn start_each(n: usize, extra: impl Fn(&Path) -> Vec<String>, mut between: impl FnMut(&Cluster)) -> Cluster {
        let base = if Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
        let dir = tempfile::Builder::new().prefix("benchfs-test-").tempdir_in(base).expect("tempdir");
        let mut cluster = Cluster { servers: Vec::new(), dir };
        for i in 0..n {
            let data_dir = cluster.dir.path().join(format!("s{i}"));
            let log = cluster.dir.path().join(format!("s{i}.log"));
            let extra = extra(cluster.dir.path());
            let (child, addr) = spawn("127.0.0.1:0", &data_dir, &log, &extra);
            cluster.servers.push(Server { child: Some(child), addr, data_dir, log, extra });
            between(&cluster);
        }
        cluster
    }

    pub fn addrs(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.addr.clone()).collect()
    }

    pub fn spec(&self) -> String {
        self.addrs().join(",")
    }

    pub fn config(&self) -> Config {
        Config::new(self.addrs()).expect("config")
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.config()).await.expect("connect")
    }

    pub async fn client_with(&self, f: impl FnOnce(&mut Config)) -> Client {
        let mut cfg = self.config();
        f(&mut cfg);
        Client::connect(cfg).await.expect("connect")
    }

    /// Index of a server by address.
    pub fn index_of(&self, addr: &str) -> usize {
        self.servers.iter().position(|s| s.addr == addr).expect("known server")
    }

    /// SIGTERM and wait: a clean stop. Returns the exit status's success.
    pub fn stop(&mut self, i: usize) -> bool {
        let s = &mut self.servers[i];
        let mut c = s.child.take().expect("server running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        c.wait().expect("wait").success()
    }

    /// SIGKILL: a crash.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.servers[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal without reaping (SIGSTOP/SIGCONT).
    pub fn signal(&self, i: usize, sig: i32) {
        let c = self.servers[i].child.as_ref().expect("server running");
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(c.id() as i32, sig) };
    }

    /// Starts server `i` again on its old address and data dir.
    pub fn restart(&mut self, i: usize) {
        let s = &mut self.servers[i];
        assert!(s.child.is_none(), "server {i} still running");
        // benchfsd binds with SO_REUSEADDR, so the old port is free again at once.
        let (child, addr) = spawn(&s.addr, &s.data_dir, &s.log, &s.extra);
        assert_eq!(addr, s.addr);
        s.child = Some(child);
    }

    /// Process id of running server `i`.
    pub fn pid(&self, i: usize) -> u32 {
        self.pid_of(&self.servers[i])
    }

    pub fn pid_of(&self, s: &Server) -> u32 {
        s.child.as_ref().expect("server running").id()
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.servers[i].log).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.servers.len() {
            self.kill(i);
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), fast enough for hundreds of MiB.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// A `/proc/PID/status` field in KiB (VmRSS, VmHWM).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("{field} of pid {pid}: {s}"))
}

/// A finished command's status and output, for assertion messages.
pub fn show(o: &std::process::Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

impl Cluster {
    /// Starts a fresh server in place of stopped server `i`: same address, a new empty data
    /// dir (a replaced machine). Later restarts use the new dir.
    pub fn restart_empty(&mut self, i: usize) {
        let dir = self.dir.path().join(format!("s{i}-replaced-{}", std::process::id()));
        let s = &mut self.servers[i];
        assert!(s.child.is_none(), "server {i} still running");
        s.data_dir = dir;
        let (child, addr) = spawn(&s.addr, &s.data_dir, &s.log, &s.extra);
        assert_eq!(addr, s.addr);
        s.child = Some(child);
    }
}

impl Cluster {
    /// A client over TCP to the servers with a fault injector on its side.
    pub fn faulty_client(
        &self,
        timeout: std::time::Duration,
    ) -> (Client, std::sync::Arc<benchfs::transport::faulty::FaultyTransport<benchfs::transport::tcp::TcpTransport>>)
    {
        use benchfs::transport::{faulty::FaultyTransport, tcp};
        let mut cfg = self.config();
        cfg.timeout = timeout;
        let opts = tcp::TcpOptions { timeout, max_in_flight: cfg.max_in_flight, secret: None };
        let faults = std::sync::Arc::new(FaultyTransport::new(tcp::TcpTransport::new(cfg.servers.clone(), opts)));
        (Client::with_transport(cfg, faults.clone()), faults)
    }
}

impl Cluster {
    /// Runs the `benchfs` CLI against the servers; panics with its stderr unless it succeeds.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_benchfs"))
            .args(["--servers", &self.spec()])
            .args(args)
            .output()
            .expect("run benchfs");
        assert!(out.status.success(), "benchfs {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }
}
