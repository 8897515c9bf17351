//! `fort_agent::metadata::fuzzing::query`: answers or refuses, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| fort_agent::metadata::fuzzing::query(data));
