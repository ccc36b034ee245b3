//! A libFuzzer-free fuzz driver that runs on stable Rust: feeds the checked-in
//! corpus, then `--iters` generated inputs per target (noise, valid frames of every
//! message, and mutations of both and of the corpus) through the harness, and
//! checks each input's heap use with a counting allocator.
//!
//! ```text
//! cargo run --release --bin drive -- [--iters N] [--seed S] [--targets preamble,header,read_frame]
//!                                    [--corpus DIR] [--write-seeds]
//! ```
//! On a failed check the input is saved under `artifacts/<target>/` and the driver
//! exits 1; `--replay FILE --targets T` runs one saved input again.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use benchfs_fuzz::harness::{self, run_checked as run_one, Gen, Outcomes, TARGETS};

#[global_allocator]
static ALLOC: harness::Counting = harness::Counting;

struct Args {
    iters: u64,
    seed: u64,
    targets: Vec<String>,
    corpus: PathBuf,
    write_seeds: bool,
    replay: Option<PathBuf>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        iters: 100_000,
        seed: 1,
        targets: TARGETS.iter().map(|s| s.to_string()).collect(),
        corpus: Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        write_seeds: false,
        replay: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or(format!("{k} needs a value"));
        match k.as_str() {
            "--iters" => a.iters = val()?.replace('_', "").parse().map_err(|e| format!("--iters: {e}"))?,
            "--seed" => a.seed = val()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--targets" => a.targets = val()?.split(',').map(str::to_string).collect(),
            "--corpus" => a.corpus = PathBuf::from(val()?),
            "--replay" => a.replay = Some(PathBuf::from(val()?)),
            "--write-seeds" => a.write_seeds = true,
            _ => return Err(format!("unknown argument {k}")),
        }
    }
    if let Some(t) = a.targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        return Err(format!("unknown target {t} (have {TARGETS:?})"));
    }
    Ok(a)
}

fn generate(target: &str, g: &mut Gen, corpus: &[Vec<u8>]) -> Vec<u8> {
    // One input in four mutates a corpus seed; the rest come from the generator.
    if !corpus.is_empty() && g.below(4) == 0 {
        let mut v = corpus[g.below(corpus.len())].clone();
        if target == "read_frame" && !v.is_empty() {
            v[0] = g.u64() as u8; // a new delivery schedule
        }
        g.mutate(&mut v);
        return v;
    }
    match target {
        "preamble" => g.preamble_input(),
        "header" => g.header_input(),
        _ => g.read_frame_input(),
    }
}

fn save(target: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts").join(target);
    let _ = std::fs::create_dir_all(&dir);
    let name = format!("crash-{:08x}", benchfs::proto::frame::checksum(input));
    let p = dir.join(name);
    let _ = std::fs::write(&p, input);
    p
}

fn load_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Writes small seed files: a valid preamble, header and frame of every message kind.
fn write_seeds(root: &Path) -> std::io::Result<()> {
    use benchfs::proto::frame::{encode_header, Kind};
    let mut g = Gen::new(0x5eed);
    for t in TARGETS {
        std::fs::create_dir_all(root.join(t))?;
    }
    let mut n = 0;
    // Enough draws to hit every Request and Reply variant several times.
    for i in 0..64 {
        let (kind, header, data): (Kind, Vec<u8>, Vec<u8>) = if i % 2 == 0 {
            let r = g.request();
            let n = 1 + g.below(64);
            let d = if matches!(r, benchfs::proto::Request::Write { .. }) { g.bytes(n) } else { vec![] };
            (Kind::Request, encode_header(&r).map_err(std::io::Error::other)?, d)
        } else {
            let r = g.reply();
            let n = 1 + g.below(64);
            let d = if matches!(r, benchfs::proto::Reply::Done(_)) { g.bytes(n) } else { vec![] };
            (Kind::Reply, encode_header(&r).map_err(std::io::Error::other)?, d)
        };
        if header.len() > 512 {
            continue; // keep seeds small
        }
        let frame = harness::frame_bytes(kind, g.u64(), &header, &data);
        std::fs::write(root.join("header").join(format!("seed-{n:03}")), &header)?;
        if n < 8 {
            std::fs::write(root.join("preamble").join(format!("seed-{n:03}")), &frame[..32])?;
        }
        let mut rf = vec![[0x00, 0x01, 0x05, 0x23, 0x3c, 0x71][n % 6]];
        rf.extend_from_slice(&frame);
        std::fs::write(root.join("read_frame").join(format!("seed-{n:03}")), &rf)?;
        n += 1;
    }
    // Two frames back to back, and one split across a Pending-heavy schedule.
    let a = g.valid_frame(16);
    let b = g.valid_frame(16);
    let mut rf = vec![0x21];
    rf.extend_from_slice(&a);
    rf.extend_from_slice(&b);
    std::fs::write(root.join("read_frame").join("seed-two-frames"), &rf)?;
    println!("wrote {n} seeds per target under {}", root.display());
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("drive: {e}");
            return ExitCode::from(2);
        }
    };
    if args.write_seeds {
        return match write_seeds(&args.corpus) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("drive: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(p) = &args.replay {
        let input = std::fs::read(p).unwrap_or_default();
        for t in &args.targets {
            println!("{t}: peak heap {} bytes", run_one(t, &input, &mut [0; 3]));
        }
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let mut total = 0u64;
    for target in &args.targets {
        let corpus = load_corpus(&args.corpus.join(target));
        let mut g = Gen::new(args.seed ^ benchfs::proto::frame::checksum(target.as_bytes()) as u64);
        let t0 = Instant::now();
        let (mut max_peak, mut max_len) = (0usize, 0usize);
        let mut out: Outcomes = [0; 3];
        let inputs = corpus.len() as u64 + args.iters;
        for i in 0..inputs {
            let input = match corpus.get(i as usize) {
                Some(c) => c.clone(),
                None => generate(target, &mut g, &corpus),
            };
            max_len = max_len.max(input.len());
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_one(target, &input, &mut out))) {
                Ok(peak) => max_peak = max_peak.max(peak),
                Err(_) => {
                    let p = save(target, &input);
                    eprintln!("drive: {target}: input {i} failed a check; saved to {}", p.display());
                    return ExitCode::FAILURE;
                }
            }
        }
        total += inputs;
        let what = match target.as_str() {
            "preamble" => format!("{} decoded, {} rejected", out[0], out[1]),
            "header" => format!("{} decoded as a request or reply, {} rejected", out[0], out[1]),
            _ => format!("{} frames accepted, {} streams rejected, {} truncated", out[0], out[1], out[2]),
        };
        println!(
            "{target}: {inputs} inputs ({} corpus seeds) in {:.1} s: {what}; longest input {max_len} bytes, \
             largest peak heap for one input {max_peak} bytes",
            corpus.len(),
            t0.elapsed().as_secs_f64()
        );
    }
    let (rss, hwm) = harness::rss_kib();
    println!(
        "total: {total} inputs, no failed check, in {:.1} s; driver VmRSS {rss} KiB, VmHWM {hwm} KiB",
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}
