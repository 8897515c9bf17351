//! Endpoint policy documents on arbitrary text: parsing never panics, and what parses
//! evaluates without panicking, with an explicit deny never turned into an allow by
//! adding statements after it.
#![no_main]

use fort_auth::policy::{Decision, Policy, Request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = Policy::parse(text) else {
        return;
    };
    let context = [("aws:SourceVpce", "vpce-1"), ("s3:prefix", "a/")];
    for (action, resource) in [
        ("s3:GetObject", "arn:aws:s3:::b/k"),
        ("ec2:DescribeVpcs", "*"),
    ] {
        let req = Request {
            action,
            resource,
            principal_account: "123456789012",
            principal_arn: "arn:aws:iam::123456789012:root",
            context: &context,
        };
        let d = policy.evaluate(&req);
        if d == Decision::ExplicitDeny {
            let mut more = policy.clone();
            more.statements.extend(policy.statements.clone());
            assert_eq!(more.evaluate(&req), Decision::ExplicitDeny);
        }
    }
});
