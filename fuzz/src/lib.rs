//! Fuzzing of BenchFS's wire decoders: see [`harness`] for what is checked, the
//! libFuzzer targets in `fuzz_targets/`, and `src/bin/drive.rs` for a stable-Rust
//! driver that runs millions of generated inputs without libFuzzer.

pub mod harness;
