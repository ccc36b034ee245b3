//! Data path against 4 real servers: large files, unaligned and sparse I/O, shared files.

use benchfs::{Client, OpenOptions};
use benchfs_testkit::{pattern, runtime, Cluster};

const MIB: usize = 1 << 20;

async fn write_all(c: &Client, path: &str, data: &[u8], step: usize) {
    let f = c.create(path, 0o644).await.unwrap();
    for (i, part) in data.chunks(step).enumerate() {
        assert_eq!(f.write_at(part, (i * step) as u64).await.unwrap(), part.len());
    }
    f.close().await.unwrap();
}

async fn read_all(c: &Client, path: &str, step: usize) -> Vec<u8> {
    let f = c.open(path, &OpenOptions::default()).await.unwrap();
    let mut out = vec![0u8; f.size() as usize];
    let mut off = 0;
    while off < out.len() {
        let end = (off + step).min(out.len());
        let n = f.read_at(&mut out[off..end], off as u64).await.unwrap();
        assert!(n > 0, "early EOF at {off}");
        off += n;
    }
    out
}

#[test]
fn large_file_round_trips_and_spreads_over_servers() {
    let cluster = Cluster::start(4);
    let rt = runtime();
    rt.block_on(async {
        let c = cluster.client().await;
        let data = pattern(1, 256 * MIB);
        write_all(&c, "/big", &data, 16 * MIB).await;
        assert_eq!(c.stat("/big").await.unwrap().size, data.len() as u64);
        assert!(read_all(&c, "/big", 8 * MIB).await == data, "256 MiB file differs after read-back");
        let holding = c.server_status().await.iter().filter(|s| s.result.as_ref().unwrap().chunks > 0).count();
        assert!(holding >= 3, "chunks of a 256 MiB file on only {holding} of 4 servers");
    });
}

#[test]
fn cli_put_and_get_are_bit_identical() {
    let cluster = Cluster::start(4);
    let local = cluster.dir.path().join("in.bin");
    let back = cluster.dir.path().join("out.bin");
    let data = pattern(2, 256 * MIB + 12345);
    std::fs::write(&local, &data).unwrap();
    let cli = |args: &[&str]| cluster.cli(args);
    cli(&["mkdir", "-p", "/in/put"]);
    cli(&["put", local.to_str().unwrap(), "/in/put/file"]);
    cli(&["get", "/in/put/file", back.to_str().unwrap()]);
    assert!(std::fs::read(&back).unwrap() == data, "benchfs get differs from what benchfs put wrote");
    let ls = cli(&["ls", "-l", "/in/put"]);
    assert!(
        ls.starts_with("-rw-r--r--") && ls.contains(&format!(" {} ", data.len())) && ls.trim_end().ends_with(" file"),
        "{ls}"
    );
    assert!(cli(&["stat", "/in/put/file"]).contains(&format!("size: {}", data.len())));
    let status = cli(&["status"]);
    assert_eq!(status.matches("reachable").count(), 4, "{status}");
    cli(&["mv", "/in/put/file", "/moved"]);
    cli(&["rm", "-r", "/in"]);
    assert_eq!(cli(&["ls", "/"]).trim(), "moved");
}

#[test]
fn unaligned_io_across_chunk_boundaries_matches_a_model() {
    let cluster = Cluster::start(4);
    let rt = runtime();
    rt.block_on(async {
        // Small chunks so that short writes cross many boundaries.
        let c = cluster.client_with(|cfg| cfg.chunk_size = 64 << 10).await;
        let f = c.create("/unaligned", 0o644).await.unwrap();
        let mut model = Vec::new();
        let mut rng = 12345u64;
        let mut next = |m: u64| {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (rng >> 33) % m
        };
        for i in 0..200 {
            let off = next(1 << 20) as usize;
            let len = 1 + next(300_000) as usize;
            let data = pattern(i, len);
            f.write_at(&data, off as u64).await.unwrap();
            if model.len() < off + len {
                model.resize(off + len, 0);
            }
            model[off..off + len].copy_from_slice(&data);
            let roff = next(model.len() as u64) as usize;
            let rlen = 1 + next(200_000) as usize;
            let mut buf = vec![0xAAu8; rlen];
            let n = f.read_at(&mut buf, roff as u64).await.unwrap();
            let expect = &model[roff..(roff + rlen).min(model.len())];
            assert_eq!(n, expect.len(), "read length at {roff}+{rlen}");
            assert!(&buf[..n] == expect, "read at {roff}+{rlen} after write {i} differs");
            let owned = f.read_owned(roff as u64, rlen).await.unwrap();
            assert!(owned == expect, "read_owned at {roff}+{rlen} after write {i} differs");
        }
        f.close().await.unwrap();
        assert_eq!(c.stat("/unaligned").await.unwrap().size, model.len() as u64);
    });
}

#[test]
fn sparse_files_read_zeros() {
    let cluster = Cluster::start(4);
    let rt = runtime();
    rt.block_on(async {
        let c = cluster.client().await;
        let f = c.create("/sparse", 0o644).await.unwrap();
        f.write_at(b"tail", 10 * MIB as u64 + 7).await.unwrap();
        f.close().await.unwrap();
        let g = c.open("/sparse", &OpenOptions::default()).await.unwrap();
        assert_eq!(g.size(), 10 * MIB as u64 + 11);
        let mut buf = vec![0xFFu8; 10 * MIB + 11];
        assert_eq!(g.read_at(&mut buf, 0).await.unwrap(), buf.len());
        assert!(buf[..10 * MIB + 7].iter().all(|&b| b == 0), "hole is not zero");
        assert_eq!(&buf[10 * MIB + 7..], b"tail");
        // st_blocks counts the written bytes, not the 10 MiB hole (the 4 bytes straddle no
        // 4 KiB boundary here: one block, 8 units of 512 bytes).
        let st = benchfs::stat::Stat::from_attr(&c.stat("/sparse").await.unwrap(), 0);
        assert_eq!(st.blocks, 8, "st_blocks of a sparse file counts its hole");
        // Truncating up also reads zeros; truncating down then up does not resurrect data.
        c.truncate("/sparse", 5).await.unwrap();
        c.truncate("/sparse", 10 * MIB as u64 + 11).await.unwrap();
        let g = c.open("/sparse", &OpenOptions::default()).await.unwrap();
        let mut buf = vec![0xFFu8; 16];
        assert_eq!(g.read_at(&mut buf, 10 * MIB as u64).await.unwrap(), 11);
        assert!(buf[..11].iter().all(|&b| b == 0), "data past a truncation came back: {buf:?}");
        // One chunk's piece with no chunk file at all, and one past its file's end.
        assert_eq!(g.read_owned(MIB as u64, 4096).await.unwrap(), vec![0u8; 4096]);
        assert_eq!(g.read_owned(10 * MIB as u64, 16).await.unwrap(), vec![0u8; 11]);
    });
}

#[test]
fn two_clients_write_disjoint_ranges_of_one_file() {
    let cluster = Cluster::start(4);
    let rt = runtime();
    rt.block_on(async {
        let (a, b) = (cluster.client().await, cluster.client().await);
        a.create("/shared", 0o644).await.unwrap().close().await.unwrap();
        let block = 4 * MIB;
        let writer = |c: Client, rank: usize| async move {
            let opts = OpenOptions { write: true, ..OpenOptions::default() };
            let f = c.open("/shared", &opts).await.unwrap();
            // IOR's segmented N-1 layout: rank r owns every other block.
            for seg in 0..4 {
                let off = (seg * 2 + rank) * block;
                f.write_at(&pattern((off / block) as u64, block), off as u64).await.unwrap();
            }
            f.close().await.unwrap();
        };
        tokio::join!(writer(a.clone(), 0), writer(b.clone(), 1));
        assert_eq!(b.stat("/shared").await.unwrap().size, (8 * block) as u64);
        let all = read_all(&a, "/shared", 3 * MIB).await;
        for (i, part) in all.chunks(block).enumerate() {
            assert!(part == pattern(i as u64, block).as_slice(), "block {i} of the shared file is wrong");
        }
    });
}

/// Chunks a writer wrote but never published (no close: the size on record is 0) are
/// freed on every server when the file is unlinked, not left behind as orphans.
#[test]
fn unlink_frees_unpublished_chunks_everywhere() {
    let cluster = Cluster::start(3);
    let rt = runtime();
    rt.block_on(async {
        let c = cluster.client().await;
        let chunks = |c: Client| async move {
            c.server_status().await.iter().map(|s| s.result.as_ref().unwrap().chunks).sum::<u64>()
        };
        let f = c.create("/orphan", 0o644).await.unwrap();
        f.write_at(&pattern(7, 8 * MIB), 0).await.unwrap();
        assert_eq!(c.stat("/orphan").await.unwrap().size, 0, "the size was published before close");
        assert!(chunks(c.clone()).await >= 8);
        c.unlink("/orphan").await.unwrap();
        drop(f);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while chunks(c.clone()).await > 0 {
            assert!(std::time::Instant::now() < deadline, "chunks of an unlinked file are still stored");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    });
}

/// A handle publishes its size to wherever its file went: another client renaming the
/// file, or a directory above it, between the writes and the close loses nothing; and a
/// handle never publishes into another file that took its old name.
#[test]
fn open_handles_publish_to_where_the_file_went() {
    let cluster = Cluster::start(3);
    let rt = runtime();
    rt.block_on(async {
        let (a, b) = (cluster.client().await, cluster.client().await);
        let data = pattern(9, 3 * MIB + 5);
        // A directory above the file is renamed, twice.
        a.mkdir("/x", 0o755).await.unwrap();
        let f = a.create("/x/f", 0o644).await.unwrap();
        f.write_at(&data, 0).await.unwrap();
        b.rename("/x", "/y").await.unwrap();
        b.rename("/y", "/z").await.unwrap();
        f.close().await.unwrap();
        assert_eq!(read_all(&b, "/z/f", MIB).await, data, "a write before a directory rename was lost");
        // The file itself is renamed.
        let g = a.create("/g", 0o644).await.unwrap();
        g.write_at(&data, 0).await.unwrap();
        b.rename("/g", "/h").await.unwrap();
        g.close().await.unwrap();
        assert_eq!(b.stat("/h").await.unwrap().size, data.len() as u64);
        // Its old name now holds another, shorter file: the old handle must not grow it.
        let old = a.create("/k", 0o644).await.unwrap();
        old.write_at(&data, 0).await.unwrap();
        let other = b.create("/other", 0o644).await.unwrap();
        other.write_at(b"short", 0).await.unwrap();
        other.close().await.unwrap();
        b.rename("/other", "/k").await.unwrap();
        assert!(old.close().await.is_err(), "a handle of a replaced file published without error");
        assert_eq!(b.stat("/k").await.unwrap().size, 5, "an old handle grew the file that took its name");
    });
}

/// Regression (issue 21, case 7, the minimal form of `repro/dir-rename-enoent.jsonl`): a
/// directory's name is removed (rmdir, or renamed away), and later a directory that holds
/// a subdirectory of that name is renamed onto its parent's name, replacing it or not.
/// Everything the moved tree lists must then be reachable, through the client and the CLI.
#[test]
fn a_directory_renamed_onto_a_name_that_held_a_removed_one_is_reachable() {
    let cluster = Cluster::start(3);
    let rt = runtime();
    rt.block_on(async {
        let c = cluster.client().await;
        // (parent, how its subdirectory b went, whether the parent itself goes too)
        for (p, rmdir, parent_goes) in [("/p1", true, false), ("/p2", false, false), ("/p3", true, true)] {
            c.mkdir(p, 0o755).await.unwrap();
            c.mkdir(&format!("{p}/b"), 0o755).await.unwrap();
            if rmdir {
                c.rmdir(&format!("{p}/b")).await.unwrap();
            } else {
                c.rename(&format!("{p}/b"), &format!("{p}-away")).await.unwrap();
            }
            if parent_goes {
                c.rmdir(p).await.unwrap();
            }
            let src = format!("{p}-new");
            c.mkdir(&src, 0o755).await.unwrap();
            c.mkdir(&format!("{src}/b"), 0o755).await.unwrap();
            c.mkdir(&format!("{src}/b/sub"), 0o755).await.unwrap();
            c.create(&format!("{src}/b/f"), 0o644).await.unwrap().close().await.unwrap();
            c.rename(&src, p).await.unwrap();
            let listed = c.readdir(&format!("{p}/b")).await.unwrap();
            let mut names: Vec<String> = listed.into_iter().map(|e| e.name).collect();
            names.sort();
            assert_eq!(names, ["f", "sub"], "{p}/b");
            for n in &names {
                let path = format!("{p}/b/{n}");
                if let Err(e) = c.stat(&path).await {
                    panic!("{path} is listed but stat says {e}");
                }
                cluster.cli(&["stat", &path]);
            }
            // Below it, creates work again.
            c.create(&format!("{p}/b/sub/g"), 0o644).await.unwrap().close().await.unwrap();
        }
    });
}
