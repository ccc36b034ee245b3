//! Sustained load with content verification: 2 clients (separate connections), each
//! with 64 workers issuing requests at once, against 3 servers for
//! `BENCHFS_LOAD_SECS` seconds (default 10; the figure is 60).
//!
//! Every worker owns a private 4 MiB file and a 256 KiB region of one file shared
//! by all 128 workers. It writes random block ranges (crossing chunk boundaries) with
//! new versions, reads random ranges back and checks them against its model, and
//! now and then creates and removes a small file. At the end, each client reads
//! everything the *other* client wrote. Must hold: zero errors, zero lost or
//! corrupted bytes, and bounded server memory (VmHWM from /proc/PID/status).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benchfs::{Client, OpenOptions};
use benchfs_testkit::{runtime, Cluster};

const WORKERS: usize = 64;
const CLIENTS: usize = 2;
/// Blocks are the unit of the content model: each has a version, and its bytes are
/// a function of (file, block, version). Version 0 was never written.
const BLOCK: usize = 512;
const PRIVATE_BLOCKS: u64 = 8192; // 4 MiB
const REGION_BLOCKS: u64 = 512; // 256 KiB
/// Longest write or read: 1 MiB, so one op spans up to two chunk boundaries.
const MAX_OP_BLOCKS: u64 = 2048;
/// Server memory bound. In flight per server: 2 connections × 32 requests (the
/// server's per-connection cap) × ~1 MiB payload, plus one frame being read per
/// connection, plus runtime and metadata store: well under this.
const MAX_SERVER_HWM_KIB: u64 = 384 << 10;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Appends the bytes of `block` at `version` (zeros for version 0).
fn block_bytes(file: u64, block: u64, version: u32, out: &mut Vec<u8>) {
    if version == 0 {
        out.resize(out.len() + BLOCK, 0);
        return;
    }
    let seed = splitmix(file ^ splitmix(block ^ (u64::from(version) << 40)));
    for j in 0..(BLOCK / 8) as u64 {
        out.extend_from_slice(&splitmix(seed ^ j).to_le_bytes());
    }
}

fn expected(file: u64, first: u64, versions: &[u32]) -> Vec<u8> {
    let mut v = Vec::with_capacity(versions.len() * BLOCK);
    for (i, &ver) in versions.iter().enumerate() {
        block_bytes(file, first + i as u64, ver, &mut v);
    }
    v
}

/// A range of blocks one worker owns, in some file, with its versions.
struct Target {
    path: String,
    /// Identifies the file in the content function.
    file: u64,
    /// First block of the range within the file.
    base: u64,
    versions: Vec<u32>,
}

#[derive(Default)]
struct Stats {
    ops: AtomicU64,
    writes: AtomicU64,
    reads: AtomicU64,
    meta: AtomicU64,
    bytes_written: AtomicU64,
    bytes_verified: AtomicU64,
    errors: Mutex<Vec<String>>,
    lat_us: Mutex<Vec<u32>>,
}

impl Stats {
    fn error(&self, e: String) {
        let mut v = self.errors.lock().unwrap();
        if v.len() < 20 {
            v.push(e);
        }
    }
}

struct Gen(u64);
impl Gen {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = splitmix(self.0);
        self.0 % n
    }
}

/// One worker: random writes, verified reads and small metadata ops until `stop`.
async fn worker(c: Client, ci: usize, w: usize, stop: Arc<AtomicBool>, st: Arc<Stats>) -> Vec<Target> {
    let mut g = Gen(splitmix((ci * 1000 + w) as u64));
    let private = format!("/load/c{ci}/w{w}");
    let region = (ci * WORKERS + w) as u64;
    let mut targets = [
        Target { path: private.clone(), file: region + 1, base: 0, versions: vec![0; PRIVATE_BLOCKS as usize] },
        Target {
            path: "/load/shared".into(),
            file: 0,
            base: region * REGION_BLOCKS,
            versions: vec![0; REGION_BLOCKS as usize],
        },
    ];
    let create = OpenOptions { read: true, write: true, create: true, ..OpenOptions::default() };
    let files = [c.open(&private, &create).await, c.open("/load/shared", &create).await];
    let [Ok(fp), Ok(fs)] = files else {
        st.error(format!("c{ci} w{w}: open failed: {:?}", files.iter().filter_map(|f| f.as_ref().err()).next()));
        return Vec::new();
    };
    let handles = [&fp, &fs];
    let mut lat = Vec::new();
    let mut version = 0u32;
    // First fill both ranges completely, then random operations.
    let mut fill = [0u64, 0u64];
    let mut step = 0u64;
    while !stop.load(Ordering::Relaxed) {
        step += 1;
        let which = if fill[0] < PRIVATE_BLOCKS {
            0
        } else if fill[1] < REGION_BLOCKS {
            1
        } else {
            g.below(2) as usize
        };
        let t = &mut targets[which];
        let f = handles[which];
        let n = t.versions.len() as u64;
        let filling = fill[which] < n;
        let op = if filling { 0 } else { g.below(20) };
        let started = Instant::now();
        let r: Result<(), String> = match op {
            // Write a random range with a new version.
            0..=8 => {
                let (first, len) = if filling {
                    let first = fill[which];
                    (first, MAX_OP_BLOCKS.min(n - first))
                } else {
                    let len = 1 + g.below(MAX_OP_BLOCKS.min(n));
                    (g.below(n - len + 1), len)
                };
                version += 1;
                let vers = vec![version; len as usize];
                let data = expected(t.file, t.base + first, &vers);
                match f.write_at(&data, (t.base + first) * BLOCK as u64).await {
                    Ok(k) if k == data.len() => {
                        t.versions[first as usize..(first + len) as usize].fill(version);
                        if filling {
                            fill[which] = first + len;
                        }
                        st.writes.fetch_add(1, Ordering::Relaxed);
                        st.bytes_written.fetch_add(data.len() as u64, Ordering::Relaxed);
                        Ok(())
                    }
                    Ok(k) => Err(format!("short write {k} of {}", data.len())),
                    Err(e) => Err(format!("write {}: {e}", t.path)),
                }
            }
            // Read a random range and compare with the model.
            9..=17 => {
                let len = 1 + g.below(MAX_OP_BLOCKS.min(n));
                let first = g.below(n - len + 1);
                let want = expected(t.file, t.base + first, &t.versions[first as usize..(first + len) as usize]);
                let mut buf = vec![0u8; want.len()];
                match f.read_at(&mut buf, (t.base + first) * BLOCK as u64).await {
                    Ok(k) if k == want.len() && buf == want => {
                        st.reads.fetch_add(1, Ordering::Relaxed);
                        st.bytes_verified.fetch_add(k as u64, Ordering::Relaxed);
                        Ok(())
                    }
                    Ok(k) => {
                        let at = buf.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(k);
                        Err(format!("read {} blocks {first}+{len}: {k} bytes, first wrong byte {at}", t.path))
                    }
                    Err(e) => Err(format!("read {}: {e}", t.path)),
                }
            }
            // Metadata: publish the size, create and remove a small file.
            _ => {
                let tmp = format!("/load/c{ci}/tmp{w}-{step}");
                let r = async {
                    f.flush().await?;
                    let a = c.stat(&t.path).await?;
                    let g2 = c.create(&tmp, 0o600).await?;
                    g2.write_at(b"tmp", 0).await?;
                    g2.close().await?;
                    c.unlink(&tmp).await?;
                    Ok::<_, benchfs::Error>(a.size)
                }
                .await;
                st.meta.fetch_add(1, Ordering::Relaxed);
                match r {
                    Ok(size) if which == 0 && size != PRIVATE_BLOCKS * BLOCK as u64 => {
                        Err(format!("{}: size {size} after flush", t.path))
                    }
                    Ok(_) => Ok(()),
                    Err(e) => Err(format!("metadata ops on {tmp}: {e}")),
                }
            }
        };
        lat.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        st.ops.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = r {
            st.error(format!("c{ci} w{w}: {e}"));
            break;
        }
    }
    for f in [fp, fs] {
        if let Err(e) = f.close().await {
            st.error(format!("c{ci} w{w}: close: {e}"));
        }
    }
    st.lat_us.lock().unwrap().extend(lat);
    targets.into_iter().collect()
}

/// `(VmRSS, VmHWM)` of a process in KiB.
fn mem_kib(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let f = |name: &str| {
        s.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0)
    };
    (f("VmRSS:"), f("VmHWM:"))
}

#[test]
fn two_clients_64_in_flight_three_servers_no_errors_no_lost_bytes() {
    let secs: u64 = std::env::var("BENCHFS_LOAD_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    let cluster = Cluster::start(3);
    let pids: Vec<u32> = cluster.servers.iter().map(|s| cluster.pid_of(s)).collect();
    let rss0: Vec<u64> = pids.iter().map(|&p| mem_kib(p).0).collect();
    let rt = runtime();
    let st = Arc::new(Stats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (clients, models, elapsed) = rt.block_on(async {
        let clients: Vec<Client> = {
            let mut v = Vec::new();
            for _ in 0..CLIENTS {
                v.push(cluster.client_with(|cfg| cfg.max_in_flight = WORKERS).await);
            }
            v
        };
        clients[0].mkdir("/load", 0o755).await.expect("mkdir /load");
        for ci in 0..CLIENTS {
            clients[0].mkdir(&format!("/load/c{ci}"), 0o755).await.expect("mkdir");
        }
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (ci, c) in clients.iter().enumerate() {
            for w in 0..WORKERS {
                tasks.push(tokio::spawn(worker(c.clone(), ci, w, stop.clone(), st.clone())));
            }
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        let mut models = Vec::new();
        for t in tasks {
            models.push(t.await.expect("worker panicked"));
        }
        (clients, models, started.elapsed())
    });
    let errors = st.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "{} errors under load, first: {errors:#?}", errors.len());

    // Cross-check: each client reads what the other one's workers wrote.
    let verified_cross = rt.block_on(async {
        let mut bytes = 0u64;
        for (i, targets) in models.iter().enumerate() {
            let reader = &clients[(i / WORKERS + 1) % CLIENTS];
            for t in targets {
                let f = reader.open(&t.path, &OpenOptions::default()).await.expect("open for the cross-check");
                let want = expected(t.file, t.base, &t.versions);
                let mut buf = vec![0u8; want.len()];
                let n = f.read_at(&mut buf, t.base * BLOCK as u64).await.expect("cross-check read");
                assert!(
                    n == want.len() && buf == want,
                    "{} (blocks from {}) differs when read by the other client",
                    t.path,
                    t.base
                );
                bytes += n as u64;
            }
        }
        bytes
    });
    assert_eq!(models.iter().map(Vec::len).sum::<usize>(), CLIENTS * WORKERS * 2, "a worker returned no model");

    let mem: Vec<(u64, u64)> = pids.iter().map(|&p| mem_kib(p)).collect();
    let mut lat = st.lat_us.lock().unwrap().clone();
    lat.sort_unstable();
    let pct =
        |q: f64| lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1))).copied().unwrap_or(0);
    let s = elapsed.as_secs_f64();
    let mib = |b: &AtomicU64| b.load(Ordering::Relaxed) as f64 / (1 << 20) as f64;
    println!(
        "load: {CLIENTS} clients x {WORKERS} workers, 3 servers, {s:.1} s: {} ops ({:.0}/s): {} writes ({:.0} MiB, \
         {:.1} MiB/s), {} verified reads ({:.0} MiB), {} metadata rounds; latency p50 {} us, p99 {} us, max {} us; \
         0 errors; cross-client check {:.0} MiB identical",
        st.ops.load(Ordering::Relaxed),
        st.ops.load(Ordering::Relaxed) as f64 / s,
        st.writes.load(Ordering::Relaxed),
        mib(&st.bytes_written),
        mib(&st.bytes_written) / s,
        st.reads.load(Ordering::Relaxed),
        mib(&st.bytes_verified),
        st.meta.load(Ordering::Relaxed),
        pct(0.5),
        pct(0.99),
        lat.last().copied().unwrap_or(0),
        verified_cross as f64 / (1 << 20) as f64,
    );
    for (i, ((rss, hwm), r0)) in mem.iter().zip(&rss0).enumerate() {
        println!("load: server {i}: VmRSS {r0} KiB before, {rss} KiB after; VmHWM {hwm} KiB");
    }
    for (i, (_, hwm)) in mem.iter().enumerate() {
        assert!(*hwm < MAX_SERVER_HWM_KIB, "server {i}: VmHWM {hwm} KiB over the {MAX_SERVER_HWM_KIB} KiB bound");
    }
    assert!(st.writes.load(Ordering::Relaxed) > 0 && st.reads.load(Ordering::Relaxed) > 0);
}
