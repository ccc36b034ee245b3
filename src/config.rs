//! How a client finds its cluster and how long it waits for it.

use std::path::PathBuf;
use std::time::Duration;

use crate::auth::Secret;
use crate::error::{Error, Result};

/// Default chunk size. 1 MiB matches IOR's usual transfer size and FUSE's
/// largest request, so one application write maps to one chunk RPC.
pub const DEFAULT_CHUNK_SIZE: u32 = 1 << 20;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Config {
    /// Server addresses ("host:port"); the ring is built over them in this order
    /// after sorting, so every client agrees.
    pub servers: Vec<String>,
    /// Deadline for every request (and for connecting).
    pub timeout: Duration,
    /// Chunk size given to files this client creates.
    pub chunk_size: u32,
    /// Requests in flight per server connection before callers wait (flow control).
    pub max_in_flight: usize,
    /// Check that the parent directory exists on create/mkdir. The FUSE mount turns
    /// this off: the kernel has already looked the parent up.
    pub check_parent: bool,
    /// How long a directory seen to exist is trusted by that check (0: always ask).
    pub dir_cache_ttl: Duration,
    /// The cluster secret, when the servers require authentication.
    pub secret: Option<Secret>,
    /// Whether a server that has no ring yet is bound to this client's list (the first
    /// client to use the cluster forms its ring). False for read-only commands such as
    /// `benchfs status`, which must never fix the membership.
    pub form_ring: bool,
}

impl Config {
    pub fn new(mut servers: Vec<String>) -> Result<Config> {
        servers.iter_mut().for_each(|s| *s = s.trim().to_string());
        servers.retain(|s| !s.is_empty());
        if servers.is_empty() {
            return Err(Error::Config("the server list is empty".into()));
        }
        // Rejected here, so a malformed spec (benchfs_init("garbage")) is EINVAL at once
        // instead of EIO after a failed connection attempt.
        for s in &servers {
            check_address(s)?;
        }
        servers.sort();
        servers.dedup();
        Ok(Config {
            servers,
            timeout: DEFAULT_TIMEOUT,
            chunk_size: DEFAULT_CHUNK_SIZE,
            max_in_flight: 64,
            check_parent: true,
            dir_cache_ttl: Duration::from_secs(1),
            secret: None,
            form_ring: true,
        })
    }

    /// Parses "h:p,h:p" or "registry:DIR".
    pub fn from_spec(spec: &str) -> Result<Config> {
        Config::from_spec_within(spec, DEFAULT_TIMEOUT)
    }

    fn from_spec_within(spec: &str, wait: Duration) -> Result<Config> {
        match spec.strip_prefix("registry:") {
            Some(dir) => Config::from_registry_within(&PathBuf::from(dir), wait),
            None => Config::new(spec.split(',').map(String::from).collect()),
        }
    }

    /// The servers listed in a registry directory, and its secret if it has one. When
    /// the servers were told the cluster's size (`benchfsd --expect N`), it waits (up
    /// to the default timeout) until N registered; see [`crate::registry::read_all_expected`].
    pub fn from_registry(dir: &std::path::Path) -> Result<Config> {
        Config::from_registry_within(dir, DEFAULT_TIMEOUT)
    }

    fn from_registry_within(dir: &std::path::Path, wait: Duration) -> Result<Config> {
        let mut cfg = Config::new(crate::registry::read_all_expected(dir, wait)?)?;
        let secret = dir.join(crate::auth::REGISTRY_SECRET);
        if secret.exists() {
            cfg.secret = Some(Secret::load(&secret)?);
        }
        Ok(cfg)
    }

    /// [`Config::resolve`] with no command line: the environment alone.
    pub fn from_env() -> Result<Config> {
        Config::resolve(&ClusterArgs::default())
    }

    /// The configuration of a client, assembled the same way by every front end (the
    /// `benchfs` CLI, the FUSE mount, the C API's `benchfs_init`, whose spec string counts
    /// as the `--servers` flag). One precedence, most specific first:
    ///
    /// - the cluster: `--servers`, then `--registry`, then `BENCHFS_SERVERS`, then
    ///   `BENCHFS_REGISTRY` (command-line flags beat the environment, and a server list
    ///   beats a registry at the same level; only the first one given is read);
    /// - the secret: `--secret-file`, then `BENCHFS_SECRET_FILE`, then the registry's
    ///   `secret` file when the cluster came from a registry;
    /// - the timeout: `--timeout`, then `BENCHFS_TIMEOUT` (seconds), then 10 s;
    /// - the chunk size: `BENCHFS_CHUNK_SIZE` ([`parse_size`]), then 1 MiB.
    ///
    /// An empty (or blank) value, flag or variable, counts as not given.
    ///
    /// # Errors
    /// [`Error::Config`] when nothing names a cluster or a value is malformed; a registry
    /// or secret file that cannot be read.
    pub fn resolve(args: &ClusterArgs) -> Result<Config> {
        Config::resolve_if_given(args)?.ok_or_else(|| {
            Error::Config(
                "no cluster given: use --servers/--registry or set BENCHFS_SERVERS=host:port,... or \
                 BENCHFS_REGISTRY=DIR"
                    .into(),
            )
        })
    }

    /// [`Config::resolve`], or `None` when neither the flags nor the environment name a
    /// cluster (the FUSE mount then starts its embedded server).
    pub fn resolve_if_given(args: &ClusterArgs) -> Result<Option<Config>> {
        let given = |s: &Option<String>| s.clone().filter(|s| !s.trim().is_empty());
        let given_path = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
        // First: it is also how long a registry is waited for.
        let timeout = match (args.timeout, env("BENCHFS_TIMEOUT")) {
            (Some(t), _) => t,
            (None, Some(t)) => parse_seconds("BENCHFS_TIMEOUT", &t)?,
            (None, None) => DEFAULT_TIMEOUT,
        };
        let mut cfg = if let Some(spec) = given(&args.servers) {
            Config::from_spec_within(&spec, timeout)?
        } else if let Some(dir) = given_path(&args.registry) {
            Config::from_registry_within(&dir, timeout)?
        } else if let Some(spec) = given(&env("BENCHFS_SERVERS")) {
            Config::from_spec_within(&spec, timeout)?
        } else if let Some(dir) = given_path(&env("BENCHFS_REGISTRY").map(PathBuf::from)) {
            Config::from_registry_within(&dir, timeout)?
        } else {
            return Ok(None);
        };
        if let Some(f) =
            given_path(&args.secret_file).or_else(|| given_path(&env("BENCHFS_SECRET_FILE").map(PathBuf::from)))
        {
            cfg.secret = Some(Secret::load(&f)?);
        }
        cfg.timeout = timeout;
        if let Some(c) = env("BENCHFS_CHUNK_SIZE") {
            cfg.chunk_size = parse_chunk_size(&c)?;
        }
        Ok(Some(cfg))
    }
}

/// Where the cluster is and how long to wait for it, as a front end's command line says
/// (each `None` when not given); see [`Config::resolve`].
#[derive(Debug, Clone, Default)]
pub struct ClusterArgs {
    /// `--servers`: "host:port,..." or "registry:DIR" (the C API's spec string).
    pub servers: Option<String>,
    /// `--registry DIR`.
    pub registry: Option<PathBuf>,
    /// `--secret-file FILE`.
    pub secret_file: Option<PathBuf>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
}

/// A set, non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A timeout in seconds, as given by `--timeout` or `BENCHFS_TIMEOUT` (`name`, for the
/// message).
///
/// # Errors
/// [`Error::Config`] naming the value when it is not a finite, non-negative number.
pub fn parse_seconds(name: &str, s: &str) -> Result<Duration> {
    let bad = |why: &str| Error::Config(format!("{name}={s:?}: {why}"));
    let secs: f64 = s.trim().parse().map_err(|_| bad("not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| bad(&e.to_string()))
}

/// Parses a byte count: digits, optionally followed by a binary unit, case-insensitive:
/// `K`/`KiB`, `M`/`MiB`, `G`/`GiB`, `T`/`TiB` (powers of 1024; `4096`, `64K`, `1MiB`).
/// Every size given to a BenchFS program is read by this one function.
pub fn parse_size(s: &str) -> Result<u64> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        "t" | "tib" => 40,
        _ => return Err(Error::Config(format!("size {s:?}: unknown unit (use K, M, G, T or KiB, MiB, GiB, TiB)"))),
    };
    let n: u64 = num.parse().map_err(|_| Error::Config(format!("size {s:?} is not a number of bytes")))?;
    // Checked: a wrapped product could land inside a caller's accepted range.
    n.checked_mul(1 << shift).ok_or_else(|| Error::Config(format!("size {s} is too large")))
}

/// Parses a chunk size ([`parse_size`]), between 4 KiB and the largest frame's data.
pub fn parse_chunk_size(s: &str) -> Result<u32> {
    let bytes = parse_size(s)?;
    if !(4096..=u64::from(crate::proto::frame::MAX_DATA)).contains(&bytes) {
        return Err(Error::Config(format!("chunk size {s} must be between 4 KiB and 64 MiB")));
    }
    u32::try_from(bytes).map_err(|_| Error::Config(format!("chunk size {s} too large")))
}

/// A server address must be "host:port" with a non-empty host and a numeric port
/// ("[v6addr]:port" included).
fn check_address(addr: &str) -> Result<()> {
    let bad = || Error::Config(format!("server address {addr:?} is not host:port (or use registry:DIR)"));
    let (host, port) = addr.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || host.contains(char::is_whitespace) || port.parse::<u16>().is_err() {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_size_overflow_is_an_error_not_a_wrap() {
        assert_eq!(parse_chunk_size("1M").unwrap(), 1 << 20);
        assert_eq!(parse_chunk_size("64k").unwrap(), 64 << 10);
        // 2^44 * 2^20 wraps to 0 in u64; 16 EiB + 1 MiB would wrap to 1 MiB.
        for s in ["17592186044416M", "17592186044417M", "99999999999999999999M", "18014398509481985K"] {
            let e = parse_chunk_size(s).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{s}: {e}");
        }
    }

    #[test]
    fn sizes_in_every_spelling() {
        for (s, n) in [
            ("4096", 4096),
            ("64K", 64 << 10),
            ("64k", 64 << 10),
            ("1M", 1 << 20),
            ("1MiB", 1 << 20),
            ("1mib", 1 << 20),
            (" 2 M ", 2 << 20),
            ("1G", 1 << 30),
            ("3GiB", 3 << 30),
            ("1T", 1 << 40),
            ("0", 0),
        ] {
            assert_eq!(parse_size(s).unwrap(), n, "{s}");
        }
        for s in ["", "K", "x", "-1", "1.5M", "1KB", "1MB", "1P", "1 K iB", "M1", "18446744073709551616"] {
            let e = parse_size(s).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{s}: {e}");
        }
        // Overflow is an error, never a wrap.
        assert!(parse_size("16777216T").is_err());
        assert_eq!(parse_size("16777215T").unwrap(), 16_777_215 << 40);
        assert!(parse_size("17179869184G").is_err());
    }

    #[test]
    fn resolve_reads_flags_first() {
        // Unit tests share the environment: only flags that decide before it is read.
        let args = ClusterArgs {
            servers: Some("h:1".into()),
            registry: Some("/nonexistent/benchfs-registry".into()),
            secret_file: None,
            timeout: Some(Duration::from_secs(3)),
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!((c.servers, c.timeout), (vec!["h:1".to_string()], Duration::from_secs(3)));
        // A blank flag counts as not given: the registry flag is read next (and is missing).
        let args = ClusterArgs { servers: Some(" ".into()), ..args };
        assert!(Config::resolve(&args).is_err());
        assert_eq!(parse_seconds("--timeout", " 2.5 ").unwrap(), Duration::from_millis(2500));
        for bad in ["x", "-1", "inf", ""] {
            assert!(matches!(parse_seconds("--timeout", bad), Err(Error::Config(m)) if m.starts_with("--timeout=")));
        }
    }

    #[test]
    fn server_addresses_must_be_host_and_numeric_port() {
        let c = Config::from_spec("b.example:7070, 127.0.0.1:1,[::1]:9").unwrap();
        assert_eq!(c.servers, ["127.0.0.1:1", "[::1]:9", "b.example:7070"]);
        for spec in ["garbage", "host:", ":7070", "host:port", "h:70000", "a:1,junk", "h o:1"] {
            let e = Config::from_spec(spec).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{spec}: {e}");
            assert_eq!(e.errno(), libc::EINVAL);
        }
    }
}
