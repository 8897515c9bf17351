//! The PROXY v2 header reader on arbitrary bytes (what the API reads before HTTP on
//! every connection): never panics, never claims more bytes than it was given, and what
//! it reads writes back to a header that reads the same.
#![no_main]

use fort_proto::proxy::{Parsed, encode, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Parsed::Header { origin, len } = parse(data) {
        assert!(len <= data.len());
        let again = encode(&origin);
        match parse(&again) {
            Parsed::Header { origin: o, len } => {
                assert_eq!(o, origin);
                assert_eq!(len, again.len());
            }
            other => panic!("a written header reads as {other:?}"),
        }
    }
});
