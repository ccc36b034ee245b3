//! libFuzzer target: `rpc::wire::read_frame` over a byte stream delivered in pieces
//! (the first input byte picks the piece size and how often a read is Pending).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = benchfs_fuzz::harness::check_read_frame(data);
});
