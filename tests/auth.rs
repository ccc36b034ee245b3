//! Access control: servers started with a registry share a generated secret; clients
//! that do not prove it are refused before any request is served.

use std::io::{Read, Write};
use std::time::Duration;

use benchfs::auth;
use benchfs::proto::frame::{encode_header, Kind, Preamble};
use benchfs::proto::{
    Auth, DropFiles, Expect, Fence, FenceState, Hello, InodeLink, InodeStat, InodeUnlink, InodeUpdate, Insert,
    MoveTree, Reply, Request, Role, SetAttr, Stat, Touch,
};
use benchfs::rpc::Connection;
use benchfs::transport::tcp::{TcpOptions, TcpTransport};
use benchfs::transport::Transport;
use benchfs::{Client, Config, Error, OpenOptions};
use benchfs_testkit::{pattern, runtime, Cluster};

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

/// A file of `len` bytes at `path`, written through `c`.
async fn write_file(c: &Client, path: &str, data: &[u8]) {
    let f = c.create(path, 0o644).await.unwrap();
    f.write_at(data, 0).await.unwrap();
    f.close().await.unwrap();
}

async fn read_file(c: &Client, path: &str, len: usize) -> benchfs::Result<Vec<u8>> {
    let f = c.open(path, &OpenOptions::default()).await?;
    let mut buf = vec![0u8; len + 1];
    let n = f.read_at(&mut buf, 0).await?;
    buf.truncate(n);
    Ok(buf)
}

/// Requests only servers send each other (fences, chunk drops, record inserts and moves,
/// parent touches, inode records) are refused on a client's connection, with EPERM, even
/// from a client that knows the cluster secret, and change nothing; the servers' own
/// coordinated operations (directory renames, hard links, unlinks) keep working.
#[test]
fn requests_between_servers_are_refused_from_clients() {
    for with_secret in [true, false] {
        let cluster = if with_secret { Cluster::start_with_registry(3) } else { Cluster::start(3) };
        let cfg = if with_secret { Config::from_registry(&cluster.registry()).unwrap() } else { cluster.config() };
        assert_eq!(cfg.secret.is_some(), with_secret);
        let data = pattern(7, 3 << 20);
        runtime().block_on(async {
            let c = Client::connect(cfg.clone()).await.unwrap();
            c.mkdir("/d", 0o755).await.unwrap();
            write_file(&c, "/d/f", &data).await;
            let attr = c.stat("/d/f").await.unwrap();
            let fid = attr.fid;

            let opts = TcpOptions { timeout: Duration::from_secs(5), max_in_flight: 4, secret: cfg.secret.clone() };
            let raw = TcpTransport::new(cfg.servers.clone(), opts);
            let truncate = SetAttr { size: Some(0), ..SetAttr::default() };
            let drop: Request = DropFiles { fids: vec![fid] }.into();
            let asks: Vec<Request> = vec![
                drop.clone(),
                Fence { dir: "/d".into(), state: FenceState::Gone, probe: false }.into(),
                Insert { path: "/d/g".into(), attr: attr.clone(), replace: true, bypass_fence: false }.into(),
                MoveTree { from: "/d".into(), to: "/e".into() }.into(),
                Touch { dirs: vec![("/d".into(), (4_000_000_000, 0))], subdirs: vec![("/d".into(), 5)] }.into(),
                InodeLink { attr: attr.clone() }.into(),
                InodeStat { fid }.into(),
                InodeUpdate { fid, set: truncate }.into(),
                InodeUnlink { fid }.into(),
                // Wrapped in an identity check, a peer's request is still a peer's.
                Expect { expect: vec![], request: Box::new(drop) }.into(),
            ];
            for i in 0..cfg.servers.len() {
                for req in &asks {
                    match raw.call(i, req, &[]).await {
                        Err(Error::Perm(m)) if m.contains("only between servers") => {}
                        other => {
                            panic!("{} from a client to server {i} (secret: {with_secret}): {other:?}", req.name())
                        }
                    }
                }
            }
            if let Some(secret) = &cfg.secret {
                // Claiming the peer role takes the peer key: the cluster secret's own
                // proof is refused (and the connection closed); the peer key's is served.
                let addr = &cfg.servers[0];
                let hello = |role| Request::from(Hello { nonce: auth::nonce(), role });
                let conn = Connection::connect(addr, Duration::from_secs(5), 4).await.unwrap();
                let Reply::Challenge(ch) = conn.call(&hello(Role::Peer), &[]).await.unwrap().0 else { panic!() };
                let as_client = Auth { proof: secret.proof(auth::CLIENT_LABEL, &ch.nonce) };
                let e = conn.call(&as_client.into(), &[]).await.unwrap_err();
                assert!(matches!(e, Error::Auth(_)), "{e}");
                let conn = Connection::connect(addr, Duration::from_secs(5), 4).await.unwrap();
                let Reply::Challenge(ch) = conn.call(&hello(Role::Peer), &[]).await.unwrap().0 else { panic!() };
                let as_peer = Auth { proof: secret.peer_key().proof(auth::CLIENT_LABEL, &ch.nonce) };
                conn.call(&as_peer.into(), &[]).await.unwrap();
                let nobody = Fence { dir: "/nowhere".into(), state: FenceState::Lift, probe: false };
                conn.call(&nobody.into(), &[]).await.unwrap();
            }

            // The refused connection still serves what clients may ask.
            let owner = c.ring().meta_owner("/d/f");
            raw.call(owner, &Request::from(Stat { path: "/d/f".into() }), &[]).await.unwrap();

            // Nothing changed: the file reads back whole, the directory lists the same.
            assert!(read_file(&c, "/d/f", data.len()).await.unwrap() == data, "/d/f changed");
            let names: Vec<String> = c.readdir("/d").await.unwrap().into_iter().map(|e| e.name).collect();
            assert_eq!(names, ["f"]);
            // (The refused Touch would have set a time in 2096 and added 5 subdirectories.)
            let dir = c.stat("/d").await.unwrap();
            assert!(dir.mtime.0 < 4_000_000_000 && dir.nlink == 2, "/d changed: {dir:?}");
            assert!(matches!(c.stat("/d/g").await, Err(Error::NotFound(_))));
            assert!(matches!(c.stat("/e").await, Err(Error::NotFound(_))));

            // What servers ask each other still works: a directory rename (fences, moves,
            // inserts), a hard link (inode records), an unlink (chunk drops), a truncate.
            c.rename("/d", "/e").await.unwrap();
            assert!(read_file(&c, "/e/f", data.len()).await.unwrap() == data, "/e/f after the rename");
            c.link("/e/f", "/e/h").await.unwrap();
            assert_eq!(c.stat("/e/h").await.unwrap().nlink, 2);
            c.unlink("/e/f").await.unwrap();
            assert!(read_file(&c, "/e/h", data.len()).await.unwrap() == data, "/e/h after unlinking /e/f");
            c.truncate("/e/h", 10).await.unwrap();
            assert!(read_file(&c, "/e/h", data.len()).await.unwrap() == data[..10], "/e/h after the truncate");
            c.unlink("/e/h").await.unwrap();
            c.rmdir("/e").await.unwrap();
        });
        for i in 0..cluster.servers.len() {
            assert!(!cluster.log(i).contains("panicked"), "{}", cluster.log(i));
        }
    }
}
