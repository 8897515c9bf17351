//! `fort_agent::metadata::fuzzing::ntp_request`: answers no larger than the request, or
//! refuses; never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fort_agent::metadata::fuzzing::ntp_request(data));
