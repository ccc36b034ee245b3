//! A dead, hung or slow server: operations that need it fail within the timeout with
//! EIO/ETIMEDOUT (or, slow, succeed late); the rest keep working; the CLI names it.
//!
//! Most of it is checked with faults injected on the client's link to one of several
//! real servers (`FaultyTransport` over TCP): a dead server (every call reset), a hung one
//! (every call lost), a slow one. No signals, no sleeps: the fault is there from the
//! first call. Two tests keep a real process, for what only the OS shows: a SIGKILLed
//! server (refused and reset connections) and a SIGSTOPped one (a TCP peer that takes
//! the bytes and never answers: the client's own deadline must fire), both also as the
//! CLI's `status` sees them.

use std::time::{Duration, Instant};

use benchfs::transport::faulty::{Fault, Match};
use benchfs::{Client, OpenOptions};
use benchfs_testkit::{pattern, runtime, Cluster};

/// The client's deadline in the injected tests.
const TIMEOUT: Duration = Duration::from_millis(500);
/// Slack on every elapsed-time bound (a loaded machine), never waited for.
const SLACK: Duration = Duration::from_secs(2);
/// Ring position of the server that fails (the client's sorted order).
const VICTIM: usize = 2;

/// A path whose metadata lives on server `owner` (and one that does not).
fn path_owned_by(c: &Client, owner: usize, want: bool, tag: &str) -> String {
    (0..).map(|i| format!("/{tag}{i}")).find(|p| (c.ring().meta_owner(p) == owner) == want).unwrap()
}

#[track_caller]
fn check_fails_fast<T>(r: benchfs::Result<T>, started: Instant, errnos: &[i32], bound: Duration, what: &str) {
    let Err(e) = r else { panic!("{what}: succeeded") };
    assert!(errnos.contains(&e.errno()), "{what}: errno {} ({e}), expected one of {errnos:?}", e.errno());
    assert!(started.elapsed() < bound, "{what} took {:?}", started.elapsed());
}

/// Files made while every server is up: one whose metadata is on the victim, one
/// whose metadata and only chunk are elsewhere, and an empty one for a 16 MiB write
/// that needs the victim.
struct Files {
    dead: String,
    live: String,
    big: benchfs::File,
}

async fn make_files(c: &Client, victim: usize) -> Files {
    let dead = path_owned_by(c, victim, true, "dead");
    let live = path_owned_by(c, victim, false, "live");
    c.create(&dead, 0o644).await.unwrap().close().await.unwrap();
    // File ids are random: recreate until chunk 0 lands on a live server.
    let f = loop {
        let f = c.create(&live, 0o644).await.unwrap();
        if c.ring().chunk_owner(f.fid(), 0) != victim {
            break f;
        }
        c.unlink(&live).await.unwrap();
    };
    f.write_at(&pattern(3, 1000), 0).await.unwrap();
    f.close().await.unwrap();
    // And one whose first 16 chunks (16 MiB) include one on the victim.
    let big_path = format!("{live}-big");
    let big = loop {
        let f = c.create(&big_path, 0o644).await.unwrap();
        if (0..16).any(|k| c.ring().chunk_owner(f.fid(), k) == victim) {
            break f;
        }
        c.unlink(&big_path).await.unwrap();
    };
    Files { dead, live, big }
}

/// What needs only live servers keeps working.
async fn live_servers_keep_working(c: &Client, files: &Files, victim: usize, tag: &str) {
    let g = c.open(&files.live, &OpenOptions::default()).await.unwrap();
    let mut buf = vec![0u8; 1000];
    assert_eq!(g.read_at(&mut buf, 0).await.unwrap(), 1000);
    assert_eq!(buf, pattern(3, 1000));
    c.mkdir(&path_owned_by(c, victim, false, tag), 0o755).await.unwrap();
}

/// The victim's link resets every call (a dead server): EIO at once for everything that
/// needs it, a write spanning every server included; the rest works; and once the link
/// is back the same client is served again.
#[test]
fn dead_server_gives_eio_and_the_rest_keeps_working() {
    let cluster = Cluster::start(4);
    runtime().block_on(async {
        let (c, faults) = cluster.faulty_client(TIMEOUT);
        let files = make_files(&c, VICTIM).await;
        faults.inject(Match { server: Some(VICTIM), ..Default::default() }, Fault::ResetBeforeSend);

        let bound = TIMEOUT + SLACK;
        let t = Instant::now();
        check_fails_fast(c.stat(&files.dead).await, t, &[libc::EIO], bound, "stat of a path on the dead server");
        let t = Instant::now();
        let r = files.big.write_at(&vec![7u8; 16 << 20], 0).await;
        check_fails_fast(r, t, &[libc::EIO], bound, "write over all servers");
        let t = Instant::now();
        check_fails_fast(c.readdir("/").await, t, &[libc::EIO], bound, "readdir (fans out to every server)");
        assert!(faults.seen(0) >= 3, "the dead server was asked {} times", faults.seen(0));

        live_servers_keep_working(&c, &files, VICTIM, "new").await;

        faults.clear();
        c.stat(&files.dead).await.expect("stat once the server is back");
        // The failed write published nothing.
        files.big.close().await.unwrap();
        assert_eq!(c.stat(&format!("{}-big", files.live)).await.unwrap().size, 0);
        assert!(c.readdir("/").await.unwrap().iter().any(|e| format!("/{}", e.name) == files.dead));
    });
}

/// Every call to the victim is lost (a hung server): ETIMEDOUT at the deadline, for a
/// single call, a write spanning every server and a fan-out alike; the rest works.
#[test]
fn hung_server_gives_etimedout_within_the_timeout() {
    let cluster = Cluster::start(4);
    runtime().block_on(async {
        let (c, faults) = cluster.faulty_client(TIMEOUT);
        let files = make_files(&c, VICTIM).await;
        faults.inject(Match { server: Some(VICTIM), ..Default::default() }, Fault::Drop { deadline: TIMEOUT });

        let bound = TIMEOUT + SLACK;
        let t = Instant::now();
        check_fails_fast(c.stat(&files.dead).await, t, &[libc::ETIMEDOUT], bound, "stat on the hung server");
        let t = Instant::now();
        let r = files.big.write_at(&vec![7u8; 16 << 20], 0).await;
        check_fails_fast(r, t, &[libc::ETIMEDOUT], bound, "write over all servers");
        let t = Instant::now();
        check_fails_fast(c.readdir("/").await, t, &[libc::ETIMEDOUT], bound, "readdir (fans out to every server)");
        assert!(faults.seen(0) >= 3, "the hung server was asked {} times", faults.seen(0));
        live_servers_keep_working(&c, &files, VICTIM, "new").await;
    });
}

/// A slow server: an answer late but within the deadline is an answer, not an error;
/// and a call stuck on it does not hold up calls to the others on the same client.
#[test]
fn slow_server_answers_late_and_does_not_hold_up_the_others() {
    let cluster = Cluster::start(4);
    runtime().block_on(async {
        let (c, faults) = cluster.faulty_client(TIMEOUT);
        let files = make_files(&c, VICTIM).await;
        // Late, within the deadline.
        faults.inject(
            Match { server: Some(VICTIM), op: Some("Stat"), nth: Some(1), ..Default::default() },
            Fault::Delay(TIMEOUT / 4),
        );
        c.stat(&files.dead).await.expect("a late answer within the deadline");
        assert_eq!(faults.seen(0), 1);
        faults.clear();

        // Stuck for a minute: everything else finishes while it waits.
        faults.inject(
            Match { server: Some(VICTIM), op: Some("Stat"), ..Default::default() },
            Fault::Delay(Duration::from_secs(60)),
        );
        let stuck = tokio::spawn({
            let (c, p) = (c.clone(), files.dead.clone());
            async move { c.stat(&p).await }
        });
        live_servers_keep_working(&c, &files, VICTIM, "meanwhile").await;
        let w = c.open(&files.live, &OpenOptions { write: true, ..Default::default() }).await.unwrap();
        w.write_at(&pattern(4, 1000), 1000).await.unwrap();
        w.close().await.unwrap();
        assert_eq!(c.stat(&files.live).await.unwrap().size, 2000);
        assert!(!stuck.is_finished(), "the call stuck on the slow server finished early");
        assert_eq!(faults.seen(0), 1, "the stuck call was not the only one to the slow server");
        stuck.abort();
    });
}

// ---------------------------------------------------------------------------
// Real processes

/// Waits until every thread of `pid` is stopped (a SIGSTOP takes effect asynchronously).
fn wait_stopped(pid: u32) {
    let t = Instant::now();
    let stopped = || {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
        tasks.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok()).all(|s| {
            // The state follows the ")" that ends the command name.
            s.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()) == Some("T")
        })
    };
    while !stopped() {
        assert!(t.elapsed() < Duration::from_secs(10), "server {pid} did not stop");
        std::thread::yield_now();
    }
}

/// `benchfs status` against the cluster: fails and marks `addr` UNREACHABLE.
fn cli_status_names(cluster: &Cluster, addr: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_benchfs"))
        .args(["--servers", &cluster.spec(), "--timeout", "1", "status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "status succeeded with a failed server: {text}");
    assert!(text.lines().any(|l| l.starts_with(addr) && l.contains("UNREACHABLE")), "{text}");
}

/// A real server process that fails: SIGKILL (None) or SIGSTOP.
fn real_process_fails(signal: Option<i32>) {
    const REAL_TIMEOUT: Duration = Duration::from_secs(1);
    let mut cluster = Cluster::start(3);
    let rt = runtime();
    let (c, files, victim_addr) = rt.block_on(async {
        let c = cluster.client_with(|cfg| cfg.timeout = REAL_TIMEOUT).await;
        let files = make_files(&c, VICTIM).await;
        let addr = c.servers()[VICTIM].clone();
        (c, files, addr)
    });
    let vi = cluster.index_of(&victim_addr);
    let pid = cluster.pid(vi);
    let errno = match signal {
        Some(sig) => {
            cluster.signal(vi, sig);
            wait_stopped(pid);
            libc::ETIMEDOUT
        }
        // Killed and reaped: its port refuses, its connections are reset.
        None => {
            cluster.kill(vi);
            libc::EIO
        }
    };
    rt.block_on(async {
        let bound = REAL_TIMEOUT + SLACK;
        let t = Instant::now();
        check_fails_fast(c.stat(&files.dead).await, t, &[errno], bound, "stat of a path on the failed server");
        let t = Instant::now();
        check_fails_fast(c.readdir("/").await, t, &[errno], bound, "readdir (fans out to every server)");
        // A new client's connect to it fails the same way.
        let fresh = Client::new_lazy(c.config().clone());
        let t = Instant::now();
        check_fails_fast(fresh.stat(&files.dead).await, t, &[errno], bound, "a new client's stat");
        live_servers_keep_working(&c, &files, VICTIM, "new").await;
    });
    cli_status_names(&cluster, &victim_addr);
    if signal.is_some() {
        cluster.signal(vi, libc::SIGCONT);
    }
}

#[test]
fn killed_server_process_gives_eio_and_the_cli_names_it() {
    real_process_fails(None);
}

#[test]
fn stopped_server_process_gives_etimedout_and_the_cli_names_it() {
    real_process_fails(Some(libc::SIGSTOP));
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
