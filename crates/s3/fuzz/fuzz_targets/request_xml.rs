//! The XML of S3 requests (DeleteObjects, CreateBucketConfiguration) on arbitrary bytes:
//! never panics; an accepted Delete names 1 to 1000 keys.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fort_s3::xml::leaves(data);
    if let Ok((keys, _quiet)) = fort_s3::rest::parse_delete(data) {
        assert!((1..=1000).contains(&keys.len()));
    }
});
