//! Requests exactly as botocore built and signed them (tests/fixtures/botocore.txt,
//! made by gen_botocore.py; Python is never run from the tests).

mod common;

use common::{Req, SECRET};
use fort_auth::{Credential, Credentials};

struct Case {
    name: String,
    now: String,
    expect: String,
    req: Req,
}

fn cases() -> Vec<Case> {
    let text = include_str!("fixtures/botocore.txt");
    let mut cases = Vec::new();
    for block in text.split("=== ").filter(|b| !b.trim().is_empty()) {
        let mut lines = block.lines();
        let name = lines.next().unwrap().trim().to_owned();
        let mut case = Case {
            name,
            now: String::new(),
            expect: String::new(),
            req: Req {
                method: String::new(),
                path: String::new(),
                query: String::new(),
                headers: Vec::new(),
                body: Vec::new(),
            },
        };
        for line in lines.filter(|l| !l.is_empty()) {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "now" => case.now = value.into(),
                "expect" => case.expect = value.into(),
                "method" => case.req.method = value.into(),
                "path" => case.req.path = value.into(),
                "query" => case.req.query = value.into(),
                "header" => {
                    let (n, v) = value.split_once(": ").unwrap();
                    case.req.headers.push((n.into(), v.as_bytes().to_vec()));
                }
                "body-hex" => case.req.body = hex::decode(value).unwrap(),
                other => panic!("unknown fixture line {other}"),
            }
        }
        cases.push(case);
    }
    cases
}

#[test]
fn botocore_signed_requests() {
    let mut creds = Credentials::new();
    creds
        .insert(
            "default",
            Credential {
                access_key_id: "AKIAFORTTEST00000001".into(),
                secret_access_key: SECRET.into(),
                account_id: "123456789012".into(),
            },
        )
        .unwrap();
    let cases = cases();
    assert!(cases.len() >= 8);
    let format = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    for case in cases {
        let now = time::PrimitiveDateTime::parse(&case.now, &format)
            .unwrap()
            .assume_utc();
        let got = case.req.verify_at(&creds, now);
        let words: Vec<&str> = case.expect.split(' ').collect();
        match words.as_slice() {
            ["ok", region, service] => {
                let v = got.unwrap_or_else(|e| panic!("{}: {e:?}", case.name));
                assert_eq!((v.region.as_str(), v.service.as_str()), (*region, *service));
                assert_eq!(v.account_id, "123456789012");
                assert_eq!(v.date, now);
                // Any change to the body fails.
                if !case.req.body.is_empty() {
                    let mut tampered = case.req.clone();
                    tampered.body[0] ^= 1;
                    assert!(tampered.verify_at(&creds, now).is_err(), "{}", case.name);
                }
                // 16 minutes later it has expired.
                let later = now + time::Duration::minutes(16);
                assert_eq!(
                    case.req.verify_at(&creds, later).unwrap_err().code(),
                    "RequestExpired",
                    "{}",
                    case.name
                );
            }
            ["err", code] => {
                let e = got.expect_err(&case.name);
                assert_eq!(e.code(), *code, "{}", case.name);
            }
            _ => panic!("bad expectation {}", case.expect),
        }
    }
}
