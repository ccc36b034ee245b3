//! Open handles of the client (what the C API's `benchfs_file_t` is) mean one file: after
//! another client truncates or removes it, a reader gets bytes that were written there, a
//! short read or an error, never zeros; a writer gets an error, and the servers keep no
//! chunk of a file they dropped (its tombstone refuses later writes, across a restart too).
//! Requests made on behalf of a known file carry its id ([`Client::expecting`]).

use std::path::Path;

use benchfs::{Client, Error, OpenOptions};
use benchfs_testkit::{pattern, runtime, Cluster};

async fn write_file(c: &Client, path: &str, data: &[u8]) {
    let f = c.create(path, 0o644).await.expect("create");
    f.write_at(data, 0).await.expect("write");
    f.close().await.expect("close");
}

/// Reads from `off` to the end (or the first error) through `f`, 1 MiB at a time.
async fn read_rest(f: &benchfs::File, mut off: u64) -> (Vec<u8>, Option<Error>) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match f.read_at(&mut buf, off).await {
            Ok(0) => return (out, None),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                off += n as u64;
            }
            Err(e) => return (out, Some(e)),
        }
    }
}

#[test]
fn a_reader_never_reads_zeros_after_another_client_truncates_or_removes() {
    let cluster = Cluster::start(3);
    runtime().block_on(async {
        let (a, b) = (cluster.client().await, cluster.client().await);
        let data = pattern(4, 8 << 20);
        for what in ["truncate", "unlink"] {
            let path = format!("/{what}");
            write_file(&a, &path, &data).await;
            let f = b.open(&path, &OpenOptions::default()).await.expect("open on B");
            let mut head = vec![0u8; 1 << 20];
            assert_eq!(f.read_at(&mut head, 0).await.expect("first MiB"), 1 << 20);
            if what == "truncate" {
                a.truncate(&path, 2 << 20).await.expect("truncate on A");
            } else {
                a.unlink(&path).await.expect("unlink on A");
            }
            // Past the servers' batched drop of unlinked files' chunks (100 ms).
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            let (rest, err) = read_rest(&f, 1 << 20).await;
            let zeros = rest.chunks(4096).filter(|c| c.iter().all(|&x| x == 0)).count();
            assert!(
                rest[..] == data[1 << 20..(1 << 20) + rest.len()],
                "{what}: B read {} bytes ({err:?}), {zeros} of its 4 KiB blocks zero",
                rest.len()
            );
            match what {
                "truncate" => assert_eq!((rest.len(), err.is_none()), (1 << 20, true), "{err:?}"),
                _ => assert!(
                    err.as_ref().is_some_and(|e| e.errno() == libc::ESTALE) && rest.is_empty(),
                    "{} bytes, {err:?}",
                    rest.len()
                ),
            }
        }
    });
}

/// A reader that is reading while another client's truncate runs: every read is the
/// bytes written there or a short read at the new size, never zeros. (The truncate used to
/// drop the chunks before it set the size, and a read between the two found them gone
/// while the size still said they existed: zeros with success.)
#[test]
fn a_read_racing_a_truncate_never_reads_zeros() {
    let cluster = Cluster::start(3);
    runtime().block_on(async {
        let (a, b) = (cluster.client().await, cluster.client().await);
        let data = pattern(5, 4 << 20);
        let (mut zero_reads, mut short_reads) = (0, 0);
        for i in 0..40 {
            let path = format!("/race{i}");
            write_file(&a, &path, &data).await;
            let f = b.open(&path, &OpenOptions::default()).await.expect("open on B");
            let stop = std::sync::atomic::AtomicBool::new(false);
            let reader = async {
                // Reads 64 KiB pieces past the new size, round and round, until told.
                let mut buf = vec![0u8; 64 << 10];
                let (mut zeros, mut shorts, mut off) = (0, 0, 1u64 << 20);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let n = f.read_at(&mut buf, off).await.expect("read on B");
                    let at = usize::try_from(off).expect("offset");
                    if buf[..n] != data[at..at + n] {
                        zeros += 1;
                    } else if n < buf.len() {
                        shorts += 1;
                    }
                    off = if off + (128 << 10) >= 4 << 20 { 1 << 20 } else { off + (128 << 10) };
                    tokio::task::yield_now().await;
                }
                (zeros, shorts)
            };
            let truncate = async {
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                a.truncate(&path, 1 << 20).await.expect("truncate on A");
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
            };
            let ((zeros, shorts), ()) = tokio::join!(reader, truncate);
            zero_reads += zeros;
            short_reads += shorts;
        }
        assert_eq!(zero_reads, 0, "reads that returned bytes nobody wrote there (zeros); {short_reads} short reads");
        assert!(short_reads > 0, "no read ever saw the truncate: the test raced nothing");
    });
}

/// Chunk files (not their checksums) of file `fid` in every server's data directory.
fn chunk_files(cluster: &Cluster, fid: u128) -> usize {
    let count = |d: &Path| std::fs::read_dir(d).map_or(0, |rd| rd.filter(|e| e.is_ok()).count());
    cluster.servers.iter().map(|s| count(&s.data_dir.join("chunks").join(format!("{fid:032x}")))).sum()
}

/// A writer that keeps writing after `benchfs rm` of its file gets an error, and no chunk
/// of the file is left on any server; a server restarted afterwards still refuses it.
#[test]
fn a_removed_file_stays_removed_under_a_writer() {
    let mut cluster = Cluster::start(3);
    let rt = runtime();
    let (f, spare, fid) = rt.block_on(async {
        let c = cluster.client().await;
        let f = c.create("/victim", 0o644).await.expect("create");
        f.write_at(&pattern(7, 1 << 20), 0).await.expect("first write");
        f.flush().await.expect("publish");
        // A second handle, kept for after a restart.
        let spare = c.open("/victim", &OpenOptions { write: true, ..Default::default() }).await.expect("open");
        let fid = f.fid();
        assert!(chunk_files(&cluster, fid) > 0);
        (f, spare, fid)
    });
    cluster.cli(&["rm", "/victim"]);
    let block = pattern(8, 1 << 20);
    let failed = rt.block_on(async {
        // Chunks 0..16 are on every server; the drop reaches each within its batch (100 ms).
        for i in 1..500u64 {
            match f.write_at(&block, (i % 16) << 20).await {
                Ok(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                Err(e) => return Some((i, e)),
            }
        }
        None
    });
    let (i, e) = failed.expect("every write after the rm succeeded");
    assert_eq!(e.errno(), libc::ESTALE, "write {i}: {e}");
    rt.block_on(async {
        for k in 0..16u64 {
            let r = f.write_at(b"late", k << 20).await;
            assert_eq!(r.map_err(|e| e.errno()).err(), Some(libc::ESTALE), "chunk {k}");
        }
        assert!(f.close().await.is_err(), "close published the size of a removed file");
    });
    assert_eq!(chunk_files(&cluster, fid), 0, "chunks of the removed file are left");
    // The tombstones are kept with the metadata: a restarted server still refuses.
    for i in 0..3 {
        cluster.stop(i);
        cluster.restart(i);
    }
    rt.block_on(async {
        for k in 0..16u64 {
            let r = spare.write_at(b"after a restart", k << 20).await;
            assert_eq!(r.map_err(|e| e.errno()).err(), Some(libc::ESTALE), "chunk {k} after a restart");
        }
    });
    assert_eq!(chunk_files(&cluster, fid), 0, "chunks written after a restart");
}
