//! Key pairs: made here (RSA 2048 or ed25519, the private key handed out once and never
//! kept) or imported (OpenSSH, RFC 4716 or DER public keys); fingerprinted as EC2 does.

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

/// The SSH wire form of an RSA public key.
fn rsa_blob(key: &RsaPublicKey) -> Vec<u8> {
    let mut blob = Vec::new();
    put_string(&mut blob, b"ssh-rsa");
    put_mpint(&mut blob, &key.e().to_bytes_be());
    put_mpint(&mut blob, &key.n().to_bytes_be());
    blob
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
            let blob = rsa_blob(&key.to_public_key());
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

/// ImportKeyPair's material (already base64-decoded from the request), in any of the
/// formats EC2 takes: an OpenSSH public key line (`ssh-rsa`, `ssh-ed25519`), the SSH2
/// public key file of RFC 4716 (what `ssh-keygen -e` writes), or an RSA key's DER.
pub fn parse_public(material: &[u8]) -> Result<PublicHalf, ApiError> {
    let Ok(text) = std::str::from_utf8(material) else {
        return rsa_der(material);
    };
    let half = parse_text(material, text)?;
    // EC2 keeps a text key as it was given (DescribeKeyPairs' `PublicKey`).
    let start = text.trim_start();
    Ok(
        if start.starts_with(SSH2_BEGIN) || start.starts_with("ssh-") {
            PublicHalf {
                public_key: text.to_owned(),
                ..half
            }
        } else {
            half
        },
    )
}

fn parse_text(material: &[u8], text: &str) -> Result<PublicHalf, ApiError> {
    let (blob, claimed, comment) = if text.trim_start().starts_with(SSH2_BEGIN) {
        let (blob, comment) = rfc4716(text)?;
        (blob, None, comment)
    } else {
        let mut words = text.split_whitespace();
        let (Some(kind), Some(b64)) = (words.next(), words.next()) else {
            return rsa_der(material);
        };
        let comment = words.collect::<Vec<_>>().join(" ");
        (lenient_base64(b64)?, Some(kind), comment)
    };
    let mut r = Reader(&blob);
    let kind = std::str::from_utf8(r.string()?).map_err(|_| bad_format())?;
    if claimed.is_some_and(|c| c != kind) {
        return Err(bad_format());
    }
    match kind {
        "ssh-rsa" => {
            let e = BigUint::from_bytes_be(r.string()?);
            let n = BigUint::from_bytes_be(r.string()?);
            if !r.0.is_empty() {
                return Err(bad_format());
            }
            rsa_half(n, e, &comment)
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

/// Base64 as EC2 reads a key line's: characters outside the alphabet (a stray `\\` left
/// by a line continuation) are skipped.
fn lenient_base64(text: &str) -> Result<Vec<u8>, ApiError> {
    let clean: String = text
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='))
        .collect();
    STANDARD.decode(clean).map_err(|_| bad_format())
}

/// An RSA public key (modulus `n`, exponent `e`) of a size EC2 takes.
fn rsa_half(n: BigUint, e: BigUint, comment: &str) -> Result<PublicHalf, ApiError> {
    if n.bits() < 1024 {
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
        public_key: openssh_line(&rsa_blob(&key), "ssh-rsa", comment),
        fingerprint,
    })
}

/// An RSA public key in DER: SubjectPublicKeyInfo, or PKCS#1's RSAPublicKey.
fn rsa_der(der: &[u8]) -> Result<PublicHalf, ApiError> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    let key = RsaPublicKey::from_public_key_der(der)
        .or_else(|_| RsaPublicKey::from_pkcs1_der(der))
        .map_err(|_| bad_format())?;
    rsa_half(key.n().clone(), key.e().clone(), "")
}

const SSH2_BEGIN: &str = "---- BEGIN SSH2 PUBLIC KEY ----";
const SSH2_END: &str = "---- END SSH2 PUBLIC KEY ----";

/// The key blob and comment of an RFC 4716 public key file: header lines (`Tag: value`,
/// continued by a trailing backslash), then the base64 body.
fn rfc4716(text: &str) -> Result<(Vec<u8>, String), ApiError> {
    let mut lines = text.lines().map(str::trim).skip_while(|l| l.is_empty());
    if lines.next() != Some(SSH2_BEGIN) {
        return Err(bad_format());
    }
    let mut comment = String::new();
    let mut body = String::new();
    let mut header: Option<String> = None;
    let mut ended = false;
    for line in lines.by_ref() {
        if line == SSH2_END {
            ended = true;
            break;
        }
        if let Some(h) = header.as_mut() {
            h.push_str(line.strip_suffix('\\').unwrap_or(line));
        } else if line.contains(':') && body.is_empty() {
            header = Some(line.strip_suffix('\\').unwrap_or(line).to_owned());
        } else {
            body.push_str(line);
        }
        if !line.ends_with('\\')
            && let Some(h) = header.take()
            && let Some((tag, value)) = h.split_once(':')
            && tag.trim().eq_ignore_ascii_case("comment")
        {
            comment = value.trim().trim_matches('"').to_owned();
        }
    }
    if !ended || lines.any(|l| !l.is_empty()) {
        return Err(bad_format());
    }
    let blob = STANDARD.decode(body).map_err(|_| bad_format())?;
    Ok((blob, comment))
}

/// The RSA public key of a stored key pair (its OpenSSH line, or the RFC 4716 file an
/// import kept); `None` for an ed25519 key.
fn stored_rsa_key(public_key: &str) -> Option<RsaPublicKey> {
    let blob = if public_key.trim_start().starts_with(SSH2_BEGIN) {
        rfc4716(public_key).ok()?.0
    } else {
        lenient_base64(public_key.split_whitespace().nth(1)?).ok()?
    };
    let mut r = Reader(&blob);
    if r.string().ok()? != b"ssh-rsa" {
        return None;
    }
    let e = BigUint::from_bytes_be(r.string().ok()?);
    let n = BigUint::from_bytes_be(r.string().ok()?);
    RsaPublicKey::new_with_max_size(n, e, 16384).ok()
}

/// What EC2Launch leaves for GetPasswordData on a Windows instance: a new administrator
/// password (32 characters of letters, digits and symbols) encrypted with the key pair's
/// RSA public key, PKCS#1 v1.5, in base64 (what `aws ec2 get-password-data
/// --priv-launch-key` and the provider's `get_password_data` decrypt). EC2 gives no
/// password to an instance launched with an ed25519 key: `None`.
pub fn launch_password_data(public_key: &str) -> Option<String> {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!@#$%&*()-_=+?";
    let key = stored_rsa_key(public_key)?;
    let password: Vec<u8> = (0..32)
        .map(|_| CHARS[(OsRng.next_u32() as usize) % CHARS.len()])
        .collect();
    let sealed = key
        .encrypt(&mut OsRng, rsa::Pkcs1v15Encrypt, &password)
        .ok()?;
    Some(STANDARD.encode(sealed))
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
            id: KeyPairId::new(),
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

    /// DeleteKeyPair by name or id: as in EC2, deleting a key that does not exist succeeds
    /// (the id is text: one of any form names no key). Answers the id of the key deleted,
    /// if one was.
    pub fn delete_key_pair(
        &mut self,
        name: Option<&str>,
        id: Option<&str>,
    ) -> Result<Option<KeyPairId>, ApiError> {
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
    fn launch_password_decrypts_with_the_private_key_and_only_for_rsa() {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let g = generate("rsa", "k").unwrap();
        let sealed = launch_password_data(&g.public.public_key).unwrap();
        let key = RsaPrivateKey::from_pkcs1_pem(&g.private_pem).unwrap();
        let plain = key
            .decrypt(rsa::Pkcs1v15Encrypt, &STANDARD.decode(sealed).unwrap())
            .unwrap();
        assert_eq!(plain.len(), 32);
        assert!(plain.iter().all(u8::is_ascii_graphic));
        let ed = generate("ed25519", "k").unwrap();
        assert_eq!(launch_password_data(&ed.public.public_key), None);
    }

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

    /// The same key in each format EC2 takes imports with one fingerprint.
    #[test]
    fn rfc4716_and_der_import_as_the_openssh_line_does() {
        let g = generate("rsa", "k").unwrap();
        let line = parse_public(g.public.public_key.as_bytes()).unwrap();
        let b64 = g.public.public_key.split_whitespace().nth(1).unwrap();
        let mut ssh2 =
            format!("{SSH2_BEGIN}\nComment: \"2048-bit RSA, converted \\\nby me\"\nx-other: y\n");
        for chunk in b64.as_bytes().chunks(70) {
            ssh2.push_str(std::str::from_utf8(chunk).unwrap());
            ssh2.push('\n');
        }
        ssh2.push_str(SSH2_END);
        ssh2.push('\n');
        let from_ssh2 = parse_public(ssh2.as_bytes()).unwrap();
        assert_eq!(from_ssh2.fingerprint, line.fingerprint);
        assert_eq!(from_ssh2.public_key, ssh2, "kept as given");
        // a stray backslash in the base64 of a key line is skipped
        let (head, tail) = b64.split_at(40);
        let broken = format!("ssh-rsa {head}\\{tail} me@host");
        let from_broken = parse_public(broken.as_bytes()).unwrap();
        assert_eq!(from_broken.fingerprint, line.fingerprint);
        assert_eq!(from_broken.public_key, broken);

        let public = RsaPublicKey::from(
            &<RsaPrivateKey as rsa::pkcs1::DecodeRsaPrivateKey>::from_pkcs1_pem(&g.private_pem)
                .unwrap(),
        );
        let der = public.to_public_key_der().unwrap();
        assert_eq!(
            parse_public(der.as_bytes()).unwrap().fingerprint,
            line.fingerprint
        );
        let b64_der = STANDARD.encode(der.as_bytes());
        assert_eq!(
            parse_public_param(&b64_der).unwrap().fingerprint,
            line.fingerprint
        );

        // an unterminated file, or a body that is not a key, is refused
        let cut = ssh2.replace(SSH2_END, "");
        assert_eq!(
            parse_public(cut.as_bytes()).unwrap_err().code,
            "InvalidKeyPair.Format"
        );
        let junk = format!("{SSH2_BEGIN}\nAAAA\n{SSH2_END}\n");
        assert_eq!(
            parse_public(junk.as_bytes()).unwrap_err().code,
            "InvalidKeyPair.Format"
        );
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
