//! The operations of the POSIX differential test (benchfs-fuse's
//! `tests/posix_differential.rs`): the seeded random sequences, running one on a
//! directory tree, and what is compared after each. Shared with the replay program
//! `benchfs-fuse/examples/posix_replay.rs`, which runs a sequence in a process of its own
//! (so that it can run under the interposer, LD_PRELOAD).

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::Rng;

use crate::pattern;

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

/// Parent directories (created first) and names. Files mostly get file names and
/// directories directory names, but one pick in ten crosses over, so files and directories
/// collide and every EEXIST / ENOTDIR / EISDIR / ENOTEMPTY / EINVAL path is exercised.
pub const DIRS: &[&str] = &["", "d1", "d2", "d1/d3"];
pub const FILE_NAMES: &[&str] = &["f1", "f2", "f3", "f4"];
pub const DIR_NAMES: &[&str] = &["d1", "d2", "d3"];
pub const OPS: usize = 400;
/// Seeds of one CI run, per test. Measured (debug build, a loaded 2-core machine, 400
/// operations a seed): 0.13 s a seed embedded, 0.22 s on a 3-server cluster, 1.5 s on
/// two mounts (no attribute cache): about 2.5 minutes for the three together.
/// `BENCHFS_DIFF_SEEDS=N` runs N in each instead.
pub const SEEDS: u64 = 200;
pub const TWO_MOUNT_SEEDS: u64 = 40;

#[derive(Debug, Clone)]
pub enum Op {
    CreateWrite {
        path: String,
        off: u64,
        len: usize,
    },
    CreateExcl {
        path: String,
    },
    Write {
        path: String,
        off: u64,
        len: usize,
    },
    Append {
        path: String,
        len: usize,
    },
    OpenTrunc {
        path: String,
        len: usize,
    },
    Read {
        path: String,
        off: u64,
        len: usize,
    },
    Truncate {
        path: String,
        size: u64,
    },
    Rename {
        from: String,
        to: String,
    },
    RenameNoReplace {
        from: String,
        to: String,
    },
    Unlink {
        path: String,
    },
    Mkdir {
        path: String,
    },
    Rmdir {
        path: String,
    },
    Readdir {
        path: String,
    },
    Stat {
        path: String,
    },
    Chmod {
        path: String,
        mode: u32,
    },
    /// `target` may start with `{ROOT}`: the root of the tree the op runs in (absolute links).
    Symlink {
        target: String,
        path: String,
    },
    Readlink {
        path: String,
    },
    Lstat {
        path: String,
    },
    Mkfifo {
        path: String,
    },
    /// mknod(2) of a socket, character or block device (`mode` with type bits).
    Mknod {
        path: String,
        mode: u32,
        rdev: u64,
    },
    /// link(2): `to` becomes a further name of `from`.
    Link {
        from: String,
        to: String,
    },
    /// Opens `path`, unlinks it, then writes `len` bytes, reads them back and fstats
    /// through the descriptor before closing it (all on one mount).
    UnlinkWhileOpen {
        path: String,
        len: usize,
    },
}

/// Link targets: relative (same directory, up, into a directory), absolute into the tree,
/// dangling, and names that make loops once links are made at them.
pub const TARGETS: &[&str] = &["f1", "../f2", "d1", "d1/f3", "{ROOT}/f1", "{ROOT}/d2", "nowhere", "f4", "d2/../f1"];

pub fn random_path(rng: &mut StdRng, dir_like: bool) -> String {
    let parent = DIRS[rng.random_range(0..DIRS.len())];
    let names = if dir_like != rng.random_bool(0.1) { DIR_NAMES } else { FILE_NAMES };
    let name = names[rng.random_range(0..names.len())];
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

pub fn random_op(rng: &mut StdRng) -> Op {
    let path = random_path(rng, false);
    let off = if rng.random_bool(0.2) { rng.random_range(0..3 << 20) } else { rng.random_range(0..20_000) };
    let len = rng.random_range(0..70_000);
    let dir = |rng: &mut StdRng| random_path(rng, true);
    match rng.random_range(0..100) {
        0..=11 => Op::CreateWrite { path, off, len },
        12..=15 => Op::CreateExcl { path },
        16..=25 => Op::Write { path, off, len },
        26..=29 => Op::Append { path, len },
        30..=32 => Op::OpenTrunc { path, len },
        33..=44 => Op::Read { path, off: off % 40_000, len },
        45..=50 => Op::Truncate { path, size: rng.random_range(0..100_000) },
        51..=54 => Op::Rename { from: path, to: random_path(rng, false) },
        // Directory names are few, so a rename often lands on a name that held another
        // directory (removed or renamed away) earlier in the sequence.
        55..=58 => Op::Rename { from: dir(rng), to: dir(rng) },
        59..=60 => Op::RenameNoReplace { from: path, to: random_path(rng, false) },
        61..=65 => Op::Unlink { path },
        66..=71 => Op::Mkdir { path: dir(rng) },
        72..=74 => Op::Rmdir { path: dir(rng) },
        75..=79 => Op::Readdir { path: DIRS[rng.random_range(0..DIRS.len())].to_string() },
        80..=86 => Op::Stat { path: if rng.random_bool(0.7) { path } else { dir(rng) } },
        87..=88 => Op::Symlink { target: TARGETS[rng.random_range(0..TARGETS.len())].to_string(), path },
        89 => Op::Readlink { path },
        90 => Op::Lstat { path },
        91..=94 => Op::Link { from: path, to: random_path(rng, false) },
        95..=96 => Op::UnlinkWhileOpen { path, len },
        _ => Op::Chmod { path, mode: [0o600, 0o644, 0o755, 0o700][rng.random_range(0..4)] },
    }
}

/// What an operation returned: a printable value or the errno.
pub type Outcome = Result<String, i32>;

pub fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or_else(|| if e.kind() == ErrorKind::UnexpectedEof { -1 } else { -2 })
}

pub fn data(op_index: usize, len: usize) -> Vec<u8> {
    pattern(op_index as u64 * 7919 + 1, len)
}

/// `s` with the tree's root spelled `{ROOT}`, so both trees print alike.
pub fn unroot(root: &Path, s: &str) -> String {
    s.replace(root.to_str().expect("UTF-8 root"), "{ROOT}")
}

pub fn cstr(p: &Path) -> std::io::Result<std::ffi::CString> {
    std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other)
}

pub fn mknod(p: &Path, mode: u32, rdev: u64) -> std::io::Result<()> {
    let c = cstr(p)?;
    // SAFETY: a valid NUL-terminated string that outlives the call.
    if unsafe { libc::mknod(c.as_ptr(), mode, rdev) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn run_op(root: &Path, i: usize, op: &Op) -> Outcome {
    let p = |s: &str| root.join(s);
    let r: std::io::Result<String> = (|| match op {
        Op::CreateWrite { path, off, len } => {
            let f = OpenOptions::new().write(true).create(true).truncate(false).open(p(path))?;
            f.write_all_at(&data(i, *len), *off)?;
            Ok(String::new())
        }
        Op::CreateExcl { path } => OpenOptions::new().write(true).create_new(true).open(p(path)).map(|_| String::new()),
        Op::Write { path, off, len } => {
            OpenOptions::new().write(true).open(p(path))?.write_all_at(&data(i, *len), *off).map(|_| String::new())
        }
        Op::Append { path, len } => {
            use std::io::Write;
            OpenOptions::new().append(true).open(p(path))?.write_all(&data(i, *len)).map(|_| String::new())
        }
        Op::OpenTrunc { path, len } => {
            use std::io::Write;
            OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(p(path))?
                .write_all(&data(i, *len))
                .map(|_| String::new())
        }
        Op::Read { path, off, len } => {
            let f = OpenOptions::new().read(true).open(p(path))?;
            let mut buf = vec![0u8; *len];
            let mut n = 0;
            while n < buf.len() {
                match f.read_at(&mut buf[n..], off + n as u64)? {
                    0 => break,
                    k => n += k,
                }
            }
            buf.truncate(n);
            Ok(format!("{} bytes, crc {:08x}", n, crc(&buf)))
        }
        Op::Truncate { path, size } => {
            OpenOptions::new().write(true).open(p(path))?.set_len(*size).map(|_| String::new())
        }
        Op::Rename { from, to } => fs::rename(p(from), p(to)).map(|_| String::new()),
        Op::RenameNoReplace { from, to } => rename_noreplace(&p(from), &p(to)).map(|_| String::new()),
        Op::Unlink { path } => fs::remove_file(p(path)).map(|_| String::new()),
        Op::Mkdir { path } => fs::create_dir(p(path)).map(|_| String::new()),
        Op::Rmdir { path } => fs::remove_dir(p(path)).map(|_| String::new()),
        Op::Readdir { path } => {
            let mut names = Vec::new();
            for e in fs::read_dir(p(path))? {
                let e = e?;
                names.push(format!(
                    "{}{}",
                    e.file_name().to_string_lossy(),
                    if e.file_type()?.is_dir() { "/" } else { "" }
                ));
            }
            names.sort();
            Ok(names.join(" "))
        }
        Op::Stat { path } => fs::metadata(p(path)).map(|m| describe(&m)),
        Op::Chmod { path, mode } => {
            fs::set_permissions(p(path), fs::Permissions::from_mode(*mode)).map(|_| String::new())
        }
        Op::Symlink { target, path } => {
            let t = target.replace("{ROOT}", root.to_str().expect("UTF-8 root"));
            std::os::unix::fs::symlink(t, p(path)).map(|_| String::new())
        }
        Op::Readlink { path } => fs::read_link(p(path)).map(|t| unroot(root, &t.to_string_lossy())),
        Op::Lstat { path } => fs::symlink_metadata(p(path)).map(|m| describe(&m)),
        Op::Mkfifo { path } => mknod(&p(path), libc::S_IFIFO | 0o640, 0).map(|_| String::new()),
        Op::Mknod { path, mode, rdev } => mknod(&p(path), *mode, *rdev).map(|_| String::new()),
        Op::Link { from, to } => fs::hard_link(p(from), p(to)).map(|_| String::new()),
        Op::UnlinkWhileOpen { path, len } => {
            let f = OpenOptions::new().read(true).write(true).open(p(path))?;
            fs::remove_file(p(path))?;
            f.write_all_at(&data(i, *len), 0)?;
            let mut buf = vec![0u8; *len + 100];
            let n = f.read_at(&mut buf, 0)?;
            let m = f.metadata()?;
            Ok(format!(
                "read {n} crc {:08x}; fstat size {} nlink {}",
                crc(&buf[..n]),
                m.len(),
                std::os::unix::fs::MetadataExt::nlink(&m)
            ))
        }
    })();
    r.map_err(errno)
}

/// The paths (relative to the tree's root) whose metadata `op` may have changed.
pub fn touched(op: &Op) -> Vec<&str> {
    match op {
        Op::Rename { from, to } | Op::RenameNoReplace { from, to } | Op::Link { from, to } => vec![from, to],
        Op::Readdir { .. } | Op::Readlink { .. } => Vec::new(),
        Op::CreateWrite { path, .. }
        | Op::CreateExcl { path }
        | Op::Write { path, .. }
        | Op::Append { path, .. }
        | Op::OpenTrunc { path, .. }
        | Op::Read { path, .. }
        | Op::Truncate { path, .. }
        | Op::Unlink { path }
        | Op::Mkdir { path }
        | Op::Rmdir { path }
        | Op::Stat { path }
        | Op::Chmod { path, .. }
        | Op::Symlink { path, .. }
        | Op::Lstat { path }
        | Op::Mkfifo { path }
        | Op::Mknod { path, .. }
        | Op::UnlinkWhileOpen { path, .. } => vec![path],
    }
}

pub fn describe(m: &fs::Metadata) -> String {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let t = m.file_type();
    let mode = m.permissions().mode() & 0o7777;
    if t.is_dir() {
        // (A directory's link count is not compared: the mount says 2, tmpfs counts
        // subdirectories too; README, "POSIX relaxations".)
        return format!("dir mode {mode:o}");
    }
    let links = m.nlink();
    let what = if t.is_symlink() {
        // A link's mode is always 777; its size is its target's length (the target itself
        // differs between the trees when absolute: not compared).
        format!("symlink mode {mode:o}")
    } else if t.is_fifo() {
        format!("fifo mode {mode:o} size {}", m.len())
    } else if t.is_socket() {
        format!("socket mode {mode:o}")
    } else if t.is_char_device() || t.is_block_device() {
        let kind = if t.is_char_device() { "char" } else { "block" };
        format!("{kind} device {}:{} mode {mode:o}", libc::major(m.rdev()), libc::minor(m.rdev()))
    } else {
        format!("file size {} mode {mode:o}", m.len())
    };
    format!("{what} links {links}")
}

pub fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(std::io::Error::other);
    let (f, t) = (c(from)?, c(to)?);
    // SAFETY: both are valid NUL-terminated strings that outlive the call.
    let rc = unsafe { libc::renameat2(libc::AT_FDCWD, f.as_ptr(), libc::AT_FDCWD, t.as_ptr(), libc::RENAME_NOREPLACE) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn crc(b: &[u8]) -> u32 {
    // FNV-1a: enough to tell contents apart in a message.
    b.iter().fold(0x811c_9dc5u32, |h, &x| (h ^ u32::from(x)).wrapping_mul(0x0100_0193))
}

/// Every path under `root` with its kind, size, mode, link count and content checksum,
/// sorted, then each set of names that share one inode number (hard links).
pub fn tree(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut inodes = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(root.join(&rel)).expect("read_dir") {
            let e = e.expect("entry");
            let r = rel.join(e.file_name());
            let m = fs::symlink_metadata(root.join(&r))
                .unwrap_or_else(|e| panic!("{} is listed, but lstat says {e}", root.join(&r).display()));
            if !m.is_dir() {
                inodes.push((m.ino(), r.display().to_string()));
            }
            if m.is_dir() {
                stack.push(r.clone());
                out.push(format!("{} {}", r.display(), describe(&m)));
            } else if m.is_symlink() {
                let t = fs::read_link(root.join(&r)).expect("readlink");
                out.push(format!("{} {} -> {}", r.display(), describe(&m), unroot(root, &t.to_string_lossy())));
            } else if !m.is_file() {
                out.push(format!("{} {}", r.display(), describe(&m)));
            } else {
                let content = fs::read(root.join(&r)).expect("read");
                out.push(format!("{} {} crc {:08x}", r.display(), describe(&m), crc(&content)));
            }
        }
    }
    out.sort();
    out.extend(same_inode_groups(inodes));
    out
}

/// The metadata of `rel` under `root` as [`describe`] prints it, or the errno of lstat.
pub fn lstat(root: &Path, rel: &str) -> Outcome {
    fs::symlink_metadata(root.join(rel)).map(|m| describe(&m)).map_err(errno)
}
