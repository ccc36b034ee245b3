//! Malformed input on a live server: bogus lengths, random bytes, truncated headers
//! and unknown ops close that connection only; the server keeps serving good clients.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use benchfs::proto::frame::{Kind, Preamble, PREAMBLE_LEN, PROTOCOL_VERSION};
use benchfs::proto::{Create, Request};
use benchfs::transport::tcp::{TcpOptions, TcpTransport};
use benchfs::transport::Transport;
use benchfs::OpenOptions;
use benchfs_testkit::{pattern, runtime, status_kib, Cluster};

/// Sends `bytes` and expects the server to close the connection (EOF or reset) without replying.
fn expect_closed(addr: &str, bytes: &[u8], what: &str) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("{what}: server did not close the connection: {other:?}"),
    }
}

fn preamble(header_len: u32, data_len: u32) -> [u8; PREAMBLE_LEN] {
    Preamble { kind: Kind::Request, id: 1, header_len, data_len, data_crc: 0 }.encode()
}

#[test]
fn malformed_frames_close_only_their_connection() {
    let cluster = Cluster::start(1);
    let addr = cluster.servers[0].addr.clone();
    let rt = runtime();
    // A good client stays connected through all of it.
    let client = rt.block_on(cluster.client());
    let good = pattern(5, 3 << 20);
    rt.block_on(async {
        let f = client.create("/kept", 0o644).await.unwrap();
        f.write_at(&good, 0).await.unwrap();
        f.close().await.unwrap();
    });

    // Lengths far beyond the limits (the largest values the fields can hold).
    expect_closed(&addr, &preamble(u32::MAX, 0), "huge header length");
    expect_closed(&addr, &preamble(8, u32::MAX), "huge data length");
    let mut bogus = preamble(0, 0);
    bogus[16..24].copy_from_slice(&(1u64 << 63).to_le_bytes()); // both lengths at once
    expect_closed(&addr, &bogus, "2^63 across the length fields");
    // A truncated preamble, then EOF.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(&preamble(10, 0)[..17]).unwrap();
    drop(s);
    // A header promising more bytes than arrive.
    let mut short = preamble(100, 0).to_vec();
    short.extend_from_slice(&[0u8; 10]);
    let mut s = TcpStream::connect(&addr).unwrap();
    s.write_all(&short).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut sink = Vec::new();
    assert_eq!(s.read_to_end(&mut sink).unwrap_or(0), 0, "no reply to a truncated frame");
    // An unknown op: a well-formed frame whose header names variant 200.
    let mut unknown = preamble(2, 0).to_vec();
    unknown.extend_from_slice(&[200, 1]);
    expect_closed(&addr, &unknown, "unknown op");
    // A payload whose checksum does not match.
    let mut bad_crc =
        Preamble { kind: Kind::Request, id: 1, header_len: 0, data_len: 4, data_crc: 1 }.encode().to_vec();
    bad_crc.extend_from_slice(b"abcd");
    expect_closed(&addr, &bad_crc, "bad checksum");
    // Random garbage, many times.
    for seed in 0..200u64 {
        let junk = pattern(seed, 1 + (seed as usize * 97) % 5000);
        let mut s = TcpStream::connect(&addr).unwrap();
        let _ = s.write_all(&junk);
    }

    rt.block_on(async {
        let f = client.open("/kept", &OpenOptions::default()).await.unwrap();
        let mut buf = vec![0u8; good.len()];
        assert_eq!(f.read_at(&mut buf, 0).await.unwrap(), good.len());
        assert!(buf == good, "data changed after malformed input");
        let fresh = cluster.client().await;
        fresh.mkdir("/after", 0o755).await.unwrap();
    });
    let log = cluster.log(0);
    assert!(
        log.contains("bad frame") && log.contains("undecodable request"),
        "server did not log the bad input:\n{log}"
    );
}

/// A frame of another protocol version is answered with this server's version, so the
/// client can say "this client speaks N, the server M" instead of a decoding error.
#[test]
fn other_versions_are_told_this_servers_version() {
    let cluster = Cluster::start(1);
    let mut old = preamble(4, 0);
    old[4] = PROTOCOL_VERSION - 1;
    let mut s = TcpStream::connect(&cluster.servers[0].addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&old).unwrap();
    s.write_all(&[0, 0, 0, 0]).unwrap();
    let mut reply = [0u8; PREAMBLE_LEN];
    s.read_exact(&mut reply).unwrap();
    assert_eq!((&reply[..4], reply[4], reply[5]), (&b"BFS1"[..], PROTOCOL_VERSION, Kind::Reply as u8));
    let mut rest = Vec::new();
    assert_eq!(s.read_to_end(&mut rest).unwrap_or(0), 0, "more bytes after a version refusal");
    assert!(cluster.log(0).contains("another protocol version"), "{}", cluster.log(0));

    // The client's side: a server of an older version answers with its own preamble.
    let old_server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let old_addr = old_server.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (mut s, _) = old_server.accept().unwrap();
        let mut first = [0u8; PREAMBLE_LEN];
        s.read_exact(&mut first).unwrap();
        let mut refusal = Preamble { kind: Kind::Reply, id: 0, header_len: 0, data_len: 0, data_crc: 0 }.encode();
        refusal[4] = 1;
        s.write_all(&refusal).unwrap();
    });
    let err = runtime()
        .block_on(benchfs::Client::connect(benchfs::Config::new(vec![old_addr]).unwrap()))
        .err()
        .expect("a client connected to a server of another version");
    let msg = err.to_string();
    assert!(msg.contains(&format!("speaks protocol {PROTOCOL_VERSION}, the server speaks 1")), "{msg}");
}

/// Requests that skip the client's normalisation (straight onto the transport) with
/// paths that could alias a store key are refused before any handler sees them.
#[test]
fn the_server_refuses_every_path_alias() {
    let cluster = Cluster::start(1);
    let rt = runtime();
    rt.block_on(async {
        let opts = TcpOptions { timeout: Duration::from_secs(5), max_in_flight: 4, secret: None };
        let t = TcpTransport::new(cluster.addrs(), opts);
        let create = |path: &str| {
            Request::from(Create {
                path: path.to_string(),
                mode: 0o644,
                uid: 0,
                gid: 0,
                chunk_size: 4096,
                exclusive: true,
                truncate: false,
            })
        };
        let long_name = format!("/{}", "n".repeat(256));
        let cases = [
            ("/a/../b", libc::EINVAL),
            ("/a/./b", libc::EINVAL),
            ("//a", libc::EINVAL),
            ("/a/", libc::EINVAL),
            ("a", libc::EINVAL),
            ("/x/y\0z", libc::EINVAL),
            ("/x\0y/z", libc::EINVAL),
            ("/", libc::EINVAL),
            (long_name.as_str(), libc::ENAMETOOLONG),
        ];
        for (path, errno) in cases {
            match t.call(0, &create(path), &[]).await {
                Err(e) => assert_eq!(e.errno(), errno, "{path:?}: {e}"),
                Ok(r) => panic!("the server accepted a create of {path:?}: {r:?}"),
            }
        }
        let c = cluster.client().await;
        assert!(c.readdir("/").await.unwrap().is_empty(), "a refused create left a record");
    });
}

/// Before authentication a peer may send only a handshake-sized frame: a preamble
/// announcing 64 MiB closes the connection at once, and many cost the server nothing.
#[test]
fn unauthenticated_peers_may_send_only_small_frames() {
    let cluster = Cluster::start_with_registry(1);
    let addr = cluster.servers[0].addr.clone();
    let before = status_kib(cluster.pid(0), "VmRSS");
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(&preamble(16, 64 << 20)).unwrap();
        // Then keep sending payload, as the attack did.
        let _ = s.write_all(&vec![7u8; 1 << 20]);
        let mut buf = [0u8; 8];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("the server did not close an unauthenticated 64 MiB frame: {other:?}"),
        }
        held.push(s);
    }
    let after = status_kib(cluster.pid(0), "VmRSS");
    assert!(after < before + 32 * 1024, "server RSS grew from {before} KiB to {after} KiB");
}

/// Past `--max-connections` a new connection is closed at accept; the others are served.
#[test]
fn connections_past_the_cap_are_closed() {
    let cluster = Cluster::start_with(1, |_| vec!["--max-connections".into(), "2".into()]);
    let addr = cluster.servers[0].addr.clone();
    let (a, b) = (TcpStream::connect(&addr).unwrap(), TcpStream::connect(&addr).unwrap());
    std::thread::sleep(Duration::from_millis(100)); // let the server accept both first
    expect_closed(&addr, &[], "a third connection");
    drop((a, b));
    let rt = runtime();
    let served = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        rt.block_on(async { benchfs::Client::connect(cluster.config()).await.is_ok() })
    });
    assert!(served, "the server did not serve again once connections closed");
    assert!(cluster.log(0).contains("connection limit reached"), "{}", cluster.log(0));
}
