//! The EC2 Query form decoder on arbitrary bytes: never panics, and what it accepts
//! reads back consistently.
#![no_main]

use fort_ec2_api::query::Params;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = Params::from_form(data) {
        let flat = p.flatten();
        let again = Params::from_pairs(flat.clone()).expect("a decoded form re-encodes");
        assert_eq!(again.flatten(), flat);
        for name in ["Filter", "VpcId", "IpPermissions"] {
            let _ = p.list(name);
            let _ = p.strings(name);
        }
        let _ = p.int("MaxResults");
        let _ = p.bool("DryRun");
    }
});
