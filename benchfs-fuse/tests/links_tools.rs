//! Tools that lean on symbolic links and special files, on the mount: a Python virtual
//! environment (its `bin/python` is a link out of the mount), and tar extracting a tree
//! of links and a FIFO, compared with the same extraction on tmpfs.

#[macro_use]
mod common;

use std::path::Path;
use std::process::Command;

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
        common::require::skip("python3", "python3 with venv is not available");
        return;
    }
    let m = common::TestMount::new(common::Backend::Embedded, &[]);
    let venv = m.path().join("venv");
    run(Command::new("python3").arg("-m").arg("venv").arg(&venv));
    assert!(std::fs::symlink_metadata(venv.join("bin/python")).unwrap().is_symlink());
    let out = run(Command::new(venv.join("bin/python")).args(["-c", "import sys; print(1); print(sys.prefix)"]));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("1"));
    assert_eq!(lines.next().map(Path::new), Some(venv.as_path()), "the venv's python did not run as the venv");
}

/// `stat -c '%n %F %a %s'` of every entry of a tree (links not followed); a directory's
/// size is the file system's own (tmpfs counts entries), so it is left out.
fn listing(root: &Path) -> String {
    let out = run(Command::new("find")
        .arg(".")
        .arg("-exec")
        .arg("stat")
        .arg("-c")
        .arg("%n %F %a %s")
        .arg("{}")
        .arg("+")
        .current_dir(root));
    let mut lines: Vec<_> = out
        .lines()
        .map(|l| if l.contains(" directory ") { l.rsplit_once(' ').map_or(l, |(a, _)| a) } else { l }.to_string())
        .collect();
    lines.sort();
    lines.join("\n")
}

#[test]
fn tar_of_links_and_a_fifo_extracts_as_on_tmpfs() {
    require_fuse!();
    let src = common::fast_tempdir();
    let s = src.path();
    std::fs::create_dir_all(s.join("t/sub/deep")).unwrap();
    std::fs::write(s.join("t/file"), b"data").unwrap();
    std::fs::write(s.join("t/sub/deep/f"), vec![7u8; 100_000]).unwrap();
    std::os::unix::fs::symlink("file", s.join("t/rel")).unwrap();
    std::os::unix::fs::symlink("../file", s.join("t/sub/up")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", s.join("t/abs")).unwrap();
    std::os::unix::fs::symlink("missing", s.join("t/dangling")).unwrap();
    std::os::unix::fs::symlink("sub/deep", s.join("t/dirlink")).unwrap();
    run(Command::new("mkfifo").arg(s.join("t/sub/fifo")));
    let archive = s.join("t.tar");
    run(Command::new("tar").arg("-cf").arg(&archive).arg("-C").arg(s).arg("t"));

    let m = common::TestMount::new(common::Backend::Embedded, &[]);
    let reference = common::fast_tempdir();
    let on_mount = m.path().join("x");
    std::fs::create_dir(&on_mount).unwrap();
    for dest in [reference.path(), on_mount.as_path()] {
        run(Command::new("tar").arg("-xpf").arg(&archive).arg("-C").arg(dest));
    }
    // GNU diff never compares FIFOs: it reports each pair ("is a fifo while file ... is
    // a fifo") and exits 1. Anything else it says is a difference.
    let out =
        Command::new("diff").arg("-r").arg("--no-dereference").arg(reference.path()).arg(&on_mount).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.code() == Some(0) || out.status.code() == Some(1),
        "diff failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let other: Vec<_> =
        text.lines().filter(|l| !(l.contains("is a fifo while file") && l.ends_with("is a fifo"))).collect();
    assert!(other.is_empty(), "the trees differ:\n{}", other.join("\n"));
    assert_eq!(text.lines().count(), 1, "{text}");
    assert_eq!(listing(&on_mount), listing(reference.path()));
}
