//! The one rule for skipping a test because something it needs is missing here, and the
//! switch that turns such a skip into a failure: `BENCHFS_REQUIRE`, a comma-separated list
//! of the names below, or `all` (every name in [`ALL`]). scripts/test.sh (CI) sets it to
//! `all`, so a tool that setup.sh should have installed cannot silently skip its tests.

/// What `all` requires: exactly what `scripts/setup.sh --test` installs (or what a
/// root shell on a Debian machine with it has). Keep the two in step.
/// - `fuse`: real FUSE mounts (root, an openable /dev/fuse; fuse3's fusermount3)
/// - `valgrind`, `fio`, `shellcheck`, `c++`: those commands (`cc` is never skipped:
///   the C API tests fail without it)
/// - `fsx`: the File System eXerciser (`cargo install fsx`)
/// - `mpirun`: Open MPI's launcher (openmpi-bin)
/// - `netns`: network namespaces (root with CAP_NET_ADMIN, `ip` from iproute2)
/// - `tmpfs`: mounting a tmpfs (root)
/// - `unshare`, `setpriv`: util-linux commands
/// - `git`, `rsync`: those commands, run on the mount
pub const ALL: &[&str] = &[
    "fuse",
    "valgrind",
    "fio",
    "fsx",
    "shellcheck",
    "c++",
    "mpirun",
    "netns",
    "tmpfs",
    "unshare",
    "setpriv",
    "git",
    "rsync",
];

/// Names that only an explicit `BENCHFS_REQUIRE` entry requires: software we cannot ship.
/// - `ior`, `mdtest`, `md-workbench`: IOR builds with the BENCHFS backend (BENCHFS_IOR_BIN, ...)
pub const OPTIONAL: &[&str] = &["ior", "mdtest", "md-workbench"];

/// Whether `BENCHFS_REQUIRE` requires `tool`. Panics on a name this file does not know,
/// so a typo cannot silently require nothing.
pub fn required(tool: &str) -> bool {
    let list = std::env::var("BENCHFS_REQUIRE").unwrap_or_default();
    let known = |n: &str| ALL.contains(&n) || OPTIONAL.contains(&n);
    assert!(known(tool), "benchfs-testkit/src/require.rs does not know the tool {tool:?}");
    let names: Vec<&str> = list.split(',').map(str::trim).filter(|n| !n.is_empty()).collect();
    if let Some(bad) = names.iter().find(|n| **n != "all" && !known(n)) {
        panic!("BENCHFS_REQUIRE={list:?} names {bad:?}; known: all, {}, {}", ALL.join(", "), OPTIONAL.join(", "));
    }
    names.iter().any(|n| *n == tool || (*n == "all" && ALL.contains(&tool)))
}

/// Call where a test (or part of one) is about to be skipped because `tool` is not
/// available here, `why` saying what is missing: prints "skipped: WHY" for the caller to
/// go on without it, or panics when `BENCHFS_REQUIRE` requires `tool`.
#[track_caller]
pub fn skip(tool: &str, why: impl std::fmt::Display) {
    if required(tool) {
        panic!(
            "{tool} is required here (BENCHFS_REQUIRE={:?}) but not available: {why}",
            std::env::var("BENCHFS_REQUIRE").unwrap_or_default()
        );
    }
    eprintln!("skipped: {why}");
}

/// Whether the command `tool` is on PATH.
pub fn on_path(tool: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}
