//! Finding the benchfs-fuse mounts (`/proc/self/mountinfo`, file system type
//! `fuse.benchfs`) and learning each one's cluster from the mount itself (the ioctl of
//! [`benchfs::mount_info`]), so that no configuration is needed.

use std::ffi::CString;
use std::future::Future;
use std::sync::{Arc, OnceLock};

use benchfs::caller_driven::CallerDriven;
use benchfs::mount_info::{self, MountCluster};
use benchfs::{Client, Config};

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::attrs::{self, AttrCache};
use crate::real;

/// What benchfs-fuse mounts report: type `fuse.benchfs` (its subtype) or, mounted by
/// root with mount(2), which drops the subtype, type `fuse` with source `benchfs`.
fn is_benchfs(fstype: &str, source: &str) -> bool {
    fstype == "fuse.benchfs" || (fstype == "fuse" && source == "benchfs")
}

/// A cluster served in user space: its client and the runtime the calling threads drive.
pub struct Served {
    client: Client,
    rt: CallerDriven,
    /// Records seen lately, trusted for the mount's attribute timeout.
    pub attrs: AttrCache,
    /// Where the mount is (to tell it what changed).
    root: String,
    /// How long the kernel may cache what it saw of a name (the mount's timeout).
    kernel_ttl: Duration,
    /// Names this process changed lately, and when: the kernel's view of them may be
    /// stale ([`Served::tell_kernel`]).
    changed: Mutex<HashMap<String, Instant>>,
    /// The mount's root, open for [`mount_info::INVAL_IOCTL`] (-1: not yet; -2: the mount
    /// does not take it).
    ctl: Mutex<i32>,
}

/// Changed names kept at most; past this the oldest are told at once.
const MAX_CHANGED: usize = 1 << 16;

impl Served {
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// This process changed `path` (its record, or the name): the cached record goes, and
    /// the kernel is told before this process next goes through the kernel mount.
    pub fn touched(&self, path: &str) {
        self.attrs.forget(path);
        self.note(path);
    }

    /// As [`Served::touched`], for `path` and everything below it.
    pub fn touched_tree(&self, path: &str) {
        self.attrs.forget_tree(path);
        self.note(path);
    }

    /// A changed record, as the servers returned it.
    pub fn changed_to(&self, path: &str, a: &benchfs::Attr) {
        self.attrs.put(path, a);
        self.note(path);
    }

    /// A new name, with the record the servers returned.
    pub fn created(&self, path: &str, a: &benchfs::Attr) {
        self.attrs.put(path, a);
        self.note(path);
    }

    fn note(&self, path: &str) {
        let full = {
            let mut m = self.changed.lock().unwrap_or_else(PoisonError::into_inner);
            m.insert(path.to_string(), Instant::now());
            m.len() >= MAX_CHANGED
        };
        if full {
            self.tell_kernel();
        }
    }

    /// Tells the mount which names this process changed within the kernel's cache time,
    /// so that the kernel forgets what it cached of them (a name it once found missing,
    /// say) before this process, or one it starts, goes through the kernel mount: the
    /// same process sees its own changes there at once. Called before each call that goes
    /// to the kernel mount, and at fork, exec and exit. A mount that does not take the
    /// request (an older one) is not asked again.
    pub fn tell_kernel(&self) {
        let paths: Vec<String> = {
            let mut m = self.changed.lock().unwrap_or_else(PoisonError::into_inner);
            if m.is_empty() {
                return;
            }
            m.drain().filter(|(_, t)| t.elapsed() < self.kernel_ttl).map(|(p, _)| p).collect()
        };
        if paths.is_empty() {
            return;
        }
        let mut ctl = self.ctl.lock().unwrap_or_else(PoisonError::into_inner);
        if *ctl == -1 {
            *ctl = open_root(&self.root).unwrap_or(-2);
        }
        if *ctl < 0 {
            return;
        }
        for mut chunk in mount_info::encode_paths(paths.iter().map(String::as_str)) {
            // SAFETY: `chunk` has the IOCTL_SIZE bytes the ioctl number says it reads.
            let r = unsafe { libc::ioctl(*ctl, libc::c_ulong::from(mount_info::INVAL_IOCTL), chunk.as_mut_ptr()) };
            if r < 0 {
                // SAFETY: our descriptor.
                unsafe { real::close(*ctl) };
                *ctl = -2;
                return;
            }
        }
    }

    /// `path`'s record (its own, a link's not followed), from the cache while it is fresh.
    pub fn stat(&self, path: &str) -> benchfs::Result<benchfs::Attr> {
        if let Some(a) = self.attrs.get(path) {
            return Ok(a);
        }
        let a = self.run(self.client.stat(path))?;
        self.attrs.put(path, &a);
        Ok(a)
    }

    /// Runs a client call to completion on the calling thread.
    pub fn run<T>(&self, f: impl Future<Output = benchfs::Result<T>>) -> benchfs::Result<T> {
        self.rt.block_on(f)
    }
}

/// A mount point at or below a BenchFS mount.
pub struct Mount {
    /// Where it is mounted, canonical, without a trailing slash ("" for "/").
    pub root: String,
    /// The mount's device number (what the kernel's stat reports as st_dev).
    pub dev: u64,
    /// Whether it is a BenchFS mount (else a mount inside one: its paths are not ours).
    pub benchfs: bool,
    /// Its client, made on first use: `None` when its paths go to the kernel (a BenchFS
    /// mount the interposer cannot reach).
    served: OnceLock<Option<Arc<Served>>>,
}

impl Mount {
    /// Its client if one was made (nothing is made here).
    pub fn served_if_made(&self) -> Option<&Option<Arc<Served>>> {
        self.served.get()
    }

    pub fn served(&self) -> Option<&Arc<Served>> {
        self.served.get_or_init(|| if self.benchfs { connect(&self.root) } else { None }).as_ref()
    }
}

/// The mount points of this process's namespace that are BenchFS mounts, or lie inside one
/// (those stay with the kernel), the most recent last.
pub fn discover() -> Vec<Mount> {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else { return Vec::new() };
    let entries: Vec<(String, u64, bool)> = table.lines().filter_map(parse_line).collect();
    let benchfs_roots: Vec<&str> = entries.iter().filter(|e| e.2).map(|e| e.0.as_str()).collect();
    let mut mounts: Vec<Mount> = Vec::new();
    for (root, dev, is_benchfs) in &entries {
        if !benchfs_roots.iter().any(|b| under(root, b)) {
            continue;
        }
        // A later mount on the same point hides the earlier one.
        mounts.retain(|m| m.root != *root);
        mounts.push(Mount { root: root.clone(), dev: *dev, benchfs: *is_benchfs, served: OnceLock::new() });
    }
    mounts
}

/// True when `path` is `root` or below it.
pub fn under(path: &str, root: &str) -> bool {
    path.strip_prefix(root).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// (mount point, device, is BenchFS) of one mountinfo line.
fn parse_line(line: &str) -> Option<(String, u64, bool)> {
    let mut f = line.split(' ');
    let (_id, _parent, devno, _root, point) = (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
    // Optional fields end at "-"; the file system type follows.
    let mut rest = f.skip_while(|x| *x != "-").skip(1);
    let (fstype, source) = (rest.next()?, rest.next().unwrap_or(""));
    let (major, minor) = devno.split_once(':')?;
    let dev = libc::makedev(major.parse().ok()?, minor.parse().ok()?);
    let point = String::from_utf8(unescape(point)).ok()?;
    let point = if point == "/" { String::new() } else { point };
    Some((point, dev, is_benchfs(fstype, source)))
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let Some(d) = octal {
            out.push(d.iter().fold(0u8, |acc, c| acc.wrapping_mul(8).wrapping_add(c - b'0')));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// A client of the cluster behind the mount at `root`, or `None` (with one line on stderr)
/// when its paths must go to the kernel.
fn connect(root: &str) -> Option<Arc<Served>> {
    // Permissions are checked here as the kernel checks them for the mount ([`crate::perm`]).
    // A mount the caller cannot even enter (another user's, without allow_other) is the
    // kernel's to refuse.
    let answer = ask(root)?;
    let (cfg, attr_timeout) = match answer {
        Ok(MountCluster::Cluster(cfg, t)) => (cfg, t),
        Ok(MountCluster::Embedded) => {
            crate::say(&format!("{root} runs an embedded server; its calls go through the kernel mount"));
            return None;
        }
        Err(why) => match Config::from_env() {
            Ok(cfg) => (cfg, None),
            Err(_) => {
                crate::say(&format!("{root}: {why}; its calls go through the kernel mount"));
                return None;
            }
        },
    };
    let cfg = tuned(cfg);
    match CallerDriven::new() {
        Ok(rt) => {
            let attrs = AttrCache::new(attrs::timeout(attr_timeout));
            Some(Arc::new(Served {
                client: Client::new_lazy(cfg),
                rt,
                attrs,
                root: root.to_string(),
                kernel_ttl: attr_timeout.unwrap_or(Duration::from_secs(1)),
                changed: Mutex::new(HashMap::new()),
                ctl: Mutex::new(-1),
            }))
        }
        Err(e) => {
            crate::say(&format!("{root}: cannot start the I/O runtime ({e}); its calls go through the kernel mount"));
            None
        }
    }
}

/// The environment's tuning (timeout, chunk size), as the C API takes it.
fn tuned(mut cfg: Config) -> Config {
    if let Some(t) = std::env::var("BENCHFS_TIMEOUT").ok().and_then(|t| benchfs::config::parse_seconds("", &t).ok()) {
        cfg.timeout = t;
    }
    if let Some(c) = std::env::var("BENCHFS_CHUNK_SIZE").ok().and_then(|c| benchfs::config::parse_chunk_size(&c).ok()) {
        cfg.chunk_size = c;
    }
    cfg
}

/// The mount's root, open (close-on-exec, above the program's numbers) for ioctls.
fn open_root(root: &str) -> Option<i32> {
    let path = CString::new(if root.is_empty() { "/" } else { root }).ok()?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { real::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    let min = libc::c_long::from(crate::fd_floor::floor());
    // SAFETY: plain descriptor calls on our descriptor.
    unsafe {
        let high = real::fcntl(fd, libc::F_DUPFD_CLOEXEC, min);
        if high >= 0 {
            real::close(fd);
            return Some(high);
        }
    }
    Some(fd)
}

/// The mount's own description of its cluster; `None` when the caller cannot open the
/// mount's root at all (its calls then go to the kernel, which refuses them).
fn ask(root: &str) -> Option<Result<MountCluster, String>> {
    let path = CString::new(if root.is_empty() { "/" } else { root }).ok()?;
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { real::open(path.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    Some(describe(fd))
}

/// The ioctl's answer on the mount's root `fd` (closed here).
fn describe(fd: i32) -> Result<MountCluster, String> {
    let mut buf = vec![0u8; mount_info::IOCTL_SIZE];
    // SAFETY: `buf` has the IOCTL_SIZE bytes the ioctl number says it writes.
    let n = unsafe { libc::ioctl(fd, libc::c_ulong::from(mount_info::IOCTL), buf.as_mut_ptr()) };
    let err = std::io::Error::last_os_error();
    // SAFETY: our descriptor.
    unsafe { real::close(fd) };
    let n = usize::try_from(n).map_err(|_| format!("the mount does not describe its cluster ({err})"))?;
    buf.truncate(n.min(buf.len()));
    mount_info::decode(&buf).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines() {
        let l = "36 35 0:52 / /tmp/a\\040b rw,nosuid - fuse.benchfs benchfs rw,user_id=0";
        assert_eq!(parse_line(l), Some(("/tmp/a b".into(), libc::makedev(0, 52), true)));
        let l = "22 1 8:1 / / rw shared:1 master:2 - ext4 /dev/sda1 rw";
        assert_eq!(parse_line(l), Some((String::new(), libc::makedev(8, 1), false)));
        let l = "45 27 0:40 / /tmp/m rw,nosuid - fuse benchfs rw,user_id=0";
        assert_eq!(parse_line(l), Some(("/tmp/m".into(), libc::makedev(0, 40), true)));
        assert!(under("/m/x", "/m") && under("/m", "/m") && !under("/mx", "/m") && under("/a", ""));
    }
}
