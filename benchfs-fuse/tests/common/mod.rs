//! What the mount tests share: the skip rule, a cluster of real `benchfsd` processes, and
//! a mount of `benchfs-fuse` that unmounts when dropped.
#![allow(dead_code, unused_macros)] // each test binary uses a different part

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[path = "../../../tests/support/read.rs"]
pub mod read;
#[path = "../../../tests/support/require.rs"]
pub mod require;
#[path = "../../../tests/support/server.rs"]
pub mod server;

/// Why real mounts cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not running as root (the mount tests mount with mount(2))".into());
    }
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse") {
        return Some(format!("/dev/fuse cannot be opened: {e}"));
    }
    None
}

/// Returns from the test (which then passes) with "skipped: ..." when mounts cannot run,
/// or fails it when `BENCHFS_REQUIRE` requires `fuse` (see tests/support/require.rs).
macro_rules! require_fuse {
    () => {
        if let Some(why) = common::skip_reason() {
            common::require::skip("fuse", why);
            return;
        }
    };
}

/// Runs the body once against the embedded server and once against a 3-server cluster,
/// as two tests `<name>::embedded` and `<name>::cluster`.
macro_rules! both_backends {
    ($name:ident, |$m:ident| $body:block) => {
        mod $name {
            use super::*;

            pub fn run($m: &common::TestMount) $body

            #[test]
            fn embedded() {
                require_fuse!();
                run(&common::TestMount::new(common::Backend::Embedded, &[]));
            }

            #[test]
            fn cluster() {
                require_fuse!();
                run(&common::TestMount::new(common::Backend::Cluster, &[]));
            }
        }
    };
}

/// The binary under test.
pub fn benchfs_fuse_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_benchfs-fuse"))
}

/// `target/<profile>/benchfsd`, built (or found up to date) once per test binary with the
/// profile the tests were built with, so it always matches the current source.
pub fn benchfsd_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| cargo_built(&["--bin", "benchfsd"], "benchfsd"))
}

/// `target/<profile>/benchfs`, the CLI, built as [`benchfsd_bin`] is.
pub fn benchfs_cli_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| cargo_built(&["--bin", "benchfs"], "benchfs"))
}

/// `target/<profile>/<artifact>` after `cargo build <args>` with the profile these tests
/// were built with.
pub fn cargo_built(args: &[&str], artifact: &str) -> PathBuf {
    // This test binary is target/<profile dir>/deps/<name>; artifacts go next to deps/.
    let exe = std::env::current_exe().expect("current_exe");
    let out_dir = exe.parent().and_then(Path::parent).expect("target directory").to_path_buf();
    let profile = match out_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--profile", &profile])
        .args(args)
        .current_dir(&workspace)
        .output()
        .expect("run cargo build");
    assert!(out.status.success(), "cargo build {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let built = out_dir.join(artifact);
    assert!(built.exists(), "{} is missing after cargo build", built.display());
    built
}

/// A temporary directory on tmpfs (/dev/shm) when there is one: server data lives there,
/// so fsync costs what the FUSE path costs, not what the test machine's disk costs.
pub fn fast_tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

/// Servers of a test cluster, stopped (SIGTERM) when dropped.
pub struct Cluster {
    procs: Vec<Child>,
    pub addrs: Vec<String>,
    _data: tempfile::TempDir,
}

impl Cluster {
    pub fn start(n: usize) -> Cluster {
        let data = fast_tempdir();
        let mut procs = Vec::new();
        let mut addrs = Vec::new();
        for i in 0..n {
            let mut cmd = server::command(benchfsd_bin(), "127.0.0.1:0", &data.path().join(format!("s{i}")));
            cmd.args(["--threads", "2"]).env("RUST_LOG", "error").stderr(Stdio::inherit());
            let (child, addr) = server::start(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
            addrs.push(addr);
            procs.push(child);
        }
        Cluster { procs, addrs, _data: data }
    }

    /// Stops server `i` cleanly and starts it again on its address and data directory.
    pub fn restart(&mut self, i: usize) {
        signal(self.procs[i].id(), libc::SIGTERM);
        let _ = self.procs[i].wait();
        let mut cmd = server::command(benchfsd_bin(), &self.addrs[i], &self._data.path().join(format!("s{i}")));
        cmd.args(["--threads", "2"]).env("RUST_LOG", "error").stderr(Stdio::inherit());
        let (child, addr) = server::start(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(addr, self.addrs[i], "server {i} came back on another address");
        self.procs[i] = child;
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &self.procs {
            signal(p.id(), libc::SIGTERM);
        }
        for p in &mut self.procs {
            let _ = p.wait();
        }
    }
}

pub fn signal(pid: u32, sig: i32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) on a child we spawned; no memory involved.
        unsafe { libc::kill(pid, sig) };
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Cluster,
}

/// True when `path` is a mount point in /proc/self/mounts.
pub fn is_mounted(path: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let want = path.to_string_lossy().replace(' ', "\\040");
    mounts.lines().any(|l| l.split(' ').nth(1) == Some(want.as_str()))
}

/// Polls `cond` every 10 ms for up to `secs` seconds.
pub fn wait_until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// A foreground `benchfs-fuse` on a fresh temporary directory. Dropping it sends SIGTERM,
/// waits for the process, and lazily unmounts as a last resort, so no test leaves a mount.
pub struct TestMount {
    pub backend: Backend,
    child: Option<Child>,
    mountpoint: PathBuf,
    log: PathBuf,
    cluster: Option<Cluster>,
    _tmp: tempfile::TempDir,
    _data: tempfile::TempDir,
}

impl TestMount {
    pub fn new(backend: Backend, extra: &[&str]) -> TestMount {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mountpoint = tmp.path().join("mnt");
        std::fs::create_dir(&mountpoint).expect("mkdir mountpoint");
        let log = tmp.path().join("benchfs-fuse.log");
        let data = fast_tempdir();
        let mut cmd = Command::new(benchfs_fuse_bin());
        cmd.arg(&mountpoint).arg("--foreground").args(extra);
        cmd.env_remove("BENCHFS_SERVERS").env_remove("BENCHFS_REGISTRY");
        let cluster = match backend {
            Backend::Embedded => {
                cmd.arg("--data-dir").arg(data.path());
                None
            }
            Backend::Cluster => {
                let c = Cluster::start(3);
                cmd.arg("--servers").arg(c.addrs.join(","));
                Some(c)
            }
        };
        let logfile = std::fs::File::create(&log).expect("log file");
        cmd.stdout(Stdio::null()).stderr(logfile);
        let child = cmd.spawn().expect("spawn benchfs-fuse");
        let mut m = TestMount { backend, child: Some(child), mountpoint, log, cluster, _tmp: tmp, _data: data };
        let up = wait_until(20, || m.exited().is_some() || is_mounted(&m.mountpoint));
        if !up || !is_mounted(&m.mountpoint) {
            panic!("benchfs-fuse did not mount {}:\n{}", m.mountpoint.display(), m.log_text());
        }
        m
    }

    pub fn path(&self) -> &Path {
        &self.mountpoint
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends `sig` and waits (up to 20 s) for the process to exit; returns its status.
    pub fn stop_with(&mut self, sig: i32) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        signal(child.id(), sig);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(st)) = child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }
}

impl Drop for TestMount {
    fn drop(&mut self) {
        let status = self.stop_with(libc::SIGTERM);
        if is_mounted(&self.mountpoint) {
            let _ = Command::new("umount").arg("-l").arg(&self.mountpoint).status();
        }
        if std::thread::panicking() || status.is_some_and(|s| !s.success()) {
            eprintln!("--- benchfs-fuse log ({:?}, exit {status:?}) ---\n{}", self.backend, self.log_text());
        }
        drop(self.cluster.take());
    }
}

/// Deterministic pseudo-random bytes (xorshift), so failures can be reproduced.
/// "same inode: a b ..." for each inode that more than one of the (inode, name) pairs
/// share (hard links), names sorted, lines sorted: how two trees' hard links compare.
pub fn same_inode_groups<K: Ord>(names: impl IntoIterator<Item = (K, String)>) -> Vec<String> {
    let mut by_ino = std::collections::BTreeMap::<K, Vec<String>>::new();
    for (ino, name) in names {
        by_ino.entry(ino).or_default().push(name);
    }
    let mut groups: Vec<String> = by_ino
        .into_values()
        .filter(|names| names.len() > 1)
        .map(|mut names| {
            names.sort();
            format!("same inode: {}", names.join(" "))
        })
        .collect();
    groups.sort();
    groups
}

pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Whether `name` runs (`name --version` exits at all).
pub fn have_tool(name: &str) -> bool {
    Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

impl TestMount {
    /// A mount of existing servers (e.g. a [`Cluster`]'s `addrs`) on a fresh temporary
    /// directory; several mounts of one cluster can run at once.
    pub fn on_servers(addrs: &[String]) -> TestMount {
        TestMount::on_servers_with(addrs, &[])
    }

    /// [`TestMount::on_servers`] with further flags.
    pub fn on_servers_with(addrs: &[String], extra: &[&str]) -> TestMount {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mountpoint = tmp.path().join("mnt");
        std::fs::create_dir(&mountpoint).expect("mkdir mountpoint");
        let log = tmp.path().join("benchfs-fuse.log");
        let mut cmd = Command::new(benchfs_fuse_bin());
        cmd.arg(&mountpoint).arg("--foreground").arg("--servers").arg(addrs.join(",")).args(extra);
        cmd.env_remove("BENCHFS_SERVERS").env_remove("BENCHFS_REGISTRY");
        let logfile = std::fs::File::create(&log).expect("log file");
        cmd.stdout(Stdio::null()).stderr(logfile);
        let child = cmd.spawn().expect("spawn benchfs-fuse");
        let data = fast_tempdir();
        let mut m = TestMount {
            backend: Backend::Cluster,
            child: Some(child),
            mountpoint,
            log,
            cluster: None,
            _tmp: tmp,
            _data: data,
        };
        let up = wait_until(20, || m.exited().is_some() || is_mounted(&m.mountpoint));
        if !up || !is_mounted(&m.mountpoint) {
            panic!("benchfs-fuse did not mount {}:\n{}", m.mountpoint.display(), m.log_text());
        }
        m
    }
}
