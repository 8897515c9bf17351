//! S3's legacy query-string authentication (`?AWSAccessKeyId=…&Signature=…&Expires=…`):
//! what `aws s3 presign` and boto3's `generate_presigned_url` produce unless told to
//! sign with SigV4. Only this presigned form is accepted; a SigV2 `Authorization`
//! header is not.

use base64::Engine;
use fort_auth::{Credentials, Verified};
use percent_encoding::percent_decode_str;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

use crate::error::S3Error;

/// The query parameters that make the canonical resource (S3's list, as botocore keeps it).
const SUBRESOURCES: &[&str] = &[
    "acl",
    "cors",
    "defaultObjectAcl",
    "location",
    "logging",
    "partNumber",
    "policy",
    "requestPayment",
    "torrent",
    "versioning",
    "versionId",
    "versions",
    "website",
    "uploads",
    "uploadId",
    "response-content-type",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "delete",
    "lifecycle",
    "tagging",
    "restore",
    "storageClass",
    "notification",
    "replication",
    "analytics",
    "metrics",
    "inventory",
    "select",
    "select-type",
    "object-lock",
];

/// Whether the query carries a SigV2 presigned signature (and not the EC2 Query API's
/// SigV2, which names an Action and a SignatureVersion).
pub fn is_presigned_v2(query: &str) -> bool {
    let has = |name: &str| {
        query
            .split('&')
            .any(|p| p.split_once('=').map_or(p, |(k, _)| k) == name)
    };
    has("AWSAccessKeyId")
        && has("Signature")
        && has("Expires")
        && !has("Action")
        && !has("SignatureVersion")
}

fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    // RFC 2104 over SHA-1 (64-byte blocks)
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..20].copy_from_slice(&Sha1::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha1::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha1::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Verifies a SigV2 presigned request at `now` (Unix seconds). The region is not part of
/// a SigV2 signature: the caller is placed in `us-east-1`, where S3's global calls live.
pub fn verify(
    method: &str,
    path: &str,
    query: &str,
    header: impl Fn(&str) -> Option<String>,
    credentials: &Credentials,
    now: i64,
) -> Result<Verified, S3Error> {
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
            (dec(k), dec(v))
        })
        .collect();
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (Some(akid), Some(signature), Some(expires)) =
        (get("AWSAccessKeyId"), get("Signature"), get("Expires"))
    else {
        return Err(S3Error::AccessDenied);
    };
    let expiry: i64 = expires.parse().map_err(|_| {
        S3Error::AuthorizationQueryParametersError(
            "Invalid date (should be seconds since epoch): ".to_owned() + expires,
        )
    })?;
    let credential = credentials.get(akid).ok_or(S3Error::InvalidAccessKeyId)?;
    let mut to_sign = format!("{method}\n");
    for name in ["content-md5", "content-type"] {
        let value = header(name).or_else(|| get(name).map(str::to_owned));
        to_sign.push_str(value.as_deref().unwrap_or("").trim());
        to_sign.push('\n');
    }
    to_sign.push_str(expires);
    to_sign.push('\n');
    let mut amz: Vec<(String, &str)> = params
        .iter()
        .filter(|(k, _)| k.to_ascii_lowercase().starts_with("x-amz-"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    amz.sort();
    for (k, v) in amz {
        to_sign.push_str(&format!("{k}:{}\n", v.trim()));
    }
    to_sign.push_str(path);
    let mut sub: Vec<&str> = query
        .split('&')
        .filter(|p| SUBRESOURCES.contains(&p.split_once('=').map_or(*p, |(k, _)| k)))
        .collect();
    sub.sort_by_key(|p| p.split_once('=').map_or(*p, |(k, _)| k));
    if !sub.is_empty() {
        to_sign.push('?');
        let unquoted: Vec<String> = sub
            .iter()
            .map(|p| match p.split_once('=') {
                Some((k, v)) => format!("{k}={}", percent_decode_str(v).decode_utf8_lossy()),
                None => (*p).to_owned(),
            })
            .collect();
        to_sign.push_str(&unquoted.join("&"));
    }
    let expected = base64::engine::general_purpose::STANDARD.encode(hmac_sha1(
        credential.secret_access_key.as_bytes(),
        to_sign.as_bytes(),
    ));
    if !bool::from(expected.as_bytes().ct_eq(signature.as_bytes())) {
        return Err(S3Error::SignatureDoesNotMatch);
    }
    if now > expiry {
        return Err(S3Error::ExpiredPresign);
    }
    Ok(Verified {
        access_key_id: credential.access_key_id.clone(),
        account_id: credential.account_id.clone(),
        region: "us-east-1".to_owned(),
        service: "s3".to_owned(),
        date: time::OffsetDateTime::from_unix_timestamp(now)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use fort_auth::Credential;

    #[test]
    fn hmac_sha1_matches_rfc_2202() {
        assert_eq!(
            hex::encode(hmac_sha1(&[0x0b; 20], b"Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00"
        );
        assert_eq!(
            hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(hmac_sha1(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112"
        );
    }

    fn creds() -> Credentials {
        let mut c = Credentials::new();
        c.insert(
            "default",
            Credential {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: "secret".into(),
                account_id: "123456789012".into(),
            },
        )
        .unwrap();
        c
    }

    fn sign(to_sign: &str) -> String {
        let s = base64::engine::general_purpose::STANDARD
            .encode(hmac_sha1(b"secret", to_sign.as_bytes()));
        percent_encoding::utf8_percent_encode(&s, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    #[test]
    fn verifies_presigned_gets() {
        let c = creds();
        let sig = sign("GET\n\n\n1000\n/bkt/a%20b");
        let q = format!("AWSAccessKeyId=AKIDEXAMPLE&Signature={sig}&Expires=1000");
        assert!(is_presigned_v2(&q));
        assert!(!is_presigned_v2(
            "Action=DescribeVpcs&AWSAccessKeyId=A&Signature=s&Expires=1&SignatureVersion=2"
        ));
        let v = verify("GET", "/bkt/a%20b", &q, |_| None, &c, 999).unwrap();
        assert_eq!(v.account_id, "123456789012");
        assert_eq!(
            verify("GET", "/bkt/a%20b", &q, |_| None, &c, 1001),
            Err(S3Error::ExpiredPresign)
        );
        assert_eq!(
            verify("GET", "/bkt/other", &q, |_| None, &c, 999),
            Err(S3Error::SignatureDoesNotMatch)
        );
        assert_eq!(
            verify("PUT", "/bkt/a%20b", &q, |_| None, &c, 999),
            Err(S3Error::SignatureDoesNotMatch)
        );
        let sig = sign("GET\n\n\n1000\n/bkt/k?response-content-type=text/plain&versionId=1");
        let q = format!(
            "versionId=1&response-content-type=text%2Fplain&AWSAccessKeyId=AKIDEXAMPLE&Signature={sig}&Expires=1000"
        );
        assert!(verify("GET", "/bkt/k", &q, |_| None, &c, 999).is_ok());
        let q = "AWSAccessKeyId=NOPE&Signature=x&Expires=1000";
        assert_eq!(
            verify("GET", "/bkt/k", q, |_| None, &c, 999),
            Err(S3Error::InvalidAccessKeyId)
        );
    }
}
