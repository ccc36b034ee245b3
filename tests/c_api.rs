//! The C API as C programs see it: `tests/c/*.c` compiled by the system `cc` with
//! flags from `pkg-config benchfs` and run against real `benchfsd` clusters; the
//! header checked against the library's exported symbols; the install script, the
//! static archive, and valgrind's memcheck (every error kind, definite leaks).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use benchfs_testkit::require::{self, on_path};
use benchfs_testkit::Cluster;

/// `target/<profile>`: this test binary lives in its `deps/`, next to the libraries.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>").to_path_buf()
}

/// Where cargo just built `libbenchfs.{so,a}` for this test run. It copies them up
/// into `target/<profile>` (the `.pc`'s libdir) only for `cargo build`, so the copies
/// there may be stale while a test runs. (Another cargo build of this crate running
/// at the same moment can still replace these: the cdylib's name has no hash.)
fn lib_dir() -> PathBuf {
    profile_dir().join("deps")
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `cmd`, panicking with its output unless it succeeds.
fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    print!("{}", text(&out.stdout));
    out
}

/// `pkg-config ARGS benchfs` with `.pc` files searched only in `pc_dir`.
fn pkg_config(pc_dir: &Path, args: &[&str]) -> Vec<String> {
    let out = run(Command::new("pkg-config").args(args).arg("benchfs").env("PKG_CONFIG_PATH", pc_dir));
    String::from_utf8(out.stdout).expect("utf-8 flags").split_whitespace().map(String::from).collect()
}

/// Compiles `tests/c/<name>.c` into `dir` with strict C99 warnings and the given link flags.
fn compile(name: &str, dir: &Path, flags: &[String]) -> PathBuf {
    let exe = dir.join(name);
    let src = repo().join("tests/c").join(format!("{name}.c"));
    run(Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g", "-O1", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .args(flags));
    exe
}

/// Flags from the build tree's own `benchfs.pc` (written by build.rs), pointed at
/// this run's libraries.
fn build_tree_flags() -> Vec<String> {
    let pc_dir = profile_dir().join("pkgconfig");
    assert!(pc_dir.join("benchfs.pc").is_file(), "build.rs did not write {}", pc_dir.display());
    assert_eq!(pkg_config(&pc_dir, &["--variable=libdir"]), [profile_dir().display().to_string()]);
    let libdir = format!("--define-variable=libdir={}", lib_dir().display());
    pkg_config(&pc_dir, &[&libdir, "--cflags", "--libs"])
}

/// The shared libraries `exe` needs (readelf's NEEDED entries).
fn needed_libs(exe: &Path) -> String {
    let out = run(Command::new("readelf").arg("-d").arg(exe));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains("(NEEDED)")).collect::<Vec<_>>().join("\n")
}

fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("benchfs-c-api-").tempdir().expect("tempdir")
}

/// Function names the header declares: identifiers `benchfs_*` directly followed by
/// `(`, outside comments (the callback typedef is followed by `)` instead).
fn header_functions(header: &str) -> BTreeSet<String> {
    let mut code = String::new();
    let mut rest = header;
    while let Some(i) = rest.find("/*") {
        code.push_str(&rest[..i]);
        rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
    }
    code.push_str(rest);
    let bytes = code.as_bytes();
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices("benchfs_") {
        if i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_') {
            continue;
        }
        let end = code[i..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).map_or(code.len(), |n| i + n);
        if code[end..].trim_start().starts_with('(') {
            names.insert(code[i..end].to_string());
        }
    }
    names
}

#[test]
fn header_declares_exactly_the_exported_symbols() {
    let header = std::fs::read_to_string(repo().join("include/benchfs.h")).expect("read include/benchfs.h");
    let declared = header_functions(&header);
    assert!(declared.contains("benchfs_init") && !declared.contains("benchfs_readdir_fn"), "{declared:?}");
    let lib = lib_dir().join("libbenchfs.so");
    let out = run(Command::new("nm").args(["-D", "--defined-only"]).arg(&lib));
    let exported: BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .filter(|s| s.starts_with("benchfs_"))
        .map(String::from)
        .collect();
    let missing: Vec<_> = declared.difference(&exported).collect();
    let undeclared: Vec<_> = exported.difference(&declared).collect();
    assert!(
        missing.is_empty() && undeclared.is_empty(),
        "declared in benchfs.h but not exported: {missing:?}; exported but not declared: {undeclared:?}"
    );
}

#[test]
fn header_compiles_as_strict_c99_and_as_cxx() {
    let dir = tempdir();
    let src = dir.path().join("include_only.c");
    std::fs::write(&src, "#include \"benchfs.h\"\nint main(void) { return benchfs_errno(); }\n").expect("write");
    let inc = format!("-I{}", repo().join("include").display());
    run(Command::new("cc")
        .args(["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", &inc])
        .arg(&src));
    if on_path("c++") {
        run(Command::new("c++")
            .args(["-x", "c++", "-std=c++11", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", &inc])
            .arg(&src));
    } else {
        require::skip("c++", "the C++ check: c++ is not installed");
    }
}

#[test]
fn basic_calls_and_error_codes() {
    let dir = tempdir();
    let exe = compile("basic", dir.path(), &build_tree_flags());
    assert!(needed_libs(&exe).contains("libbenchfs.so"), "not linked against the shared library");
    let cluster = Cluster::start(3);
    run(Command::new(&exe).arg(cluster.spec()));
    // Through a registry directory, whose servers also demand the cluster secret.
    let cluster = Cluster::start_with_registry(2);
    run(Command::new(&exe).arg(format!("registry:{}", cluster.registry().display())));
}

#[test]
fn symbolic_links_and_special_files() {
    let dir = tempdir();
    let exe = compile("links", dir.path(), &build_tree_flags());
    let cluster = Cluster::start(3);
    run(Command::new(&exe).arg(cluster.spec()));
}

/// `..` after a file or a link is refused, not cancelled (`benchfs_rename(ctx,
/// "/P/a/file/..", "/P/x")` moved `/P/a`); a trailing `/` on a file is ENOTDIR.
#[test]
fn dot_dot_and_trailing_slashes_as_the_kernel_reads_them() {
    let dir = tempdir();
    let exe = compile("paths", dir.path(), &build_tree_flags());
    let cluster = Cluster::start(3);
    run(Command::new(&exe).arg(cluster.spec()));
}

#[test]
fn threads_of_two_processes_share_contexts_and_files() {
    let dir = tempdir();
    let exe = compile("threads", dir.path(), &build_tree_flags());
    let cluster = Cluster::start(2);
    let spec = cluster.spec();
    // One process per runtime flavour (see src/ffi/runtime.rs): caller-driven, workers.
    let writers: Vec<_> = [(0, "0"), (1, "2")]
        .into_iter()
        .map(|(p, flavour)| {
            Command::new(&exe)
                .args([spec.as_str(), &p.to_string(), "2", "write"])
                .env("BENCHFS_RUNTIME_THREADS", flavour)
                .spawn()
                .expect("spawn")
        })
        .collect();
    for mut w in writers {
        assert!(w.wait().expect("wait").success(), "a writer process failed (its stderr is above)");
    }
    run(Command::new(&exe).args([spec.as_str(), "0", "2", "verify"]));
}

#[test]
fn calls_survive_a_restart_of_every_server() {
    let dir = tempdir();
    let exe = compile("restart", dir.path(), &build_tree_flags());
    for flavour in ["0", "2"] {
        let mut cluster = Cluster::start(2);
        let mut child = Command::new(&exe)
            .arg(cluster.spec())
            .env("BENCHFS_RUNTIME_THREADS", flavour)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read");
        assert_eq!(line, "ready\n", "restart.c did not get ready");
        for i in 0..2 {
            assert!(cluster.stop(i), "server {i} did not stop cleanly");
            cluster.restart(i);
        }
        child.stdin.take().expect("stdin").write_all(b"go\n").expect("write");
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read");
        assert!(child.wait().expect("wait").success(), "flavour {flavour}: restart.c failed (stderr above)");
        assert_eq!(rest, "restart: ok\n");
    }
}

/// basic.c under memcheck, once per runtime flavour: any memcheck error (invalid
/// access, uninitialised value, bad free, ...) or a definite leak fails the test.
/// tests/c/valgrind.supp holds the proven false positives, each with its proof.
#[test]
fn valgrind_finds_no_memory_errors_or_definite_leaks() {
    if !on_path("valgrind") {
        require::skip("valgrind", "valgrind is not installed (apt-get install valgrind)");
        return;
    }
    let dir = tempdir();
    let exe = compile("basic", dir.path(), &build_tree_flags());
    let supp = repo().join("tests/c/valgrind.supp");
    for flavour in ["0", "2"] {
        let cluster = Cluster::start(2);
        // Leaks: only definite ones count: std keeps the main thread's handle through
        // an interior pointer, which valgrind calls "possibly lost", and the runtime
        // held in a static is "still reachable". Every other error kind counts.
        let out = run(Command::new("valgrind")
            .args([
                "--leak-check=full",
                "--errors-for-leak-kinds=definite",
                "--error-exitcode=9",
                "--track-origins=yes",
            ])
            .arg(format!("--suppressions={}", supp.display()))
            .arg(&exe)
            .arg(cluster.spec())
            .env("BENCHFS_RUNTIME_THREADS", flavour));
        let report = String::from_utf8_lossy(&out.stderr);
        assert!(report.contains("ERROR SUMMARY: 0 errors"), "flavour {flavour}: valgrind report:\n{report}");
        assert!(
            report.contains("definitely lost: 0 bytes") || report.contains("All heap blocks were freed"),
            "flavour {flavour}: valgrind report:\n{report}"
        );
        println!(
            "flavour {flavour}:\n{}",
            report
                .lines()
                .filter(|l| l.contains("lost:") || l.contains("ERROR SUMMARY"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn install_script_and_static_link() {
    let dir = tempdir();
    // A target directory holding this run's libraries and the build tree's .pc, for
    // `install.sh --no-build` to install from.
    let target = dir.path().join("target");
    let staged = target.join("debug");
    std::fs::create_dir_all(&staged).expect("mkdir");
    for f in ["libbenchfs.so", "libbenchfs.a"] {
        std::os::unix::fs::symlink(lib_dir().join(f), staged.join(f)).expect("symlink");
    }
    std::os::unix::fs::symlink(profile_dir().join("pkgconfig"), staged.join("pkgconfig")).expect("symlink");
    let install = |prefix: &Path, extra: &[&str]| {
        run(Command::new(repo().join("scripts/install.sh"))
            .args(["--profile", "debug", "--no-build"])
            .args(extra)
            .arg(prefix)
            .env("CARGO_TARGET_DIR", &target));
    };

    // Shared: header, both libraries and a .pc pointing into the prefix.
    let shared = dir.path().join("shared");
    install(&shared, &[]);
    for f in ["include/benchfs.h", "lib/libbenchfs.so", "lib/libbenchfs.a", "lib/pkgconfig/benchfs.pc"] {
        assert!(shared.join(f).is_file(), "{f} not installed");
    }
    let pc_dir = shared.join("lib/pkgconfig");
    let pc = std::fs::read_to_string(pc_dir.join("benchfs.pc")).expect("read installed .pc");
    assert!(pc.contains(&format!("prefix={}\n", shared.display())), "prefix not rewritten:\n{pc}");
    assert_eq!(pkg_config(&pc_dir, &["--variable=libdir"]), [shared.join("lib").display().to_string()]);
    let exe = compile("basic", dir.path(), &pkg_config(&pc_dir, &["--cflags", "--libs"]));
    assert!(needed_libs(&exe).contains("libbenchfs.so"));

    // Static: with only the archive installed, `--static` links it.
    let stat = dir.path().join("static");
    install(&stat, &["--no-shared"]);
    let flags = pkg_config(&stat.join("lib/pkgconfig"), &["--static", "--cflags", "--libs"]);
    assert!(flags.contains(&"-lpthread".to_string()), "no private libraries in {flags:?}");
    let static_dir = dir.path().join("static-build");
    std::fs::create_dir(&static_dir).expect("mkdir");
    let static_exe = compile("basic", &static_dir, &flags);
    let needed = needed_libs(&static_exe);
    assert!(!needed.contains("libbenchfs"), "static build still needs the shared library:\n{needed}");

    let cluster = Cluster::start(2);
    run(Command::new(&exe).arg(cluster.spec()));
    let cluster = Cluster::start(2);
    run(Command::new(&static_exe).arg(cluster.spec()));
}
