//! A dead or hung server: operations that need it fail within the timeout with
//! EIO/ETIMEDOUT; the rest keep working; the CLI names the server.

mod common;

use std::time::{Duration, Instant};

use benchfs::{Client, OpenOptions};
use common::{pattern, runtime, Cluster};

const TIMEOUT: Duration = Duration::from_secs(2);

/// A path whose metadata lives on server `owner` (and one that does not).
fn path_owned_by(c: &Client, owner: usize, want: bool, tag: &str) -> String {
    (0..).map(|i| format!("/{tag}{i}")).find(|p| (c.ring().meta_owner(p) == owner) == want).unwrap()
}

fn check_fails_fast(r: benchfs::Result<impl std::fmt::Debug>, started: Instant, what: &str) {
    let e = r.expect_err(what);
    assert!([libc::EIO, libc::ETIMEDOUT].contains(&e.errno()), "{what}: errno {} ({e})", e.errno());
    assert!(started.elapsed() < TIMEOUT + Duration::from_secs(2), "{what} took {:?}", started.elapsed());
}

fn fails_and_others_continue(signal: Option<i32>) {
    let mut cluster = Cluster::start(4);
    let rt = runtime();
    let victim_addr = rt.block_on(async {
        let c = cluster.client_with(|cfg| cfg.timeout = TIMEOUT).await;
        // Ring positions follow the client's (sorted) server list, not start order.
        let victim = 2;
        let victim_addr = c.servers()[victim].clone();
        let dead_path = path_owned_by(&c, victim, true, "dead");
        let live_path = path_owned_by(&c, victim, false, "live");
        c.create(&dead_path, 0o644).await.unwrap().close().await.unwrap();
        // A one-chunk file whose only chunk is on a live server (file ids are random:
        // recreate until chunk 0 lands elsewhere).
        let f = loop {
            let f = c.create(&live_path, 0o644).await.unwrap();
            if c.ring().chunk_owner(f.fid(), 0) != victim {
                break f;
            }
            c.unlink(&live_path).await.unwrap();
        };
        f.write_at(&pattern(3, 1000), 0).await.unwrap();
        f.close().await.unwrap();
        let big = c.create(&format!("{live_path}-big"), 0o644).await.unwrap();

        let vi = cluster.index_of(&victim_addr);
        match signal {
            Some(sig) => cluster.signal(vi, sig),
            None => cluster.kill(vi),
        }
        // Signal delivery to a running process on another core is not instantaneous.
        tokio::time::sleep(Duration::from_millis(200)).await;

        let t = Instant::now();
        check_fails_fast(c.stat(&dead_path).await, t, "stat of a path owned by the dead server");
        let t = Instant::now();
        // 64 MiB spans every server: some chunk needs the dead one.
        check_fails_fast(big.write_at(&vec![7u8; 64 << 20], 0).await, t, "write over all servers");
        let t = Instant::now();
        check_fails_fast(c.readdir("/").await, t, "readdir (fans out to every server)");

        // Operations that only need live servers keep working.
        let g = c.open(&live_path, &OpenOptions::default()).await.unwrap();
        let mut buf = vec![0u8; 1000];
        assert_eq!(g.read_at(&mut buf, 0).await.unwrap(), 1000);
        assert_eq!(buf, pattern(3, 1000));
        let other = path_owned_by(&c, victim, false, "new");
        c.mkdir(&other, 0o755).await.unwrap();
        victim_addr
    });

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_benchfs"))
        .args(["--servers", &cluster.spec(), "--timeout", "2", "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "status succeeded with a dead server: {text}");
    assert!(text.lines().any(|l| l.starts_with(victim_addr.as_str()) && l.contains("UNREACHABLE")), "{text}");
    if signal.is_some() {
        cluster.signal(cluster.index_of(&victim_addr), libc::SIGCONT);
    }
}

#[test]
fn killed_server_gives_eio_and_the_rest_keeps_working() {
    fails_and_others_continue(None);
}

#[test]
fn hung_server_gives_etimedout_within_the_timeout() {
    fails_and_others_continue(Some(libc::SIGSTOP));
}

#[test]
fn unreachable_cluster_is_a_clear_cli_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_benchfs"))
        .args(["--servers", "127.0.0.1:1", "--timeout", "2", "ls", "/x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1") && err.lines().count() == 1, "{err}");
}
