//! A test cluster of real `benchfsd` processes on loopback ports, with data directories and
//! logs in one temporary directory: what only real processes show (signals, crashes,
//! restarts on the same port, the command line, memory use).

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::Duration;

use benchfs::transport::{faulty::FaultyTransport, tcp};
use benchfs::{Client, Config};

use crate::{process, programs, scratch, server};

/// How much of each server's log a failing test prints.
const LOG_TAIL: usize = 40;

/// One server of a [`Cluster`]: its address, data directory and log file, kept across
/// restarts.
pub struct Server {
    child: Option<Child>,
    pub addr: String,
    pub data_dir: PathBuf,
    log: PathBuf,
    extra: Vec<String>,
}

/// Servers started by [`Cluster::start`] and its variants, killed (SIGKILL) when dropped.
/// A test that panics prints their logs.
pub struct Cluster {
    pub servers: Vec<Server>,
    pub dir: tempfile::TempDir,
}

/// Starts `benchfsd` (see [`programs::benchfsd`]) logging to `log`, and waits for its
/// "listening" line; panics with its log if it does not come up.
fn spawn(listen: &str, data_dir: &Path, log: &Path, extra: &[String]) -> (Child, String) {
    let logf = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
    let started = server::start(
        server::command(programs::benchfsd(), listen, data_dir)
            .args(extra)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stderr(logf),
    );
    started.unwrap_or_else(|e| panic!("{e}; its log:\n{}", std::fs::read_to_string(log).unwrap_or_default()))
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
        let mut cluster = Cluster { servers: Vec::new(), dir: scratch::fast_tempdir() };
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

    /// The addresses as `--servers` takes them: comma-separated.
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

    /// A client over TCP to the servers with a fault injector on its side.
    pub fn faulty_client(&self, timeout: Duration) -> (Client, Arc<FaultyTransport<tcp::TcpTransport>>) {
        let mut cfg = self.config();
        cfg.timeout = timeout;
        let opts = tcp::TcpOptions { timeout, max_in_flight: cfg.max_in_flight, secret: None };
        let faults = Arc::new(FaultyTransport::new(tcp::TcpTransport::new(cfg.servers.clone(), opts)));
        (Client::with_transport(cfg, faults.clone()), faults)
    }

    /// Runs the `benchfs` CLI against the servers; panics with its stderr unless it succeeds.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(programs::benchfs())
            .args(["--servers", &self.spec()])
            .args(args)
            .output()
            .expect("run benchfs");
        assert!(out.status.success(), "benchfs {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8 output")
    }

    /// Index of a server by address.
    pub fn index_of(&self, addr: &str) -> usize {
        self.servers.iter().position(|s| s.addr == addr).expect("known server")
    }

    /// SIGTERM and wait: a clean stop. Returns the exit status's success.
    pub fn stop(&mut self, i: usize) -> bool {
        let mut c = self.servers[i].child.take().expect("server running");
        process::signal(c.id(), libc::SIGTERM);
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
        process::signal(self.pid(i), sig);
    }

    /// Starts stopped server `i` again on its old address and data dir.
    pub fn restart(&mut self, i: usize) {
        let s = &mut self.servers[i];
        assert!(s.child.is_none(), "server {i} still running");
        // benchfsd binds with SO_REUSEADDR, so the old port is free again at once.
        let (child, addr) = spawn(&s.addr, &s.data_dir, &s.log, &s.extra);
        assert_eq!(addr, s.addr);
        s.child = Some(child);
    }

    /// Starts a fresh server in place of stopped server `i`: same address, a new empty data
    /// dir (a replaced machine). Later restarts use the new dir.
    pub fn restart_empty(&mut self, i: usize) {
        self.servers[i].data_dir = self.dir.path().join(format!("s{i}-replaced-{}", std::process::id()));
        self.restart(i);
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
        // The servers' side of a failure (the end of each log: a long test logs a lot at
        // info); a passing test keeps quiet.
        if std::thread::panicking() {
            for (i, s) in self.servers.iter().enumerate() {
                let log = self.log(i);
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(LOG_TAIL)..].join("\n");
                eprintln!("--- benchfsd {i} ({}), last {LOG_TAIL} lines of {} ---\n{tail}", s.addr, s.log.display());
            }
        }
    }
}
