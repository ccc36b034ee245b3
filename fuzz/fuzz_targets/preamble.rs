//! libFuzzer target: `Preamble::decode` over the first 32 bytes of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = benchfs_fuzz::harness::check_preamble(data);
});
