//! Faults at an exact call, through `transport::faulty::FaultyTransport`: a lost request,
//! a lost reply (the server acted, the client never heard), an error status, a delay.
//! No SIGSTOP, no sleeps in the tests, no full disks: each fault hits the call it names.
//!
//! Most run over `LocalTransport` (one server in this process); the cross-server rename
//! runs over TCP to a real cluster, faults injected on the client's side of the link.
//!
//! What must hold:
//! - a write with one chunk lost fails (never Ok), and the size the handle publishes
//!   leaves out the failed write's bytes;
//! - a read with a reply lost fails (never zeros, never a short read or end of file);
//! - a create or rename whose reply is lost has happened exactly once (the name exists
//!   once: a second create says EEXIST; exactly one of the rename's names exists), and
//!   one whose request is lost has not happened at all;
//! - a `Retry` status is retried within the deadline; an endless one ends in ETIMEDOUT
//!   at the deadline, not a hang;
//! - a lost size publication (flush) is an error and is published by the next flush.

use std::sync::Arc;
use std::time::{Duration, Instant};

use benchfs::proto::Status;
use benchfs::server::Node;
use benchfs::transport::faulty::{Fault, FaultyTransport, Match};
use benchfs::transport::local::LocalTransport;
use benchfs::transport::tcp::{TcpOptions, TcpTransport};
use benchfs::{Client, Config, OpenOptions};
use benchfs_testkit::{pattern, Cluster};

/// Small chunks, so a few KiB span several chunk requests.
const CHUNK: u32 = 4096;
/// The client's deadline, and the deadline of injected drops.
const TIMEOUT: Duration = Duration::from_millis(200);
/// Slack on every elapsed-time bound (a loaded machine), never waited for.
const SLACK: Duration = Duration::from_secs(2);

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// One in-process server behind a fault injector, and a client over it.
struct Local {
    client: Client,
    faults: Arc<FaultyTransport<LocalTransport>>,
    _dir: tempfile::TempDir,
}

async fn local() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(Node::open_alone(&dir.path().join("node")).await.unwrap());
    let faults = Arc::new(FaultyTransport::new(LocalTransport::new(node)));
    // The address is a placeholder: the client takes the transport's server list.
    let mut cfg = Config::new(vec!["local:0".into()]).unwrap();
    cfg.timeout = TIMEOUT;
    cfg.chunk_size = CHUNK;
    let client = Client::with_transport(cfg, faults.clone());
    Local { client, faults, _dir: dir }
}

/// A client over TCP to `cluster`'s real servers, with a fault injector in between.
fn over_cluster(cluster: &Cluster) -> (Client, Arc<FaultyTransport<TcpTransport>>) {
    let mut cfg = cluster.config();
    cfg.timeout = Duration::from_secs(5);
    let opts = TcpOptions { timeout: cfg.timeout, max_in_flight: cfg.max_in_flight, secret: None };
    let faults = Arc::new(FaultyTransport::new(TcpTransport::new(cfg.servers.clone(), opts)));
    (Client::with_transport(cfg, faults.clone()), faults)
}

fn on(op: &'static str) -> Match {
    Match { op: Some(op), ..Default::default() }
}

fn nth(op: &'static str, n: u64) -> Match {
    Match { op: Some(op), nth: Some(n), ..Default::default() }
}

fn drop_it() -> Fault {
    Fault::Drop { deadline: TIMEOUT }
}

/// A lost request or reply, and the errno the caller must see for it.
fn losses() -> Vec<(&'static str, Fault, i32)> {
    vec![
        ("request dropped (timeout)", drop_it(), libc::ETIMEDOUT),
        ("reset before send", Fault::ResetBeforeSend, libc::EIO),
        ("reset after send (reply lost)", Fault::ResetAfterSend, libc::EIO),
    ]
}

#[track_caller]
fn assert_errno<T>(r: benchfs::Result<T>, errno: i32, what: &str) -> benchfs::Error {
    let Err(e) = r else { panic!("{what}: succeeded") };
    assert_eq!(e.errno(), errno, "{what}: {e}");
    e
}

async fn exists(c: &Client, p: &str) -> bool {
    match c.stat(p).await {
        Ok(_) => true,
        Err(e) if e.errno() == libc::ENOENT => false,
        Err(e) => panic!("stat {p}: {e}"),
    }
}

async fn read_all(c: &Client, p: &str) -> Vec<u8> {
    let f = c.open(p, &OpenOptions::default()).await.unwrap();
    let mut buf = vec![0u8; f.size() as usize + 1];
    let n = f.read_at(&mut buf, 0).await.unwrap();
    buf.truncate(n);
    buf
}

// ---------------------------------------------------------------------------
// Writes and reads

/// One chunk of a six-chunk write is lost (or refused): the write is an error, and
/// close publishes only the earlier, acknowledged write, so nobody sees the failed
/// write's bytes as part of the file; the same write succeeds once the fault is gone.
#[test]
fn lost_chunk_write_fails_the_write_and_is_not_published() {
    rt().block_on(async {
        let mut faults = losses();
        faults.push(("no space", Fault::Fail(Status::NoSpace), libc::ENOSPC));
        for (i, (what, fault, errno)) in faults.into_iter().enumerate() {
            let l = local().await;
            let c = &l.client;
            let p = format!("/w{i}");
            let first = pattern(1, 10_000);
            let second = pattern(2, 5 * CHUNK as usize);
            let f = c.create(&p, 0o644).await.unwrap();
            // Acknowledged, not yet published.
            f.write_at(&first, 0).await.unwrap();
            // Chunks 2..=7: the third of these six chunk writes is lost.
            l.faults.inject(nth("Write", 3), fault);
            let t = Instant::now();
            let r = f.write_at(&second, first.len() as u64).await;
            assert_errno(r, errno, &format!("{what}: a write with a lost chunk"));
            assert!(t.elapsed() < TIMEOUT + SLACK, "{what}: the failed write took {:?}", t.elapsed());
            assert!(l.faults.seen(0) >= 3, "{what}: the fault never fired");
            assert_eq!(f.size(), first.len() as u64, "{what}: the handle counts the failed write");
            f.close().await.unwrap();
            let a = c.stat(&p).await.unwrap();
            assert_eq!(a.size, first.len() as u64, "{what}: the published size includes a failed write");
            assert!(read_all(c, &p).await == first, "{what}: the acknowledged bytes differ");

            // Once the fault is gone, the same write succeeds and is published.
            l.faults.clear();
            let f = c.open(&p, &OpenOptions { write: true, ..Default::default() }).await.unwrap();
            f.write_at(&second, first.len() as u64).await.unwrap();
            f.close().await.unwrap();
            let mut want = first.clone();
            want.extend_from_slice(&second);
            assert!(read_all(c, &p).await == want, "{what}: the rewritten file differs");
        }
    });
}

/// A read with one chunk's reply lost (or refused) is an error: never zeros in place
/// of the lost chunk, never a short read.
#[test]
fn lost_read_reply_is_an_error_not_zeros() {
    rt().block_on(async {
        let l = local().await;
        let c = &l.client;
        let data = pattern(3, 5 * CHUNK as usize + 100);
        let f = c.create("/r", 0o644).await.unwrap();
        f.write_at(&data, 0).await.unwrap();
        f.close().await.unwrap();
        let mut faults = losses();
        faults.push(("corrupt chunk", Fault::Fail(Status::Corrupt), libc::EIO));
        for (what, fault, errno) in faults {
            let g = c.open("/r", &OpenOptions::default()).await.unwrap();
            let mut buf = vec![0u8; data.len()];
            l.faults.inject(nth("Read", 2), fault);
            let t = Instant::now();
            let r = g.read_at(&mut buf, 0).await;
            assert_errno(r, errno, &format!("{what}: a read with a lost chunk"));
            assert!(t.elapsed() < TIMEOUT + SLACK, "{what}: the failed read took {:?}", t.elapsed());
            assert!(l.faults.seen(0) >= 2, "{what}: the fault never fired");
            l.faults.clear();
            assert_eq!(g.read_at(&mut buf, 0).await.unwrap(), data.len(), "{what}");
            assert!(buf == data, "{what}: the file reads back wrong once the fault is gone");
        }
    });
}

/// A read past the size a handle knows asks the metadata owner for the size first; if
/// that answer is lost, the read is an error, not end of file.
#[test]
fn lost_size_refresh_is_an_error_not_end_of_file() {
    rt().block_on(async {
        let l = local().await;
        let c = &l.client;
        let f = c.create("/grow", 0o644).await.unwrap();
        f.write_at(&pattern(4, 1000), 0).await.unwrap();
        f.close().await.unwrap();
        let reader = c.open("/grow", &OpenOptions::default()).await.unwrap();
        // Another handle grows the file past what `reader` saw at open.
        let w = c.open("/grow", &OpenOptions { write: true, ..Default::default() }).await.unwrap();
        let more = pattern(5, 3000);
        w.write_at(&more, 1000).await.unwrap();
        w.close().await.unwrap();
        for (what, fault, errno) in losses() {
            l.faults.inject(on("Stat"), fault);
            let mut buf = vec![0u8; 3000];
            let r = reader.read_at(&mut buf, 1000).await;
            assert_errno(r, errno, &format!("{what}: a read past the known size with the size lost"));
            assert!(l.faults.seen(0) >= 1, "{what}: the read did not ask for the size");
            l.faults.clear();
        }
        let mut buf = vec![0u8; 3000];
        assert_eq!(reader.read_at(&mut buf, 1000).await.unwrap(), 3000);
        assert!(buf == more);
    });
}

/// The size publication of a flush is lost: the flush is an error, nothing is
/// published, and the next flush publishes it.
#[test]
fn lost_flush_is_an_error_and_the_next_flush_publishes() {
    rt().block_on(async {
        for (i, (what, fault, errno)) in losses().into_iter().enumerate() {
            let l = local().await;
            let c = &l.client;
            let p = format!("/flush{i}");
            let data = pattern(6, 3 * CHUNK as usize);
            let f = c.create(&p, 0o644).await.unwrap();
            f.write_at(&data, 0).await.unwrap();
            l.faults.inject(nth("Update", 1), fault.clone());
            assert_errno(f.flush().await, errno, &format!("{what}: a flush with its publication lost"));
            let published = c.stat(&p).await.unwrap().size;
            if matches!(fault, Fault::ResetAfterSend) {
                // The owner took it; only the answer was lost.
                assert_eq!(published, data.len() as u64, "{what}");
            } else {
                assert_eq!(published, 0, "{what}: a lost publication was published");
            }
            f.flush().await.expect("the second flush");
            assert_eq!(c.stat(&p).await.unwrap().size, data.len() as u64, "{what}: the second flush");
            f.close().await.unwrap();
            assert!(read_all(c, &p).await == data, "{what}");
        }
    });
}

// ---------------------------------------------------------------------------
// Namespace changes whose request or reply is lost

/// A create whose reply is lost happened once: creating again says EEXIST and the name
/// is listed once. One whose request is lost did not happen: creating again succeeds.
#[test]
fn lost_create_happens_exactly_once_or_not_at_all() {
    rt().block_on(async {
        let l = local().await;
        let c = &l.client;
        c.mkdir("/d", 0o755).await.unwrap();
        for (i, (what, fault, errno)) in losses().into_iter().enumerate() {
            let p = format!("/d/x{i}");
            let executed = matches!(fault, Fault::ResetAfterSend);
            l.faults.inject(nth("Create", 1), fault);
            assert_errno(c.create(&p, 0o644).await, errno, &format!("{what}: create"));
            assert_eq!(l.faults.seen(0), 1, "{what}");
            l.faults.clear();
            assert_eq!(exists(c, &p).await, executed, "{what}: the lost create's file");
            match c.create(&p, 0o644).await {
                Ok(f) => {
                    assert!(!executed, "{what}: a second exclusive create of an existing file succeeded");
                    f.close().await.unwrap();
                }
                Err(e) => {
                    assert!(executed, "{what}: creating again failed: {e}");
                    assert_eq!(e.errno(), libc::EEXIST, "{what}: creating again: {e}");
                }
            }
            let a = c.stat(&p).await.unwrap();
            // open(O_CREAT) without O_EXCL finds that same file.
            let o = OpenOptions { write: true, create: true, ..Default::default() };
            assert_eq!(c.open(&p, &o).await.unwrap().fid(), a.fid, "{what}");
            let name = format!("x{i}");
            let listed = c.readdir("/d").await.unwrap().iter().filter(|e| e.name == name).count();
            assert_eq!(listed, 1, "{what}: {p} listed {listed} times");
        }
    });
}

/// A rename whose reply is lost has happened; one whose request is lost has not. Either
/// way exactly one of the two names exists, holding the same file.
#[test]
fn lost_rename_leaves_exactly_one_name() {
    rt().block_on(async {
        let l = local().await;
        let c = &l.client;
        for (i, (what, fault, errno)) in losses().into_iter().enumerate() {
            let (from, to) = (format!("/from{i}"), format!("/to{i}"));
            let data = pattern(7 + i as u64, 2 * CHUNK as usize + 7);
            let f = c.create(&from, 0o644).await.unwrap();
            f.write_at(&data, 0).await.unwrap();
            f.close().await.unwrap();
            let fid = c.stat(&from).await.unwrap().fid;
            let executed = matches!(fault, Fault::ResetAfterSend);
            l.faults.inject(nth("Rename", 1), fault);
            assert_errno(c.rename(&from, &to).await, errno, &format!("{what}: rename"));
            l.faults.clear();
            let (a, b) = (exists(c, &from).await, exists(c, &to).await);
            assert!(a != b, "{what}: after a lost rename, {from} exists: {a}, {to} exists: {b}");
            assert_eq!(b, executed, "{what}");
            let now = if b { &to } else { &from };
            assert_eq!(c.stat(now).await.unwrap().fid, fid, "{what}: {now} is another file");
            assert!(read_all(c, now).await == data, "{what}: {now} reads back wrong");
            // The rename is done again by whoever needs it; a second try after a lost
            // reply finds no source.
            let again = c.rename(&from, &to).await;
            if executed {
                assert_errno(again, libc::ENOENT, &format!("{what}: renaming again"));
            } else {
                again.unwrap();
            }
        }
    });
}

/// The same over TCP to a three-server cluster, where the names have different owners
/// (the source's owner moves the record to the target's), for a file and for a
/// directory whose entries live on several servers.
#[test]
fn lost_cross_server_rename_leaves_exactly_one_name() {
    let cluster = Cluster::start(3);
    rt().block_on(async {
        let (c, faults) = over_cluster(&cluster);
        let owner = |p: &str| c.ring().meta_owner(p);
        let pick = |tag: &str, not: Option<usize>| {
            (0..).map(|k| format!("/{tag}{k}")).find(|p| not.is_none_or(|o| owner(p) != o)).unwrap()
        };
        let cases = [(Fault::ResetAfterSend, libc::EIO), (Fault::ResetBeforeSend, libc::EIO)];
        for (i, (fault, errno)) in cases.into_iter().enumerate() {
            let executed = matches!(fault, Fault::ResetAfterSend);
            let what = format!("{fault:?}");
            // A file.
            let from = pick(&format!("f{i}-"), None);
            let to = pick(&format!("g{i}-"), Some(owner(&from)));
            let data = pattern(20 + i as u64, 3 << 20);
            let f = c.create(&from, 0o644).await.unwrap();
            f.write_at(&data, 0).await.unwrap();
            f.close().await.unwrap();
            faults.inject(nth("Rename", 1), fault.clone());
            assert_errno(c.rename(&from, &to).await, errno, &format!("{what}: cross-server rename"));
            faults.clear();
            let (a, b) = (exists(&c, &from).await, exists(&c, &to).await);
            assert!(a != b, "{what}: {from} exists: {a}, {to} exists: {b}");
            assert_eq!(b, executed, "{what}");
            assert!(read_all(&c, if b { &to } else { &from }).await == data, "{what}: the file reads back wrong");

            // A directory whose entries live on several servers.
            let dfrom = pick(&format!("d{i}-"), None);
            let dto = pick(&format!("e{i}-"), Some(owner(&dfrom)));
            c.mkdir(&dfrom, 0o755).await.unwrap();
            let mut names: Vec<String> = (0..12).map(|k| format!("n{k}")).collect();
            names.sort();
            for n in &names {
                c.create(&format!("{dfrom}/{n}"), 0o644).await.unwrap().close().await.unwrap();
            }
            faults.inject(nth("Rename", 1), fault.clone());
            assert_errno(c.rename(&dfrom, &dto).await, errno, &format!("{what}: directory rename"));
            faults.clear();
            let (a, b) = (exists(&c, &dfrom).await, exists(&c, &dto).await);
            assert!(a != b, "{what}: {dfrom} exists: {a}, {dto} exists: {b}");
            let (now, gone) = if b { (&dto, &dfrom) } else { (&dfrom, &dto) };
            let listed: Vec<String> = c.readdir(now).await.unwrap().into_iter().map(|e| e.name).collect();
            assert_eq!(listed, names, "{what}: entries of {now}");
            for n in &names {
                assert!(exists(&c, &format!("{now}/{n}")).await, "{what}: {now}/{n}");
                assert!(!exists(&c, &format!("{gone}/{n}")).await, "{what}: {gone}/{n} still exists");
            }
        }
    });
}

// ---------------------------------------------------------------------------
// Retry

/// A server answering `Retry` (a directory above the path is moving) a few times: the
/// client asks again and succeeds well within its deadline.
#[test]
fn retry_status_is_retried_within_the_deadline() {
    rt().block_on(async {
        let l = local().await;
        let c = &l.client;
        c.mkdir("/dir", 0o755).await.unwrap();
        let times = 5;
        l.faults.inject(Match { times: Some(times), ..on("Stat") }, Fault::Fail(Status::Retry));
        let t = Instant::now();
        assert!(c.stat("/dir").await.expect("stat through Retry answers").is_dir());
        let took = t.elapsed();
        assert_eq!(l.faults.seen(0), times + 1, "the client did not ask again after each Retry");
        assert!(took < TIMEOUT, "{times} retries took {took:?}, past the {TIMEOUT:?} deadline");
        // A namespace change too: it happens once.
        l.faults.inject(Match { times: Some(3), ..on("Mkdir") }, Fault::Fail(Status::Retry));
        c.mkdir("/dir/sub", 0o755).await.expect("mkdir through Retry answers");
        assert_eq!(l.faults.seen(1), 4);
        let listed = c.readdir("/dir").await.unwrap();
        assert_eq!(listed.iter().filter(|e| e.name == "sub").count(), 1, "{listed:?}");
    });
}

/// A server answering `Retry` forever: the client gives up at its deadline with
/// ETIMEDOUT (not EAGAIN, not a hang), having asked more than once.
#[test]
fn endless_retry_times_out_at_the_deadline() {
    rt().block_on(async {
        let l = local().await;
        let c = &l.client;
        c.mkdir("/dir", 0o755).await.unwrap();
        l.faults.inject(on("Stat"), Fault::Fail(Status::Retry));
        let t = Instant::now();
        let r = c.stat("/dir").await;
        let took = t.elapsed();
        assert_errno(r, libc::ETIMEDOUT, "stat with endless Retry answers");
        assert!(took >= TIMEOUT / 2, "gave up after {took:?}, well before the {TIMEOUT:?} deadline");
        assert!(took < TIMEOUT + SLACK, "gave up after {took:?}, past the {TIMEOUT:?} deadline");
        assert!(l.faults.seen(0) > 3, "asked only {} times", l.faults.seen(0));
    });
}
