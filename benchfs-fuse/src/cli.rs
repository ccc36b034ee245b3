//! The command line of `benchfs-fuse`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Session threads reading /dev/fuse by default: two per core, 4 to 16. Each thread carries
/// out the requests it reads itself (see `fuse.rs`), so the threads are also how many
/// requests are in flight at once: enough for a few processes and the kernel's read-ahead.
pub fn default_threads() -> u64 {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    u64::try_from(cores * 2).unwrap_or(16).clamp(4, 16)
}

/// The largest write request by default: as large as the kernel allows, 1 to 4 MiB. The
/// kernel caps requests at `/proc/sys/fs/fuse/max_pages_limit` pages (Linux 6.13 and later;
/// 256, i.e. 1 MiB, unless an administrator raised it; 1 MiB before 6.13). 4 MiB requests
/// carry 4 MiB application writes in one round trip instead of four (docs/benchmarks.md).
pub fn default_max_write() -> u32 {
    let pages = std::fs::read_to_string("/proc/sys/fs/fuse/max_pages_limit")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(256);
    // SAFETY: sysconf reads a constant.
    let page = u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
    u32::try_from(pages.saturating_mul(page).clamp(1 << 20, 4 << 20)).unwrap_or(1 << 20)
}

#[derive(Parser, Debug, Clone)]
#[command(
    version,
    about = "Mount a BenchFS cluster with FUSE",
    long_about = "Mount a BenchFS cluster with FUSE.\n\n\
        With --servers or --registry (or BENCHFS_SERVERS / BENCHFS_REGISTRY; flags first, then a \
        server list before a registry) it joins that cluster. \
        With neither it starts an embedded server in this process on --data-dir, so one command \
        gives a working file system.\n\n\
        Without --foreground it returns once the mount is live and keeps serving in the background. \
        Unmount with `fusermount3 -u MOUNTPOINT`, `umount MOUNTPOINT`, or SIGINT/SIGTERM to the daemon.\n\n\
        Symbolic links, hard links, FIFOs, sockets and device nodes work (device nodes are not \
        opened: the mount is nodev); RENAME_EXCHANGE is EINVAL."
)]
pub struct Args {
    /// Directory to mount on.
    pub mountpoint: PathBuf,
    /// Servers of the cluster to join ("host:port,host:port") [env: BENCHFS_SERVERS].
    #[arg(long)]
    pub servers: Option<String>,
    /// Registry directory where the cluster's servers announced themselves [env: BENCHFS_REGISTRY].
    #[arg(long)]
    pub registry: Option<PathBuf>,
    /// Cluster secret file (default: BENCHFS_SECRET_FILE, or the registry's `secret` file).
    #[arg(long)]
    pub secret_file: Option<PathBuf>,
    /// Data directory of the embedded server (only without a cluster)
    /// [default: $XDG_RUNTIME_DIR/benchfs-embedded, or /tmp/benchfs-embedded-$UID].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Stay in the foreground (logs go to stderr).
    #[arg(short, long)]
    pub foreground: bool,
    /// Let other users access the mount (non-root: needs user_allow_other in /etc/fuse.conf).
    #[arg(long)]
    pub allow_other: bool,
    /// Seconds the kernel may cache attributes and names.
    #[arg(long, default_value_t = 1.0, value_parser = parse_seconds)]
    pub attr_timeout: f64,
    /// Bypass the page cache: each application read/write is one request, and writes to one
    /// file from many processes run in parallel.
    #[arg(long)]
    pub direct_io: bool,
    /// Largest write (and read) request from the kernel, in bytes (K/M or KiB/MiB
    /// suffixes). The kernel caps it at /proc/sys/fs/fuse/max_pages_limit pages
    /// (1 MiB unless raised) [default: as large as that allows, 1M to 4M].
    #[arg(long, default_value_t = default_max_write(), hide_default_value = true, value_parser = parse_bytes)]
    pub max_write: u32,
    /// Read-ahead window of sequential reads, in bytes (K/M suffixes; set as root only):
    /// several requests in flight at once, on several session threads and servers.
    /// Random reads are not read ahead; a page fault of an mmap reads this much around it.
    #[arg(long, default_value = "4M", value_parser = parse_bytes)]
    pub read_ahead: u32,
    /// Session threads reading requests from /dev/fuse (each with its own cloned descriptor)
    /// [default: two per core, 4 to 16].
    #[arg(long, default_value_t = default_threads(), hide_default_value = true,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub threads: u64,
    /// 0: each session thread carries out the requests it reads, driving the client's I/O
    /// itself (no hand-off between threads: the fastest on few cores). N > 0: N runtime
    /// worker threads do, each request a task, and session threads only hand requests over.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=64))]
    pub runtime_threads: u64,
    /// With --runtime-threads 0: session threads share one connection per server instead of
    /// each having its own (the default once threads × servers exceeds 1024, so that
    /// servers stay under their --max-connections in large clusters).
    #[arg(long)]
    pub shared_connections: bool,
    /// Permission bits of the mount's root, in octal (e.g. 1777 for a shared scratch
    /// directory). The root belongs to the user who mounts; chmod/chown on the mountpoint
    /// change it for this mount only.
    #[arg(long, default_value = "755", value_parser = parse_mode)]
    pub root_mode: u32,
    /// Log every request (same as RUST_LOG=debug); with a daemon, stderr stays open for it.
    #[arg(short, long)]
    pub debug: bool,
}

impl Args {
    /// The cluster as the command line gives it; [`benchfs::Config::resolve`] adds the
    /// environment, with the flags first.
    pub fn cluster(&self) -> benchfs::config::ClusterArgs {
        benchfs::config::ClusterArgs {
            servers: self.servers.clone(),
            registry: self.registry.clone(),
            secret_file: self.secret_file.clone(),
            timeout: None,
        }
    }

    pub fn attr_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.attr_timeout)
    }
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=86_400.0).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds between 0 and 86400")),
    }
}

fn parse_mode(s: &str) -> Result<u32, String> {
    match u32::from_str_radix(s.trim_start_matches("0o"), 8) {
        Ok(m) if m <= 0o7777 => Ok(m),
        _ => Err(format!("{s:?} is not an octal mode between 0 and 7777")),
    }
}

/// A write size ([`benchfs::config::parse_size`]) between 4K and 16M.
fn parse_bytes(s: &str) -> Result<u32, String> {
    match benchfs::config::parse_size(s).map_err(|e| e.to_string())? {
        b @ 4096..=0x0100_0000 => u32::try_from(b).map_err(|e| e.to_string()),
        _ => Err(format!("{s} must be between 4K and 16M")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_bytes("1M"), Ok(1 << 20));
        assert_eq!(parse_bytes("128k"), Ok(128 << 10));
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert_eq!(parse_bytes("1MiB"), Ok(1 << 20));
        assert!(parse_bytes("1").is_err() && parse_bytes("x").is_err() && parse_bytes("1G").is_err());
        assert!(parse_seconds("-1").is_err() && parse_seconds("nan").is_err());
        let a = Args::try_parse_from(["benchfs-fuse", "/mnt", "--attr-timeout", "0.5"]).unwrap();
        assert_eq!(
            (a.attr_ttl(), a.max_write, a.threads),
            (Duration::from_millis(500), default_max_write(), default_threads())
        );
        assert!((1 << 20..=4 << 20).contains(&default_max_write()));
        assert_eq!(a.read_ahead, 4 << 20);
        assert!((4..=16).contains(&default_threads()));
        assert_eq!(a.runtime_threads, 0);
        assert_eq!(a.root_mode, 0o755);
        assert_eq!(parse_mode("1777"), Ok(0o1777));
        assert!(parse_mode("8").is_err() && parse_mode("17777").is_err() && parse_mode("").is_err());
    }
}
