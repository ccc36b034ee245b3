//! Real FUSE mounts for tests: a foreground `benchfs-fuse` that unmounts when dropped, on
//! its own embedded server or on a [`Cluster`]; two mounts of one cluster; the rule that
//! skips a mount test where mounts cannot run; and the macros that use them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{process, programs, scratch, Cluster};

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
/// or fails it when `BENCHFS_REQUIRE` requires `fuse` (see [`crate::require`]).
#[macro_export]
macro_rules! require_fuse {
    () => {
        if let Some(why) = $crate::mount::skip_reason() {
            $crate::require::skip("fuse", why);
            return;
        }
    };
}

/// Runs the body once against the embedded server and once against a 3-server cluster,
/// as two tests `<name>::embedded` and `<name>::cluster`. The body sees the enclosing
/// module's names.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, |$m:ident| $body:block) => {
        mod $name {
            use super::*;

            pub fn run($m: &$crate::mount::TestMount) $body

            #[test]
            fn embedded() {
                $crate::require_fuse!();
                run(&$crate::mount::TestMount::new($crate::mount::Backend::Embedded, &[]));
            }

            #[test]
            fn cluster() {
                $crate::require_fuse!();
                run(&$crate::mount::TestMount::new($crate::mount::Backend::Cluster, &[]));
            }
        }
    };
}

/// What a [`TestMount`] serves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The mount's own single-node server (`--data-dir`).
    Embedded,
    /// Servers of a cluster (`--servers`).
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
    /// The servers this mount started for itself ([`TestMount::new`] with `Backend::Cluster`).
    cluster: Option<Cluster>,
    _tmp: tempfile::TempDir,
    /// The embedded server's data.
    _data: Option<tempfile::TempDir>,
}

impl TestMount {
    /// A mount on its own backend: an embedded server, or a fresh 3-server cluster that
    /// stops with the mount; `extra` are further `benchfs-fuse` flags.
    pub fn new(backend: Backend, extra: &[&str]) -> TestMount {
        match backend {
            Backend::Embedded => {
                let data = scratch::fast_tempdir();
                let source = vec!["--data-dir".into(), data.path().into()];
                TestMount::mount(backend, source, extra, Some(data))
            }
            Backend::Cluster => {
                let cluster = Cluster::start(3);
                let mut m = TestMount::on_servers_with(&cluster.addrs(), extra);
                m.cluster = Some(cluster);
                m
            }
        }
    }

    /// A mount of existing servers (e.g. a [`Cluster`]'s `addrs()`); several mounts of one
    /// cluster can run at once.
    pub fn on_servers(addrs: &[String]) -> TestMount {
        TestMount::on_servers_with(addrs, &[])
    }

    /// [`TestMount::on_servers`] with further flags.
    pub fn on_servers_with(addrs: &[String], extra: &[&str]) -> TestMount {
        let source = vec!["--servers".into(), addrs.join(",").into()];
        TestMount::mount(Backend::Cluster, source, extra, None)
    }

    /// Starts `benchfs-fuse MOUNTPOINT --foreground SOURCE EXTRA` and waits (up to 20 s)
    /// until the mount is up; panics with its log if it is not.
    fn mount(backend: Backend, source: Vec<OsString>, extra: &[&str], data: Option<tempfile::TempDir>) -> TestMount {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mountpoint = tmp.path().join("mnt");
        std::fs::create_dir(&mountpoint).expect("mkdir mountpoint");
        let log = tmp.path().join("benchfs-fuse.log");
        let mut cmd = Command::new(programs::benchfs_fuse());
        cmd.arg(&mountpoint).arg("--foreground").args(source).args(extra);
        // Only the flags say where the data is, whatever the environment names.
        cmd.env_remove("BENCHFS_SERVERS").env_remove("BENCHFS_REGISTRY");
        let logfile = std::fs::File::create(&log).expect("log file");
        cmd.stdout(Stdio::null()).stderr(logfile);
        let child = cmd.spawn().expect("spawn benchfs-fuse");
        let mut m = TestMount { backend, child: Some(child), mountpoint, log, cluster: None, _tmp: tmp, _data: data };
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
        process::signal(child.id(), sig);
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

/// Two mounts of one cluster, as two client machines of a job: what one mount does, the
/// other sees (or races). The mounts go before the servers when dropped.
pub struct TwoMounts {
    pub a: TestMount,
    pub b: TestMount,
    pub cluster: Cluster,
}

impl TwoMounts {
    /// `servers` servers and two mounts of them.
    pub fn start(servers: usize) -> TwoMounts {
        TwoMounts::start_with(servers, &[])
    }

    /// [`TwoMounts::start`], both mounts given the flags `extra`.
    pub fn start_with(servers: usize, extra: &[&str]) -> TwoMounts {
        let cluster = Cluster::start(servers);
        let a = TestMount::on_servers_with(&cluster.addrs(), extra);
        let b = TestMount::on_servers_with(&cluster.addrs(), extra);
        TwoMounts { a, b, cluster }
    }
}
