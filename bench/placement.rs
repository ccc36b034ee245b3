//! `cargo bench --bench placement [-- SERVERS,... [FILES [FILE_MIB]]]`: placement balance
//! and the ring's own cost at server counts this machine cannot run, computed with the
//! same code clients and servers use ([`benchfs::placement::Ring`]).
//!
//! For each server count: the time to build the ring and the memory its points take (every
//! client process and every server holds one), the metadata records per server for FILES
//! paths (mdtest-like names, default 10^5), and the chunks per server of one FILE_MIB file
//! in 1 MiB chunks (default 4 GiB), each as max/mean over the servers.

use std::time::Instant;

use benchfs::placement::{Ring, VNODES};

fn spread(counts: &[u64]) -> f64 {
    let mean = counts.iter().sum::<u64>() as f64 / counts.len() as f64;
    *counts.iter().max().unwrap_or(&0) as f64 / mean
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let servers: Vec<usize> = args
        .first()
        .map_or("1,4,16,64,256,1000".into(), String::clone)
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let files: u64 = args.get(1).map_or(100_000, |s| s.parse().unwrap());
    let mib: u64 = args.get(2).map_or(4096, |s| s.parse().unwrap());
    println!("| servers | ring build, ms | ring points, MiB | records max/mean ({files} files) | chunks max/mean ({mib} MiB file) | empty servers |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &n in &servers {
        let names: Vec<String> =
            (0..n).map(|i| format!("10.{}.{}.{}:7070", i >> 16, (i >> 8) & 255, i & 255)).collect();
        let t = Instant::now();
        let ring = Ring::new(&names);
        let build_ms = t.elapsed().as_secs_f64() * 1e3;
        let points_mib = (n * VNODES as usize * std::mem::size_of::<(u64, usize)>()) as f64 / (1 << 20) as f64;
        let mut records = vec![0u64; n];
        for i in 0..files {
            records[ring.meta_owner(&format!(
                "/io500/mdtest-easy/test-dir.0-0/mdtest_tree.{}.0/file.mdtest.{}.{i}",
                i % 64,
                i % 64
            ))] += 1;
        }
        let fid = 0x1234_5678_9abc_def0_0fed_cba9_8765_4321u128;
        let mut chunks = vec![0u64; n];
        for k in 0..mib {
            chunks[ring.chunk_owner(fid, k)] += 1;
        }
        let empty = chunks.iter().filter(|&&c| c == 0).count();
        println!(
            "| {n} | {build_ms:.1} | {points_mib:.2} | {:.2} | {:.2} | {empty} |",
            spread(&records),
            spread(&chunks)
        );
    }
}
