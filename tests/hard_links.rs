//! Hard links against 3 real servers: every name shows one file (id, count, data and
//! attributes), the data lives until the last name goes, renames between names of one
//! file do nothing, and the counts survive a restart.

use std::time::{Duration, Instant};

use benchfs::{Client, OpenOptions};
use benchfs_testkit::{read, runtime, Cluster};

async fn write_file(c: &Client, path: &str, data: &[u8]) {
    let f =
        c.open(path, &OpenOptions { write: true, create: true, truncate: true, ..Default::default() }).await.unwrap();
    f.write_at(data, 0).await.unwrap();
    f.close().await.unwrap();
}

/// (count, id, size) as seen through `path`.
async fn seen(c: &Client, path: &str) -> (u32, u128, u64) {
    let a = c.stat(path).await.unwrap();
    (a.nlink, a.fid, a.size)
}

/// Chunks held by all servers together.
async fn chunks(c: &Client) -> u64 {
    c.server_status().await.into_iter().map(|s| s.result.unwrap().chunks).sum()
}

#[test]
fn names_share_one_file_until_the_last_goes() {
    let cluster = Cluster::start(3);
    runtime().block_on(async {
        let c = cluster.client().await;
        c.mkdir("/a", 0o755).await.unwrap();
        c.mkdir("/b", 0o755).await.unwrap();
        write_file(&c, "/a/f", b"first").await;
        let before = c.stat("/a/f").await.unwrap();
        assert_eq!(before.nlink, 1);
        let linked = c.link("/a/f", "/b/g").await.unwrap();
        assert_eq!((linked.nlink, linked.fid), (2, before.fid));
        assert!(linked.ctime >= before.ctime);
        assert_eq!(seen(&c, "/a/f").await, seen(&c, "/b/g").await);
        assert_eq!(seen(&c, "/a/f").await, (2, before.fid, 5));

        // Data and attributes written through one name are seen through the other.
        write_file(&c, "/b/g", b"second, longer").await;
        assert_eq!(read::whole(&c, "/a/f").await.unwrap(), b"second, longer");
        assert_eq!(seen(&c, "/a/f").await.2, 14);
        c.chmod("/a/f", 0o600).await.unwrap();
        assert_eq!(c.stat("/b/g").await.unwrap().mode, 0o600);
        c.truncate("/b/g", 6).await.unwrap();
        assert_eq!(read::whole(&c, "/a/f").await.unwrap(), b"second");
        let listed = c.readdir("/b").await.unwrap();
        assert_eq!((listed[0].attr.size, listed[0].attr.nlink, listed[0].attr.mode), (6, 2, 0o600));

        // A third name, through a name that is already linked.
        c.link("/b/g", "/h").await.unwrap();
        assert_eq!(seen(&c, "/a/f").await.0, 3);

        // What link(2) refuses.
        assert_eq!(c.link("/a/f", "/h").await.unwrap_err().errno(), libc::EEXIST);
        assert_eq!(c.link("/a", "/a2").await.unwrap_err().errno(), libc::EPERM);
        assert_eq!(c.link("/missing", "/m").await.unwrap_err().errno(), libc::ENOENT);
        assert_eq!(c.link("/a/f", "/nodir/x").await.unwrap_err().errno(), libc::ENOENT);
        assert_eq!(seen(&c, "/a/f").await.0, 3, "a refused link changed the count");

        // Removing names keeps the data until the last one.
        c.unlink("/a/f").await.unwrap();
        assert_eq!(seen(&c, "/b/g").await.0, 2);
        c.unlink("/h").await.unwrap();
        assert_eq!(seen(&c, "/b/g").await.0, 1);
        assert_eq!(read::whole(&c, "/b/g").await.unwrap(), b"second");
        assert!(chunks(&c).await > 0);
        c.unlink("/b/g").await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while chunks(&c).await > 0 {
            assert!(Instant::now() < deadline, "the chunks of a file whose last name went were kept");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
}

#[test]
fn renames_over_and_of_linked_names() {
    let cluster = Cluster::start(3);
    runtime().block_on(async {
        let c = cluster.client().await;
        write_file(&c, "/f", b"linked").await;
        c.link("/f", "/g").await.unwrap();
        // Two names of one file: rename(2) does nothing and succeeds.
        c.rename("/f", "/g").await.unwrap();
        assert_eq!(seen(&c, "/f").await.0, 2);
        assert_eq!(seen(&c, "/g").await.0, 2);
        // A linked name moves like any file, keeping its count.
        c.mkdir("/d", 0o755).await.unwrap();
        c.rename("/g", "/d/g").await.unwrap();
        assert_eq!(seen(&c, "/d/g").await, seen(&c, "/f").await);
        // ... and a directory holding one.
        c.rename("/d", "/e").await.unwrap();
        assert_eq!(read::whole(&c, "/e/g").await.unwrap(), b"linked");
        // Replacing a linked name drops one count, not the data.
        write_file(&c, "/other", b"other").await;
        c.rename("/other", "/f").await.unwrap();
        assert_eq!(read::whole(&c, "/f").await.unwrap(), b"other");
        assert_eq!(seen(&c, "/e/g").await.0, 1);
        assert_eq!(read::whole(&c, "/e/g").await.unwrap(), b"linked");
        // Opening with O_TRUNC through a name empties the file for every name.
        c.link("/e/g", "/t").await.unwrap();
        let trunc = OpenOptions { write: true, create: true, truncate: true, ..Default::default() };
        c.open("/t", &trunc).await.unwrap().close().await.unwrap();
        assert_eq!(read::whole(&c, "/e/g").await.unwrap(), b"");
    });
}

#[test]
fn links_and_counts_survive_kill_9_after_sync() {
    let mut cluster = Cluster::start(3);
    let rt = runtime();
    let fid = rt.block_on(async {
        let c = cluster.client().await;
        write_file(&c, "/f", b"durable").await;
        c.link("/f", "/g").await.unwrap();
        c.link("/f", "/h").await.unwrap();
        c.unlink("/h").await.unwrap();
        c.sync_all().await.unwrap();
        c.stat("/f").await.unwrap().fid
    });
    // kill -9 after the sync: what was made durable comes back.
    for i in 0..3 {
        cluster.kill(i);
    }
    for i in 0..3 {
        cluster.restart(i);
    }
    rt.block_on(async {
        let c = cluster.client().await;
        assert_eq!(seen(&c, "/g").await, (2, fid, 7));
        assert_eq!(read::whole(&c, "/f").await.unwrap(), b"durable");
    });
}
