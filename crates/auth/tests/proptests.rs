//! Property tests: whatever aws-sigv4 signs, we verify; any single-byte change
//! to the body or a signed header fails; no input makes `verify` panic.

mod common;

use std::time::Duration as StdDuration;

use common::*;
use proptest::prelude::*;
use time::OffsetDateTime;

fn encode_query(pairs: &[(String, String)], plus_for_space: bool) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let enc = |s: &str| {
                let e = encode(s);
                if plus_for_space {
                    e.replace("%20", "+")
                } else {
                    e
                }
            };
            format!("{}={}", enc(k), enc(v))
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[derive(Debug, Clone)]
struct Case {
    method: &'static str,
    query: Vec<(String, String)>,
    plus_for_space: bool,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    token: Option<String>,
    presign: Option<u64>,
    content_sha256: bool,
    region: String,
    service: &'static str,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just("GET"), Just("POST"), Just("PUT")],
        prop::collection::vec(("\\PC{0,8}", "\\PC{0,12}"), 0..6),
        any::<bool>(),
        prop::collection::vec(("x-p-[a-z0-9]{1,3}", "[ -~]{0,24}"), 0..6),
        prop::collection::vec(any::<u8>(), 0..256),
        prop::option::of("[A-Za-z0-9/+=]{1,40}"),
        prop::option::of(1u64..=604_800),
        any::<bool>(),
        "[a-z]{2}-[a-z]{1,9}-[1-9]",
        prop_oneof![Just("ec2"), Just("sts")],
    )
        .prop_map(
            |(
                method,
                query,
                plus_for_space,
                headers,
                body,
                token,
                presign,
                content_sha256,
                region,
                service,
            )| Case {
                method,
                query,
                plus_for_space,
                headers,
                body,
                token,
                presign,
                content_sha256,
                region,
                service,
            },
        )
}

fn signed(case: &Case) -> Req {
    let mut req = Req::new(case.method, &encode_query(&case.query, false), &case.body);
    for (n, v) in &case.headers {
        req = req.header(n, v);
    }
    let signer = Signer {
        token: case.token.clone(),
        presign: case.presign.map(StdDuration::from_secs),
        content_sha256: case.content_sha256 && case.presign.is_none(),
        region: case.region.clone(),
        service: case.service.into(),
        ..Signer::default()
    };
    let mut req = signer.sign(req);
    if case.plus_for_space {
        // Resent with `+` for spaces: the same canonical query.
        let user_part = encode_query(&case.query, false);
        if let Some(rest) = req.query.strip_prefix(&user_part) {
            req.query = format!("{}{rest}", encode_query(&case.query, true));
        }
    }
    req
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn aws_sigv4_signed_requests_verify(case in case()) {
        let req = signed(&case);
        let v = req.verify();
        prop_assert!(v.is_ok(), "{:?}\n{:?}", v, req);
        let v = v.unwrap();
        prop_assert_eq!(v.region, case.region.clone());
        prop_assert_eq!(v.service, case.service);
    }

    #[test]
    fn any_body_byte_change_fails(case in case(), index in any::<prop::sample::Index>(), flip in 1u8..=255) {
        prop_assume!(!case.body.is_empty());
        let mut req = signed(&case);
        let i = index.index(req.body.len());
        req.body[i] ^= flip;
        prop_assert_eq!(req.code(), "AuthFailure");
    }

    #[test]
    fn any_signed_header_byte_change_fails(
        case in case(),
        which in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        replacement in 0x21u8..=0x7e,
    ) {
        let mut req = signed(&case);
        // Every header aws-sigv4 signed: ours, host, x-amz-date, token, content hash.
        let auth = req.header_value("authorization");
        let signed_names: Vec<String> = match &auth {
            Some(a) => a.split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap()
                .split(';').map(String::from).collect(),
            None => vec!["host".into()],
        };
        let candidates: Vec<usize> = req.headers.iter().enumerate()
            .filter(|(_, (n, v))| !v.is_empty() && signed_names.iter().any(|s| s.eq_ignore_ascii_case(n)))
            .map(|(i, _)| i)
            .collect();
        prop_assume!(!candidates.is_empty());
        let h = candidates[which.index(candidates.len())];
        let value = &mut req.headers[h].1;
        let i = at.index(value.len());
        prop_assume!(value[i] != replacement);
        value[i] = replacement;
        let code = req.code();
        // A changed X-Amz-Date may also be unparsable, or move the scope date.
        prop_assert!(code == "AuthFailure" || code == "IncompleteSignature" || code == "RequestExpired",
            "{} after changing {:?}", code, req.headers[h]);
        if !req.headers[h].0.eq_ignore_ascii_case("x-amz-date")
            && !req.headers[h].0.eq_ignore_ascii_case("x-amz-content-sha256")
        {
            prop_assert_eq!(code, "AuthFailure");
        }
    }
}

// ---- no input panics ----

const HEADER_NAMES: &[&str] = &[
    "authorization",
    "Authorization",
    "host",
    "x-amz-date",
    "X-Amz-Date",
    "date",
    "x-amz-content-sha256",
    "x-amz-security-token",
    "content-type",
    "x-other",
];

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("AWS4-HMAC-SHA256".to_owned()),
        Just(" ".to_owned()),
        Just(",".to_owned()),
        Just("=".to_owned()),
        Just("/".to_owned()),
        Just(";".to_owned()),
        Just("Credential=".to_owned()),
        Just("SignedHeaders=".to_owned()),
        Just("Signature=".to_owned()),
        Just(format!("{AKID}/20261126/us-east-1/ec2/aws4_request")),
        Just("AKIAFORTTEST00000001".to_owned()),
        Just("20261126".to_owned()),
        Just("20261126T120000Z".to_owned()),
        Just("aws4_request".to_owned()),
        Just("host;x-amz-date".to_owned()),
        Just("host".to_owned()),
        Just("UNSIGNED-PAYLOAD".to_owned()),
        Just("%".to_owned()),
        Just("+".to_owned()),
        "[0-9a-f]{64}",
        "\\PC{0,6}",
        ".{0,4}",
    ]
}

fn fragments() -> impl Strategy<Value = String> {
    prop::collection::vec(fragment(), 0..12).prop_map(|f| f.concat())
}

fn query_string() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("X-Amz-Algorithm".to_owned()),
        Just("X-Amz-Credential".to_owned()),
        Just("X-Amz-Date".to_owned()),
        Just("X-Amz-Expires".to_owned()),
        Just("X-Amz-SignedHeaders".to_owned()),
        Just("X-Amz-Signature".to_owned()),
        Just("X-Amz-Security-Token".to_owned()),
        Just("X-Amz-Content-Sha256".to_owned()),
        Just("Action".to_owned()),
        ".{0,6}",
    ];
    prop::collection::vec((key, fragments(), prop::option::of(".{0,3}")), 0..8).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v, junk)| format!("{k}={}{}", encode(&v), junk.unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        fragments().prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 0..48),
    ]
}

fn any_time() -> impl Strategy<Value = OffsetDateTime> {
    prop_oneof![
        (-900i64..900).prop_map(|s| T0 + time::Duration::seconds(s)),
        (-377_705_116_800i64..=253_402_300_799)
            .prop_map(|s| OffsetDateTime::from_unix_timestamp(s).unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn verify_never_panics(
        method in ".{0,6}",
        path in ".{0,12}",
        query in prop_oneof![query_string(), ".{0,40}"],
        headers in prop::collection::vec(
            (prop_oneof![prop::sample::select(HEADER_NAMES).prop_map(String::from), ".{0,8}"], header_value()),
            0..8,
        ),
        body in prop::collection::vec(any::<u8>(), 0..64),
        now in any_time(),
    ) {
        let req = Req {
            method,
            path,
            query,
            headers: headers.into_iter().collect(),
            body,
        };
        let _ = req.verify_at(&credentials(), now);
    }

    /// Signed requests, then damaged anywhere: still no panic.
    #[test]
    fn damaged_signed_requests_never_panic(
        case in case(),
        cut in any::<prop::sample::Index>(),
        junk in fragments(),
        now in any_time(),
    ) {
        let mut req = signed(&case);
        let h = cut.index(req.headers.len());
        let v = &mut req.headers[h].1;
        let at = cut.index(v.len() + 1);
        v.truncate(at);
        v.extend_from_slice(junk.as_bytes());
        let _ = req.verify_at(&credentials(), now);
        let q = cut.index(req.query.len() + 1);
        if req.query.is_char_boundary(q) {
            req.query.insert_str(q, &junk);
        }
        let _ = req.verify_at(&credentials(), now);
    }
}
