//! The certificate interface endpoints end TLS with: `fort up` makes a CA of its own and,
//! signed by it, one certificate for the AWS names of the services Fort serves in every
//! region (`ec2.REGION.amazonaws.com`, the endpoints' `vpce-….SERVICE.REGION.vpce…`
//! names). Clients inside instances trust the CA (`AWS_CA_BUNDLE`) and reach the API at
//! the names their SDK already uses. Kept in `DATA/tls` and reused on the next start, so
//! the CA a user trusted stays valid. The same certificate is valid for S3's names
//! (`s3.REGION.amazonaws.com`, `BUCKET.s3.REGION.amazonaws.com`, `s3.amazonaws.com` and
//! `BUCKET.s3.amazonaws.com`, the virtual-hosted style), which the edge ends at S3's
//! addresses for gateway endpoints. A certificate made before it named those is made
//! again, signed by the same CA (whose key is kept beside it since).

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// The services interface endpoints carry to the API (as `fort_agent::endpoint`).
const SERVICES: &[&str] = &["ec2", "s3", "logs", "sts"];

/// The files of an endpoint certificate.
pub struct EndpointTls {
    /// The CA clients trust.
    pub ca: PathBuf,
    /// The certificate (then the CA's) and its key, which agents serve.
    pub dir: PathBuf,
}

pub const CERT: &str = "endpoints.pem";
pub const KEY: &str = "endpoints-key.pem";
pub const CA: &str = "ca.pem";
pub const CA_KEY: &str = "ca-key.pem";
/// Beside the certificate: the names it holds, one a line, to know when to make it again.
const NAMES: &str = "endpoints.names";

/// The names the certificate holds.
fn names() -> Vec<String> {
    let mut names = vec![
        "s3.amazonaws.com".to_owned(),
        "*.s3.amazonaws.com".to_owned(),
    ];
    for region in fort_control::zones::REGIONS {
        names.push(format!("*.{}.amazonaws.com", region.name));
        names.push(format!("*.s3.{}.amazonaws.com", region.name));
        for s in SERVICES {
            names.push(format!("*.{s}.{}.vpce.amazonaws.com", region.name));
        }
    }
    names
}

/// The certificate in `dir`, made there first if it is not (or if it lacks a name).
pub fn ensure(dir: &Path) -> anyhow::Result<EndpointTls> {
    let tls = EndpointTls {
        ca: dir.join(CA),
        dir: dir.to_path_buf(),
    };
    let names = names();
    let current = std::fs::read_to_string(dir.join(NAMES)).is_ok_and(|n| n == names.join("\n"));
    if current && [CA, CERT, KEY].iter().all(|f| dir.join(f).exists()) {
        return Ok(tls);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "Fort endpoint CA");
    // the CA users trust is kept when its key is (a new one otherwise)
    let kept = std::fs::read_to_string(dir.join(CA_KEY))
        .ok()
        .and_then(|pem| KeyPair::from_pem(&pem).ok())
        .filter(|_| dir.join(CA).exists());
    let ca_key = match kept {
        Some(k) => k,
        None => KeyPair::generate()?,
    };
    let ca_cert = ca.self_signed(&ca_key)?;
    let mut leaf = CertificateParams::new(names.clone())?;
    leaf.distinguished_name
        .push(DnType::CommonName, "Fort interface endpoints");
    let key = KeyPair::generate()?;
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key)?;
    let write = |name: &str, text: String| {
        std::fs::write(dir.join(name), text).with_context(|| format!("writing {name}"))
    };
    write(KEY, key.serialize_pem())?;
    write(CA_KEY, ca_key.serialize_pem())?;
    write(CERT, cert.pem() + &ca_cert.pem())?;
    write(CA, ca_cert.pem())?;
    write(NAMES, names.join("\n"))?;
    Ok(tls)
}

/// The TLS configuration agents serve from a directory `ensure` filled.
pub fn server_config(dir: &Path) -> anyhow::Result<std::sync::Arc<rustls::ServerConfig>> {
    fort_host::forward::tls_config(&dir.join(CERT), &dir.join(KEY)).map_err(anyhow::Error::msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_reused_and_loadable() {
        let dir = std::env::temp_dir().join(format!("fort-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = ensure(&dir).unwrap();
        let ca = std::fs::read(&first.ca).unwrap();
        ensure(&dir).unwrap();
        assert_eq!(std::fs::read(&first.ca).unwrap(), ca, "the CA is kept");
        server_config(&dir).unwrap();
        let pem = std::fs::read_to_string(dir.join(CERT)).unwrap();
        assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
