//! What changes with the number of servers: readdir fans out to every server (bounded,
//! paged) and must return each entry once, and so must a tree walk (`benchfs find`,
//! IO500's find phase); servers raise their open-file limit, since every connection is
//! a descriptor.

use std::collections::BTreeSet;
use std::os::unix::process::CommandExt;
use std::path::Path;

use benchfs_testkit::{runtime, server, Cluster};

#[test]
fn readdir_across_16_servers_lists_every_entry_exactly_once() {
    let cluster = Cluster::start(16);
    runtime().block_on(async {
        let c = cluster.client().await;
        c.mkdir("/d", 0o755).await.unwrap();
        c.mkdir("/d/sub", 0o755).await.unwrap();
        let mut want: BTreeSet<String> = BTreeSet::from(["sub".to_string()]);
        for batch in (0..1500).collect::<Vec<u32>>().chunks(100) {
            let creates = batch.iter().map(|i| {
                let c = c.clone();
                async move { c.create(&format!("/d/f{i:05}"), 0o644).await.unwrap().close().await.unwrap() }
            });
            futures::future::join_all(creates).await;
            want.extend(batch.iter().map(|i| format!("f{i:05}")));
        }
        // Entries of a subdirectory and of a sibling with a common prefix stay out.
        c.create("/d/sub/inner", 0o644).await.unwrap().close().await.unwrap();
        c.mkdir("/dd", 0o755).await.unwrap();
        c.create("/dd/other", 0o644).await.unwrap().close().await.unwrap();

        let names: Vec<String> = c.readdir("/d").await.unwrap().into_iter().map(|e| e.name).collect();
        let unique: BTreeSet<String> = names.iter().cloned().collect();
        assert_eq!(names.len(), unique.len(), "an entry was listed twice");
        assert_eq!(unique, want);
        assert!(names.windows(2).all(|w| w[0] < w[1]), "entries not sorted by name");
        let holding = c.server_status().await.iter().filter(|s| s.result.as_ref().unwrap().inodes > 0).count();
        assert!(holding >= 12, "1,500 records on only {holding} of 16 servers");
    });
}

/// The soft limit of a running process's open files, from /proc/PID/limits.
fn soft_nofile(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    line.split_whitespace().nth(3).unwrap().parse().unwrap()
}

#[test]
fn benchfsd_raises_its_open_file_limit_to_the_hard_limit() {
    let hard = benchfs::fd_limit::current().unwrap().hard;
    let low = 256.min(hard);
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = server::command(Path::new(env!("CARGO_BIN_EXE_benchfsd")), "127.0.0.1:0", &dir.path().join("d"));
    // SAFETY: setrlimit is async-signal-safe and touches only the given struct.
    unsafe {
        cmd.pre_exec(move || {
            let r = libc::rlimit { rlim_cur: low, rlim_max: hard };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (child, _addr) = server::start(cmd.stderr(std::process::Stdio::null())).unwrap();
    let servers = server::Servers(vec![child]);
    let soft = soft_nofile(servers.0[0].id());
    if hard == libc::RLIM_INFINITY {
        assert!(soft > low, "benchfsd kept its soft limit of {low} (hard: unlimited)");
    } else {
        assert_eq!(soft, hard, "benchfsd started with a soft limit of {low} (hard {hard}) kept {soft}");
    }
}

#[test]
fn find_walks_every_level_and_applies_name_size_and_newer() {
    let cluster = Cluster::start(4);
    let stamp = cluster.dir.path().join("timestamp");
    runtime().block_on(async {
        let c = cluster.client().await;
        for d in ["/t", "/t/a", "/t/a/b", "/t/c"] {
            c.mkdir(d, 0o755).await.unwrap();
        }
        let old = c.create("/t/a/old01", 0o644).await.unwrap();
        old.write_at(&[7u8; 3901], 0).await.unwrap();
        old.close().await.unwrap();
        // mtimes have nanoseconds, but make sure the clock moved past the old file's.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&stamp, b"").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        for (path, len) in [("/t/a/b/new01", 3901), ("/t/c/x01", 3901), ("/t/c/y01", 10), ("/t/c/z02", 3901)] {
            let f = c.create(path, 0o644).await.unwrap();
            f.write_at(&vec![1u8; len], 0).await.unwrap();
            f.close().await.unwrap();
        }
    });
    let all = cluster.cli(&["find", "/t"]);
    let mut got: Vec<&str> = all.lines().collect();
    got.sort_unstable();
    let want = ["/t/a", "/t/a/b", "/t/a/b/new01", "/t/a/old01", "/t/c", "/t/c/x01", "/t/c/y01", "/t/c/z02"];
    assert_eq!(got, want);
    let stamp = stamp.to_str().unwrap();
    let io500 = cluster.cli(&["find", "/t", "--newer", stamp, "--size", "3901c", "--name", "*01*", "--count"]);
    assert_eq!(io500.trim(), "MATCHED 2/8");
}
