//! Times against 3 real servers: a directory's mtime and ctime follow changes of its
//! entries (sent to its owner in batches: within ~5 ms), a record's ctime follows
//! changes of the record itself (chmod, truncate, rename).

use std::time::{Duration, Instant};

use benchfs::Client;
use benchfs_testkit::{runtime, Cluster};

/// Long ago: any change since moves a time past it.
const OLD: (i64, u32) = (1_000, 0);

/// Sets `dir`'s mtime (and atime) to [`OLD`].
async fn age(c: &Client, dir: &str) {
    c.utimens(dir, Some(OLD), Some(OLD)).await.unwrap();
    assert_eq!(c.stat(dir).await.unwrap().mtime, OLD);
}

/// Waits (up to 2 s: a loaded machine) until `dir`'s mtime and ctime are at least `t`.
async fn moves_to(c: &Client, dir: &str, t: (i64, u32), what: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let a = c.stat(dir).await.unwrap();
        if a.mtime >= t && a.ctime >= t {
            assert_eq!(a.mtime, a.ctime, "{what}: {dir}'s mtime and ctime differ");
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {dir}'s times stayed at {:?}/{:?}, before {t:?}", a.mtime, a.ctime);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[test]
fn directory_times_follow_their_entries() {
    let cluster = Cluster::start(3);
    let rt = runtime();
    rt.block_on(async {
        let c = cluster.client().await;
        // Many directories, so that parents and entries fall on different servers.
        for d in ["/a", "/b", "/a/deep", "/other"] {
            c.mkdir(d, 0o755).await.unwrap();
        }
        for d in ["/a", "/b", "/a/deep", "/other"] {
            age(&c, d).await;
        }
        let t = benchfs::meta::now();
        c.create("/a/f", 0o644).await.unwrap().close().await.unwrap();
        moves_to(&c, "/a", t, "create").await;
        c.mkdir("/a/deep/sub", 0o755).await.unwrap();
        moves_to(&c, "/a/deep", t, "mkdir").await;
        age(&c, "/a").await;
        let t = benchfs::meta::now();
        c.symlink("f", "/a/l").await.unwrap();
        moves_to(&c, "/a", t, "symlink").await;

        // A rename moves both parents and the record's own ctime.
        age(&c, "/a").await;
        let before = c.stat("/a/f").await.unwrap().ctime;
        let t = benchfs::meta::now();
        c.rename("/a/f", "/b/g").await.unwrap();
        moves_to(&c, "/a", t, "rename (source)").await;
        moves_to(&c, "/b", t, "rename (target)").await;
        let g = c.stat("/b/g").await.unwrap();
        assert!(g.ctime >= t && g.ctime > before, "a renamed file's ctime stayed");
        // A directory's rename too.
        age(&c, "/a").await;
        age(&c, "/b").await;
        let t = benchfs::meta::now();
        c.rename("/a/deep", "/b/deep").await.unwrap();
        moves_to(&c, "/a", t, "directory rename (source)").await;
        moves_to(&c, "/b", t, "directory rename (target)").await;
        assert!(c.stat("/b/deep").await.unwrap().ctime >= t);

        age(&c, "/b").await;
        let t = benchfs::meta::now();
        c.unlink("/b/g").await.unwrap();
        moves_to(&c, "/b", t, "unlink").await;
        age(&c, "/b/deep").await;
        let t = benchfs::meta::now();
        c.rmdir("/b/deep/sub").await.unwrap();
        moves_to(&c, "/b/deep", t, "rmdir").await;

        // Entries of the root (which has no record) change nothing else; an unrelated
        // directory keeps its times, whatever happens elsewhere.
        c.create("/top", 0o644).await.unwrap().close().await.unwrap();
        c.unlink("/top").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let other = c.stat("/other").await.unwrap();
        assert_eq!(other.mtime, OLD, "an unrelated directory's mtime moved");

        // The record's own ctime: chmod, truncate.
        c.create("/other/h", 0o644).await.unwrap().close().await.unwrap();
        for (what, op) in [("chmod", 0), ("truncate", 1)] {
            let before = c.stat("/other/h").await.unwrap().ctime;
            tokio::time::sleep(Duration::from_millis(2)).await;
            match op {
                0 => c.chmod("/other/h", 0o600).await.unwrap(),
                _ => c.truncate("/other/h", 10).await.unwrap(),
            }
            assert!(c.stat("/other/h").await.unwrap().ctime > before, "{what} left ctime");
        }
    });
}
