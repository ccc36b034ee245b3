//! Faults injected into a running cluster, and what must hold through each:
//!
//! - a server lost in the middle of a large write: the writer gets EIO or ETIMEDOUT
//!   promptly; other files stay readable (or fail cleanly where they need the lost
//!   server); once it is back every chunk of the interrupted file reads back as the
//!   bytes written, as zeros where the write failed, or as an error, never as other
//!   bytes. Twice: at an exact point by fault injection on the client's link (no
//!   process harmed), and as a real SIGKILL and restart (crash persistence);
//! - a server's disk full (a 16 MiB tmpfs as its data directory; root only): the
//!   writer gets ENOSPC, the server stays up and serves everything else, and space
//!   freed by truncation is usable again;
//! - a client (`benchfs put`) SIGKILLed mid-write, three times: servers keep serving,
//!   close the dead client's connections, and do not grow;
//! - a network partition (deploy/netns-cluster.sh; root only): calls to the cut-off
//!   host fail within the configured timeout, the rest keep working, and the same
//!   client recovers when the link returns.
//!
//! tests/failure.rs covers a server dead, hung or slow before the calls start; these
//! tests put the fault in the middle of the work. tests/faults_injected.rs has the
//! single-call faults (a lost chunk write, read, create, rename, flush; Retry).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use benchfs::proto::SetAttr;
use benchfs::transport::faulty::{Fault, Match};
use benchfs::{Client, Config, OpenOptions};
use benchfs_testkit::{pattern, require, runtime, status_kib, Cluster};

const MIB: usize = 1 << 20;

// ---------------------------------------------------------------------------
// Helpers

/// A path whose metadata owner is (or is not) server `owner` in the client's order.
fn path_owned_by(c: &Client, owner: usize, want: bool, tag: &str) -> String {
    (0..).map(|i| format!("/{tag}{i}")).find(|p| (c.ring().meta_owner(p) == owner) == want).expect("a path")
}

/// Open sockets of a process (its listener and its connections).
fn socket_count(pid: u32) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
    fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

fn errno_in(e: &benchfs::Error, allowed: &[i32], what: &str) {
    assert!(allowed.contains(&e.errno()), "{what}: errno {} ({e}), expected one of {allowed:?}", e.errno());
}

/// The bytes of piece `k` of a large file written in `piece`-byte writes (generated,
/// not stored, so the file can be large).
fn piece_data(k: u64, piece: usize) -> Vec<u8> {
    pattern(0xb16 + k, piece)
}

/// How one range of a file read back.
#[derive(Debug, Default)]
struct Verdicts {
    exact: usize,
    zeros: usize,
    errors: usize,
    garbage: Vec<String>,
}

/// Reads `[off, off + expect.len())` and classifies it: the written bytes, all zeros
/// (allowed only where `zeros_ok`: a write that was never acknowledged), an error
/// (EIO/ETIMEDOUT, or EIO-class corruption detected), or anything else (garbage).
async fn check_range(f: &benchfs::File, off: u64, expect: &[u8], zeros_ok: bool, v: &mut Verdicts) {
    let mut buf = vec![0u8; expect.len()];
    match f.read_at(&mut buf, off).await {
        Ok(n) if n == expect.len() && buf == expect => v.exact += 1,
        Ok(n) if zeros_ok && n == expect.len() && buf.iter().all(|&b| b == 0) => v.zeros += 1,
        Ok(n) => {
            let first_bad = buf.iter().zip(expect).position(|(a, b)| a != b).unwrap_or(n);
            v.garbage.push(format!("[{off}, +{}): read {n} bytes, first difference at +{first_bad}", expect.len()));
        }
        Err(e) => {
            errno_in(&e, &[libc::EIO, libc::ETIMEDOUT], "reading a range");
            v.errors += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// A server lost in the middle of a large write

/// 4 MiB writes: each spans four 1 MiB chunks, on every server of three.
const PIECE: usize = 4 * MIB;

/// Files written and fsynced before the fault, metadata off the victim, some with
/// chunks on it; the first (one chunk) has none there.
async fn write_others(c: &Client, victim: usize) -> Vec<(String, Vec<u8>)> {
    let mut others = Vec::new();
    for i in 0..6u64 {
        let p = path_owned_by(c, victim, false, &format!("other{i}-"));
        let data = pattern(i, 100_000 + (i as usize) * 700_000);
        let f = loop {
            let f = c.create(&p, 0o644).await.unwrap();
            // File ids are random: recreate until the first file's chunk is elsewhere.
            if i > 0 || c.ring().chunk_owner(f.fid(), 0) != victim {
                break f;
            }
            c.unlink(&p).await.unwrap();
        };
        f.write_at(&data, 0).await.unwrap();
        f.fsync().await.unwrap();
        others.push((p, data));
    }
    others
}

/// During the outage: every other file reads back exactly, or fails cleanly (it has a
/// chunk on the lost server); with `exact_owners`, precisely those with a chunk there fail.
async fn check_others_during_outage(c: &Client, others: &[(String, Vec<u8>)], victim: usize, exact_owners: bool) {
    let mut v = Verdicts::default();
    for (p, data) in others {
        let f = c.open(p, &OpenOptions::default()).await.unwrap();
        let errors = v.errors;
        check_range(&f, 0, data, false, &mut v).await;
        if exact_owners {
            let on_victim = (0..data.len().div_ceil(MIB) as u64).any(|k| c.ring().chunk_owner(f.fid(), k) == victim);
            assert_eq!(
                v.errors > errors,
                on_victim,
                "{p}: failed {}, has a chunk on the lost server {on_victim}",
                v.errors > errors
            );
        }
    }
    assert!(v.garbage.is_empty(), "other files read wrong bytes during the outage: {:?}", v.garbage);
    assert!(v.exact > 0, "no other file readable during the outage: {v:?}");
    println!("outage: other files {v:?}");
}

/// Once the lost server is back: every other file reads back exactly; the big file's
/// published size is what was acknowledged, all of that reads back exactly, and the
/// failed write's range (exposed by growing the file) is what was sent or zeros.
async fn check_after_recovery(c: &Client, others: &[(String, Vec<u8>)], big_path: &str, k_failed: u64) {
    for (p, data) in others {
        let f = c.open(p, &OpenOptions::default()).await.unwrap();
        let mut buf = vec![0u8; data.len()];
        assert_eq!(f.read_at(&mut buf, 0).await.unwrap(), data.len());
        assert!(&buf == data, "{p} differs after the server came back");
    }
    let acked_end = k_failed * PIECE as u64;
    let attempted_end = (k_failed + 1) * PIECE as u64;
    let a = c.stat(big_path).await.unwrap();
    assert_eq!(a.size, acked_end, "published size is the acknowledged end");
    c.set_attr(big_path, SetAttr { grow_to: Some(attempted_end), ..Default::default() }).await.unwrap();
    let f = c.open(big_path, &OpenOptions::default()).await.unwrap();
    let (mut acked_v, mut failed_v) = (Verdicts::default(), Verdicts::default());
    for k in 0..=k_failed {
        let data = piece_data(k, PIECE);
        for (j, chunk) in data.chunks(MIB).enumerate() {
            let off = k * PIECE as u64 + (j * MIB) as u64;
            let v = if k < k_failed { &mut acked_v } else { &mut failed_v };
            check_range(&f, off, chunk, k == k_failed, v).await;
        }
    }
    println!("after recovery: {} MiB acknowledged: {acked_v:?}; the failed 4 MiB write: {failed_v:?}", acked_end >> 20);
    assert!(acked_v.garbage.is_empty(), "acknowledged data read back wrong: {:?}", acked_v.garbage);
    assert!(failed_v.garbage.is_empty(), "the interrupted write left wrong bytes: {:?}", failed_v.garbage);
    assert_eq!(acked_v.exact, (acked_end as usize) / MIB, "{acked_v:?}");
}

/// The server's link breaks at an exact point of a large write, no process harmed:
/// after 32 MiB, the next write that needs the victim has its first chunk there
/// executed with the reply lost, and every later call to it reset. The writer gets EIO
/// at once; other files read back or fail exactly where they need the victim; once the
/// link is back, acknowledged data is intact and the failed range is never garbage.
#[test]
fn server_lost_mid_write_gives_eio_and_never_garbage() {
    let cluster = Cluster::start(3);
    let victim = 1; // in the client's (sorted) order
    runtime().block_on(async {
        let (c, faults) = cluster.faulty_client(Duration::from_secs(5));
        let others = write_others(&c, victim).await;
        let big_path = path_owned_by(&c, victim, false, "big");
        let f = c.create(&big_path, 0o644).await.unwrap();
        for k in 0..8u64 {
            f.write_at(&piece_data(k, PIECE), k * PIECE as u64).await.unwrap();
        }
        let to_victim = Match { server: Some(victim), ..Default::default() };
        faults.inject(Match { op: Some("Write"), nth: Some(1), ..to_victim.clone() }, Fault::ResetAfterSend);
        faults.inject(to_victim, Fault::ResetBeforeSend);
        let mut k = 8u64;
        let err = loop {
            match f.write_at(&piece_data(k, PIECE), k * PIECE as u64).await {
                Ok(_) => k += 1,
                Err(e) => break e,
            }
            assert!(k < 16, "no 4 MiB write needed the victim");
        };
        errno_in(&err, &[libc::EIO], "a write whose server was lost");
        assert!(faults.seen(0) >= 1, "the fault never fired");
        f.close().await.expect("close (size publication) on a live metadata owner");
        check_others_during_outage(&c, &others, victim, true).await;
        faults.clear();
        check_after_recovery(&c, &others, &big_path, k).await;
    });
}

/// A real crash: the victim SIGKILLed while a writer runs (the kill lands between or
/// inside its writes, wherever the writer is), then restarted on its data directory.
/// What only a real process shows: acknowledged data survives the crash (it was in the
/// OS page cache), the writer fails promptly on real connection errors, and a chunk
/// torn by the kill is never read back as other bytes.
#[test]
fn server_killed_mid_write_gives_eio_and_never_garbage() {
    const TIMEOUT: Duration = Duration::from_secs(3);
    let mut cluster = Cluster::start(3);
    let rt = runtime();
    let victim = 1; // in the client's (sorted) order
    let (c, others, big_path) = rt.block_on(async {
        let c = cluster.client_with(|cfg| cfg.timeout = TIMEOUT).await;
        let others = write_others(&c, victim).await;
        let big_path = path_owned_by(&c, victim, false, "big");
        (c, others, big_path)
    });
    let victim_idx = cluster.index_of(&c.servers()[victim]);

    // The writer: sequential 4 MiB writes until one fails (at most 1 GiB); it says when
    // 32 MiB are acknowledged and goes on writing.
    let (at_32_mib, reached) = std::sync::mpsc::channel();
    let writer = {
        let (c, big_path) = (c.clone(), big_path.clone());
        rt.spawn(async move {
            let f = c.create(&big_path, 0o644).await.unwrap();
            let mut failed = None;
            for k in 0..256u64 {
                match f.write_at(&piece_data(k, PIECE), k * PIECE as u64).await {
                    Ok(_) if k + 1 == 8 => at_32_mib.send(()).unwrap(),
                    Ok(_) => {}
                    Err(e) => {
                        failed = Some((k, e, Instant::now()));
                        break;
                    }
                }
            }
            // Publish what was acknowledged (the metadata owner is alive).
            let closed = f.close().await;
            (failed, closed)
        })
    };
    reached.recv_timeout(Duration::from_secs(60)).expect("the writer made no progress");
    cluster.kill(victim_idx);
    let killed_at = Instant::now();
    let (failed, closed) = rt.block_on(writer).unwrap();
    let (k_failed, err, failed_at) = failed.expect("the writer never touched the killed server in 1 GiB");
    errno_in(&err, &[libc::EIO, libc::ETIMEDOUT], "write to a killed server");
    let took = failed_at.saturating_duration_since(killed_at);
    assert!(took < TIMEOUT + Duration::from_secs(2), "the writer took {took:?} to fail");
    closed.expect("close (size publication) on a live metadata owner");

    rt.block_on(check_others_during_outage(&c, &others, victim, false));
    cluster.restart(victim_idx);
    rt.block_on(async {
        let c = cluster.client_with(|cfg| cfg.timeout = TIMEOUT).await;
        check_after_recovery(&c, &others, &big_path, k_failed).await;
    });
}

// ---------------------------------------------------------------------------
// A full disk

/// A tmpfs mounted over a directory; lazily unmounted on drop (the server using it
/// may still be running; the mount goes away when it exits).
struct TmpfsMount(PathBuf);

impl TmpfsMount {
    fn mount(dir: &Path, size: &str) -> Result<TmpfsMount, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            // mode=0700: a tmpfs root is 1777 (sticky) by default, a shared directory a
            // server refuses as its data directory.
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(TmpfsMount(dir.to_path_buf()))
    }
}

impl Drop for TmpfsMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// What the disk-full scenario saw, for the assertions of the two tests below.
struct FullDisk {
    /// The errno of the write that hit the full disk, and at which MiB.
    write_errno: i32,
    /// sync_all while the disk was full, and again after space was freed.
    sync_full: Result<(), benchfs::Error>,
    sync_freed: Result<(), benchfs::Error>,
    /// Files durably committed (sync_all) before the disk filled.
    synced_before: Vec<String>,
    /// Creates acknowledged on the full metadata server (not yet durable).
    acked_while_full: Vec<String>,
    stopped_cleanly: bool,
    /// After a stop and restart of the once-full server: which of the above exist.
    lost_synced: Vec<String>,
    lost_acked: Vec<String>,
}

/// Gives one of 3 servers a 16 MiB tmpfs data directory, fills it, checks what must
/// hold while it is full (ENOSPC to the writer, everything else served), frees the
/// space, stops and restarts that server, and reports what survived. None when the
/// machine cannot mount a tmpfs (not root, or no permission).
fn full_disk_scenario(test: &str) -> Option<FullDisk> {
    if !is_root() {
        require::skip("tmpfs", format_args!("{test}: mounting a tmpfs needs root"));
        return None;
    }
    let mut cluster = Cluster::start(3);
    let rt = runtime();
    let victim = 0;
    let victim_addr = Config::new(cluster.addrs()).unwrap().servers[victim].clone();
    let vi = cluster.index_of(&victim_addr);
    // Give the victim a fresh, 16 MiB data directory.
    cluster.kill(vi);
    let mount = match TmpfsMount::mount(&cluster.servers[vi].data_dir, "16m") {
        Ok(m) => m,
        Err(e) => {
            require::skip("tmpfs", format_args!("{test}: {e}"));
            return None;
        }
    };
    cluster.restart(vi);
    let small = pattern(1, 300_000);
    let mut r = rt.block_on(async {
        let c = cluster.client_with(|cfg| cfg.timeout = Duration::from_secs(5)).await;
        // Before the disk fills: small files with metadata on the victim and elsewhere,
        // made durable.
        let synced_before =
            vec![path_owned_by(&c, victim, true, "small-v"), path_owned_by(&c, victim, false, "small-o")];
        for p in &synced_before {
            let f = c.create(p, 0o644).await.unwrap();
            f.write_at(&small, 0).await.unwrap();
            f.close().await.unwrap();
        }
        c.sync_all().await.expect("sync_all before the disk fills");
        // Fill it: a third of the chunks of a large file land on the victim.
        let big = path_owned_by(&c, victim, false, "filler");
        let f = c.create(&big, 0o644).await.unwrap();
        let mut err = None;
        for k in 0..64u64 {
            if let Err(e) = f.write_at(&piece_data(k, 4 * MIB), k * 4 * MIB as u64).await {
                err = Some((k, e));
                break;
            }
        }
        let (k, e) = err.expect("256 MiB fitted on a cluster with a 16 MiB server");
        println!("full disk: write {k} (at {} MiB) failed: {e}", k * 4);
        f.close().await.unwrap();

        // The server is up and serves everything it holds.
        let st = c.server_status().await;
        assert!(st.iter().all(|s| s.result.is_ok()), "a server is unreachable: {st:?}");
        for p in &synced_before {
            let g = c.open(p, &OpenOptions::default()).await.unwrap();
            let mut buf = vec![0u8; small.len()];
            assert_eq!(g.read_at(&mut buf, 0).await.unwrap(), small.len());
            assert!(buf == small, "{p} differs on a full disk");
        }
        let g = c.open(&big, &OpenOptions::default()).await.unwrap();
        let mut v = Verdicts::default();
        for j in 0..k {
            check_range(&g, j * 4 * MIB as u64, &piece_data(j, 4 * MIB), false, &mut v).await;
        }
        assert!(v.garbage.is_empty() && v.errors == 0, "acknowledged data on a full disk: {v:?}");

        // Metadata on the full server: stats work; creates are acknowledged (redb
        // keeps non-durable commits) until the store cannot take them.
        c.stat(&synced_before[0]).await.unwrap();
        let mut acked_while_full = Vec::new();
        for i in 0..300 {
            // Long names: each record takes some space in the metadata store.
            let p = path_owned_by(&c, victim, true, &format!("{}-{i}-", "n".repeat(200)));
            match c.create(&p, 0o644).await {
                Ok(f) => {
                    f.close().await.unwrap();
                    acked_while_full.push(p);
                }
                Err(e) => {
                    println!("full disk: create {i} on the full metadata server: {e}");
                    errno_in(&e, &[libc::ENOSPC, libc::EIO], "create on a full metadata server");
                    break;
                }
            }
        }
        let sync_full = c.sync_all().await;

        // Truncating the filler frees its chunks (its size covers them); then a
        // write that needs the victim succeeds again.
        c.truncate(&big, 0).await.unwrap();
        c.unlink(&big).await.unwrap();
        let again = pattern(2, 12 * MIB);
        let f = c.create("/after-full", 0o644).await.unwrap();
        f.write_at(&again, 0).await.expect("write after space was freed");
        f.close().await.unwrap();
        let g = c.open("/after-full", &OpenOptions::default()).await.unwrap();
        let mut buf = vec![0u8; again.len()];
        g.read_at(&mut buf, 0).await.unwrap();
        assert!(buf == again, "a file written after space was freed reads back wrong");
        let sync_freed = c.sync_all().await;
        FullDisk {
            write_errno: e.errno(),
            sync_full,
            sync_freed,
            synced_before,
            acked_while_full,
            stopped_cleanly: false,
            lost_synced: Vec::new(),
            lost_acked: Vec::new(),
        }
    });
    r.stopped_cleanly = cluster.stop(vi);
    cluster.restart(vi);
    rt.block_on(async {
        let c = cluster.client().await;
        for p in &r.synced_before {
            if c.stat(p).await.is_err() {
                r.lost_synced.push(p.clone());
            }
        }
        for p in &r.acked_while_full {
            if c.stat(p).await.is_err() {
                r.lost_acked.push(p.clone());
            }
        }
    });
    println!(
        "full disk: {} creates acknowledged while full; sync_all while full: {:?}; after space was freed: {:?}; \
         clean stop: {}; after restart lost {} of {} synced files and {} of {} acknowledged creates",
        r.acked_while_full.len(),
        r.sync_full,
        r.sync_freed,
        r.stopped_cleanly,
        r.lost_synced.len(),
        r.synced_before.len(),
        r.lost_acked.len(),
        r.acked_while_full.len()
    );
    let log = cluster.log(vi);
    assert!(!log.contains("panicked"), "the once-full server panicked:\n{log}");
    drop(mount);
    Some(r)
}

#[test]
fn full_disk_gives_enospc_and_the_server_keeps_serving() {
    let Some(r) = full_disk_scenario("full_disk_gives_enospc_and_the_server_keeps_serving") else { return };
    assert_eq!(r.write_errno, libc::ENOSPC, "a write to a full server");
    // Durable before the disk filled: survives everything after.
    assert!(r.lost_synced.is_empty(), "lost files that were synced before the disk filled: {:?}", r.lost_synced);
    if let Err(e) = &r.sync_full {
        errno_in(e, &[libc::ENOSPC, libc::EIO], "sync_all on a full disk");
    }
}

/// Regression test for a bug found by the scenario above: after a durable metadata
/// commit fails with ENOSPC, redb refuses every later commit ("Previous I/O error
/// occurred. Please close and re-open the database") even once space is free, so
/// fsync keeps failing with EIO, the clean stop's flush fails, and every namespace
/// change acknowledged since the last durable commit is lost at restart. Also, the
/// failure reads EIO, not ENOSPC (src/server/mod.rs folds redb errors into a string).
#[test]
fn full_disk_loses_no_acknowledged_metadata() {
    let Some(r) = full_disk_scenario("full_disk_loses_no_acknowledged_metadata") else { return };
    if let Err(e) = &r.sync_full {
        assert_eq!(e.errno(), libc::ENOSPC, "sync_all on a full disk: {e}");
    }
    r.sync_freed.as_ref().expect("sync_all once space was freed");
    assert!(r.stopped_cleanly, "the once-full server did not stop cleanly");
    assert!(r.lost_acked.is_empty(), "lost {} acknowledged creates", r.lost_acked.len());
}

/// Something other than BenchFS fills the server's disk; the server then stops cleanly.
/// Creates it acknowledged (but had not yet committed) must survive the restart: the
/// final commit frees the metadata ballast when it finds the device full.
#[test]
fn disk_filled_by_another_program_loses_no_acknowledged_create() {
    if !is_root() {
        require::skip("tmpfs", "disk_filled_by_another_program...: mounting a tmpfs needs root");
        return;
    }
    let mut cluster = Cluster::start(1);
    cluster.kill(0);
    let data_dir = cluster.servers[0].data_dir.clone();
    let _mount = match TmpfsMount::mount(&data_dir, "16m") {
        Ok(m) => m,
        Err(e) => return require::skip("tmpfs", format_args!("disk_filled_by_another_program...: {e}")),
    };
    cluster.restart(0);
    let rt = runtime();
    let names: Vec<String> = (0..300).map(|i| format!("/acked-{i:03}-{}", "n".repeat(100))).collect();
    rt.block_on(async {
        let c = cluster.client().await;
        for n in &names {
            c.create(n, 0o644).await.unwrap().close().await.unwrap();
        }
    });
    // Another program takes every byte left.
    let hog = data_dir.join("hog");
    let mut f = std::fs::File::create(&hog).unwrap();
    let block = vec![1u8; 1 << 16];
    while std::io::Write::write_all(&mut f, &block).is_ok() {}
    drop(f);
    assert!(cluster.stop(0), "the server did not stop cleanly on a full disk:\n{}", cluster.log(0));
    std::fs::remove_file(&hog).unwrap();
    cluster.restart(0);
    rt.block_on(async {
        let c = cluster.client().await;
        let listed: std::collections::HashSet<String> =
            c.readdir("/").await.unwrap().into_iter().map(|e| format!("/{}", e.name)).collect();
        let lost: Vec<&String> = names.iter().filter(|n| !listed.contains(*n)).collect();
        assert!(lost.is_empty(), "{} acknowledged creates lost to a disk another program filled", lost.len());
    });
}

// ---------------------------------------------------------------------------
// A client killed in the middle of a write

/// Bytes of chunk data under a server's data directory.
fn chunk_bytes(data_dir: &Path) -> u64 {
    let Ok(files) = std::fs::read_dir(data_dir.join("chunks")) else { return 0 };
    files
        .filter_map(|d| std::fs::read_dir(d.ok()?.path()).ok())
        .flatten()
        .filter_map(|c| c.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn killed_client_leaves_servers_serving_without_growth() {
    let cluster = Cluster::start(3);
    let rt = runtime();
    let local = cluster.dir.path().join("put-source.bin");
    let size = 160 * MIB;
    std::fs::write(&local, pattern(3, size)).unwrap();
    let pids: Vec<u32> = cluster.servers.iter().map(|s| cluster.pid_of(s)).collect();
    let socks0: Vec<usize> = pids.iter().map(|&p| socket_count(p)).collect();
    let stored = || cluster.servers.iter().map(|s| chunk_bytes(&s.data_dir)).sum::<u64>();

    let mut rss = Vec::new();
    let mut attempts = 0;
    let mut killed = Vec::new();
    while rss.len() < 4 {
        attempts += 1;
        assert!(attempts <= 8, "could not kill a put mid-transfer in {attempts} attempts");
        let round = attempts;
        let before = stored();
        let mut child = Command::new(env!("CARGO_BIN_EXE_benchfs"))
            .args(["--servers", &cluster.spec(), "put"])
            .arg(&local)
            .arg(format!("/killed{round}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill it once some of its data reached the servers, mid-transfer.
        let t = Instant::now();
        let mut finished = false;
        while stored() < before + 24 * MIB as u64 {
            assert!(t.elapsed() < Duration::from_secs(60), "put made no progress");
            if child.try_wait().unwrap().is_some() {
                finished = true; // a starved poller: try again
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if finished {
            continue;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        killed.push(format!("/killed{round}"));
        // The servers notice and close the dead client's connections.
        let t = Instant::now();
        loop {
            let socks: Vec<usize> = pids.iter().map(|&p| socket_count(p)).collect();
            if socks == socks0 {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(10), "server sockets {socks:?}, were {socks0:?}: leaked");
            std::thread::sleep(Duration::from_millis(20));
        }
        rss.push(pids.iter().map(|&p| status_kib(p, "VmRSS")).collect::<Vec<_>>());
    }
    println!("server VmRSS (KiB) after each killed client: {rss:?}");
    // Round 0 warms allocator arenas; later rounds must not keep adding to it.
    for (s, _) in pids.iter().enumerate() {
        let (first, last) = (rss[1][s], rss[3][s]);
        assert!(last <= first + (32 << 10), "server {s}: VmRSS {first} KiB -> {last} KiB over two killed clients");
    }
    rt.block_on(async {
        let c = cluster.client().await;
        // The killed uploads are files of size 0 (never published), not errors.
        assert_eq!(c.stat(&killed[0]).await.unwrap().size, 0);
        let data = pattern(4, 9 * MIB + 5);
        let f = c.create("/fresh", 0o644).await.unwrap();
        f.write_at(&data, 0).await.unwrap();
        f.close().await.unwrap();
        let g = c.open("/fresh", &OpenOptions::default()).await.unwrap();
        let mut buf = vec![0u8; data.len()];
        assert_eq!(g.read_at(&mut buf, 0).await.unwrap(), data.len());
        assert!(buf == data, "a new client's file differs after the killed clients");
    });
}

// ---------------------------------------------------------------------------
// A network partition

/// A netns cluster from deploy/netns-cluster.sh, taken down on drop.
struct NetnsCluster {
    script: PathBuf,
    prefix: String,
    state: PathBuf,
}

impl NetnsCluster {
    fn cmd(&self) -> Command {
        let mut c = Command::new("bash");
        let bin = Path::new(env!("CARGO_BIN_EXE_benchfsd")).parent().expect("bin dir");
        c.arg(&self.script)
            .env("BENCHFS_NETNS_PREFIX", &self.prefix)
            .env("BENCHFS_NETNS_STATE", &self.state)
            .env("BENCHFS_BIN_DIR", bin)
            .env("BENCHFS_NETNS_THREADS", "1");
        c
    }
}

impl Drop for NetnsCluster {
    fn drop(&mut self) {
        let _ = self.cmd().arg("down").stdout(Stdio::null()).stderr(Stdio::null()).status();
    }
}

/// Runs `f` on a new thread whose network namespace is `ns` (sockets it opens live
/// there), on a current-thread runtime.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let fd = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: setns on a valid namespace fd; it changes only this thread's netns.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("netns thread")
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn partitioned_host_times_out_within_the_timeout_then_recovers() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/netns-cluster.sh");
    if !script.exists() {
        require::skip("netns", format_args!("no {}", script.display()));
        return;
    }
    if !is_root() || Command::new("ip").arg("-V").output().is_err() {
        require::skip("netns", "needs root and iproute2");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let prefix = format!("bfrel{}", std::process::id());
    let nc = NetnsCluster { script, prefix: prefix.clone(), state: tmp.path().join("state") };
    let up = nc.cmd().args(["up", "3"]).output().unwrap();
    if !up.status.success() {
        let err = String::from_utf8_lossy(&up.stderr);
        // A sandbox without network namespaces: not this test's failure.
        if err.contains("Operation not permitted") || err.contains("Permission denied") {
            require::skip("netns", err);
            return;
        }
        panic!("netns-cluster.sh up 3 failed: {err}");
    }
    const TIMEOUT: Duration = Duration::from_secs(2);
    let mut cfg = Config::from_registry(&nc.state.join("registry")).unwrap();
    cfg.timeout = TIMEOUT;
    // Host I serves on 10.213.0.(10+I); cut host 3 off (its switch port goes down).
    let cut_addr = cfg.servers.iter().find(|a| a.starts_with("10.213.0.13:")).expect("host 3 registered").clone();
    let switch = format!("{prefix}-sw");
    let report = in_netns(&format!("{prefix}-h1"), move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let c = Client::connect(cfg).await.expect("connect from host 1");
            let cut = c.servers().iter().position(|a| *a == cut_addr).unwrap();
            let on_cut = path_owned_by(&c, cut, true, "cut");
            let elsewhere = path_owned_by(&c, cut, false, "live");
            let data = pattern(5, 6 * MIB);
            for p in [&on_cut, &elsewhere] {
                let f = c.create(p, 0o644).await.unwrap();
                f.write_at(&data, 0).await.unwrap();
                f.close().await.unwrap();
            }
            // Established connections to every server exist now; cut one host off.
            ip(&["-n", &switch, "link", "set", "h3", "down"]);
            let cut_at = Instant::now();
            let t = Instant::now();
            let e = c.stat(&on_cut).await.expect_err("stat on a partitioned server");
            let stat_took = t.elapsed();
            errno_in(&e, &[libc::ETIMEDOUT, libc::EIO], "stat on a partitioned server");
            assert!(stat_took < TIMEOUT + Duration::from_millis(1500), "stat took {stat_took:?}");
            // A read spanning every server fails within the timeout too.
            let f = c.open(&elsewhere, &OpenOptions::default()).await.unwrap();
            let mut buf = vec![0u8; data.len()];
            let t = Instant::now();
            let r = f.read_at(&mut buf, 0).await;
            let read_took = t.elapsed();
            assert!(read_took < TIMEOUT + Duration::from_millis(1500), "read took {read_took:?}");
            match r {
                Ok(_) => assert!(buf == data, "read during the partition returned wrong bytes"),
                Err(e) => errno_in(&e, &[libc::ETIMEDOUT, libc::EIO], "read during the partition"),
            }
            // Metadata elsewhere keeps working.
            c.stat(&elsewhere).await.expect("stat on a reachable server");
            // A new client cannot even connect to the cut-off host: that times out too.
            let fresh = Client::new_lazy(c.config().clone());
            let t = Instant::now();
            let e = fresh.stat(&on_cut).await.expect_err("a new client's stat on a partitioned server");
            let connect_took = t.elapsed();
            errno_in(&e, &[libc::ETIMEDOUT, libc::EIO], "a new client's stat during the partition");
            assert!(connect_took < TIMEOUT + Duration::from_millis(1500), "new client's stat took {connect_took:?}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            let down_for = cut_at.elapsed();
            ip(&["-n", &switch, "link", "set", "h3", "up"]);
            // The same client recovers once the link is back (TCP retransmission
            // backoff can delay the first answer by a few seconds).
            let back = Instant::now();
            let mut tries = 0;
            loop {
                tries += 1;
                match c.stat(&on_cut).await {
                    Ok(_) => break,
                    Err(e) => {
                        errno_in(&e, &[libc::ETIMEDOUT, libc::EIO], "stat after the link returned");
                        assert!(back.elapsed() < Duration::from_secs(30), "no recovery 30 s after the link came back");
                    }
                }
            }
            let recovered = back.elapsed();
            let g = c.open(&on_cut, &OpenOptions::default()).await.unwrap();
            let mut buf = vec![0u8; data.len()];
            assert_eq!(g.read_at(&mut buf, 0).await.unwrap(), data.len());
            assert!(buf == data, "data differs after the partition healed");
            format!(
                "partition: stat failed after {stat_took:?}, a new client's after {connect_took:?} ({e}); \
                 spanning read after {read_took:?}; link down {down_for:?}; recovered {recovered:?} after \
                 the link returned ({tries} tries)"
            )
        })
    });
    println!("{report}");
}
