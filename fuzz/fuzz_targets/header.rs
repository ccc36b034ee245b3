//! libFuzzer target: `decode_header::<Request>` and `decode_header::<Reply>`, with
//! a re-encode round trip of whatever decodes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = benchfs_fuzz::harness::check_header(data);
});
