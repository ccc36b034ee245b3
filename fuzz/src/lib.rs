//! Fuzzing of BenchFS's wire decoders: see [`harness`] for what is checked, the
//! libFuzzer targets in `fuzz_targets/`, and `src/bin/drive.rs` for a stable-Rust
//! driver that runs millions of generated inputs without libFuzzer.

/// The harness lives in the test kit, which the main test suite's quick fuzz run
/// (`tests/reliability_fuzz.rs`) shares; the targets keep calling it `harness`.
pub use benchfs_testkit::wire_fuzz as harness;
