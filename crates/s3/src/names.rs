//! Bucket names and object keys as S3 accepts them.
//!
//! A bucket name becomes a directory name, so the rules (lowercase letters, digits, `.`
//! and `-`, no `..`) also keep it inside the data directory. Keys never become paths:
//! an object's file is named by the SHA-256 of its key (see `store`).

use crate::error::S3Error;

/// The longest key S3 accepts, in UTF-8 bytes.
pub const MAX_KEY_BYTES: usize = 1024;

/// Checks a general purpose bucket name against S3's naming rules.
pub fn check_bucket_name(name: &str) -> Result<(), S3Error> {
    let invalid = || Err(S3Error::InvalidBucketName(name.to_owned()));
    let bytes = name.as_bytes();
    if !(3..=63).contains(&bytes.len()) {
        return invalid();
    }
    if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
    {
        return invalid();
    }
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !alnum(bytes[0]) || !alnum(bytes[bytes.len() - 1]) {
        return invalid();
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return invalid();
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return invalid();
    }
    const PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
    const SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    if PREFIXES.iter().any(|p| name.starts_with(p)) || SUFFIXES.iter().any(|s| name.ends_with(s)) {
        return invalid();
    }
    Ok(())
}

/// Checks an object key: not empty, at most 1024 bytes. Any UTF-8 is allowed,
/// `../` and leading `/` included: keys are names, not paths.
pub fn check_key(key: &str) -> Result<(), S3Error> {
    if key.is_empty() {
        return Err(S3Error::InvalidArgument(
            "The key must not be empty.".into(),
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::KeyTooLong);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in [
            "abc",
            "my-bucket",
            "logs.example.com",
            "a1b2c3",
            &"a".repeat(63),
        ] {
            assert!(check_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            &"a".repeat(64),
            "My-Bucket",
            "-abc",
            "abc-",
            ".abc",
            "a..b",
            "a.-b",
            "192.168.1.1",
            "xn--abc",
            "abc-s3alias",
            "a_b",
            "a/b",
            "..",
            "a b",
            "",
        ] {
            assert_eq!(
                check_bucket_name(bad),
                Err(S3Error::InvalidBucketName(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn keys() {
        assert!(check_key("../../etc/passwd").is_ok());
        assert!(check_key("/absolute").is_ok());
        assert!(check_key(&"é".repeat(512)).is_ok());
        assert_eq!(check_key(&"é".repeat(513)), Err(S3Error::KeyTooLong));
        assert!(check_key("").is_err());
    }
}
