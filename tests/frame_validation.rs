//! Malformed input on a live server: bogus lengths, random bytes, truncated headers
//! and unknown ops close that connection only; the server keeps serving good clients.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use benchfs::proto::frame::{Kind, Preamble, PREAMBLE_LEN};
use benchfs::OpenOptions;
use common::{pattern, runtime, Cluster};

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
