//! The interposer (`libbenchfs_preload.so`, crate benchfs-preload) on a real mount of two
//! real servers: programs run under LD_PRELOAD and their results are compared with the
//! same programs on tmpfs, with the plain mount, and with the interposer's own count of
//! the calls it served (`BENCHFS_PRELOAD_STATS=1`), which shows the calls did not go
//! through the kernel.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use benchfs_testkit::{fast_tempdir, mount::TestMount, pattern, programs, require, require_fuse, Cluster};

/// `target/<profile>/libbenchfs_preload.so`, built once per test binary.
fn preload_so() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| programs::cargo_built(&["-p", "benchfs-preload", "--lib"], "libbenchfs_preload.so"))
}

/// Compiles `benchfs-preload/tests/<name>.c` (with `extra` flags) into `dir`.
fn compile(name: &str, dir: &Path, extra: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../benchfs-preload/tests").join(format!("{name}.c"));
    let bin = dir.join(name);
    let out = Command::new("cc").args(["-O1", "-o"]).arg(&bin).arg(&src).args(extra).output().expect("run cc");
    assert!(out.status.success(), "cc {}: {}", src.display(), String::from_utf8_lossy(&out.stderr));
    bin
}

/// Runs `cmd` with the interposer loaded and its exit report on.
fn preloaded(cmd: &mut Command) -> Output {
    let out = cmd
        .env("LD_PRELOAD", preload_so())
        .env("BENCHFS_PRELOAD_STATS", "1")
        .env_remove("BENCHFS_SERVERS")
        .env_remove("BENCHFS_REGISTRY")
        .output()
        .expect("run the preloaded program");
    assert!(
        out.status.success(),
        "{:?} failed ({}):\n{}\n{}",
        cmd,
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The calls the interposer served in the process with the first exit report in `stderr`.
fn served(stderr: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(stderr);
    let line =
        text.lines().find(|l| l.contains("benchfs-preload: pid")).unwrap_or_else(|| panic!("no report:\n{text}"));
    let n = line.split(" served ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok());
    n.unwrap_or_else(|| panic!("unreadable report {line:?}"))
}

fn setup() -> (Cluster, TestMount) {
    let cluster = Cluster::start(2);
    let mount = TestMount::on_servers(&cluster.addrs());
    (cluster, mount)
}

/// The POSIX program's transcript under the interposer on the mount equals its transcript
/// on tmpfs, and (nearly) every call of it was served in user space.
#[test]
fn posix_program_matches_tmpfs_and_is_served() {
    require_fuse!();
    let (_cluster, m) = setup();
    let tmp = fast_tempdir();
    let prog = compile("posix_ops", tmp.path(), &[]);
    std::fs::create_dir(tmp.path().join("native")).unwrap();
    let native = Command::new(&prog).arg(tmp.path().join("native")).output().unwrap();
    assert!(native.status.success(), "{}", String::from_utf8_lossy(&native.stderr));
    let out = preloaded(Command::new(&prog).arg(m.path()));
    let (want, got) = (String::from_utf8_lossy(&native.stdout), String::from_utf8_lossy(&out.stdout));
    assert_eq!(got, want, "transcripts differ (left: interposer on the mount, right: tmpfs)");
    let n = served(&out.stderr);
    assert!(n >= 45, "only {n} calls served:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// The same program on tmpfs with the interposer loaded serves nothing and still matches.
#[test]
fn paths_outside_the_mount_are_untouched() {
    require_fuse!();
    let (_cluster, _m) = setup();
    let tmp = fast_tempdir();
    let prog = compile("posix_ops", tmp.path(), &[]);
    for d in ["a", "b"] {
        std::fs::create_dir(tmp.path().join(d)).unwrap();
    }
    let plain = Command::new(&prog).arg(tmp.path().join("a")).output().unwrap();
    let out = preloaded(Command::new(&prog).arg(tmp.path().join("b")));
    assert_eq!(String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&plain.stdout));
    assert_eq!(served(&out.stderr), 0);
}

/// What a shell does: redirections (dup2 onto 1), a descriptor inherited across fork and
/// exec (`exec 3>f; sh -c 'echo x >&3'`), then reading back through the plain mount right
/// after; and the reverse: written by the kernel mount, read under the interposer.
#[test]
fn shell_redirections_and_inherited_descriptors() {
    require_fuse!();
    let (_cluster, m) = setup();
    let d = m.path();
    let script = "set -e; echo one > \"$1/r\"; echo two >> \"$1/r\"; exec 3>\"$1/s\"; echo x >&3; \
                  sh -c 'echo y >&3'; echo z >&3; exec 3>&-; cat \"$1/r\" \"$1/s\"";
    let out = preloaded(Command::new("sh").args(["-c", script, "sh"]).arg(d));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\ntwo\nx\ny\nz\n");
    assert!(served(&out.stderr) > 0, "{}", String::from_utf8_lossy(&out.stderr));
    // Written in user space, read through the kernel mount right after close.
    assert_eq!(std::fs::read_to_string(d.join("r")).unwrap(), "one\ntwo\n");
    assert_eq!(std::fs::read_to_string(d.join("s")).unwrap(), "x\ny\nz\n");
    // And the reverse, with the kernel having cached the old contents.
    std::fs::write(d.join("r"), "rewritten by the mount\n").unwrap();
    // (dash leaves with _exit, so the report comes from the cat it becomes.)
    let script = "read l < \"$1/r\"; echo \"$l\"; exec cat \"$1/r\"";
    let out = preloaded(Command::new("sh").args(["-c", script, "sh"]).arg(d));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "rewritten by the mount\n".repeat(2));
    assert!(served(&out.stderr) > 0);
}

/// A static binary cannot be interposed: it works through the kernel mount, on files the
/// interposer wrote.
#[test]
fn static_binary_goes_through_the_kernel() {
    require_fuse!();
    let (_cluster, m) = setup();
    let tmp = fast_tempdir();
    let prog = compile("posix_ops", tmp.path(), &["-static"]);
    let d = m.path().join("static");
    let out = preloaded(Command::new("sh").args(["-c", "mkdir \"$1\" && \"$2\" \"$1\"", "sh"]).arg(&d).arg(&prog));
    assert!(String::from_utf8_lossy(&out.stdout).contains("rmdir d = 0"), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(d.is_dir());
}

/// The attribute cache keeps close-to-open and this process's own changes: with a timeout
/// long enough that nothing expires during the run, every stat after a create, write,
/// truncate, rename, unlink, mkdir or rmdir of the same process, and after an open that
/// follows another writer's change through the plain mount, answers as on tmpfs.
#[test]
fn attribute_cache_keeps_close_to_open() {
    require_fuse!();
    let (_cluster, m) = setup();
    let tmp = fast_tempdir();
    let prog = compile("attr_cache", tmp.path(), &[]);
    std::fs::create_dir(tmp.path().join("native")).unwrap();
    let native = Command::new(&prog).arg(tmp.path().join("native")).output().unwrap();
    assert!(native.status.success(), "{}", String::from_utf8_lossy(&native.stderr));
    let out = preloaded(Command::new(&prog).arg(m.path()).env("BENCHFS_ATTR_TIMEOUT", "3600"));
    let (want, got) = (String::from_utf8_lossy(&native.stdout), String::from_utf8_lossy(&out.stdout));
    assert_eq!(got, want, "transcripts differ (left: interposer on the mount, right: tmpfs)");
    assert!(served(&out.stderr) >= 40, "{}", String::from_utf8_lossy(&out.stderr));
}

/// Makes the tree `benchfs-preload/tests/perms.c` expects at `d` (as root, through the
/// plain mount), with `g` the group that the unprivileged user has as a supplementary one.
fn perms_tree(d: &Path, g: u32) {
    use std::os::unix::fs::{chown, PermissionsExt};
    let mode = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    std::fs::create_dir(d).unwrap();
    for (dir, m, group) in [
        ("pub", 0o777, 0),
        ("ro", 0o755, 0),
        ("closed", 0o700, 0),
        ("sticky", 0o1777, 0),
        ("grp", 0o770, g),
        ("sgid", 0o2777, g),
    ] {
        let p = d.join(dir);
        std::fs::create_dir(&p).unwrap();
        chown(&p, Some(0), Some(group)).unwrap();
        mode(&p, m);
    }
    for (f, m, group) in [
        ("ro/file", 0o644, 0),
        ("ro/secret", 0o600, 0),
        ("closed/f", 0o644, 0),
        ("sticky/rootfile", 0o666, 0),
        ("grp/f", 0o660, g),
    ] {
        let p = d.join(f);
        std::fs::write(&p, "data").unwrap();
        chown(&p, Some(0), Some(group)).unwrap();
        mode(&p, m);
    }
}

/// An unprivileged user is served, with the kernel's permission answers: the same program,
/// as nobody with a supplementary group, on the same tree on an --allow-other mount, gives
/// the same transcript under the interposer as through the plain mount (whose checks the
/// kernel makes, default_permissions), and its calls are served in user space.
#[test]
fn unprivileged_user_gets_the_kernels_permission_answers() {
    require_fuse!();
    if Command::new("setpriv").arg("--version").output().is_err() {
        require::skip("setpriv", "setpriv(1) is not installed");
        return;
    }
    let cluster = Cluster::start(2);
    let m = TestMount::on_servers_with(&cluster.addrs(), &["--allow-other"]);
    // The mount point's directory must let nobody through to the mount's root.
    let up = m.path().parent().unwrap();
    std::fs::set_permissions(up, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let tmp = fast_tempdir();
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let prog = compile("perms", tmp.path(), &[]);
    const GROUP: u32 = 4242;
    perms_tree(&m.path().join("k"), GROUP);
    perms_tree(&m.path().join("i"), GROUP);
    let as_nobody = |dir: &str, preload: bool| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", &format!("--groups={GROUP}")]).arg(&prog).arg(dir);
        cmd.current_dir(m.path()).env_remove("BENCHFS_REGISTRY").env_remove("LD_PRELOAD");
        if preload {
            // The mount tells its cluster to its owner only: nobody is told by the environment.
            cmd.env("LD_PRELOAD", preload_so())
                .env("BENCHFS_PRELOAD_STATS", "1")
                .env("BENCHFS_SERVERS", cluster.addrs().join(","));
        }
        let out = cmd.output().expect("run setpriv");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        out
    };
    let kernel = as_nobody("k", false);
    let served_out = as_nobody("i", true);
    let (want, got) = (String::from_utf8_lossy(&kernel.stdout), String::from_utf8_lossy(&served_out.stdout));
    assert_eq!(got, want, "transcripts differ (left: interposer, right: the plain mount)");
    assert!(want.contains("= Permission denied") && want.contains("= Operation not permitted"), "{want}");
    let n = served(&served_out.stderr);
    assert!(n >= 40, "only {n} calls served:\n{}", String::from_utf8_lossy(&served_out.stderr));
}

/// Directory streams, chmod, times, links, statfs, threads and dup2 of a served descriptor
/// onto 0-2 used by stdio (`tests/more_ops.c`): the transcript under the interposer on the
/// mount equals tmpfs's, and the calls are served.
#[test]
fn more_calls_match_tmpfs_and_are_served() {
    require_fuse!();
    let (_cluster, m) = setup();
    let tmp = fast_tempdir();
    let prog = compile("more_ops", tmp.path(), &["-pthread"]);
    std::fs::create_dir(tmp.path().join("native")).unwrap();
    let native = Command::new(&prog).arg(tmp.path().join("native")).output().unwrap();
    assert!(native.status.success(), "{}", String::from_utf8_lossy(&native.stderr));
    let out = preloaded(Command::new(&prog).arg(m.path()));
    let (want, got) = (String::from_utf8_lossy(&native.stdout), String::from_utf8_lossy(&out.stdout));
    assert_eq!(got, want, "transcripts differ (left: interposer on the mount, right: tmpfs)");
    let n = served(&out.stderr);
    assert!(n >= 200, "only {n} calls served:\n{}", String::from_utf8_lossy(&out.stderr));
}

/// Runs a tool under the interposer (as [`preloaded`]) and returns its stdout; the number
/// of calls the first process that reported served goes to `served_calls` when asked.
fn tool(cmd: &mut Command) -> (String, u64) {
    let out = preloaded(cmd);
    let text = String::from_utf8_lossy(&out.stderr);
    let n = text.lines().filter_map(|l| l.split(" served ").nth(1)?.split(' ').next()?.parse::<u64>().ok()).sum();
    (String::from_utf8_lossy(&out.stdout).into_owned(), n)
}

/// Runs a command without the interposer; its stdout.
fn plain(cmd: &mut Command) -> String {
    let out = cmd.env_remove("LD_PRELOAD").output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A tree `t` under `s` that archivers must keep: nested and empty directories, symbolic
/// links (relative, absolute, dangling, to a directory), hard links, a FIFO, odd modes.
fn sample_tree(s: &Path) {
    use std::os::unix::fs::{symlink, PermissionsExt};
    std::fs::create_dir_all(s.join("t/sub/deep")).unwrap();
    std::fs::create_dir_all(s.join("t/empty")).unwrap();
    std::fs::write(s.join("t/file"), b"data").unwrap();
    std::fs::write(s.join("t/sub/deep/f"), pattern(7, 300_000)).unwrap();
    std::fs::set_permissions(s.join("t/file"), std::fs::Permissions::from_mode(0o640)).unwrap();
    symlink("file", s.join("t/rel")).unwrap();
    symlink("../file", s.join("t/sub/up")).unwrap();
    symlink("/etc/hostname", s.join("t/abs")).unwrap();
    symlink("missing", s.join("t/dangling")).unwrap();
    symlink("sub/deep", s.join("t/dirlink")).unwrap();
    std::fs::hard_link(s.join("t/file"), s.join("t/hard")).unwrap();
    std::fs::hard_link(s.join("t/sub/deep/f"), s.join("t/h3")).unwrap();
    plain(Command::new("mkfifo").arg(s.join("t/sub/fifo")));
}

/// `find -printf` of a tree through the kernel, sorted: kind, mode, link count, size (not
/// a directory's), mtime, link target.
fn find_printf(root: &Path) -> String {
    let out = plain(
        Command::new("find")
            .args([".", "-type", "d", "-printf", "%p %y %m - %T@ %l\n", "-o", "-printf", "%p %y %m %n %s %T@ %l\n"])
            .current_dir(root),
    );
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    lines.join("\n")
}

/// `diff -r` of two trees finds no difference but their FIFOs (which it never compares).
fn same_contents(a: &Path, b: &Path) {
    let out = Command::new("diff").arg("-r").arg("--no-dereference").arg(a).arg(b).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let other: Vec<_> = text.lines().filter(|l| !l.contains("is a fifo")).collect();
    assert!(other.is_empty(), "the trees differ:\n{}", other.join("\n"));
}

/// tar and rsync under the interposer: `tar -x` onto the mount, `tar -c` of it back out,
/// `rsync -aH` onto the mount and a second run that finds nothing to do; each result,
/// read through the plain mount right after, equals the same work on tmpfs.
#[test]
fn tar_and_rsync_round_trips_under_the_interposer() {
    require_fuse!();
    let (_cluster, m) = setup();
    let src = fast_tempdir();
    sample_tree(src.path());
    let archive = src.path().join("t.tar");
    plain(Command::new("tar").arg("-cf").arg(&archive).arg("-C").arg(src.path()).arg("t"));
    let reference = fast_tempdir();
    plain(Command::new("tar").arg("-xpf").arg(&archive).arg("-C").arg(reference.path()));
    let want = find_printf(&reference.path().join("t"));

    let x = m.path().join("x");
    std::fs::create_dir(&x).unwrap();
    let (_, n) = tool(Command::new("tar").arg("-xpf").arg(&archive).arg("-C").arg(&x));
    assert!(n > 20, "tar -x: only {n} calls served");
    same_contents(&reference.path().join("t"), &x.join("t"));
    assert_eq!(find_printf(&x.join("t")), want, "tar -x under the interposer (left), on tmpfs (right)");

    // tar -c reads the tree back under the interposer (directory streams, stat, read).
    let back = fast_tempdir();
    let (_, n) = tool(Command::new("tar").arg("-cf").arg(m.path().join("back.tar")).arg("-C").arg(&x).arg("t"));
    assert!(n > 20, "tar -c: only {n} calls served");
    plain(Command::new("tar").arg("-xpf").arg(m.path().join("back.tar")).arg("-C").arg(back.path()));
    same_contents(&reference.path().join("t"), &back.path().join("t"));
    assert_eq!(find_printf(&back.path().join("t")), want, "tar -c under the interposer, extracted (left)");

    if !require::on_path("rsync") {
        require::skip("rsync", "rsync is not installed");
        return;
    }
    let rs = m.path().join("rs");
    let rsync = |extra: &[&str]| {
        tool(Command::new("rsync").arg("-aH").args(extra).arg(format!("{}/", src.path().join("t").display())).arg(&rs))
    };
    rsync(&[]);
    same_contents(&src.path().join("t"), &rs);
    let (again, _) = rsync(&["--itemize-changes", "--omit-dir-times"]);
    assert!(again.trim().is_empty(), "rsync found changes after a full copy:\n{again}");
    // Times are rsync's own check above (seen through the interposer); through the plain
    // mount a directory's mtime can move after rsync set it (a file renamed into it
    // later, as links_tools.rs explains) and the kernel may still hold an inode's
    // attributes from before another process (rsync's receiver) changed them.
    let is_time = |w: &str| w.len() > 12 && w.contains('.') && w.chars().all(|c| c.is_ascii_digit() || c == '.');
    let untimed = |t: &str| {
        t.lines()
            .map(|l| l.split(' ').filter(|w| !is_time(w)).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        untimed(&find_printf(&rs)),
        untimed(&find_printf(&src.path().join("t"))),
        "rsync -aH under the interposer (left)"
    );
}

/// git under the interposer: init, add, commit twice, fsck, clone; the repository then
/// checks out through the plain mount.
#[test]
fn git_under_the_interposer() {
    require_fuse!();
    if !require::on_path("git") {
        require::skip("git", "git is not installed");
        return;
    }
    let (_cluster, m) = setup();
    let repo = m.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let git = |dir: &Path, args: &[&str]| {
        tool(
            Command::new("git")
                .args([
                    "-c",
                    "user.name=BenchFS",
                    "-c",
                    "user.email=ci@benchfs.invalid",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(dir)
                .env("HOME", m.path())
                .env("GIT_CONFIG_NOSYSTEM", "1"),
        )
        .0
    };
    git(&repo, &["init", "-q"]);
    std::fs::create_dir(repo.join("src")).unwrap();
    std::fs::write(repo.join("src/a.txt"), "one\n").unwrap();
    std::os::unix::fs::symlink("src/a.txt", repo.join("link")).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    std::fs::write(repo.join("src/a.txt"), "two\n").unwrap();
    std::fs::write(repo.join("b.txt"), "new\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "second"]);
    git(&repo, &["fsck", "--strict", "--no-progress"]);
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    assert_eq!(git(&repo, &["log", "--format=%s"]), "second\nfirst\n");
    assert_eq!(git(&repo, &["show", "HEAD~1:src/a.txt"]), "one\n");
    git(m.path(), &["clone", "-q", "repo", "clone"]);
    assert_eq!(std::fs::read_to_string(m.path().join("clone/src/a.txt")).unwrap(), "two\n");
    assert_eq!(std::fs::read_link(m.path().join("clone/link")).unwrap(), Path::new("src/a.txt"));
    let status = plain(Command::new("git").args(["status", "--porcelain"]).current_dir(m.path().join("clone")));
    assert_eq!(status, "", "the clone, seen through the plain mount");
}

/// A Python virtual environment made and run under the interposer.
#[test]
fn python_venv_under_the_interposer() {
    require_fuse!();
    if Command::new("python3").args(["-c", "import venv"]).status().map_or(true, |s| !s.success()) {
        require::skip("python3", "python3 with venv is not available");
        return;
    }
    let (_cluster, m) = setup();
    let venv = m.path().join("venv");
    tool(Command::new("python3").args(["-m", "venv", "--without-pip"]).arg(&venv));
    let (out, _) = tool(
        Command::new(venv.join("bin/python"))
            .args(["-c", "import sys, os; print(sys.prefix); print(sorted(os.listdir(sys.prefix)))"]),
    );
    let mut lines = out.lines();
    assert_eq!(lines.next().map(Path::new), Some(venv.as_path()));
    assert_eq!(lines.next(), Some("['bin', 'include', 'lib', 'lib64', 'pyvenv.cfg']"));
}

/// The POSIX differential test's sequences (`tests/diff_ops`) under the interposer: the
/// replay program (`examples/posix_replay.rs`, a process of its own, not the test harness)
/// runs each seed on tmpfs and, under LD_PRELOAD, on the mount; the transcripts (every
/// result, the metadata of every path touched, the final tree) must be equal, and the
/// calls served. `BENCHFS_DIFF_SEEDS=N` runs seeds 1..=N (default 10; the first 30 pass).
#[test]
fn posix_differential_under_the_interposer() {
    require_fuse!();
    let replay = programs::cargo_built(&["-p", "benchfs-fuse", "--example", "posix_replay"], "examples/posix_replay");
    let (_cluster, m) = setup();
    let seeds: u64 = std::env::var("BENCHFS_DIFF_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let tmp = fast_tempdir();
    let mut served_calls = 0;
    for seed in 1..=seeds {
        let (native, on_mount) = (tmp.path().join(format!("s{seed}")), m.path().join(format!("s{seed}")));
        std::fs::create_dir(&native).unwrap();
        std::fs::create_dir(&on_mount).unwrap();
        let want = plain(Command::new(&replay).arg(&native).arg(seed.to_string()));
        let out = preloaded(Command::new(&replay).arg(&on_mount).arg(seed.to_string()));
        let got = String::from_utf8_lossy(&out.stdout);
        if got != want {
            let first = got.lines().zip(want.lines()).position(|(a, b)| a != b).unwrap_or(0);
            let show = |t: &str| t.lines().skip(first.saturating_sub(3)).take(6).collect::<Vec<_>>().join("\n");
            panic!(
                "seed {seed}: the transcripts differ from line {first}\ninterposer on the mount:\n{}\ntmpfs:\n{}",
                show(&got),
                show(&want)
            );
        }
        served_calls += served(&out.stderr);
    }
    assert!(served_calls >= seeds * 300, "only {served_calls} calls served in {seeds} seeds");
}
