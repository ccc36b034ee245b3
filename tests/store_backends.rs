//! Servers' stores on other backends than files: a whole cluster in memory, and stores
//! that fail where a test says (ENOSPC on a chunk write, EIO on a read, a metadata
//! commit that does not reach the device). What a client sees must be the failure,
//! named as the errno a program expects, and nothing stored before it may be lost.

use std::sync::Arc;

use benchfs::server::backend::{ChunkMemory, Fault, Faults, IoKind, MetaBackend, Store};
use benchfs::server::StoreBackends;
use benchfs::testkit::InProcessCluster;
use benchfs::{Client, Error, OpenOptions};
use benchfs_testkit::{fast_tempdir, pattern};

const CHUNK: u32 = 4096;

fn client(cluster: &InProcessCluster) -> Client {
    cluster.client_with(|c| c.chunk_size = CHUNK).unwrap().0
}

async fn write_file(c: &Client, path: &str, data: &[u8]) -> Result<(), Error> {
    let f = c.create(path, 0o644).await?;
    f.write_at(data, 0).await?;
    f.close().await
}

async fn read_file(c: &Client, path: &str, len: usize) -> Result<Vec<u8>, Error> {
    let f = c.open(path, &OpenOptions::default()).await?;
    let v = f.read_owned(0, len).await?;
    f.close().await?;
    Ok(v)
}

/// A cluster of `n` servers whose stores are files failing where the returned faults
/// say, its data directories, and a client.
async fn failing_cluster(n: usize) -> (tempfile::TempDir, Arc<Faults>, InProcessCluster, Client) {
    let base = fast_tempdir();
    let faults = Faults::new();
    let f = faults.clone();
    let cluster =
        InProcessCluster::start_with(base.path(), n, move |_, dir| Ok(StoreBackends::files(dir)?.failing(&f)))
            .await
            .unwrap();
    let c = client(&cluster);
    (base, faults, cluster, c)
}

#[tokio::test]
async fn a_memory_backed_cluster_creates_writes_reads_and_renames() {
    let base = fast_tempdir();
    let mut cluster = InProcessCluster::start_in_memory(base.path(), 3).await.unwrap();
    let c = client(&cluster);
    c.mkdir("/d", 0o755).await.unwrap();
    let data = pattern(1, 5 * CHUNK as usize + 100);
    write_file(&c, "/d/f", &data).await.unwrap();
    c.rename("/d/f", "/d/g").await.unwrap();
    assert!(matches!(c.stat("/d/f").await, Err(Error::NotFound(_))));
    assert_eq!(c.stat("/d/g").await.unwrap().size, data.len() as u64);
    assert_eq!(read_file(&c, "/d/g", data.len() + 10).await.unwrap(), data);
    let names: Vec<String> = c.readdir("/d").await.unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["g"]);
    c.sync_all().await.unwrap();
    // Nothing reached the data directories but the ring's own files; every chunk is held
    // in memory somewhere (placement decides where: a node may hold none of the six).
    let mut held = 0;
    for i in 0..3 {
        let dir = base.path().join(format!("node{i}"));
        assert!(!dir.join("chunks").exists() && !dir.join("meta.redb").exists(), "node {i} wrote its stores to disk");
        held += cluster.node(i).unwrap().chunks.usage().unwrap().0;
    }
    assert_eq!(held, data.len().div_ceil(CHUNK as usize) as u64, "chunks held in memory");
    let e = cluster.restart(0).await.unwrap_err();
    assert!(e.contains("cannot be restarted"), "{e}");
    cluster.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_meets_enospc_answers_no_space_and_loses_nothing_written_before() {
    let (_base, faults, cluster, c) = failing_cluster(2).await;
    let old = pattern(2, 3 * CHUNK as usize);
    write_file(&c, "/kept", &old).await.unwrap();

    faults.add(Fault::on(Store::Chunks, IoKind::Write, libc::ENOSPC));
    // Over the file's existing chunks, and into a new file.
    let f = c.open("/kept", &OpenOptions { write: true, ..OpenOptions::default() }).await.unwrap();
    let e = f.write_at(&pattern(3, 3 * CHUNK as usize), 0).await.unwrap_err();
    assert!(matches!(e, Error::NoSpace(_)) && e.errno() == libc::ENOSPC, "{e:?}");
    drop(f);
    let e = write_file(&c, "/new", &pattern(4, 100)).await.unwrap_err();
    assert_eq!(e.errno(), libc::ENOSPC, "{e:?}");
    assert!(faults.injected() >= 2);

    faults.clear();
    assert_eq!(read_file(&c, "/kept", old.len()).await.unwrap(), old, "bytes written before the ENOSPC changed");
    write_file(&c, "/after", &pattern(5, 100)).await.unwrap();
    cluster.stop().await.unwrap();
}

#[tokio::test]
async fn a_full_memory_store_answers_no_space() {
    let base = fast_tempdir();
    let cluster = InProcessCluster::start_with(base.path(), 1, |_, _| {
        Ok(StoreBackends {
            chunks: Box::new(ChunkMemory::with_capacity(4 * u64::from(CHUNK))),
            meta: MetaBackend::memory(),
        })
    })
    .await
    .unwrap();
    let c = client(&cluster);
    let fits = pattern(6, 4 * CHUNK as usize);
    write_file(&c, "/fits", &fits).await.unwrap();
    let e = write_file(&c, "/more", &[1]).await.unwrap_err();
    assert_eq!(e.errno(), libc::ENOSPC, "{e:?}");
    assert_eq!(read_file(&c, "/fits", fits.len()).await.unwrap(), fits);
    cluster.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eio_on_one_servers_chunk_reads_answers_io_for_its_chunks_only() {
    let base = fast_tempdir();
    let faults = Faults::new();
    let f0 = faults.clone();
    // Only server 0's stores fail.
    let cluster = InProcessCluster::start_with(base.path(), 2, move |i, dir| {
        let s = StoreBackends::files(dir)?;
        Ok(if i == 0 { s.failing(&f0) } else { s })
    })
    .await
    .unwrap();
    let c = client(&cluster);
    let data = pattern(7, 16 * CHUNK as usize);
    write_file(&c, "/f", &data).await.unwrap();
    let fid = c.stat("/f").await.unwrap().fid;
    let on = |node: usize| (0..16u64).find(|&k| cluster.node(node).unwrap().chunks.has_chunk(fid, k));
    let (Some(bad), Some(good)) = (on(0), on(1)) else { panic!("16 chunks all on one of 2 servers") };

    faults.add(Fault::on(Store::Chunks, IoKind::Read, libc::EIO));
    let f = c.open("/f", &OpenOptions::default()).await.unwrap();
    let at = |k: u64| k * u64::from(CHUNK);
    let e = f.read_owned(at(bad), CHUNK as usize).await.unwrap_err();
    assert!(matches!(e, Error::Io(_)) && e.errno() == libc::EIO, "{e:?}");
    let chunk = f.read_owned(at(good), CHUNK as usize).await.unwrap();
    assert_eq!(chunk, data[at(good) as usize..at(good + 1) as usize]);
    faults.clear();
    assert_eq!(f.read_owned(at(bad), CHUNK as usize).await.unwrap(), data[at(bad) as usize..at(bad + 1) as usize]);
    f.close().await.unwrap();
    cluster.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_metadata_commit_is_reported_and_committed_later() {
    let (base, faults, cluster, c) = failing_cluster(2).await;
    // A write, not the fsync: after a failed fsync the bytes may be in the page cache
    // anyway (then the records would come back from it, as they can after a real one).
    faults.add(Fault::on(Store::Meta, IoKind::Write, libc::EIO));
    c.mkdir("/d", 0o755).await.unwrap();
    write_file(&c, "/d/f", b"hello").await.unwrap();
    let e = c.sync_all().await.unwrap_err();
    assert_eq!(e.errno(), libc::EIO, "{e:?}");
    assert!(faults.injected() > 0);

    // The device works again: the records that did not reach it are committed now.
    faults.clear();
    c.sync_all().await.unwrap();
    for i in 0..2 {
        assert!(!cluster.node(i).unwrap().meta.is_dirty(), "server {i} still has changes to commit");
    }
    drop(c);
    cluster.stop().await.unwrap();
    let again = InProcessCluster::start(base.path(), 2).await.unwrap();
    let c = client(&again);
    assert_eq!(read_file(&c, "/d/f", 10).await.unwrap(), b"hello");
    again.stop().await.unwrap();
}
