//! Where the binaries under test are, built from the current source with the profile the
//! running test was built with.
//!
//! A test of the package that owns a binary gets it from cargo: cargo builds a package's
//! binaries before its integration tests and (since cargo 1.94) names them to the running
//! test in `CARGO_BIN_EXE_<name>`. Any other test (a mount test needs `benchfsd`, which is
//! not benchfs-fuse's), or a test binary run without cargo, builds the binary itself with
//! `cargo build`, once per test binary: a path found on disk could be from another revision.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The server, `benchfsd`.
pub fn benchfsd() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| find("benchfs", "benchfsd"))
}

/// The command-line client, `benchfs`.
pub fn benchfs() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| find("benchfs", "benchfs"))
}

/// The mount, `benchfs-fuse`.
pub fn benchfs_fuse() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| find("benchfs-fuse", "benchfs-fuse"))
}

/// Binary `bin` of package `package`: the one cargo built for this test, else built now.
fn find(package: &str, bin: &str) -> PathBuf {
    match std::env::var_os(format!("CARGO_BIN_EXE_{bin}")) {
        Some(path) if Path::new(&path).exists() => PathBuf::from(path),
        _ => cargo_built(&["-p", package, "--bin", bin], bin),
    }
}

/// `target/<profile>/<artifact>` after `cargo build <args>` in the workspace, with the
/// profile the running test was built with; panics with cargo's output if that fails.
pub fn cargo_built(args: &[&str], artifact: &str) -> PathBuf {
    // A test binary is target/<profile dir>/deps/<name>; artifacts go next to deps/.
    let exe = std::env::current_exe().expect("current_exe");
    let out_dir = exe.parent().and_then(Path::parent).expect("target directory").to_path_buf();
    let profile = match out_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    // This crate sits at the top of the workspace, beside the packages it builds.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--profile", &profile])
        .args(args)
        .current_dir(&workspace)
        .output()
        .expect("run cargo build");
    assert!(out.status.success(), "cargo build {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let built = out_dir.join(artifact);
    assert!(built.exists(), "{} is missing after cargo build", built.display());
    built
}
