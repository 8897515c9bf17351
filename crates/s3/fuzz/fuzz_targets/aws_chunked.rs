//! The aws-chunked decoder on arbitrary bytes: never panics, never yields more than the
//! limit or more payload than the body held.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = fort_s3::chunked::decode(data, 4096) {
        assert!(out.len() <= 4096);
        assert!(out.len() <= data.len());
    }
});
