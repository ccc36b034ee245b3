//! A live server under a storm of bad input: 10^4 random, truncated, oversized,
//! undecodable and mutated frames over thousands of loopback connections (many at
//! once, while other connections sit on half-sent frames). Every connection must be
//! closed by the server within a bound after the sender stops (never a hang); the
//! server must then serve a good client the exact bytes it stored, and its resident
//! memory must stay bounded (VmRSS/VmHWM from /proc). `BENCHFS_LIVE_FRAMES` sets the
//! number of connections (default 10 000).
//!
//! tests/frame_validation.rs checks each malformed-frame class once with the exact
//! outcome; this test is about volume, concurrency and memory.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use benchfs::proto::frame::{encode_header, Kind, Preamble, MAX_DATA, MAX_HEADER};
use benchfs::proto::{Request, Stat};
use benchfs::OpenOptions;
use benchfs_testkit::wire_fuzz::{frame_bytes, Gen};
use benchfs_testkit::{pattern, runtime, server, status_kib, Cluster};

/// One bad (or partly bad) byte stream of class `i % 8`.
fn bad_stream(g: &mut Gen, i: usize) -> Vec<u8> {
    let pre = |hl: u32, dl: u32, crc: u32| Preamble {
        kind: Kind::Request,
        id: 7,
        header_len: hl,
        data_len: dl,
        data_crc: crc,
    };
    match i % 8 {
        // Noise.
        0 => {
            let n = 1 + g.below(4096);
            g.bytes(n)
        }
        // A valid frame cut short anywhere.
        1 => {
            let mut f = g.valid_frame(8192);
            let keep = g.below(f.len());
            f.truncate(keep);
            f
        }
        // Lengths over the limits.
        2 => {
            let (hl, dl) = match g.below(3) {
                0 => (MAX_HEADER + 1 + g.below(1 << 20) as u32, 0),
                1 => (4, MAX_DATA + 1 + g.u32() % (u32::MAX - MAX_DATA)),
                _ => (u32::MAX, u32::MAX),
            };
            pre(hl, dl, 0).encode().to_vec()
        }
        // Legal but huge declared lengths, then a trickle and EOF: the receiver must
        // not commit memory for bytes that never come.
        3 => {
            let mut v = pre(MAX_HEADER, MAX_DATA, 0).encode().to_vec();
            let n = g.below(2048);
            v.extend(g.bytes(n));
            v
        }
        // A good preamble over an undecodable header (unknown variant, bad varint).
        4 => {
            let mut h = vec![200u8 + g.below(56) as u8];
            let n = g.below(64);
            h.extend(g.bytes(n));
            frame_bytes(Kind::Request, g.u64(), &h, &[])
        }
        // A payload whose checksum is wrong.
        5 => {
            let h = encode_header(&Request::from(benchfs::proto::Write { fid: g.fid(), index: 0, offset: 0 }))
                .expect("header");
            let n = 1 + g.below(4096);
            let mut f = frame_bytes(Kind::Request, 1, &h, &g.bytes(n));
            let last = f.len() - 1;
            f[last] ^= 0x01;
            f
        }
        // Mutated valid frames.
        6 => {
            let mut f = g.valid_frame(4096);
            g.mutate(&mut f);
            f
        }
        // Good requests first (they get answers), then garbage on the same connection.
        _ => {
            let mut v = Vec::new();
            for id in 0..1 + g.below(4) {
                let h = encode_header(&Request::from(Stat { path: format!("/storm/{}", g.u64()) })).expect("header");
                v.extend(frame_bytes(Kind::Request, id as u64, &h, &[]));
            }
            let n = 1 + g.below(256);
            v.extend(g.bytes(n));
            v
        }
    }
}

/// How a connection ended.
#[derive(Default)]
struct Tally {
    conns: AtomicU64,
    bytes_sent: AtomicU64,
    got_replies: AtomicU64,
    slowest_close_ms: AtomicU64,
}

/// Sends one stream, half-closes, and waits for the server to close its side.
/// Panics if the server keeps the connection open past `limit` (a hang).
fn send_one(addr: &str, bytes: &[u8], limit: Duration, t: &Tally) {
    let mut s = TcpStream::connect(addr).expect("connect (is the server still accepting?)");
    s.set_read_timeout(Some(limit)).expect("timeout");
    s.set_write_timeout(Some(limit)).expect("timeout");
    let started = Instant::now();
    // The server may close before reading everything: a broken pipe or reset is fine.
    if s.write_all(bytes).is_ok() {
        t.bytes_sent.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    }
    let _ = s.shutdown(Shutdown::Write);
    let mut buf = [0u8; 4096];
    let mut replied = false;
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => replied = true,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => break,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("server kept a connection open {limit:?} after the client's EOF ({} bytes sent)", bytes.len())
            }
            Err(e) => panic!("read: {e}"),
        }
    }
    t.conns.fetch_add(1, Ordering::Relaxed);
    t.got_replies.fetch_add(u64::from(replied), Ordering::Relaxed);
    t.slowest_close_ms.fetch_max(started.elapsed().as_millis() as u64, Ordering::Relaxed);
}

/// What a storm did.
struct Storm {
    conns: u64,
    answered: u64,
    kib_sent: u64,
    secs: f64,
    slowest_close_ms: u64,
}

/// `n` bad streams from 8 threads, one connection each, while 64 other connections
/// sit on half-sent frames claiming up to 65 MiB. Panics if any connection is left
/// open after its sender's EOF (a hang) or if connecting fails (server gone).
fn storm(addr: &str, n: usize, seed: u64) -> Storm {
    let held: Vec<TcpStream> = (0..64)
        .map(|i| {
            let mut s = TcpStream::connect(addr).unwrap();
            let p = Preamble { kind: Kind::Request, id: 1, header_len: 16, data_len: MAX_DATA, data_crc: 0 }.encode();
            let cut = [5, 31, 32, 40][i % 4];
            let mut v = p.to_vec();
            v.extend_from_slice(&[0u8; 16]);
            s.write_all(&v[..cut.min(v.len())]).unwrap();
            s
        })
        .collect();
    let tally = Tally::default();
    let started = Instant::now();
    let threads = 8;
    std::thread::scope(|sc| {
        for th in 0..threads {
            let tally = &tally;
            sc.spawn(move || {
                let mut g = Gen::new(seed + th as u64);
                for i in (th..n).step_by(threads) {
                    let bytes = bad_stream(&mut g, i);
                    send_one(addr, &bytes, Duration::from_secs(10), tally);
                }
            });
        }
    });
    drop(held);
    Storm {
        conns: tally.conns.load(Ordering::Relaxed),
        answered: tally.got_replies.load(Ordering::Relaxed),
        kib_sent: tally.bytes_sent.load(Ordering::Relaxed) >> 10,
        secs: started.elapsed().as_secs_f64(),
        slowest_close_ms: tally.slowest_close_ms.load(Ordering::Relaxed),
    }
}

fn storm_frames() -> usize {
    std::env::var("BENCHFS_LIVE_FRAMES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

#[test]
fn server_survives_ten_thousand_bad_frames_and_keeps_serving() {
    let n = storm_frames();
    let cluster = Cluster::start(2);
    let rt = runtime();
    let client = rt.block_on(cluster.client());
    let files: Vec<(String, Vec<u8>)> =
        (0..4).map(|i| (format!("/kept{i}"), pattern(100 + i, (1 + i as usize) << 20))).collect();
    rt.block_on(async {
        for (p, d) in &files {
            let f = client.create(p, 0o644).await.unwrap();
            f.write_at(d, 0).await.unwrap();
            f.close().await.unwrap();
        }
    });
    let target = 0;
    let pid = cluster.pid(target);
    let rss_before = status_kib(pid, "VmRSS");
    let s = storm(&cluster.servers[target].addr, n, 0x11fe);
    let rss_peak = status_kib(pid, "VmHWM");

    // The good client, on its old connection and on a new one, gets exact bytes back.
    rt.block_on(async {
        let fresh = cluster.client().await;
        for c in [&client, &fresh] {
            for (p, d) in &files {
                let f = c.open(p, &OpenOptions::default()).await.unwrap();
                let mut buf = vec![0u8; d.len()];
                assert_eq!(f.read_at(&mut buf, 0).await.unwrap(), d.len(), "{p}");
                assert!(&buf == d, "{p} changed under the storm");
            }
        }
        let new = pattern(7, 5 << 20);
        let f = fresh.create("/after-storm", 0o644).await.unwrap();
        f.write_at(&new, 0).await.unwrap();
        f.close().await.unwrap();
        let f = client.open("/after-storm", &OpenOptions::default()).await.unwrap();
        let mut buf = vec![0u8; new.len()];
        f.read_at(&mut buf, 0).await.unwrap();
        assert!(buf == new, "a file written after the storm reads back wrong");
    });
    std::thread::sleep(Duration::from_millis(200));
    let rss_after = status_kib(pid, "VmRSS");
    println!(
        "storm (open server): {} connections ({} answered before closing), {} KiB sent, in {:.1} s; slowest close \
         {} ms; server VmRSS {rss_before} KiB before, {rss_after} KiB after, VmHWM {rss_peak} KiB",
        s.conns, s.answered, s.kib_sent, s.secs, s.slowest_close_ms
    );
    assert_eq!(s.conns, n as u64);
    // Each connection declared up to 65 MiB it never sent; a server that committed
    // memory for declared lengths would be gigabytes over. Allow 128 MiB of growth
    // (allocator arenas, metadata of the storm's valid creates).
    assert!(rss_peak < rss_before + (128 << 10), "server VmHWM {rss_peak} KiB (was {rss_before} KiB before)");
    assert!(rss_after < rss_before + (96 << 10), "server VmRSS {rss_after} KiB after (was {rss_before} KiB)");
    let log = cluster.log(target);
    assert!(!log.contains("panicked"), "server panicked:\n{log}");
}

/// A `benchfsd` with `--secret-file`, killed on drop.
struct SecretServer {
    child: Child,
    addr: String,
    secret: PathBuf,
    dir: tempfile::TempDir,
}

impl SecretServer {
    fn start() -> SecretServer {
        let base = if Path::new("/dev/shm").is_dir() { "/dev/shm" } else { "/tmp" };
        let dir = tempfile::Builder::new().prefix("benchfs-auth-").tempdir_in(base).unwrap();
        let secret = dir.path().join("secret");
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let bin = Path::new(env!("CARGO_BIN_EXE_benchfsd"));
        let (child, addr) = server::spawn_benchfsd(
            bin,
            "127.0.0.1:0",
            &dir.path().join("data"),
            log.into(),
            &["--secret-file".into(), secret.display().to_string()],
        );
        SecretServer { child, addr, secret, dir }
    }
}

impl Drop for SecretServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same storm against a server that requires the cluster secret: everything
/// before authentication (including well-formed requests) closes the connection;
/// afterwards a client with the secret is served and one without is refused (EACCES).
#[test]
fn authenticating_server_survives_an_unauthenticated_storm() {
    let srv = SecretServer::start();
    let pid = srv.child.id();
    let rt = runtime();
    let with_secret = || {
        let mut cfg = benchfs::Config::new(vec![srv.addr.clone()]).unwrap();
        cfg.secret = Some(benchfs::auth::Secret::load(&srv.secret).unwrap());
        cfg
    };
    let data = pattern(21, 2 << 20);
    rt.block_on(async {
        let c = benchfs::Client::connect(with_secret()).await.unwrap();
        let f = c.create("/secret-kept", 0o644).await.unwrap();
        f.write_at(&data, 0).await.unwrap();
        f.close().await.unwrap();
    });
    let rss_before = status_kib(pid, "VmRSS");
    let n = storm_frames() / 4;
    let s = storm(&srv.addr, n, 0x5ec);
    let rss_peak = status_kib(pid, "VmHWM");
    println!(
        "storm (authenticating server): {} connections ({} answered), in {:.1} s; VmRSS {rss_before} KiB before, \
         VmHWM {rss_peak} KiB",
        s.conns, s.answered, s.secs
    );
    assert_eq!(s.conns, n as u64);
    assert!(rss_peak < rss_before + (128 << 10), "server VmHWM {rss_peak} KiB (was {rss_before} KiB before)");
    rt.block_on(async {
        let c = benchfs::Client::connect(with_secret()).await.expect("a client with the secret");
        let f = c.open("/secret-kept", &OpenOptions::default()).await.unwrap();
        let mut buf = vec![0u8; data.len()];
        assert_eq!(f.read_at(&mut buf, 0).await.unwrap(), data.len());
        assert!(buf == data, "data changed under the storm");
        let e = benchfs::Client::connect(benchfs::Config::new(vec![srv.addr.clone()]).unwrap())
            .await
            .err()
            .expect("a client without the secret was served");
        assert_eq!(e.errno(), libc::EACCES, "{e}");
        let mut wrong = benchfs::Config::new(vec![srv.addr.clone()]).unwrap();
        wrong.secret = Some(benchfs::auth::Secret::from_bytes(b"not-the-cluster-secret").unwrap());
        let e = benchfs::Client::connect(wrong).await.err().expect("a client with a wrong secret was served");
        assert_eq!(e.errno(), libc::EACCES, "{e}");
    });
    let log = std::fs::read_to_string(srv.dir.path().join("log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "server panicked:\n{log}");
    assert!(log.contains("before authentication"), "the storm's valid requests were not refused as unauthenticated");
}

/// A server with stuck clients still stops within a bound on SIGTERM, and loses
/// nothing: one client pipelines requests and never reads the replies (so the
/// server blocks writing to it), others sit on half-sent frames.
#[test]
fn sigterm_with_stuck_clients_stops_within_a_bound_and_loses_nothing() {
    let mut cluster = Cluster::start(1);
    let rt = runtime();
    let data = pattern(8, 3 << 20);
    rt.block_on(async {
        let c = cluster.client().await;
        let f = c.create("/before-stop", 0o644).await.unwrap();
        f.write_at(&data, 0).await.unwrap();
        f.close().await.unwrap();
    });
    let addr = cluster.servers[0].addr.clone();
    let mut held = Vec::new();
    for cut in [3usize, 32, 40] {
        let mut s = TcpStream::connect(&addr).unwrap();
        let p = Preamble { kind: Kind::Request, id: 1, header_len: 16, data_len: 1 << 20, data_crc: 0 }.encode();
        let mut v = p.to_vec();
        v.extend_from_slice(&[0u8; 64]);
        s.write_all(&v[..cut]).unwrap();
        held.push(s);
    }
    // Pipeline stats without reading a single reply until a write blocks for 1 s:
    // then the server is stuck writing replies nobody reads.
    let mut deaf = TcpStream::connect(&addr).unwrap();
    deaf.set_write_timeout(Some(Duration::from_secs(1))).unwrap();
    let h = encode_header(&Request::from(Stat { path: "/no/such/file/with/a/longish/name".into() })).expect("header");
    let batch: Vec<u8> = (0..1000u64).flat_map(|id| frame_bytes(Kind::Request, id, &h, &[])).collect();
    let mut sent = 0usize;
    let blocked = loop {
        match deaf.write_all(&batch) {
            Ok(()) => sent += 1000,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break true,
            Err(e) => panic!("pipelining: {e}"),
        }
        if sent >= 2_000_000 {
            break false;
        }
    };
    assert!(blocked, "the server kept reading {sent} requests without their replies being read");
    let t = Instant::now();
    let clean = cluster.stop(0);
    let took = t.elapsed();
    println!("stop with stuck clients: {took:?} (exit ok: {clean}); {sent} requests pipelined unread");
    // The server drains for at most 10 s (DRAIN_TIMEOUT in src/server/mod.rs).
    assert!(took < Duration::from_secs(15), "SIGTERM took {took:?} with stuck clients");
    assert!(clean, "server did not exit cleanly: {}", cluster.log(0));
    drop((held, deaf));
    cluster.restart(0);
    rt.block_on(async {
        let c = cluster.client().await;
        let f = c.open("/before-stop", &OpenOptions::default()).await.unwrap();
        let mut buf = vec![0u8; data.len()];
        assert_eq!(f.read_at(&mut buf, 0).await.unwrap(), data.len());
        assert!(buf == data, "data differs after a stop with stuck clients");
    });
}

/// Regression test for a bug found by this file: `rpc::wire::read_frame` reserves a
/// frame's declared header and data lengths (up to 1 + 64 MiB) as soon as its 32-byte
/// preamble arrives, before any of those bytes do, and the reservation is infallible.
/// Under an address-space limit (`ulimit -v`, or `vm.overcommit_memory=2` as on many
/// compute nodes), a few dozen connections that each send one preamble make the
/// allocation fail and abort the whole server, authenticated or not.
#[test]
fn preambles_alone_cannot_exhaust_a_limited_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("bash");
    cmd.args(["-c", "ulimit -v 1500000 && exec \"$0\" --listen 127.0.0.1:0 --threads 1 --data-dir \"$1\""])
        .arg(env!("CARGO_BIN_EXE_benchfsd"))
        .arg(dir.path().join("data"))
        .stderr(Stdio::null());
    let (mut child, addr) = server::start(&mut cmd).unwrap_or_else(|e| panic!("{e}"));
    let pre = Preamble { kind: Kind::Request, id: 1, header_len: 0, data_len: MAX_DATA, data_crc: 0 }.encode();
    let mut held = Vec::new();
    for _ in 0..64 {
        match TcpStream::connect(&addr) {
            Ok(mut s) => {
                let _ = s.write_all(&pre);
                held.push(s);
            }
            Err(_) => break,
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    let exited = child.try_wait().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(exited.is_none(), "{} preambles (32 bytes each) killed the server: {exited:?}", held.len());
}
