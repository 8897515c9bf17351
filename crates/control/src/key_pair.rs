//! Key pairs: made here (RSA 2048 or ed25519, the private key handed out once and never
//! kept) or imported from an OpenSSH public key; fingerprinted as EC2 does.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use fort_model::*;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::rand_core::{OsRng, RngCore};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey, RsaPublicKey};

use crate::Tx;
use crate::tags::check_tags;

/// A key pair's public half and fingerprint, ready to be stored.
#[derive(Clone, Debug)]
pub struct PublicHalf {
    /// `rsa` or `ed25519`.
    pub key_type: String,
    /// The OpenSSH public key line.
    pub public_key: String,
    pub fingerprint: String,
}

/// A key pair made by CreateKeyPair: the private key (PEM) goes to the caller only.
#[derive(Clone, Debug)]
pub struct Generated {
    pub private_pem: String,
    pub public: PublicHalf,
}

/// Key names: 1 to 255 ASCII characters.
pub fn check_key_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::new(
            ErrorCode::MissingParameter,
            "The request must contain the parameter KeyName",
        ));
    }
    if name.len() > 255 || !name.is_ascii() {
        return Err(ApiError::invalid_value(format!(
            "Value ({name}) for parameter keyName is invalid. Key names may be up to 255 ASCII characters."
        )));
    }
    Ok(())
}

fn hex_colons(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    // SSH wire strings carry a 32-bit length; key fields are a few hundred bytes
    let len = u32::try_from(bytes.len()).expect("an SSH key field is shorter than 4 GiB");
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// An SSH mpint of a non-negative number given big-endian.
fn put_mpint(out: &mut Vec<u8>, be: &[u8]) {
    let be: Vec<u8> = be.iter().copied().skip_while(|b| *b == 0).collect();
    let mut v = Vec::with_capacity(be.len() + 1);
    if be.first().is_some_and(|b| b & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(&be);
    put_string(out, &v);
}

fn ed25519_blob(public: &[u8; 32]) -> Vec<u8> {
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-ed25519");
    put_string(&mut blob, public);
    blob
}

/// EC2's ed25519 fingerprint: the SHA-256 of the SSH public key blob, in base64.
fn ed25519_fingerprint(blob: &[u8]) -> String {
    use sha2::Digest;
    STANDARD.encode(sha2::Sha256::digest(blob))
}

fn openssh_line(blob: &[u8], kind: &str, comment: &str) -> String {
    let mut line = format!("{kind} {}", STANDARD.encode(blob));
    if !comment.is_empty() {
        line.push(' ');
        line.push_str(comment);
    }
    line
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(70) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::InternalError,
        format!("Key generation failed: {e}"),
    )
}

/// Makes a key pair of `key_type` (`rsa`: 2048 bits, PKCS#1 PEM; `ed25519`: OpenSSH PEM).
/// Slow for RSA: call it outside the state lock.
pub fn generate(key_type: &str, name: &str) -> Result<Generated, ApiError> {
    match key_type {
        "rsa" => {
            let key = RsaPrivateKey::new(&mut OsRng, 2048).map_err(internal)?;
            let private_pem = key.to_pkcs1_pem(LineEnding::LF).map_err(internal)?;
            // EC2 fingerprints the keys it makes by the SHA-1 of the PKCS#8 private key.
            let pkcs8 = key.to_pkcs8_der().map_err(internal)?;
            let fingerprint = {
                use sha1::Digest;
                hex_colons(&sha1::Sha1::digest(pkcs8.as_bytes()))
            };
            let public = key.to_public_key();
            let mut blob = Vec::new();
            put_string(&mut blob, b"ssh-rsa");
            put_mpint(&mut blob, &public.e().to_bytes_be());
            put_mpint(&mut blob, &public.n().to_bytes_be());
            Ok(Generated {
                private_pem: private_pem.to_string(),
                public: PublicHalf {
                    key_type: "rsa".into(),
                    public_key: openssh_line(&blob, "ssh-rsa", name),
                    fingerprint,
                },
            })
        }
        "ed25519" => {
            let mut seed = [0u8; 32];
            OsRng.fill_bytes(&mut seed);
            let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
            let public = signing.verifying_key().to_bytes();
            let blob = ed25519_blob(&public);
            // The OpenSSH private key format, unencrypted.
            let check = OsRng.next_u32().to_be_bytes();
            let mut private = Vec::new();
            private.extend_from_slice(&check);
            private.extend_from_slice(&check);
            put_string(&mut private, b"ssh-ed25519");
            put_string(&mut private, &public);
            let mut pair = seed.to_vec();
            pair.extend_from_slice(&public);
            put_string(&mut private, &pair);
            put_string(&mut private, name.as_bytes());
            let mut pad = 1u8;
            while !private.len().is_multiple_of(8) {
                private.push(pad);
                pad += 1;
            }
            let mut body = b"openssh-key-v1\0".to_vec();
            put_string(&mut body, b"none");
            put_string(&mut body, b"none");
            put_string(&mut body, b"");
            body.extend_from_slice(&1u32.to_be_bytes());
            put_string(&mut body, &blob);
            put_string(&mut body, &private);
            Ok(Generated {
                private_pem: pem("OPENSSH PRIVATE KEY", &body),
                public: PublicHalf {
                    key_type: "ed25519".into(),
                    public_key: openssh_line(&blob, "ssh-ed25519", name),
                    fingerprint: ed25519_fingerprint(&blob),
                },
            })
        }
        other => Err(ApiError::bad_param(
            "KeyType",
            other,
            "Valid values: rsa, ed25519.",
        )),
    }
}

fn bad_format() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidKeyPairFormat,
        "Key is not in valid OpenSSH public key format",
    )
}

/// Reads the SSH wire fields of a public key blob.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn string(&mut self) -> Result<&'a [u8], ApiError> {
        let (len, rest) = self.0.split_at_checked(4).ok_or_else(bad_format)?;
        let len = u32::from_be_bytes(len.try_into().expect("4 bytes")) as usize;
        let (s, rest) = rest.split_at_checked(len).ok_or_else(bad_format)?;
        self.0 = rest;
        Ok(s)
    }
}

/// ImportKeyPair's `PublicKeyMaterial` as the request carries it: base64 of the key line
/// (a raw key line is taken as well).
pub fn parse_public_param(param: &str) -> Result<PublicHalf, ApiError> {
    match STANDARD.decode(param.trim()) {
        Ok(bytes) => parse_public(&bytes),
        Err(_) => parse_public(param.as_bytes()),
    }
}

/// ImportKeyPair's material (already base64-decoded from the request): an OpenSSH public
/// key line, `ssh-rsa` or `ssh-ed25519`.
pub fn parse_public(material: &[u8]) -> Result<PublicHalf, ApiError> {
    let text = std::str::from_utf8(material).map_err(|_| bad_format())?;
    let mut words = text.split_whitespace();
    let (Some(kind), Some(b64)) = (words.next(), words.next()) else {
        return Err(bad_format());
    };
    let comment = words.collect::<Vec<_>>().join(" ");
    let blob = STANDARD.decode(b64).map_err(|_| bad_format())?;
    let mut r = Reader(&blob);
    if r.string()? != kind.as_bytes() {
        return Err(bad_format());
    }
    match kind {
        "ssh-rsa" => {
            let e = BigUint::from_bytes_be(r.string()?);
            let n = BigUint::from_bytes_be(r.string()?);
            if !r.0.is_empty() || n.bits() < 1024 {
                return Err(bad_format());
            }
            let key = RsaPublicKey::new_with_max_size(n, e, 16384).map_err(|_| bad_format())?;
            let der = key.to_public_key_der().map_err(|_| bad_format())?;
            // EC2 fingerprints imported RSA keys by the MD5 of the DER public key.
            let fingerprint = {
                use md5::Digest;
                hex_colons(&md5::Md5::digest(der.as_bytes()))
            };
            Ok(PublicHalf {
                key_type: "rsa".into(),
                public_key: openssh_line(&blob, kind, &comment),
                fingerprint,
            })
        }
        "ssh-ed25519" => {
            let public: [u8; 32] = r.string()?.try_into().map_err(|_| bad_format())?;
            if !r.0.is_empty() {
                return Err(bad_format());
            }
            ed25519_dalek::VerifyingKey::from_bytes(&public).map_err(|_| bad_format())?;
            Ok(PublicHalf {
                key_type: "ed25519".into(),
                public_key: openssh_line(&blob, kind, &comment),
                fingerprint: ed25519_fingerprint(&blob),
            })
        }
        _ => Err(bad_format()),
    }
}

/// The error EC2 gives for a key name that names nothing.
pub fn key_not_found(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::InvalidKeyPairNotFound,
        format!("The key pair '{name}' does not exist"),
    )
}

impl Tx<'_> {
    /// Stores a key pair (made or imported) under a name new to the region.
    pub fn create_key_pair(
        &mut self,
        name: &str,
        public: PublicHalf,
        tags: Tags,
    ) -> Result<KeyPair, ApiError> {
        check_key_name(name)?;
        check_tags(&tags, self.config.quotas.tags_per_resource)?;
        if self.region.key_pairs.values().any(|k| k.name == name) {
            return Err(ApiError::new(
                ErrorCode::InvalidKeyPairDuplicate,
                format!("The keypair '{name}' already exists."),
            ));
        }
        let key = KeyPair {
            id: Kind::KeyPair.new_id(),
            name: name.to_owned(),
            key_type: public.key_type,
            fingerprint: public.fingerprint,
            public_key: public.public_key,
            create_time: self.now,
            tags,
        };
        self.region.key_pairs.insert(key.clone());
        Ok(key)
    }

    /// DeleteKeyPair by name or id: as in EC2, deleting a key that does not exist succeeds.
    /// Answers the id of the key deleted, if one was.
    pub fn delete_key_pair(
        &mut self,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<Option<String>, ApiError> {
        let found = self
            .region
            .key_pairs
            .values()
            .find(|k| name.is_none_or(|n| k.name == n) && id.is_none_or(|i| k.id == i))
            .map(|k| k.id.clone());
        if let Some(id) = &found {
            self.region.key_pairs.remove(id);
        }
        Ok(found)
    }

    /// RunInstances's `KeyName`: it must name a key pair of the region.
    pub(crate) fn check_key_name_exists(&self, name: &str) -> Result<(), ApiError> {
        if self.region.key_pairs.values().any(|k| k.name == name) {
            Ok(())
        } else {
            Err(key_not_found(name))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_keys_import_with_their_fingerprint() {
        let g = generate("ed25519", "k").unwrap();
        assert!(
            g.private_pem
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n")
        );
        let p = parse_public(g.public.public_key.as_bytes()).unwrap();
        assert_eq!(p.fingerprint, g.public.fingerprint);
        assert_eq!(p.key_type, "ed25519");

        let g = generate("rsa", "k").unwrap();
        assert!(
            g.private_pem
                .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
        );
        let p = parse_public(g.public.public_key.as_bytes()).unwrap();
        assert_eq!(p.key_type, "rsa");
        assert_eq!(p.fingerprint.len(), 47);
        assert_eq!(g.public.fingerprint.len(), 59);
    }

    #[test]
    fn bad_material_is_a_format_error() {
        for bad in [
            &b""[..],
            b"ssh-rsa",
            b"ssh-rsa !!!",
            b"ssh-dss AAAAB3NzaC1kc3MAAAA=",
            b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==",
            b"\xff\xfe",
        ] {
            assert_eq!(
                parse_public(bad).unwrap_err().code,
                "InvalidKeyPair.Format",
                "{bad:?}"
            );
        }
    }
}
