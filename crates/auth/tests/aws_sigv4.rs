//! Requests signed by the real `aws-sigv4` crate, verified with ours.

mod common;

use std::time::Duration as StdDuration;

use common::*;
use fort_auth::VerifyError;
use time::Duration;

const DESCRIBE_VPCS: &str = "Action=DescribeVpcs&Version=2016-11-15&Filter.1.Name=vpc-id&Filter.1.Value.1=vpc-0a1b2c3d4e5f67890&Filter.2.Name=tag%3AName&Filter.2.Value.1=my+vpc";

fn signed_post() -> Req {
    Signer::default().sign(Req::botocore_post(DESCRIBE_VPCS))
}

#[test]
fn botocore_shaped_post_verifies() {
    let req = signed_post();
    let v = req.verify().unwrap();
    assert_eq!(v.access_key_id, AKID);
    assert_eq!(v.account_id, ACCOUNT);
    assert_eq!(v.region, "us-east-1");
    assert_eq!(v.service, "ec2");
    assert_eq!(v.date, T0);
    // Headers that are not signed may change or appear freely.
    let req = req
        .header("User-Agent", "aws-cli/2.0")
        .header("Content-Length", "999")
        .header("X-Amzn-Trace-Id", "Root=1");
    assert!(req.verify().is_ok());
}

#[test]
fn region_and_second_account_come_from_the_signature() {
    let signer = Signer {
        access_key_id: "AKIAFORTTEST00000002".into(),
        secret: "second secret".into(),
        region: "eu-central-1".into(),
        ..Signer::default()
    };
    let v = signer
        .sign(Req::botocore_post(DESCRIBE_VPCS))
        .verify()
        .unwrap();
    assert_eq!(v.account_id, "210987654321");
    assert_eq!(v.region, "eu-central-1");
}

#[test]
fn get_with_query_string_verifies() {
    for query in [
        "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-1&VpcId.2=vpc-2",
        "Version=2016-11-15&Action=DescribeVpcs&Filter.1.Value.1=a+b&Filter.1.Value.2=a%20b",
        "Action=DescribeVpcs&Filter.1.Value.1=%C3%BCml%C3%A4ut&Filter.1.Value.2=%2B%2F%3D%26&empty=&flag",
    ] {
        let req = Signer::default().sign(Req::new("GET", query, b""));
        assert!(req.verify().is_ok(), "{query}: {:?}", req.verify());
    }
}

#[test]
fn plus_and_percent_20_are_the_same_space() {
    // Signed with `%20`, sent with `+`: AWS canonicalizes both to `%20`.
    let req = Signer::default().sign(Req::new(
        "GET",
        "Action=DescribeVpcs&Filter.1.Value.1=a%20b",
        b"",
    ));
    let mut resent = req.clone();
    resent.query = resent.query.replace("a%20b", "a+b");
    assert!(resent.verify().is_ok());
    // But a literal plus is a different value.
    let mut changed = req;
    changed.query = changed.query.replace("a%20b", "a%2Bb");
    assert_eq!(changed.code(), "AuthFailure");
}

#[test]
fn extra_signed_headers_like_the_java_sdk() {
    let req = Req::botocore_post(DESCRIBE_VPCS)
        .header(
            "amz-sdk-invocation-id",
            "1b9e6e07-6f5a-4ae5-8b8c-3d1d8f0d7f2e",
        )
        .header("amz-sdk-retry", "0/0/500")
        .header("Content-Length", &DESCRIBE_VPCS.len().to_string())
        .header("X-Custom", "  spaced   out   value  ")
        .header("x-repeated", "one")
        .header("X-Repeated", "two");
    let signed = Signer::default().sign(req);
    let auth = signed.header_value("authorization").unwrap();
    assert!(
        auth.contains("SignedHeaders=amz-sdk-invocation-id;amz-sdk-retry;content-length;content-type;host;x-amz-date;x-custom;x-repeated,"),
        "{auth}"
    );
    assert!(signed.verify().is_ok(), "{:?}", signed.verify());
    // Reordering the repeated header changes the canonical value.
    let mut swapped = signed.clone();
    for (_, v) in swapped.headers.iter_mut() {
        if v == b"one" {
            *v = b"two".to_vec();
        } else if v == b"two" {
            *v = b"one".to_vec();
        }
    }
    assert_eq!(swapped.code(), "AuthFailure");
    // Whitespace runs are collapsed, so re-spacing a value is harmless...
    let respaced = signed.clone().set_header("X-Custom", "spaced out value");
    assert!(respaced.verify().is_ok());
    // ...but dropping a signed header is not.
    assert_eq!(signed.without_header("amz-sdk-retry").code(), "AuthFailure");
}

#[test]
fn session_tokens() {
    let signer = Signer {
        token: Some("FwoGZXIvYXdzEJr//////////wEaDEXAMPLE+token/=".into()),
        ..Signer::default()
    };
    let req = signer.sign(Req::botocore_post(DESCRIBE_VPCS));
    assert!(req.header_value("x-amz-security-token").is_some());
    assert!(req.verify().is_ok());
    // The token is signed: changing it breaks the signature.
    let tampered = req.set_header("X-Amz-Security-Token", "other");
    assert_eq!(tampered.code(), "AuthFailure");

    let presigned = Signer {
        presign: Some(StdDuration::from_secs(300)),
        ..signer
    }
    .sign(Req::new(
        "GET",
        "Action=DescribeVpcs&Version=2016-11-15",
        b"",
    ));
    assert!(presigned.query.contains("X-Amz-Security-Token="));
    assert!(presigned.verify().is_ok(), "{:?}", presigned.verify());
}

#[test]
fn sts_get_caller_identity() {
    let signer = Signer {
        service: "sts".into(),
        ..Signer::default()
    };
    let v = signer
        .sign(Req::botocore_post(
            "Action=GetCallerIdentity&Version=2011-06-15",
        ))
        .verify()
        .unwrap();
    assert_eq!(v.service, "sts");
}

#[test]
fn content_sha256_header() {
    let signer = Signer {
        content_sha256: true,
        ..Signer::default()
    };
    let req = signer.sign(Req::botocore_post(DESCRIBE_VPCS));
    assert!(req.header_value("x-amz-content-sha256").is_some());
    assert!(req.verify().is_ok());

    // A declared hash that is not the body's.
    let lying = Signer {
        content_sha256: true,
        body: BodyMode::Precomputed("0".repeat(64)),
        ..Signer::default()
    }
    .sign(Req::botocore_post(DESCRIBE_VPCS));
    assert!(matches!(lying.verify(), Err(VerifyError::PayloadHash(_))));
    assert_eq!(lying.code(), "AuthFailure");

    // UNSIGNED-PAYLOAD is for presigned requests only.
    let unsigned = Signer {
        content_sha256: true,
        body: BodyMode::Unsigned,
        ..Signer::default()
    }
    .sign(Req::botocore_post(DESCRIBE_VPCS));
    assert_eq!(
        unsigned.header_value("x-amz-content-sha256").as_deref(),
        Some("UNSIGNED-PAYLOAD")
    );
    assert!(matches!(
        unsigned.verify(),
        Err(VerifyError::PayloadHash(_))
    ));
}

#[test]
fn presigned_urls() {
    let signer = Signer {
        presign: Some(StdDuration::from_secs(300)),
        ..Signer::default()
    };
    let req = signer.sign(Req::new(
        "GET",
        "Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-1",
        b"",
    ));
    assert!(req.header_value("authorization").is_none());
    assert!(req.query.contains("X-Amz-Signature="));
    let creds = credentials();
    assert!(req.verify_at(&creds, T0).is_ok());
    assert!(req.verify_at(&creds, T0 + Duration::seconds(300)).is_ok());
    let expired = req
        .verify_at(&creds, T0 + Duration::seconds(301))
        .unwrap_err();
    assert_eq!(expired.code(), "RequestExpired");
    let early = req
        .verify_at(&creds, T0 - Duration::minutes(16))
        .unwrap_err();
    assert_eq!(early.code(), "RequestExpired");

    // A changed parameter breaks it.
    let mut tampered = req.clone();
    tampered.query = tampered.query.replace("vpc-1", "vpc-2");
    assert_eq!(tampered.code(), "AuthFailure");
    // Extending the expiry breaks it too: X-Amz-Expires is signed.
    let mut extended = req.clone();
    extended.query = extended
        .query
        .replace("X-Amz-Expires=300", "X-Amz-Expires=3000");
    assert_eq!(extended.code(), "AuthFailure");
    // Out-of-range expiries are refused before any signature check.
    let mut week = req.clone();
    week.query = week
        .query
        .replace("X-Amz-Expires=300", "X-Amz-Expires=604801");
    assert_eq!(week.code(), "IncompleteSignature");
    // The query form and an Authorization header at once.
    let both = req
        .clone()
        .header("Authorization", "AWS4-HMAC-SHA256 Credential=x");
    assert_eq!(both.code(), "IncompleteSignature");
    // A missing parameter.
    let mut partial = req.clone();
    partial.query = partial
        .query
        .split('&')
        .filter(|p| !p.starts_with("X-Amz-SignedHeaders="))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(partial.code(), "IncompleteSignature");

    // UNSIGNED-PAYLOAD presigning, as S3-style signers do, without a body.
    let unsigned = Signer {
        body: BodyMode::Unsigned,
        ..signer.clone()
    }
    .sign(Req::new("GET", "Action=DescribeVpcs", b""));
    assert!(unsigned.verify().is_ok());
    // With a body, an unsigned payload would leave it unauthenticated.
    let mut with_body = Signer {
        body: BodyMode::Unsigned,
        ..signer
    }
    .sign(Req::new("POST", "Action=DescribeVpcs", b""));
    with_body.body = b"Action=DeleteVpc&VpcId=vpc-1".to_vec();
    assert_eq!(with_body.code(), "AuthFailure");
}

#[test]
fn failures_map_to_ec2_codes() {
    let ok = signed_post();
    assert!(ok.verify().is_ok());

    // Wrong secret.
    let wrong = Signer {
        secret: "not the secret".into(),
        ..Signer::default()
    }
    .sign(Req::botocore_post(DESCRIBE_VPCS));
    assert_eq!(wrong.verify(), Err(VerifyError::SignatureMismatch));
    assert_eq!(wrong.code(), "AuthFailure");

    // Unknown access key.
    let unknown = Signer {
        access_key_id: "AKIAUNKNOWN000000000".into(),
        ..Signer::default()
    }
    .sign(Req::botocore_post(DESCRIBE_VPCS));
    assert_eq!(unknown.verify(), Err(VerifyError::UnknownAccessKey));
    assert_eq!(
        unknown.verify().unwrap_err().to_string(),
        "AWS was not able to validate the provided access credentials"
    );

    // Tampered body.
    let mut body = ok.clone();
    body.body = DESCRIBE_VPCS.replace("vpc-0a1b", "vpc-0a1c").into_bytes();
    assert_eq!(body.verify(), Err(VerifyError::SignatureMismatch));

    // Tampered signed headers.
    let ct = ok.clone().set_header("Content-Type", "text/plain");
    assert_eq!(ct.verify(), Err(VerifyError::SignatureMismatch));
    let host = ok.clone().set_header("Host", "evil.example");
    assert_eq!(host.verify(), Err(VerifyError::SignatureMismatch));
    let method = Req {
        method: "PUT".into(),
        ..ok.clone()
    };
    assert_eq!(method.verify(), Err(VerifyError::SignatureMismatch));
    let path = Req {
        path: "/other".into(),
        ..ok.clone()
    };
    assert_eq!(path.verify(), Err(VerifyError::SignatureMismatch));

    // Unsigned request.
    let unsigned = Req::botocore_post(DESCRIBE_VPCS);
    assert_eq!(
        unsigned.verify(),
        Err(VerifyError::MissingAuthenticationToken)
    );
    assert_eq!(unsigned.code(), "MissingAuthenticationToken");

    // Stale and future dates.
    let creds = credentials();
    assert!(ok.verify_at(&creds, T0 + Duration::minutes(14)).is_ok());
    assert!(ok.verify_at(&creds, T0 - Duration::minutes(14)).is_ok());
    let stale = ok
        .verify_at(&creds, T0 + Duration::minutes(16))
        .unwrap_err();
    assert_eq!(stale.code(), "RequestExpired");
    let future = ok
        .verify_at(&creds, T0 - Duration::minutes(16))
        .unwrap_err();
    assert_eq!(future.code(), "RequestExpired");

    // Bad scopes.
    let bad_service = Signer {
        service: "EC2 v2".into(),
        ..Signer::default()
    }
    .sign(Req::botocore_post(DESCRIBE_VPCS));
    assert!(matches!(
        bad_service.verify(),
        Err(VerifyError::InvalidScope(_))
    ));
    assert_eq!(bad_service.code(), "AuthFailure");
    let region = Signer {
        region: "us_east_1".into(),
        ..Signer::default()
    }
    .sign(Req::botocore_post(DESCRIBE_VPCS));
    assert_eq!(region.code(), "AuthFailure");
    // Scope date differing from X-Amz-Date.
    let moved = ok.clone().set_header("X-Amz-Date", "20261127T120000Z");
    assert!(matches!(
        moved.verify_at(&creds, T0 + Duration::days(1)),
        Err(VerifyError::InvalidScope(_))
    ));
    // Same day, different time: the scope matches but the signature does not.
    let shifted = ok.clone().set_header("X-Amz-Date", "20261126T120100Z");
    assert_eq!(shifted.verify(), Err(VerifyError::SignatureMismatch));

    // Missing or unparsable date.
    let no_date = ok.clone().without_header("X-Amz-Date");
    assert_eq!(no_date.code(), "IncompleteSignature");
    let bad_date = ok.clone().set_header("X-Amz-Date", "2026-11-26T12:00:00Z");
    assert_eq!(bad_date.code(), "IncompleteSignature");

    // `host` must be signed.
    let hostless = Signer {
        exclude_headers: vec!["host"],
        ..Signer::default()
    }
    .sign(Req::botocore_post(DESCRIBE_VPCS));
    assert!(
        !hostless
            .header_value("authorization")
            .unwrap()
            .contains("host")
    );
    assert_eq!(hostless.code(), "IncompleteSignature");
}

#[test]
fn malformed_authorization_headers() {
    let ok = signed_post();
    let auth = ok.header_value("authorization").unwrap();
    let with = |value: &str| ok.clone().set_header("Authorization", value).code();
    let cases = [
        // Wrong algorithm.
        (
            auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
            "IncompleteSignature",
        ),
        (
            auth.replace("AWS4-HMAC-SHA256 ", "AWS4-ECDSA-P256-SHA256 "),
            "IncompleteSignature",
        ),
        (
            "AWS AKIAFORTTEST00000001:c2lnbmF0dXJl".into(),
            "IncompleteSignature",
        ),
        ("Bearer token".into(), "IncompleteSignature"),
        (String::new(), "IncompleteSignature"),
        // Missing parts.
        (
            auth.split(", Signature=").next().unwrap().to_owned(),
            "IncompleteSignature",
        ),
        (
            auth.replace("SignedHeaders=", "Signed="),
            "IncompleteSignature",
        ),
        (auth.replace("Credential=", "Cred="), "IncompleteSignature"),
        // Wrong terminator, short credential.
        (
            auth.replace("aws4_request", "aws4_requests"),
            "IncompleteSignature",
        ),
        (
            auth.replace("/ec2/aws4_request", "/ec2"),
            "IncompleteSignature",
        ),
        (auth.replace("/us-east-1/", "//"), "IncompleteSignature"),
        // Duplicated part.
        (format!("{auth}, Signature=00"), "IncompleteSignature"),
        // Well-formed but wrong signature.
        (
            format!(
                "{}Signature={}",
                auth.split("Signature=").next().unwrap(),
                "0".repeat(64)
            ),
            "AuthFailure",
        ),
        (
            format!("{}Signature=", auth.split("Signature=").next().unwrap()),
            "AuthFailure",
        ),
        // No spaces after commas is accepted.
        (auth.replace(", ", ","), "Ok"),
    ];
    for (value, code) in cases {
        assert_eq!(with(&value), code, "{value}");
    }
    let twice = ok.clone().header("Authorization", &auth);
    assert_eq!(twice.code(), "IncompleteSignature");
}

#[test]
fn verify_uses_only_the_clock_it_is_given() {
    // Signed and verified "in 2001", whatever the machine's clock says.
    let req = Signer {
        time: time::macros::datetime!(2001-02-03 04:05:06 UTC),
        ..Signer::default()
    }
    .sign(Req::botocore_post(DESCRIBE_VPCS));
    let v = req
        .verify_at(
            &credentials(),
            time::macros::datetime!(2001-02-03 04:10:00 UTC),
        )
        .unwrap();
    assert_eq!(v.date, time::macros::datetime!(2001-02-03 04:05:06 UTC));
}

/// Other services signed with the same credentials verify (the endpoint answers them in
/// their own protocol); S3 by its own rules: the path as sent, the payload left unsigned.
#[test]
fn other_services_and_s3_rules() {
    let logs = Signer {
        service: "logs".into(),
        ..Signer::default()
    }
    .sign(
        Req::new("POST", "", br#"{"logGroupNamePrefix":"x"}"#)
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("X-Amz-Target", "Logs_20140328.DescribeLogGroups"),
    );
    assert_eq!(logs.verify().unwrap().service, "logs");

    let s3 = Signer {
        service: "s3".into(),
        content_sha256: true,
        body: BodyMode::Unsigned,
        s3: true,
        ..Signer::default()
    };
    let mut get = Req::new("GET", "", b"");
    get.path = "/bucket/a%20key/../b%2Fc".into();
    let get = s3.sign(get);
    assert_eq!(
        get.header_value("x-amz-content-sha256").as_deref(),
        Some("UNSIGNED-PAYLOAD")
    );
    assert_eq!(get.verify().unwrap().service, "s3");
    // The same request under EC2's rules (path normalized and encoded again) does not.
    let ec2_rules = Signer {
        service: "s3".into(),
        content_sha256: true,
        ..Signer::default()
    };
    let mut as_ec2 = Req::new("GET", "", b"");
    as_ec2.path = "/bucket/a%20key/../b%2Fc".into();
    assert_eq!(ec2_rules.sign(as_ec2).code(), "AuthFailure");
    // Unsigned payloads stay S3's: EC2 refuses them outside presigned URLs.
    let ec2_unsigned = Signer {
        content_sha256: true,
        body: BodyMode::Unsigned,
        ..Signer::default()
    }
    .sign(Req::botocore_post(DESCRIBE_VPCS));
    assert_eq!(ec2_unsigned.code(), "AuthFailure");
}
