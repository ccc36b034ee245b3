//! Access control: servers started with a registry share a generated secret; clients
//! that do not prove it are refused before any request is served.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use benchfs::proto::frame::{encode_header, Kind, Preamble};
use benchfs::proto::{Request, Stat};
use benchfs::{Client, Config, Error};
use common::{runtime, Cluster};

#[test]
fn only_clients_with_the_cluster_secret_are_served() {
    let cluster = Cluster::start_with_registry(2);
    let rt = runtime();
    rt.block_on(async {
        // Through the registry the client finds the secret and works.
        let good = Client::connect(Config::from_registry(&cluster.registry()).unwrap()).await.unwrap();
        good.mkdir("/private", 0o700).await.unwrap();

        // The bare server list without the secret: a clear authentication error, EACCES.
        let e = Client::connect(cluster.config()).await.err().expect("connected without the secret");
        assert!(matches!(e, Error::Auth(_)), "{e}");
        assert_eq!(e.errno(), libc::EACCES);
        assert!(e.to_string().contains("authentication failed"), "{e}");

        // A wrong secret is refused too.
        let mut cfg = cluster.config();
        cfg.secret = Some(benchfs::auth::Secret::from_bytes(b"not-the-cluster-secret").unwrap());
        let e = Client::connect(cfg).await.err().expect("connected with a wrong secret");
        assert_eq!(e.errno(), libc::EACCES, "{e}");
    });

    // A raw request that skips the handshake is answered with an error and the
    // connection is closed: nothing is served.
    let header = encode_header(&Request::from(Stat { path: "/private".into() })).unwrap();
    let mut frame = Preamble { kind: Kind::Request, id: 9, header_len: header.len() as u32, data_len: 0, data_crc: 0 }
        .encode()
        .to_vec();
    frame.extend_from_slice(&header);
    let mut s = std::net::TcpStream::connect(&cluster.servers[0].addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(&frame).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("requires authentication") && !text.contains("private"), "{text}");
    assert!(cluster.log(0).contains("request before authentication"), "{}", cluster.log(0));

    // The CLI names the problem in one line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_benchfs"))
        .args(["--servers", &cluster.spec(), "ls", "/"])
        .env_remove("BENCHFS_SECRET_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("authentication failed"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_benchfs"))
        .args(["--registry", cluster.registry().to_str().unwrap(), "ls", "/"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "private");
}
