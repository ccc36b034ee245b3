//! Hardening: private server data, private secrets, a CLI that refuses destructive
//! mistakes before acting, one precedence for where the cluster is, plain-text logs,
//! and EFBIG past the largest file offset.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use benchfs::OpenOptions;
use benchfs_testkit::{runtime, show, Cluster};

/// Every path under `dir` (itself included) whose mode grants group or other anything.
fn open_to_others(dir: &Path) -> Vec<String> {
    let mut bad = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        if m.permissions().mode() & 0o077 != 0 {
            bad.push(format!("{} {:o}", p.display(), m.permissions().mode() & 0o7777));
        }
        if m.is_dir() {
            todo.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        }
    }
    bad
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn server_data_is_private_whatever_the_umask() {
    // Started under umask 0: only the modes the server asks for protect the data. (The
    // umask is per process; other tests of this binary starting children meanwhile only
    // get looser defaults, which none of them checks.)
    // SAFETY: umask(2) cannot fail.
    let old = unsafe { libc::umask(0) };
    let mut cluster = Cluster::start(1);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let rt = runtime();
    let write = |cluster: &Cluster, path: &'static str| {
        rt.block_on(async {
            let c = cluster.client().await;
            c.mkdir("/d", 0o755).await.ok();
            let f = c.create(path, 0o644).await.unwrap();
            f.write_at(&vec![7u8; 3 << 20], 100).await.unwrap();
            f.close().await.unwrap();
            c.truncate(path, (1 << 20) + 5).await.unwrap();
        })
    };
    write(&cluster, "/d/f");
    let data_dir = cluster.servers[0].data_dir.clone();
    assert!(data_dir.join("meta.redb").is_file());
    assert!(std::fs::read_dir(data_dir.join("chunks")).unwrap().count() > 0, "no chunk directory written");
    assert_eq!(open_to_others(&data_dir), Vec::<String>::new());

    // An existing data directory with a loose mode is tightened at start.
    assert!(cluster.stop(0));
    chmod(&data_dir, 0o755);
    chmod(&data_dir.join("meta.redb"), 0o644);
    cluster.restart(0);
    write(&cluster, "/d/g");
    assert_eq!(open_to_others(&data_dir), Vec::<String>::new());

    // A shared sticky directory (/tmp, a fresh tmpfs mount) is used as it is, not
    // chmod'ed; what the server puts in it is private.
    let shared = cluster.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    let mut server = Command::new(env!("CARGO_BIN_EXE_benchfsd"))
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&shared)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(server.stdout.take().unwrap()), &mut line).unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(line.starts_with("benchfsd listening on "), "benchfsd on a sticky dir: {line:?}");
    assert_eq!(std::fs::metadata(&shared).unwrap().permissions().mode() & 0o7777, 0o1777);
    let itself = format!("{} ", shared.display());
    let inside: Vec<String> = open_to_others(&shared).into_iter().filter(|p| !p.starts_with(&itself)).collect();
    assert_eq!(inside, Vec::<String>::new());
}

/// Runs `cmd`, killing it if it has not exited within 20 s (a server that starts serving).
fn output_within(cmd: &mut Command) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn secret_file_readable_by_others_is_refused_by_server_and_client() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef").unwrap();
    chmod(&secret, 0o644);
    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_benchfsd"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .arg("--secret-file")
            .arg(&secret),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(err.contains("0644") && err.contains(&format!("chmod 600 {}", secret.display())), "{}", show(&out));

    let out = output_within(
        Command::new(env!("CARGO_BIN_EXE_benchfs"))
            .args(["--servers", "127.0.0.1:1", "--secret-file"])
            .arg(&secret)
            .args(["ls", "/"]),
    );
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("chmod 600"), "{}", show(&out));
}

/// The CLI with the cluster given by `args` alone: no BENCHFS_* variable leaks in.
fn cli(env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_benchfs"));
    for v in ["BENCHFS_SERVERS", "BENCHFS_REGISTRY", "BENCHFS_SECRET_FILE", "BENCHFS_TIMEOUT", "BENCHFS_CHUNK_SIZE"] {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied()).args(["--timeout", "3"]).args(args).output().unwrap()
}

#[test]
fn cli_refuses_to_remove_the_root_and_to_put_a_bad_source() {
    let cluster = Cluster::start(2);
    let spec = cluster.spec();
    let local = cluster.dir.path().join("local.txt");
    std::fs::write(&local, "precious").unwrap();
    let ok = |args: &[&str]| {
        let out = cli(&[], &[&["--servers", spec.as_str()][..], args].concat());
        assert!(out.status.success(), "{args:?}: {}", show(&out));
        out
    };
    ok(&["mkdir", "-p", "/x/y"]);
    ok(&["put", local.to_str().unwrap(), "/file"]);
    ok(&["put", local.to_str().unwrap(), "/x/y/file"]);

    for root in ["/", "//", "/x/..", "/x/y/../../."] {
        for flags in [&["rm", "-r"][..], &["rm"][..]] {
            let out = cli(&[], &[&["--servers", &spec][..], flags, &[root]].concat());
            assert!(!out.status.success(), "rm {root}: {}", show(&out));
            assert!(String::from_utf8_lossy(&out.stderr).contains("refusing to remove the root"), "{}", show(&out));
        }
    }
    let listing = String::from_utf8(ok(&["ls", "/"]).stdout).unwrap();
    let mut names: Vec<_> = listing.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["file", "x"]);
    ok(&["stat", "/x/y/file"]);

    // A directory, a missing file, an unreadable file: the remote file keeps its content.
    let unreadable = cluster.dir.path().join("unreadable");
    std::fs::write(&unreadable, "x").unwrap();
    chmod(&unreadable, 0o000);
    let mut sources = vec![cluster.dir.path().to_path_buf(), cluster.dir.path().join("missing")];
    // root reads any file whatever its mode.
    if std::fs::read(&unreadable).is_err() {
        sources.push(unreadable);
    }
    for src in sources {
        let out = cli(&[], &["--servers", &spec, "put", src.to_str().unwrap(), "/file"]);
        assert!(!out.status.success(), "put {}: {}", src.display(), show(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(src.to_str().unwrap()), "{}", show(&out));
        assert_eq!(ok(&["get", "/file", "-"]).stdout, b"precious", "after put {}", src.display());
    }
}

#[test]
fn cluster_precedence_flags_then_environment_servers_then_registry() {
    let cluster = Cluster::start_with_registry(1);
    let registry = cluster.registry();
    let reg = registry.to_str().unwrap();
    let secret = registry.join(benchfs::auth::REGISTRY_SECRET);
    let secret = secret.to_str().unwrap();
    let spec = cluster.spec();
    let nowhere = "127.0.0.1:1";
    let missing_registry = cluster.dir.path().join("no-registry");
    let missing_registry = missing_registry.to_str().unwrap();
    let out = cli(&[], &["--registry", reg, "mkdir", "/here"]);
    assert!(out.status.success(), "{}", show(&out));

    let served = |env: &[(&str, &str)], args: &[&str]| {
        let out = cli(env, &[args, &["ls", "/"]].concat());
        assert!(out.status.success(), "{env:?} {args:?}: {}", show(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "here");
    };
    let refused_by_nowhere = |env: &[(&str, &str)], args: &[&str]| {
        let out = cli(env, &[args, &["ls", "/"]].concat());
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains(nowhere), "{}", show(&out));
    };
    // Both variables set: BENCHFS_SERVERS wins (it used to be a usage error on every call).
    served(&[("BENCHFS_SERVERS", &spec), ("BENCHFS_REGISTRY", missing_registry), ("BENCHFS_SECRET_FILE", secret)], &[]);
    refused_by_nowhere(&[("BENCHFS_SERVERS", nowhere), ("BENCHFS_REGISTRY", reg)], &[]);
    // Either flag beats either variable.
    served(&[("BENCHFS_SERVERS", nowhere), ("BENCHFS_REGISTRY", missing_registry)], &["--registry", reg]);
    served(&[("BENCHFS_REGISTRY", missing_registry), ("BENCHFS_SECRET_FILE", secret)], &["--servers", &spec]);
    // Both flags: --servers wins.
    refused_by_nowhere(&[], &["--servers", nowhere, "--registry", reg]);
    served(&[("BENCHFS_SECRET_FILE", secret)], &["--servers", &spec, "--registry", missing_registry]);
    // Only the registry variable.
    served(&[("BENCHFS_REGISTRY", reg)], &[]);
}

#[test]
fn logs_written_to_files_have_no_colour_codes() {
    let cluster = Cluster::start(1);
    let out = cli(&[("RUST_LOG", "debug")], &["--servers", &cluster.spec(), "ls", "/"]);
    assert!(out.status.success(), "{}", show(&out));
    let log = cluster.log(0);
    assert!(log.contains("serving"), "{log}");
    assert!(!log.contains("\x1b["), "server log has ANSI escapes: {log:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("\x1b["), "{}", show(&out));
}

#[test]
fn writes_past_the_largest_offset_are_efbig() {
    let cluster = Cluster::start(1);
    runtime().block_on(async {
        let c = cluster.client().await;
        let f = c.open("/big", &OpenOptions { write: true, create: true, ..OpenOptions::default() }).await.unwrap();
        let max = i64::MAX as u64;
        for (off, len) in [(max, 1), (max - 1, 2), (u64::MAX, 1), (1 << 63, 4096)] {
            let e = f.write_at(&vec![1u8; len], off).await.unwrap_err();
            assert_eq!(e.errno(), libc::EFBIG, "write of {len} at {off}: {e}");
        }
        // Ending exactly at the limit is allowed.
        assert_eq!(f.write_at(b"z", max - 1).await.unwrap(), 1);
        assert_eq!(f.size(), max);
        f.close().await.unwrap();
    });
}
