//! Restarting servers loses nothing: after a clean stop everything; after kill -9,
//! everything that was fsynced.

use benchfs::OpenOptions;
use benchfs_testkit::{pattern, runtime, Cluster};

#[test]
fn clean_restart_keeps_every_file_and_directory() {
    let mut cluster = Cluster::start(3);
    let rt = runtime();
    let files: Vec<(String, Vec<u8>)> =
        (0..20).map(|i| (format!("/p/d{}/f{i}", i % 3), pattern(i, (i as usize) * 100_003 % 3_000_000))).collect();
    rt.block_on(async {
        let c = cluster.client().await;
        c.mkdir("/p", 0o755).await.unwrap();
        for d in 0..3 {
            c.mkdir(&format!("/p/d{d}"), 0o750).await.unwrap();
        }
        for (p, data) in &files {
            let f = c.create(p, 0o600).await.unwrap();
            f.write_at(data, 0).await.unwrap();
            f.close().await.unwrap();
        }
        c.symlink("d0/f0", "/p/link").await.unwrap();
        c.mknod("/p/fifo", benchfs::FileKind::Fifo, 0o600, 0).await.unwrap();
    });
    for i in 0..3 {
        assert!(cluster.stop(i), "server {i} did not exit cleanly: {}", cluster.log(i));
    }
    for i in 0..3 {
        cluster.restart(i);
    }
    rt.block_on(async {
        let c = cluster.client().await;
        assert_eq!(c.stat("/p/d1").await.unwrap().mode, 0o750);
        let names: Vec<_> = c.readdir("/p").await.unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["d0", "d1", "d2", "fifo", "link"]);
        assert_eq!(c.readlink("/p/link").await.unwrap(), "d0/f0");
        assert_eq!(c.stat("/p/fifo").await.unwrap().kind, benchfs::FileKind::Fifo);
        for (p, data) in &files {
            let f = c.open(p, &OpenOptions::default()).await.unwrap();
            assert_eq!(f.size(), data.len() as u64, "{p}");
            let mut buf = vec![0u8; data.len()];
            assert_eq!(f.read_at(&mut buf, 0).await.unwrap(), data.len());
            assert!(&buf == data, "{p} differs after restart");
        }
    });
}

#[test]
fn fsynced_data_survives_kill_9() {
    let mut cluster = Cluster::start(2);
    let rt = runtime();
    let data = pattern(9, 5_000_000);
    rt.block_on(async {
        let c = cluster.client().await;
        // In the root: fsync makes the file durable, not its parent's record (as POSIX,
        // where the directory needs an fsync of its own).
        let f = c.create("/synced", 0o644).await.unwrap();
        f.write_at(&data, 0).await.unwrap();
        f.fsync().await.unwrap();
    });
    cluster.kill(0);
    cluster.kill(1);
    cluster.restart(0);
    cluster.restart(1);
    rt.block_on(async {
        let c = cluster.client().await;
        let f = c.open("/synced", &OpenOptions::default()).await.unwrap();
        assert_eq!(f.size(), data.len() as u64);
        let mut buf = vec![0u8; data.len()];
        f.read_at(&mut buf, 0).await.unwrap();
        assert!(buf == data, "fsynced data differs after kill -9");
    });
}
