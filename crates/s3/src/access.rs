//! What an S3 request asks of IAM: the action (`s3:GetObject`, …) and the resource
//! (`arn:aws:s3:::bucket`, `arn:aws:s3:::bucket/key`) of each operation Fort serves, as
//! AWS's service authorization reference lists them, with the condition keys a policy may
//! test (`s3:prefix`, `s3:delimiter`, `s3:max-keys` on listings). A VPC endpoint's policy
//! is checked against each; an operation Fort does not serve needs nothing (it fails
//! anyway).

use axum::http::Method;
use axum::http::request::Parts;
use fort_auth::policy::s3_arn;
use percent_encoding::percent_decode_str;

use crate::rest::{Query, address, query_params};

/// One action on one resource that a request needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub action: &'static str,
    /// An ARN, or `*` for an action with no resource (ListAllMyBuckets).
    pub resource: String,
    pub context: Vec<(&'static str, String)>,
}

fn access(action: &'static str, bucket: &str, key: Option<&str>) -> Access {
    Access {
        action,
        resource: s3_arn(bucket, key),
        context: Vec::new(),
    }
}

/// The accesses the request needs (in the order S3 would check them).
pub fn accesses(parts: &Parts, body: &[u8]) -> Vec<Access> {
    let Ok((bucket, key)) = address(parts) else {
        return Vec::new();
    };
    let q = Query(query_params(parts.uri.query().unwrap_or("")));
    let m = &parts.method;
    if bucket.is_empty() {
        return vec![Access {
            action: "s3:ListAllMyBuckets",
            resource: "*".into(),
            context: Vec::new(),
        }];
    }
    let b = bucket.as_str();
    let Some(key) = key else {
        let one = |action| vec![access(action, b, None)];
        return match *m {
            Method::PUT => one("s3:CreateBucket"),
            Method::HEAD => one("s3:ListBucket"),
            Method::GET if q.has("location") => one("s3:GetBucketLocation"),
            Method::GET => {
                let mut a = access("s3:ListBucket", b, None);
                for (param, k) in [
                    ("prefix", "s3:prefix"),
                    ("delimiter", "s3:delimiter"),
                    ("max-keys", "s3:max-keys"),
                ] {
                    if let Some(v) = q.get(param) {
                        a.context.push((k, v.to_owned()));
                    }
                }
                vec![a]
            }
            Method::DELETE => one("s3:DeleteBucket"),
            // each key named (a body that does not parse fails anyway)
            Method::POST if q.has("delete") => crate::rest::parse_delete(body)
                .map(|(keys, _)| {
                    keys.iter()
                        .map(|k| access("s3:DeleteObject", b, Some(k)))
                        .collect()
                })
                .unwrap_or_default(),
            _ => Vec::new(),
        };
    };
    let k = Some(key.as_str());
    let copy_source = parts
        .headers
        .get("x-amz-copy-source")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| {
            let s = s.split_once('?').map_or(s, |(s, _)| s);
            let s = percent_decode_str(s).decode_utf8().ok()?.into_owned();
            let s = s.strip_prefix('/').unwrap_or(&s).to_owned();
            let (sb, sk) = s.split_once('/')?;
            Some(access("s3:GetObject", sb, Some(sk)))
        });
    match *m {
        Method::PUT => {
            // PutObject, UploadPart, CopyObject and UploadPartCopy write the object; a
            // copy also reads its source
            let mut out = vec![access("s3:PutObject", b, k)];
            out.extend(copy_source);
            out
        }
        Method::POST => vec![access("s3:PutObject", b, k)],
        Method::GET | Method::HEAD => vec![access("s3:GetObject", b, k)],
        Method::DELETE if q.has("uploadId") => vec![access("s3:AbortMultipartUpload", b, k)],
        Method::DELETE => vec![access("s3:DeleteObject", b, k)],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut r = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.body(()).unwrap().into_parts().0
    }

    fn actions(
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Vec<(String, String)> {
        accesses(&parts(method, uri, headers), body)
            .into_iter()
            .map(|a| (a.action.to_owned(), a.resource))
            .collect()
    }

    fn one(action: &str, resource: &str) -> Vec<(String, String)> {
        vec![(action.to_owned(), resource.to_owned())]
    }

    #[test]
    fn each_operation_names_its_action_and_resource() {
        assert_eq!(
            actions("GET", "/", &[], b""),
            one("s3:ListAllMyBuckets", "*")
        );
        assert_eq!(
            actions("PUT", "/b", &[], b""),
            one("s3:CreateBucket", "arn:aws:s3:::b")
        );
        assert_eq!(
            actions("HEAD", "/b", &[], b""),
            one("s3:ListBucket", "arn:aws:s3:::b")
        );
        assert_eq!(
            actions("GET", "/b?location", &[], b""),
            one("s3:GetBucketLocation", "arn:aws:s3:::b")
        );
        assert_eq!(
            actions("DELETE", "/b", &[], b""),
            one("s3:DeleteBucket", "arn:aws:s3:::b")
        );
        assert_eq!(
            actions("GET", "/b/a%20dir/k", &[], b""),
            one("s3:GetObject", "arn:aws:s3:::b/a dir/k")
        );
        assert_eq!(
            actions("HEAD", "/b/k", &[], b""),
            one("s3:GetObject", "arn:aws:s3:::b/k")
        );
        assert_eq!(
            actions("PUT", "/b/k", &[], b""),
            one("s3:PutObject", "arn:aws:s3:::b/k")
        );
        assert_eq!(
            actions("PUT", "/b/k?partNumber=1&uploadId=x", &[], b""),
            one("s3:PutObject", "arn:aws:s3:::b/k")
        );
        assert_eq!(
            actions("POST", "/b/k?uploads", &[], b""),
            one("s3:PutObject", "arn:aws:s3:::b/k")
        );
        assert_eq!(
            actions("DELETE", "/b/k?uploadId=x", &[], b""),
            one("s3:AbortMultipartUpload", "arn:aws:s3:::b/k")
        );
        assert_eq!(
            actions("DELETE", "/b/k", &[], b""),
            one("s3:DeleteObject", "arn:aws:s3:::b/k")
        );
        assert_eq!(
            actions(
                "PUT",
                "/b/k",
                &[("x-amz-copy-source", "/src/a%2Fb?versionId=1")],
                b""
            ),
            vec![
                ("s3:PutObject".to_owned(), "arn:aws:s3:::b/k".to_owned()),
                ("s3:GetObject".to_owned(), "arn:aws:s3:::src/a/b".to_owned()),
            ]
        );
        let body = b"<Delete><Object><Key>x</Key></Object><Object><Key>y/z</Key></Object></Delete>";
        assert_eq!(
            actions("POST", "/b?delete", &[], body),
            vec![
                ("s3:DeleteObject".to_owned(), "arn:aws:s3:::b/x".to_owned()),
                (
                    "s3:DeleteObject".to_owned(),
                    "arn:aws:s3:::b/y/z".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn listings_carry_their_condition_keys_and_virtual_hosts_their_bucket() {
        let a = accesses(
            &parts("GET", "/b?list-type=2&prefix=logs%2F&delimiter=%2F", &[]),
            b"",
        );
        assert_eq!(a[0].action, "s3:ListBucket");
        assert_eq!(
            a[0].context,
            vec![
                ("s3:prefix", "logs/".to_owned()),
                ("s3:delimiter", "/".to_owned())
            ]
        );
        for host in [
            "b.s3.us-east-1.amazonaws.com",
            "b.s3.amazonaws.com",
            "b.localhost:8773",
        ] {
            assert_eq!(
                actions("GET", "/k", &[("host", host)], b""),
                one("s3:GetObject", "arn:aws:s3:::b/k"),
                "{host}"
            );
        }
        assert_eq!(
            actions(
                "GET",
                "/my.bucket/k",
                &[("host", "s3.us-east-1.amazonaws.com")],
                b""
            ),
            one("s3:GetObject", "arn:aws:s3:::my.bucket/k")
        );
        assert_eq!(
            actions(
                "GET",
                "/k",
                &[("host", "my.bucket.s3.eu-west-1.amazonaws.com")],
                b""
            ),
            one("s3:GetObject", "arn:aws:s3:::my.bucket/k")
        );
        assert_eq!(
            actions("GET", "/", &[("host", "s3.amazonaws.com")], b""),
            one("s3:ListAllMyBuckets", "*")
        );
    }
}
