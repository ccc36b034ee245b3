//! Tools that lean on links and special files, on the mount: a Python virtual environment
//! (its `bin/python` is a link out of the mount); tar, `cp -a` and `rsync -aH` of a tree of
//! symbolic links, hard links and a FIFO, compared with the same copies on tmpfs; and git
//! (whose object store links and renames) making commits.

use std::path::Path;
use std::process::Command;

use benchfs_testkit::{fast_tempdir, mount::Backend, mount::TestMount, posix_ops, require, require_fuse};

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn python_venv_runs_from_the_mount() {
    require_fuse!();
    if Command::new("python3").args(["-c", "import venv"]).status().map_or(true, |s| !s.success()) {
        require::skip("python3", "python3 with venv is not available");
        return;
    }
    let m = TestMount::new(Backend::Embedded, &[]);
    let venv = m.path().join("venv");
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    assert!(std::fs::symlink_metadata(venv.join("bin/python")).unwrap().is_symlink());
    let out = run(Command::new(venv.join("bin/python")).args(["-c", "import sys; print(1); print(sys.prefix)"]));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"));
    assert_eq!(lines.next().map(Path::new), Some(venv.as_path()), "the venv's python did not run as the venv");
}

/// `stat -c '%n %F %a %s %h'` of every entry of a tree (links not followed), then each set
/// of names sharing one inode number. A directory's size and link count are the file
/// system's own (tmpfs counts entries and subdirectories), so they are left out.
fn listing(root: &Path) -> String {
    let out = run(Command::new("find")
        .arg(".")
        .arg("-exec")
        .arg("stat")
        .arg("-c")
        .arg("%i %n %F %a %s %h")
        .arg("{}")
        .arg("+")
        .current_dir(root));
    let mut lines = Vec::new();
    let mut inodes = Vec::new();
    for l in out.lines() {
        let (ino, rest) = l.split_once(' ').expect("stat line");
        if rest.contains(" directory ") {
            lines.push(rest.rsplitn(3, ' ').last().unwrap_or(rest).to_string());
            continue;
        }
        lines.push(rest.to_string());
        inodes.push((ino, rest.split(' ').next().unwrap_or(rest).to_string()));
    }
    lines.sort();
    lines.extend(posix_ops::same_inode_groups(inodes));
    lines.join("\n")
}

/// A tree `t` under `s` with what archivers must keep: nested directories, an empty one,
/// symbolic links (relative, absolute, dangling, to a directory), hard links (within a
/// directory and across), and a FIFO.
fn sample_tree(s: &Path) {
    std::fs::create_dir_all(s.join("t/sub/deep")).unwrap();
    std::fs::create_dir_all(s.join("t/empty")).unwrap();
    std::fs::write(s.join("t/file"), b"data").unwrap();
    std::fs::write(s.join("t/sub/deep/f"), vec![7u8; 100_000]).unwrap();
    std::os::unix::fs::symlink("file", s.join("t/rel")).unwrap();
    std::os::unix::fs::symlink("../file", s.join("t/sub/up")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", s.join("t/abs")).unwrap();
    std::os::unix::fs::symlink("missing", s.join("t/dangling")).unwrap();
    std::os::unix::fs::symlink("sub/deep", s.join("t/dirlink")).unwrap();
    std::fs::hard_link(s.join("t/file"), s.join("t/hard")).unwrap();
    std::fs::hard_link(s.join("t/sub/deep/f"), s.join("t/sub/h2")).unwrap();
    std::fs::hard_link(s.join("t/sub/deep/f"), s.join("t/h3")).unwrap();
    run(Command::new("mkfifo").arg(s.join("t/sub/fifo")));
}

/// `a` and `b` hold the same tree: `diff -r` finds nothing, and the listings (kinds,
/// modes, sizes, link counts, hard-link groups) match.
fn assert_same_tree(a: &Path, b: &Path) {
    // GNU diff never compares FIFOs: it reports each pair ("is a fifo while file ... is
    // a fifo") and exits 1. Anything else it says is a difference.
    let out = Command::new("diff").arg("-r").arg("--no-dereference").arg(a).arg(b).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "diff failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other: Vec<_> =
        text.lines().filter(|l| !(l.contains("is a fifo while file") && l.ends_with("is a fifo"))).collect();
    assert!(other.is_empty(), "the trees differ:\n{}", other.join("\n"));
    assert_eq!(listing(b), listing(a), "{} (left) and {} (right)", b.display(), a.display());
}

#[test]
fn tar_of_links_and_a_fifo_extracts_as_on_tmpfs() {
    require_fuse!();
    let src = fast_tempdir();
    let s = src.path();
    sample_tree(s);
    let archive = s.join("t.tar");
    run(Command::new("tar").arg("-cf").arg(&archive).arg("-C").arg(s).arg("t"));

    let m = TestMount::new(Backend::Embedded, &[]);
    let reference = fast_tempdir();
    let on_mount = m.path().join("x");
    std::fs::create_dir(&on_mount).unwrap();
    for dest in [reference.path(), on_mount.as_path()] {
        run(Command::new("tar").arg("-xpf").arg(&archive).arg("-C").arg(dest));
    }
    assert_same_tree(reference.path(), &on_mount);
    assert!(listing(&on_mount).contains("same inode: ./t/h3 ./t/sub/deep/f ./t/sub/h2"));
}

/// A temporary directory holding [`sample_tree`] at `t`, for a test that drives rsync;
/// `None` (skipped, or failed under BENCHFS_REQUIRE) where rsync is not installed.
fn sample_tree_for_rsync() -> Option<tempfile::TempDir> {
    if !require::on_path("rsync") {
        require::skip("rsync", "rsync is not installed");
        return None;
    }
    let src = fast_tempdir();
    sample_tree(src.path());
    Some(src)
}

/// `cp -a` and `rsync -aH` onto a 3-server mount and back: the round trip keeps every
/// kind, mode, time and hard link.
#[test]
fn cp_a_and_rsync_ah_round_trips() {
    require_fuse!();
    let Some(src) = sample_tree_for_rsync() else { return };
    let t = src.path().join("t");
    let m = TestMount::new(Backend::Cluster, &[]);
    let back = fast_tempdir();
    run(Command::new("cp").arg("-a").arg(&t).arg(m.path().join("cp")));
    assert_same_tree(&t, &m.path().join("cp"));
    run(Command::new("cp").arg("-a").arg(m.path().join("cp")).arg(back.path().join("cp")));
    assert_same_tree(&t, &back.path().join("cp"));
    // rsync's own check: a second run finds nothing to send (times and modes were kept).
    let to_mount = |extra: &[&str]| {
        run(Command::new("rsync").arg("-aH").args(extra).arg(format!("{}/", t.display())).arg(m.path().join("rs")))
    };
    to_mount(&[]);
    assert_same_tree(&t, &m.path().join("rs"));
    // Directory times are left out: rsync's generator sets a directory's times while its
    // receiver may still be renaming a finished file into it, and a rename after them
    // changes them (as on any file system; the slower the rename, the likelier).
    let again = to_mount(&["--itemize-changes", "--omit-dir-times"]);
    assert!(again.trim().is_empty(), "rsync found changes after a full copy:\n{again}");
    run(Command::new("rsync")
        .arg("-aH")
        .arg(format!("{}/", m.path().join("rs").display()))
        .arg(back.path().join("rs")));
    assert_same_tree(&t, &back.path().join("rs"));
}

/// git on the mount: init, add, commit twice, then `git fsck` and a clean status.
#[test]
fn git_commits_on_the_mount() {
    require_fuse!();
    if !require::on_path("git") {
        require::skip("git", "git is not installed");
        return;
    }
    let m = TestMount::new(Backend::Cluster, &[]);
    let repo = m.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let git = |args: &[&str]| {
        run(Command::new("git")
            .args(["-c", "user.name=BenchFS", "-c", "user.email=ci@benchfs.invalid", "-c", "init.defaultBranch=main"])
            .args(args)
            .current_dir(&repo)
            .env("HOME", m.path())
            .env("GIT_CONFIG_NOSYSTEM", "1"))
    };
    git(&["init", "-q"]);
    std::fs::create_dir(repo.join("src")).unwrap();
    std::fs::write(repo.join("src/a.txt"), "one\n").unwrap();
    std::os::unix::fs::symlink("src/a.txt", repo.join("link")).unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "first"]);
    std::fs::write(repo.join("src/a.txt"), "two\n").unwrap();
    std::fs::write(repo.join("b.txt"), "new\n").unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "second"]);
    git(&["fsck", "--strict", "--no-progress"]);
    assert_eq!(git(&["status", "--porcelain"]), "");
    assert_eq!(git(&["log", "--format=%s"]), "second\nfirst\n");
    assert_eq!(git(&["show", "HEAD~1:src/a.txt"]), "one\n");
    assert_eq!(git(&["cat-file", "-p", "HEAD:link"]), "src/a.txt");
}

/// `find -printf '%p %y %m %n %s %T@ %l'` of a tree, sorted: what tar and rsync must keep.
/// A directory's size is each file system's own (tmpfs counts its entries): left out.
fn find_printf(root: &Path) -> String {
    let out = run(Command::new("find")
        .args([".", "-type", "d", "-printf", "%p %y %m %n - %T@ %l\n", "-o", "-printf", "%p %y %m %n %s %T@ %l\n"])
        .current_dir(root));
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    lines.join("\n")
}

/// `tar -x` onto a 3-server mount, then `rsync -aH` of it back out: once the attribute
/// timeout has passed, both list as the same extraction on tmpfs does (kinds, modes,
/// link counts, directories' `2 + subdirectories` included, sizes, mtimes, targets).
#[test]
fn tar_onto_the_mount_and_rsync_back_list_as_on_tmpfs() {
    require_fuse!();
    let Some(src) = sample_tree_for_rsync() else { return };
    let archive = src.path().join("t.tar");
    run(Command::new("tar").arg("-cf").arg(&archive).arg("-C").arg(src.path()).arg("t"));
    let m = TestMount::new(Backend::Cluster, &[]);
    let (reference, back) = (fast_tempdir(), fast_tempdir());
    let on_mount = m.path().join("x");
    std::fs::create_dir(&on_mount).unwrap();
    for dest in [reference.path(), on_mount.as_path()] {
        run(Command::new("tar").arg("-xpf").arg(&archive).arg("-C").arg(dest));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let want = find_printf(&reference.path().join("t"));
    assert_eq!(find_printf(&on_mount.join("t")), want, "tar -x on the mount (left), on tmpfs (right)");
    run(Command::new("rsync").arg("-aH").arg(format!("{}/", on_mount.join("t").display())).arg(back.path().join("t")));
    assert_eq!(find_printf(&back.path().join("t")), want, "rsync -aH back out (left), tar -x on tmpfs (right)");
}
