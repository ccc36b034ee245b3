//! Differential POSIX test: the same seeded random sequence of file and directory
//! operations runs on the mount and on a local directory (tmpfs when /dev/shm exists);
//! every result (value or errno) must match, so must the metadata (type, mode, size,
//! link count) of every path an operation touched, looked at after it, and so must the
//! final trees. The sequences rename directories onto names that held others before,
//! make hard links, and write and read through a file unlinked while open; one variant
//! alternates the operations between two mounts of one cluster (each result looked at
//! through the other mount).
//!
//! `BENCHFS_DIFF_SEEDS=N` runs seeds 1..=N (the default is sized for CI, see [`SEEDS`]);
//! reproduce a failure with `BENCHFS_DIFF_SEED=<seed>` (printed on mismatch).

use std::fs::{self, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use benchfs_testkit::posix_ops::*;
use benchfs_testkit::{both_backends, fast_tempdir, mount::Backend, mount::TestMount, mount::TwoMounts, require_fuse};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// `BENCHFS_DIFF_SEED=s`: just s; `BENCHFS_DIFF_SEEDS=n`: 1..=n; else 1..=`default`.
fn seeds(default: u64) -> Vec<u64> {
    let var = |name: &str| std::env::var(name).ok().and_then(|s| s.parse::<u64>().ok());
    match var("BENCHFS_DIFF_SEED") {
        Some(s) => vec![s],
        None => (1..=var("BENCHFS_DIFF_SEEDS").unwrap_or(default)).collect(),
    }
}

/// Runs seed `seed`'s sequence on the mounts (`mounts[k]` is one mount's directory for
/// this seed; with two, the operations alternate at random between them and each
/// result is looked at through the other) and on a tmpfs reference.
fn differential_seed(seed: u64, mounts: &[PathBuf]) -> (usize, std::collections::BTreeMap<i32, usize>) {
    let tmp = fast_tempdir();
    // One level down, so that a relative link target such as "../f2" stays inside
    // this seed's directories (at the top it would reach /dev/shm/f2 and the mount's root).
    let reference = tmp.path().join("t");
    let reference = reference.as_path();
    let mounts: Vec<PathBuf> = mounts.iter().map(|m| m.join("t")).collect();
    fs::create_dir(reference).expect("mkdir in the reference");
    fs::create_dir(&mounts[0]).expect("mkdir on the mount");
    for d in DIRS.iter().filter(|d| !d.is_empty()) {
        let op = Op::Mkdir { path: d.to_string() };
        assert_eq!(run_op(&mounts[0], 0, &op), run_op(reference, 0, &op));
    }
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pick = StdRng::seed_from_u64(seed ^ 0x5eed);
    let (mut ok, mut errnos) = (0, std::collections::BTreeMap::<i32, usize>::new());
    let rerun = format!("rerun with BENCHFS_DIFF_SEED={seed}");
    for i in 0..OPS {
        let op = random_op(&mut rng);
        let (at, look) = match mounts.len() {
            1 => (0, 0),
            n => {
                let k = pick.random_range(0..n);
                (k, (k + 1) % n)
            }
        };
        let want = run_op(reference, i, &op);
        // An absolute link target made on one mount names that mount's root.
        let got = run_op(&mounts[at], i, &op).map(|v| unroot_all(&mounts, &v));
        assert_eq!(
            got, want,
            "seed {seed}, op #{i} {op:?} on mount {at}: mount (left) differs from tmpfs (right); {rerun}"
        );
        for path in touched(&op) {
            assert_eq!(
                lstat(&mounts[look], path),
                lstat(reference, path),
                "seed {seed}, after op #{i} {op:?} on mount {at}: lstat {path} on mount {look} (left) differs \
                 from tmpfs (right); {rerun}"
            );
        }
        match want {
            Ok(_) => ok += 1,
            Err(e) => *errnos.entry(e).or_default() += 1,
        }
        if std::env::var_os("DIFF_TRACE").is_some() {
            eprintln!("{i} {op:?} on {at} -> {want:?}");
        }
    }
    eprintln!("seed {seed}: {ok} of {OPS} operations succeeded; errno counts {errnos:?}");
    for m in &mounts {
        let got: Vec<String> = tree(m).iter().map(|l| unroot_all(&mounts, l)).collect();
        assert_eq!(got, tree(reference), "seed {seed}: final trees differ ({})", m.display());
    }
    (ok, errnos)
}

/// `s` with the root of each of `mounts` spelled `{ROOT}`.
fn unroot_all(mounts: &[PathBuf], s: &str) -> String {
    mounts.iter().fold(s.to_string(), |s, m| unroot(m, &s))
}

/// Every seed on `roots` (one directory per mount of one cluster), each in a fresh subdirectory.
fn differential(roots: &[&Path], default_seeds: u64) {
    let t = std::time::Instant::now();
    let seeds = seeds(default_seeds);
    let (mut ok, mut errnos) = (0, std::collections::BTreeSet::new());
    for &seed in &seeds {
        let dirs: Vec<PathBuf> = roots.iter().map(|r| r.join(format!("seed{seed}"))).collect();
        fs::create_dir(&dirs[0]).expect("mkdir on the mount");
        let (k, e) = differential_seed(seed, &dirs);
        ok += k;
        errnos.extend(e.into_keys());
    }
    // The sequences must exercise both success and the error paths (a seed alone may
    // lose its directories early and see mostly ENOENT).
    let total = seeds.len() * OPS;
    assert!(ok >= total / 4 && errnos.len() >= 4, "too little coverage: {ok} of {total} ok, errnos {errnos:?}");
    eprintln!("{} seeds on {} mount(s) in {:.1?}", seeds.len(), roots.len(), t.elapsed());
}

both_backends!(posix_differential, |m| { differential(&[m.path()], SEEDS) });

/// The sequences alternating between two mounts of one 3-server cluster. Attributes are
/// not cached (`--attr-timeout 0`): what one mount did, the other must show at once.
/// (With the default timeout another mount's changes show after up to 1 s, as on NFS.)
#[test]
fn posix_differential_two_mounts() {
    require_fuse!();
    let mounts = TwoMounts::start_with(3, &["--attr-timeout", "0"]);
    let (a, b) = (&mounts.a, &mounts.b);
    differential(&[a.path(), b.path()], TWO_MOUNT_SEEDS);
}

/// Links and special files, scripted: every result and the final trees must match tmpfs.
/// The kernel resolves links (relative, absolute, dangling, loops: ELOOP); the mount only
/// stores them and answers readlink.
fn links_and_special_files(m: &TestMount) {
    let reference = fast_tempdir();
    let mnt = m.path().join("links");
    fs::create_dir(&mnt).expect("mkdir on the mount");
    let s = |x: &str| x.to_string();
    let mut ops = vec![
        Op::Mkdir { path: s("d1") },
        Op::Mkdir { path: s("d2") },
        Op::CreateWrite { path: s("f1"), off: 0, len: 1000 },
        Op::CreateWrite { path: s("d1/f3"), off: 10, len: 5000 },
        Op::Symlink { target: s("f1"), path: s("rel") },
        Op::Symlink { target: s("../f1"), path: s("d2/up") },
        Op::Symlink { target: s("{ROOT}/d1"), path: s("abs") },
        Op::Symlink { target: s("nowhere"), path: s("dangling") },
        Op::Symlink { target: s("loop1"), path: s("loop2") },
        Op::Symlink { target: s("loop2"), path: s("loop1") },
        Op::Symlink { target: s("self"), path: s("self") },
        Op::Symlink { target: s("f1"), path: s("f1") },
        Op::Symlink { target: s("x"), path: s("nodir/l") },
        Op::Readlink { path: s("rel") },
        Op::Readlink { path: s("abs") },
        Op::Readlink { path: s("f1") },
        Op::Readlink { path: s("nowhere") },
        // stat follows, lstat does not.
        Op::Stat { path: s("rel") },
        Op::Lstat { path: s("rel") },
        Op::Stat { path: s("d2/up") },
        Op::Stat { path: s("abs") },
        Op::Stat { path: s("dangling") },
        Op::Lstat { path: s("dangling") },
        Op::Stat { path: s("loop1") },
        Op::Stat { path: s("self") },
        Op::Lstat { path: s("loop1") },
        // Through links: reads, writes, creation at a dangling link's target, directories.
        Op::Read { path: s("rel"), off: 0, len: 2000 },
        Op::Read { path: s("abs/f3"), off: 0, len: 9000 },
        Op::Write { path: s("d2/up"), off: 500, len: 1000 },
        Op::Read { path: s("f1"), off: 0, len: 3000 },
        Op::CreateWrite { path: s("dangling"), off: 0, len: 10 },
        Op::Readdir { path: s("") },
        Op::Readdir { path: s("abs") },
        Op::CreateWrite { path: s("abs/new"), off: 0, len: 100 },
        Op::Read { path: s("loop1"), off: 0, len: 10 },
        Op::Chmod { path: s("rel"), mode: 0o600 },
        Op::Truncate { path: s("rel"), size: 7 },
        Op::Stat { path: s("f1") },
        Op::Mkdir { path: s("rel") },
        Op::Rmdir { path: s("abs") },
        Op::Readdir { path: s("abs") },
        // Special files.
        Op::Mkfifo { path: s("fifo") },
        Op::Mkfifo { path: s("fifo") },
        Op::Mkfifo { path: s("d1/fifo") },
        Op::Lstat { path: s("fifo") },
        Op::Stat { path: s("fifo") },
        Op::Readlink { path: s("fifo") },
        Op::Chmod { path: s("fifo"), mode: 0o604 },
        Op::Stat { path: s("fifo") },
        // Renames of links and special files, within and across directories, replacing.
        Op::Rename { from: s("rel"), to: s("d2/rel") },
        Op::Readlink { path: s("d2/rel") },
        Op::Stat { path: s("d2/rel") },
        Op::Rename { from: s("fifo"), to: s("d2/fifo") },
        Op::Rename { from: s("dangling"), to: s("d1/f3") },
        Op::Lstat { path: s("d1/f3") },
        Op::RenameNoReplace { from: s("loop1"), to: s("d2/fifo") },
        Op::Rename { from: s("d2/fifo"), to: s("loop1") },
        Op::Rename { from: s("d2/up"), to: s("d2/upper") },
        Op::Rename { from: s("d2"), to: s("d3") },
        Op::Readlink { path: s("d3/upper") },
        Op::Stat { path: s("d3/upper") },
        Op::Rename { from: s("abs"), to: s("d3") },
        Op::Readdir { path: s("d3") },
        // Unlinks remove the link, never what it points to.
        Op::Unlink { path: s("self") },
        Op::Unlink { path: s("loop2") },
        Op::Unlink { path: s("d3/rel") },
        Op::Unlink { path: s("d1/fifo") },
        Op::Stat { path: s("f1") },
        Op::Rmdir { path: s("self") },
    ];
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } == 0 {
        ops.extend([
            Op::Mknod { path: s("sock"), mode: libc::S_IFSOCK | 0o644, rdev: 0 },
            Op::Mknod { path: s("null"), mode: libc::S_IFCHR | 0o666, rdev: libc::makedev(1, 3) },
            Op::Mknod { path: s("loop0"), mode: libc::S_IFBLK | 0o660, rdev: libc::makedev(7, 0) },
            Op::Mknod { path: s("big"), mode: libc::S_IFCHR | 0o600, rdev: libc::makedev(511, 70000) },
            Op::Lstat { path: s("null") },
            Op::Lstat { path: s("big") },
            Op::Lstat { path: s("loop0") },
            Op::Lstat { path: s("sock") },
            Op::Rename { from: s("null"), to: s("d1/null") },
            Op::Readdir { path: s("d1") },
            Op::Unlink { path: s("sock") },
        ]);
    }
    for (i, op) in ops.iter().enumerate() {
        let want = run_op(reference.path(), i, op);
        let got = run_op(&mnt, i, op);
        assert_eq!(got, want, "op #{i} {op:?}: mount (left) differs from reference (right)");
    }
    assert_eq!(tree(&mnt), tree(reference.path()), "final trees differ");
    // (Device nodes on the mount are records: FUSE mounts are `nodev`, so the kernel
    // refuses to open them, EACCES, whatever their driver.)
}

both_backends!(links_special_files, |m| { links_and_special_files(m) });

/// Hard links, scripted: link counts, one inode number for every name, shared data and
/// attributes, rename between names of one file (nothing happens), rename over a linked
/// name, unlink of one name; every result and the final trees must match tmpfs.
fn hard_links(m: &TestMount) {
    let reference = fast_tempdir();
    let mnt = m.path().join("hard");
    fs::create_dir(&mnt).expect("mkdir on the mount");
    let s = |x: &str| x.to_string();
    let link = |a: &str, b: &str| Op::Link { from: s(a), to: s(b) };
    let ops = [
        Op::Mkdir { path: s("d1") },
        Op::Mkdir { path: s("d2") },
        Op::CreateWrite { path: s("f1"), off: 0, len: 3000 },
        link("f1", "d1/h"),
        Op::Stat { path: s("f1") },
        Op::Stat { path: s("d1/h") },
        // Data and attributes through either name.
        Op::Write { path: s("d1/h"), off: 2000, len: 5000 },
        Op::Read { path: s("f1"), off: 0, len: 9000 },
        Op::Chmod { path: s("f1"), mode: 0o600 },
        Op::Stat { path: s("d1/h") },
        Op::Truncate { path: s("d1/h"), size: 100 },
        Op::Stat { path: s("f1") },
        link("d1/h", "d2/h2"),
        Op::Stat { path: s("f1") },
        // What link(2) refuses.
        link("f1", "d2/h2"),
        link("d1", "d3"),
        link("missing", "x"),
        link("f1", "nodir/x"),
        // Two names of one file: rename does nothing.
        Op::Rename { from: s("f1"), to: s("d1/h") },
        Op::Stat { path: s("f1") },
        Op::Readdir { path: s("d1") },
        // A name moves like any file; a directory holding one too.
        Op::Rename { from: s("d2/h2"), to: s("d2/moved") },
        Op::Rename { from: s("d2"), to: s("d4") },
        Op::OpenTrunc { path: s("d4/moved"), len: 777 },
        Op::Read { path: s("f1"), off: 0, len: 1000 },
        // Replacing a linked name, and unlinking one, keep the file for its other names.
        Op::CreateWrite { path: s("other"), off: 0, len: 10 },
        Op::Rename { from: s("other"), to: s("d1/h") },
        Op::Stat { path: s("f1") },
        Op::Unlink { path: s("f1") },
        Op::Stat { path: s("d4/moved") },
        Op::Read { path: s("d4/moved"), off: 0, len: 1000 },
        // Links of a symbolic link (not followed) and of a FIFO.
        Op::Symlink { target: s("d4/moved"), path: s("sl") },
        link("sl", "sl2"),
        Op::Lstat { path: s("sl2") },
        Op::Readlink { path: s("sl2") },
        Op::Mkfifo { path: s("fifo") },
        link("fifo", "d1/fifo2"),
        Op::Lstat { path: s("d1/fifo2") },
        Op::Unlink { path: s("fifo") },
        Op::Lstat { path: s("d1/fifo2") },
    ];
    for (i, op) in ops.iter().enumerate() {
        let want = run_op(reference.path(), i, op);
        let got = run_op(&mnt, i, op);
        assert_eq!(got, want, "op #{i} {op:?}: mount (left) differs from reference (right)");
    }
    assert_eq!(tree(&mnt), tree(reference.path()), "final trees differ");
}

both_backends!(hard_links_scripted, |m| { hard_links(m) });

/// What a step changed of one path's times, as (atime, mtime, ctime) changed?
type Moved = (bool, bool, bool);

fn times_of(p: &Path) -> [(i64, i64); 3] {
    use std::os::unix::fs::MetadataExt;
    let m = fs::symlink_metadata(p).unwrap_or_else(|e| panic!("lstat {}: {e}", p.display()));
    [(m.atime(), m.atime_nsec()), (m.mtime(), m.mtime_nsec()), (m.ctime(), m.ctime_nsec())]
}

fn moved(before: &[(i64, i64); 3], after: &[(i64, i64); 3]) -> Moved {
    (before[0] != after[0], before[1] != after[1], before[2] != after[2])
}

/// utimensat(2) of `p` with raw timespecs (UTIME_NOW / UTIME_OMIT in `tv_nsec`).
fn utimensat(p: &Path, atime: (i64, i64), mtime: (i64, i64)) {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).expect("path");
    let ts = |(s, n): (i64, i64)| libc::timespec { tv_sec: s as libc::time_t, tv_nsec: n as _ };
    let times = [ts(atime), ts(mtime)];
    // SAFETY: a NUL-terminated path and an array of two timespecs, both alive for the call.
    let r = unsafe { libc::utimensat(libc::AT_FDCWD, c.as_ptr(), times.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
    assert_eq!(r, 0, "utimensat {}: {}", p.display(), std::io::Error::last_os_error());
}

/// One step of [`times`]: a change, and the paths whose times it may move (each as
/// (before, after): a renamed file is watched under both names).
struct Step {
    what: &'static str,
    watch: &'static [(&'static str, &'static str)],
    run: fn(&Path),
}

/// Which times each step moves, on the mount and on tmpfs: parents of created, removed and
/// renamed entries (mtime and ctime, both directories of a rename), the renamed record's
/// ctime, ctime on chmod and truncate, utimensat with UTIME_NOW and UTIME_OMIT. The mount
/// may lag by ~5 ms (directory times are sent to their owner in batches): each expected
/// change is waited for up to 2 s.
fn times(m: &TestMount) {
    let reference = fast_tempdir();
    let mnt = m.path().join("times");
    fs::create_dir(&mnt).expect("mkdir on the mount");
    for root in [reference.path(), mnt.as_path()] {
        for d in ["a", "b", "c"] {
            fs::create_dir(root.join(d)).expect("mkdir");
        }
        fs::write(root.join("c/h"), b"0123456789").expect("write");
    }
    let steps = [
        Step { what: "create", watch: &[("a", "a"), ("b", "b")], run: |r| drop(fs::write(r.join("a/f"), b"x")) },
        Step { what: "mkdir", watch: &[("a", "a"), ("b", "b")], run: |r| fs::create_dir(r.join("a/s")).unwrap() },
        Step {
            what: "symlink",
            watch: &[("a", "a"), ("a/s", "a/s")],
            run: |r| std::os::unix::fs::symlink("f", r.join("a/l")).unwrap(),
        },
        Step {
            what: "mknod",
            watch: &[("a", "a"), ("b", "b")],
            run: |r| mknod(&r.join("a/p"), libc::S_IFIFO | 0o600, 0).unwrap(),
        },
        Step {
            what: "rename across directories",
            watch: &[("a", "a"), ("b", "b"), ("a/f", "b/g"), ("c", "c")],
            run: |r| fs::rename(r.join("a/f"), r.join("b/g")).unwrap(),
        },
        Step {
            what: "rename within a directory",
            watch: &[("a", "a"), ("b", "b"), ("a/l", "a/l2")],
            run: |r| fs::rename(r.join("a/l"), r.join("a/l2")).unwrap(),
        },
        Step {
            what: "rename of a directory",
            watch: &[("a", "a"), ("b", "b"), ("a/s", "b/s")],
            run: |r| fs::rename(r.join("a/s"), r.join("b/s")).unwrap(),
        },
        Step { what: "unlink", watch: &[("a", "a"), ("b", "b")], run: |r| fs::remove_file(r.join("b/g")).unwrap() },
        Step {
            what: "link",
            watch: &[("a", "a"), ("c", "c"), ("c/h", "c/h")],
            run: |r| fs::hard_link(r.join("c/h"), r.join("a/hl")).unwrap(),
        },
        Step {
            what: "rename of a hard link",
            watch: &[("a", "a"), ("c/h", "c/h")],
            run: |r| fs::rename(r.join("a/hl"), r.join("a/hl2")).unwrap(),
        },
        Step {
            what: "unlink of a hard link",
            watch: &[("a", "a"), ("c", "c"), ("c/h", "c/h")],
            run: |r| fs::remove_file(r.join("a/hl2")).unwrap(),
        },
        Step { what: "rmdir", watch: &[("a", "a"), ("b", "b")], run: |r| fs::remove_dir(r.join("b/s")).unwrap() },
        Step {
            what: "chmod",
            watch: &[("c", "c"), ("c/h", "c/h")],
            run: |r| fs::set_permissions(r.join("c/h"), fs::Permissions::from_mode(0o600)).unwrap(),
        },
        Step {
            what: "truncate",
            watch: &[("c", "c"), ("c/h", "c/h")],
            run: |r| OpenOptions::new().write(true).open(r.join("c/h")).unwrap().set_len(3).unwrap(),
        },
        Step {
            what: "utimensat atime NOW, mtime OMIT",
            watch: &[("c/h", "c/h")],
            run: |r| utimensat(&r.join("c/h"), (0, libc::UTIME_NOW), (0, libc::UTIME_OMIT)),
        },
        Step {
            what: "utimensat atime OMIT, mtime NOW",
            watch: &[("c/h", "c/h")],
            run: |r| utimensat(&r.join("c/h"), (0, libc::UTIME_OMIT), (0, libc::UTIME_NOW)),
        },
        Step {
            what: "utimensat both OMIT",
            watch: &[("c/h", "c/h"), ("c", "c")],
            run: |r| utimensat(&r.join("c/h"), (0, libc::UTIME_OMIT), (0, libc::UTIME_OMIT)),
        },
        Step {
            what: "utimensat of a directory: atime given, mtime NOW",
            watch: &[("c", "c")],
            run: |r| utimensat(&r.join("c"), (1_000, 5), (0, libc::UTIME_NOW)),
        },
    ];
    for s in &steps {
        let before = |root: &Path| s.watch.iter().map(|(b, _)| times_of(&root.join(b))).collect::<Vec<_>>();
        let after = |root: &Path, was: &[[(i64, i64); 3]]| {
            s.watch.iter().zip(was).map(|((_, a), b)| moved(b, &times_of(&root.join(a)))).collect::<Vec<_>>()
        };
        let (was_ref, was_mnt) = (before(reference.path()), before(&mnt));
        // tmpfs stamps with a coarse clock (a tick of a few ms): let it tick.
        std::thread::sleep(std::time::Duration::from_millis(10));
        (s.run)(reference.path());
        (s.run)(&mnt);
        let want = after(reference.path(), &was_ref);
        // The mount is `noatime`: compare atimes only where a step sets them explicitly.
        let strip = |v: Vec<Moved>| -> Vec<Moved> {
            v.into_iter().map(|(a, m, c)| (a && s.what.starts_with("utimensat"), m, c)).collect()
        };
        let want = strip(want);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let got = strip(after(&mnt, &was_mnt));
            if got == want {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{}: (atime, mtime, ctime) moved of {:?}: mount {got:?}, tmpfs {want:?}",
                s.what,
                s.watch
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }
    // The explicit times landed as given, and both trees agree on them.
    for root in [reference.path(), mnt.as_path()] {
        assert_eq!(times_of(&root.join("c"))[0], (1_000, 5), "{}", root.display());
    }
    assert_eq!(tree(&mnt), tree(reference.path()), "final trees differ");
}

both_backends!(times_of_parents_and_records, |m| { times(m) });

/// setuid and setgid bits: a write by an unprivileged user clears them, and so does chown
/// (by anyone, of a file): on the mount as on tmpfs. The kernel does it, sending the mount
/// a setattr of the mode (BenchFS does not claim `FUSE_HANDLE_KILLPRIV`).
fn setuid_cleared(m: &TestMount) {
    let reference = fast_tempdir();
    let mnt = m.path().join("suid");
    fs::create_dir(&mnt).expect("mkdir on the mount");
    // The unprivileged writer must reach both trees.
    for dir in [m.path().parent().expect("mountpoint's parent"), m.path(), &mnt, reference.path()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    let mode = |p: &Path| fs::symlink_metadata(p).expect("lstat").permissions().mode() & 0o7777;
    let mut got = Vec::new();
    for root in [reference.path(), mnt.as_path()] {
        let (w, c) = (root.join("w"), root.join("c"));
        for f in [&w, &c] {
            fs::write(f, b"x").expect("write");
            fs::set_permissions(f, fs::Permissions::from_mode(0o6777)).expect("chmod");
            assert_eq!(mode(f), 0o6777, "{}", f.display());
        }
        let st = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh", "-c", "printf y >> \"$0\""])
            .arg(&w)
            .status()
            .expect("setpriv");
        assert!(st.success(), "the unprivileged write to {} failed", w.display());
        std::os::unix::fs::chown(&c, Some(1), None).expect("chown");
        got.push((mode(&w), mode(&c), fs::read(&w).expect("read")));
    }
    assert_eq!(got[0].2, b"xy");
    assert_eq!(got[0].0 & 0o6000, 0, "tmpfs kept setuid/setgid after an unprivileged write: {:o}", got[0].0);
    assert_eq!(got[1], got[0], "mount (left) and tmpfs (right): modes after write and chown");
}

mod setuid_cleared {
    use super::*;

    #[test]
    fn embedded() {
        require_fuse!();
        setuid_cleared(&TestMount::new(Backend::Embedded, &["--allow-other"]));
    }

    #[test]
    fn cluster() {
        require_fuse!();
        setuid_cleared(&TestMount::new(Backend::Cluster, &["--allow-other"]));
    }
}
