//! Signing, for Fort's own clients (the simulator, tools): a POST of an EC2 Query form
//! signed as botocore signs it. Verification is [`crate::sigv4::verify`].

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::Credential;
use crate::sigv4::{format_amz_date, format_date_stamp, hmac, signing_key};

pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// The headers to add to `POST /` on `host` with `body`: `x-amz-date` and `authorization`
/// (the request must also carry `host` and `content-type: CONTENT_TYPE`).
pub fn sign_post(
    credential: &Credential,
    region: &str,
    service: &str,
    host: &str,
    body: &[u8],
    now: OffsetDateTime,
) -> [(String, String); 2] {
    let amz_date = format_amz_date(now);
    let date = format_date_stamp(now);
    let payload = hex::encode(Sha256::digest(body));
    let canonical = format!(
        "POST\n/\n\ncontent-type:{CONTENT_TYPE}\nhost:{host}\nx-amz-date:{amz_date}\n\ncontent-type;host;x-amz-date\n{payload}"
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = signing_key(&credential.secret_access_key, &date, region, service);
    let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
    [
        ("x-amz-date".into(), amz_date),
        (
            "authorization".into(),
            format!(
                "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders=content-type;host;x-amz-date, Signature={signature}",
                credential.access_key_id
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Credentials, HttpRequest, verify};

    #[test]
    fn what_we_sign_we_verify() {
        let c = Credential {
            access_key_id: "AKIAFORTSIGN00000001".into(),
            secret_access_key: "s3cret".into(),
            account_id: "123456789012".into(),
        };
        let mut set = Credentials::new();
        set.insert("default", c.clone()).unwrap();
        let now = OffsetDateTime::now_utc();
        let body = b"Action=DescribeVpcs&Version=2016-11-15";
        let [(n1, v1), (n2, v2)] = sign_post(&c, "eu-west-1", "ec2", "127.0.0.1:8773", body, now);
        let headers: Vec<(&str, &[u8])> = vec![
            ("host", b"127.0.0.1:8773"),
            ("content-type", CONTENT_TYPE.as_bytes()),
            (&n1, v1.as_bytes()),
            (&n2, v2.as_bytes()),
        ];
        let req = HttpRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        let v = verify(&req, &set, now).unwrap();
        assert_eq!(
            (v.region.as_str(), v.account_id.as_str()),
            ("eu-west-1", "123456789012")
        );
        let tampered = HttpRequest {
            body: b"Action=DeleteVpc",
            ..req
        };
        assert!(verify(&tampered, &set, now).is_err());
    }
}
