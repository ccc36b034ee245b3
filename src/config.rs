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
        })
    }

    /// Parses "h:p,h:p" or "registry:DIR".
    pub fn from_spec(spec: &str) -> Result<Config> {
        match spec.strip_prefix("registry:") {
            Some(dir) => Config::from_registry(&PathBuf::from(dir)),
            None => Config::new(spec.split(',').map(String::from).collect()),
        }
    }

    /// The servers listed in a registry directory, and its secret if it has one.
    pub fn from_registry(dir: &std::path::Path) -> Result<Config> {
        let mut cfg = Config::new(crate::registry::read(dir)?)?;
        let secret = dir.join(crate::auth::REGISTRY_SECRET);
        if secret.exists() {
            cfg.secret = Some(Secret::load(&secret)?);
        }
        Ok(cfg)
    }

    /// `BENCHFS_SERVERS`, else `BENCHFS_REGISTRY`; plus the tuning of [`Config::apply_env_tuning`].
    pub fn from_env() -> Result<Config> {
        let mut cfg = if let Some(s) = std::env::var("BENCHFS_SERVERS").ok().filter(|s| !s.is_empty()) {
            Config::from_spec(&s)?
        } else if let Some(d) = std::env::var_os("BENCHFS_REGISTRY").filter(|s| !s.is_empty()) {
            Config::from_registry(&PathBuf::from(d))?
        } else {
            return Err(Error::Config(
                "no cluster given: set BENCHFS_SERVERS=host:port,... or BENCHFS_REGISTRY=DIR".into(),
            ));
        };
        cfg.apply_env_tuning()?;
        Ok(cfg)
    }

    /// Applies `BENCHFS_TIMEOUT`, `BENCHFS_CHUNK_SIZE` and `BENCHFS_SECRET_FILE` when set.
    pub fn apply_env_tuning(&mut self) -> Result<()> {
        if let Some(p) = std::env::var_os("BENCHFS_SECRET_FILE").filter(|p| !p.is_empty()) {
            self.secret = Some(Secret::load(std::path::Path::new(&p))?);
        }
        if let Ok(t) = std::env::var("BENCHFS_TIMEOUT") {
            let secs: f64 = t.parse().map_err(|_| Error::Config(format!("BENCHFS_TIMEOUT={t:?} is not a number")))?;
            self.timeout =
                Duration::try_from_secs_f64(secs).map_err(|e| Error::Config(format!("BENCHFS_TIMEOUT: {e}")))?;
        }
        if let Ok(c) = std::env::var("BENCHFS_CHUNK_SIZE") {
            self.chunk_size = parse_chunk_size(&c)?;
        }
        Ok(())
    }
}

/// Parses a chunk size in bytes, with an optional K/M suffix (powers of two).
pub fn parse_chunk_size(s: &str) -> Result<u32> {
    let (num, mul) = match s.trim().to_ascii_uppercase() {
        t if t.ends_with('K') => (t.trim_end_matches('K').to_string(), 1u64 << 10),
        t if t.ends_with('M') => (t.trim_end_matches('M').to_string(), 1u64 << 20),
        t => (t, 1),
    };
    let n: u64 = num.parse().map_err(|_| Error::Config(format!("chunk size {s:?} is not a number")))?;
    // Checked: a wrapped product could land inside the accepted range.
    let bytes = n.checked_mul(mul).ok_or_else(|| Error::Config(format!("chunk size {s} too large")))?;
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
