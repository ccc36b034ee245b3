//! What a benchfs-fuse mount tells the interposer (`libbenchfs_preload.so`) about itself:
//! the cluster it serves, as the answer to the ioctl [`IOCTL`] on the mount's root
//! directory. The mount answers it to its owner (and root) only, as it carries the
//! cluster's secret: with `--allow-other` nobody else learns it.
//!
//! An ioctl, not an extended attribute: a FUSE daemon that answers any getxattr makes the
//! kernel ask it for `security.capability` before every write, which the mount spares
//! itself by answering none (ENOSYS, which the kernel remembers for the connection).
//!
//! The value is lines of `key=value`: `servers=h:p,h:p`, when the cluster has one
//! `secret=<hex>`, and `attr_timeout=<seconds>` (the mount's `--attr-timeout`, which the
//! interposer's attribute cache keeps to); or the single line `embedded` for a mount that
//! runs its own in-process server (which has no socket an interposer could reach). Keys
//! a reader does not know are skipped, so a later mount may add some.

use std::time::Duration;

use crate::auth::Secret;
use crate::config::Config;
use crate::error::{Error, Result};

/// `_IOR('B', 1, [u8; IOCTL_SIZE])`: the kernel copies out up to [`IOCTL_SIZE`] bytes of
/// the description; the ioctl returns its length.
pub const IOCTL: u32 = (2 << 30) | ((IOCTL_SIZE as u32) << 16) | ((b'B' as u32) << 8) | 1;
/// The largest description (the ioctl number's size field).
pub const IOCTL_SIZE: usize = 4096;

/// `_IOW('B', 2, [u8; IOCTL_SIZE])`: the interposer tells the mount which names it changed
/// (created, removed, renamed, changed attributes of), so that the mount makes the kernel
/// forget what it cached of them (FUSE_NOTIFY_INVAL_ENTRY) before this process, or one it
/// starts, goes through the kernel mount: a name the kernel once found missing would
/// otherwise stay missing to it for the attribute timeout. The payload is [`IOCTL_SIZE`]
/// bytes: paths inside the mount ("/a/b"), one per line, then NULs ([`encode_paths`]).
/// Answered to every caller that can open the mount's root; answers 0 once the kernel
/// has been told (or after a second, at most).
pub const INVAL_IOCTL: u32 = (1 << 30) | ((IOCTL_SIZE as u32) << 16) | ((b'B' as u32) << 8) | 2;

/// [`INVAL_IOCTL`] payloads for `paths`, each [`IOCTL_SIZE`] bytes (a path longer than
/// that is left out: the kernel's cache of it expires by itself).
pub fn encode_paths<'a>(paths: impl IntoIterator<Item = &'a str>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut cur: Vec<u8> = Vec::with_capacity(IOCTL_SIZE);
    for p in paths {
        if p.len() + 1 > IOCTL_SIZE || p.contains('\n') {
            continue;
        }
        if cur.len() + p.len() + 1 > IOCTL_SIZE {
            cur.resize(IOCTL_SIZE, 0);
            out.push(std::mem::replace(&mut cur, Vec::with_capacity(IOCTL_SIZE)));
        }
        cur.extend_from_slice(p.as_bytes());
        cur.push(b'\n');
    }
    if !cur.is_empty() {
        cur.resize(IOCTL_SIZE, 0);
        out.push(cur);
    }
    out
}

/// The paths of an [`INVAL_IOCTL`] payload (lines that are not UTF-8 are skipped).
pub fn decode_paths(v: &[u8]) -> Vec<&str> {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    v[..end].split(|&b| b == b'\n').filter(|l| !l.is_empty()).filter_map(|l| std::str::from_utf8(l).ok()).collect()
}

/// What [`decode`] found.
#[derive(Debug)]
pub enum MountCluster {
    /// A cluster the interposer can reach itself, and the mount's attribute timeout
    /// (`None` from a mount that does not say).
    Cluster(Config, Option<Duration>),
    /// The mount's own in-process server: only the mount reaches it.
    Embedded,
}

/// The description of a mount of `cfg`'s cluster, or of its embedded server (`None`),
/// whose kernel caches attributes for `attr_timeout`.
pub fn encode(cfg: Option<&Config>, attr_timeout: Duration) -> Vec<u8> {
    let Some(cfg) = cfg else { return b"embedded\n".to_vec() };
    let mut s = format!("servers={}\nattr_timeout={}\n", cfg.servers.join(","), attr_timeout.as_secs_f64());
    if let Some(secret) = &cfg.secret {
        s.push_str("secret=");
        s.extend(secret.as_bytes().iter().map(|b| format!("{b:02x}")));
        s.push('\n');
    }
    s.into_bytes()
}

/// Parses a description made by [`encode`].
///
/// # Errors
/// [`Error::Config`] naming what is malformed.
pub fn decode(v: &[u8]) -> Result<MountCluster> {
    let bad = |why: &str| Error::Config(format!("mount description: {why}"));
    let text = std::str::from_utf8(v).map_err(|_| bad("not UTF-8"))?;
    if text.trim() == "embedded" {
        return Ok(MountCluster::Embedded);
    }
    let (mut servers, mut secret, mut attr_timeout) = (None, None, None);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match line.split_once('=') {
            Some(("servers", s)) => servers = Some(s.to_string()),
            Some(("attr_timeout", t)) => {
                let t = t.trim().parse::<f64>().ok().and_then(|t| Duration::try_from_secs_f64(t).ok());
                attr_timeout = Some(t.ok_or_else(|| bad("bad attr_timeout"))?);
            }
            Some(("secret", hex)) => secret = Some(Secret::from_bytes(&from_hex(hex).ok_or_else(|| bad("bad hex"))?)?),
            // Keys a later mount may add are skipped.
            Some(_) => {}
            None => return Err(bad(&format!("line {line:?} is not key=value"))),
        }
    }
    let mut cfg = Config::new(servers.ok_or_else(|| bad("no servers"))?.split(',').map(String::from).collect())?;
    cfg.secret = secret;
    Ok(MountCluster::Cluster(cfg, attr_timeout))
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16);
    s.chunks(2).map(|p| u8::try_from(digit(p[0])? * 16 + digit(p[1])?).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip() {
        let long = format!("/{}", "x".repeat(4085));
        let paths = ["/a", "/b/c", long.as_str(), "/d"];
        let chunks = encode_paths(paths);
        assert_eq!(chunks.len(), 2);
        assert!(chunks.iter().all(|c| c.len() == IOCTL_SIZE));
        let back: Vec<&str> = chunks.iter().flat_map(|c| decode_paths(c)).collect();
        assert_eq!(back, paths);
        assert!(encode_paths([]).is_empty());
    }

    #[test]
    fn round_trips() {
        let mut cfg = Config::new(vec!["b:2".into(), "a:1".into()]).unwrap();
        cfg.secret = Some(Secret::from_bytes(b"0123456789abcdef\n\x00").unwrap());
        let t = Duration::from_millis(2500);
        let MountCluster::Cluster(back, at) = decode(&encode(Some(&cfg), t)).unwrap() else { panic!("not a cluster") };
        assert_eq!(at, Some(t));
        assert_eq!(back.servers, ["a:1", "b:2"]);
        assert_eq!(back.secret.unwrap().as_bytes(), b"0123456789abcdef\n\x00");
        assert!(matches!(decode(&encode(None, t)).unwrap(), MountCluster::Embedded));
        let plain = Config::new(vec!["a:1".into()]).unwrap();
        let MountCluster::Cluster(back, _) = decode(&encode(Some(&plain), Duration::ZERO)).unwrap() else {
            panic!("not a cluster")
        };
        assert!(back.secret.is_none());
        // A description without the timeout (an older mount) still parses.
        let MountCluster::Cluster(_, at) = decode(b"servers=a:1\n").unwrap() else { panic!("not a cluster") };
        assert_eq!(at, None);
        for bad in [&b"secret=zz\nservers=a:1"[..], b"servers=", b"servers=a:1\nattr_timeout=x", b"nonsense", b"\xff"] {
            assert!(decode(bad).is_err(), "{bad:?}");
        }
    }
}
