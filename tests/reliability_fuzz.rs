//! A quick, bounded fuzz run inside the test suite: the checked-in corpus and tens of
//! thousands of random and mutated-valid inputs through the frame/preamble decoder,
//! the header decoders and `rpc::wire::read_frame`, with the same checks and heap
//! bounds as the long runs in `fuzz/` (the one harness, `benchfs_testkit::wire_fuzz`).
//! `BENCHFS_FUZZ_ITERS` sets the number of generated inputs per target.

use std::path::Path;

use benchfs_testkit::wire_fuzz::{self as harness, run_checked, Gen, Outcomes};

#[global_allocator]
static ALLOC: harness::Counting = harness::Counting;

fn iters() -> u64 {
    std::env::var("BENCHFS_FUZZ_ITERS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("seed-")))
        .map(|p| (p.display().to_string(), std::fs::read(&p).expect("read seed")))
        .collect();
    v.sort();
    v
}

/// Runs the corpus, then `iters()` generated inputs (a quarter of them mutated seeds).
fn run(target: &str, seed: u64, gen: fn(&mut Gen) -> Vec<u8>) -> Outcomes {
    let corpus = seeds(target);
    assert!(corpus.len() >= 8, "{target}: only {} corpus seeds", corpus.len());
    let mut out = Outcomes::default();
    for (name, input) in &corpus {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_checked(target, input, &mut out)));
        assert!(r.is_ok(), "{target}: corpus seed {name} failed a check");
    }
    let mut g = Gen::new(seed);
    for i in 0..iters() {
        let input = if g.below(4) == 0 {
            let mut v = corpus[g.below(corpus.len())].1.clone();
            g.mutate(&mut v);
            v
        } else {
            gen(&mut g)
        };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_checked(target, &input, &mut out)));
        assert!(r.is_ok(), "{target}: generated input {i} (seed {seed}) failed a check: {input:02x?}");
    }
    out
}

#[test]
fn preamble_decoder_survives_random_and_mutated_input() {
    let [ok, rejected, _] = run("preamble", 11, Gen::preamble_input);
    // Both paths must have been exercised, or the generator has gone stale.
    assert!(ok > 1000 && rejected > 1000, "decoded {ok}, rejected {rejected}");
}

#[test]
fn header_decoders_survive_random_and_mutated_input() {
    let [ok, rejected, _] = run("header", 12, Gen::header_input);
    assert!(ok > 1000 && rejected > 1000, "decoded {ok}, rejected {rejected}");
}

#[test]
fn read_frame_survives_random_truncated_and_mutated_streams() {
    let [frames, rejected, truncated] = run("read_frame", 13, Gen::read_frame_input);
    assert!(
        frames > 1000 && rejected > 1000 && truncated > 1000,
        "frames {frames}, rejected {rejected}, truncated {truncated}"
    );
}

/// The checks themselves must catch what they claim to: a frame whose checksum
/// field lies is rejected, and a stream that stops inside a frame is Truncated.
#[test]
fn harness_sees_checksum_and_truncation() {
    let mut g = Gen::new(99);
    let f = g.valid_frame(256);
    let mut input = vec![0u8];
    input.extend_from_slice(&f);
    let st = harness::check_read_frame(&input);
    assert_eq!((st.frames, st.clean_eof), (1, true));
    let short = &input[..input.len() - 1];
    assert!(harness::check_read_frame(short).truncated);
    let mut bad = input.clone();
    let crc = harness::CRC_OFF + 1;
    bad[crc] ^= 0x40;
    let st = harness::check_read_frame(&bad);
    // A frame without payload has crc 0 and any other value is a checksum error too.
    assert!(st.rejected && st.frames == 0, "{st:?}");
}
