//! Differential POSIX test: the same seeded random sequence of file and directory
//! operations runs on the mount and on a local directory (tmpfs when /dev/shm exists);
//! every result (value or errno) must match, and so must the final trees.
//!
//! Reproduce a failure with `BENCHFS_DIFF_SEED=<seed>` (printed on mismatch).

#[macro_use]
mod common;

use std::fs::{self, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Parent directories (created first) and names. Files mostly get file names and
/// directories directory names, but one pick in ten crosses over, so files and directories
/// collide and every EEXIST / ENOTDIR / EISDIR / ENOTEMPTY / EINVAL path is exercised.
const DIRS: &[&str] = &["", "d1", "d2", "d1/d3"];
const FILE_NAMES: &[&str] = &["f1", "f2", "f3", "f4"];
const DIR_NAMES: &[&str] = &["d1", "d2", "d3"];
const OPS: usize = 400;

#[derive(Debug, Clone)]
enum Op {
    CreateWrite { path: String, off: u64, len: usize },
    CreateExcl { path: String },
    Write { path: String, off: u64, len: usize },
    Append { path: String, len: usize },
    OpenTrunc { path: String, len: usize },
    Read { path: String, off: u64, len: usize },
    Truncate { path: String, size: u64 },
    Rename { from: String, to: String },
    RenameNoReplace { from: String, to: String },
    Unlink { path: String },
    Mkdir { path: String },
    Rmdir { path: String },
    Readdir { path: String },
    Stat { path: String },
    Chmod { path: String, mode: u32 },
}

fn random_path(rng: &mut StdRng, dir_like: bool) -> String {
    let parent = DIRS[rng.random_range(0..DIRS.len())];
    let names = if dir_like != rng.random_bool(0.1) { DIR_NAMES } else { FILE_NAMES };
    let name = names[rng.random_range(0..names.len())];
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

fn random_op(rng: &mut StdRng) -> Op {
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
        51..=55 => Op::Rename { from: path, to: random_path(rng, false) },
        56..=57 => Op::Rename { from: dir(rng), to: dir(rng) },
        58..=60 => Op::RenameNoReplace { from: path, to: random_path(rng, false) },
        61..=67 => Op::Unlink { path },
        68..=74 => Op::Mkdir { path: dir(rng) },
        75..=77 => Op::Rmdir { path: dir(rng) },
        78..=83 => Op::Readdir { path: DIRS[rng.random_range(0..DIRS.len())].to_string() },
        84..=94 => Op::Stat { path: if rng.random_bool(0.7) { path } else { dir(rng) } },
        _ => Op::Chmod { path, mode: [0o600, 0o644, 0o755, 0o700][rng.random_range(0..4)] },
    }
}

/// What an operation returned: a printable value or the errno.
type Outcome = Result<String, i32>;

fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or_else(|| if e.kind() == ErrorKind::UnexpectedEof { -1 } else { -2 })
}

fn data(op_index: usize, len: usize) -> Vec<u8> {
    common::pattern(op_index as u64 * 7919 + 1, len)
}

fn run_op(root: &Path, i: usize, op: &Op) -> Outcome {
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
    })();
    r.map_err(errno)
}

fn describe(m: &fs::Metadata) -> String {
    if m.is_dir() {
        format!("dir mode {:o}", m.permissions().mode() & 0o7777)
    } else {
        format!("file size {} mode {:o}", m.len(), m.permissions().mode() & 0o7777)
    }
}

fn rename_noreplace(from: &Path, to: &Path) -> std::io::Result<()> {
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

fn crc(b: &[u8]) -> u32 {
    // FNV-1a: enough to tell contents apart in a message.
    b.iter().fold(0x811c_9dc5u32, |h, &x| (h ^ u32::from(x)).wrapping_mul(0x0100_0193))
}

/// Every path under `root` with its kind, size, mode and content checksum, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for e in fs::read_dir(root.join(&rel)).expect("read_dir") {
            let e = e.expect("entry");
            let r = rel.join(e.file_name());
            let m = fs::metadata(root.join(&r)).expect("metadata");
            if m.is_dir() {
                stack.push(r.clone());
                out.push(format!("{} {}", r.display(), describe(&m)));
            } else {
                let content = fs::read(root.join(&r)).expect("read");
                out.push(format!("{} {} crc {:08x}", r.display(), describe(&m), crc(&content)));
            }
        }
    }
    out.sort();
    out
}

fn seeds() -> Vec<u64> {
    match std::env::var("BENCHFS_DIFF_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(s) => vec![s],
        None => vec![1, 2, 3],
    }
}

fn differential(m: &common::TestMount) {
    for seed in seeds() {
        let reference = common::fast_tempdir();
        let mnt = m.path().join(format!("seed{seed}"));
        fs::create_dir(&mnt).expect("mkdir on the mount");
        for d in DIRS.iter().filter(|d| !d.is_empty()) {
            let op = Op::Mkdir { path: d.to_string() };
            assert_eq!(run_op(&mnt, 0, &op), run_op(reference.path(), 0, &op));
        }
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut ok, mut errnos) = (0, std::collections::BTreeMap::<i32, usize>::new());
        for i in 0..OPS {
            let op = random_op(&mut rng);
            let want = run_op(reference.path(), i, &op);
            let got = run_op(&mnt, i, &op);
            assert_eq!(
                got, want,
                "seed {seed}, op #{i} {op:?}: mount (left) differs from reference (right); \
                 rerun with BENCHFS_DIFF_SEED={seed}"
            );
            match want {
                Ok(_) => ok += 1,
                Err(e) => *errnos.entry(e).or_default() += 1,
            }
            if std::env::var_os("DIFF_TRACE").is_some() {
                eprintln!("{i} {op:?} -> {want:?}");
            }
        }
        eprintln!("seed {seed}: {ok} of {OPS} operations succeeded; errno counts {errnos:?}");
        // The sequence must exercise both success and the error paths.
        assert!(ok >= OPS / 4 && errnos.len() >= 4, "seed {seed}: too little coverage: {ok} ok, {errnos:?}");
        assert_eq!(tree(&mnt), tree(reference.path()), "seed {seed}: final trees differ");
    }
}

both_backends!(posix_differential, |m| { differential(m) });
