#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fort_dataplane::fuzzing::dhcpv6(data));
