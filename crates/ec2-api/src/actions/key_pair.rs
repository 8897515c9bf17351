//! Key pairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair.

use fort_control::key_pair::{self, check_key_name, key_not_found};
use fort_model::{ApiError, ErrorCode, KeyPair, Kind, format_time};

use super::{Ctx, Describe};
use crate::xml::Xml;

crate::actions!(
    CreateKeyPair,
    ImportKeyPair,
    DescribeKeyPairs,
    DeleteKeyPair
);

/// `KeyName`, required and well formed.
fn key_name(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    let name = ctx.params.get("KeyName").unwrap_or("");
    check_key_name(name)?;
    Ok(name.to_owned())
}

/// Answers `InvalidKeyPair.Duplicate` early, before a key is made for nothing.
async fn check_new(ctx: &Ctx<'_>, name: &str) -> Result<(), ApiError> {
    let taken = ctx
        .read(|v| v.region.key_pairs.values().any(|k| k.name == name))
        .await?;
    if taken {
        return Err(ApiError::new(
            ErrorCode::InvalidKeyPairDuplicate,
            format!("The keypair '{name}' already exists."),
        ));
    }
    Ok(())
}

pub async fn run(action: Action, ctx: &Ctx<'_>) -> Result<Xml, ApiError> {
    let p = ctx.params;
    match action {
        Action::CreateKeyPair => {
            let name = key_name(ctx)?;
            let key_type = p.opt_str("KeyType").unwrap_or_else(|| "rsa".into());
            if !matches!(key_type.as_str(), "rsa" | "ed25519") {
                return Err(ApiError::bad_param(
                    "KeyType",
                    &key_type,
                    "Valid values: rsa, ed25519.",
                ));
            }
            match p.get("KeyFormat").unwrap_or("pem") {
                "pem" => {}
                "ppk" => {
                    return Err(ApiError::new(
                        ErrorCode::UnsupportedOperation,
                        "Fort hands out private keys in the pem format only.",
                    ));
                }
                other => {
                    return Err(ApiError::bad_param(
                        "KeyFormat",
                        other,
                        "Valid values: pem, ppk.",
                    ));
                }
            }
            let tags = ctx.tag_specs(&["key-pair"])?;
            check_new(ctx, &name).await?;
            let made = {
                let name = name.clone();
                tokio::task::spawn_blocking(move || key_pair::generate(&key_type, &name))
                    .await
                    .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))??
            };
            let key = ctx
                .write(|tx| tx.create_key_pair(&name, made.public, tags))
                .await?;
            let mut w = Xml::new();
            w.leaf("keyName", &key.name)
                .leaf("keyFingerprint", &key.fingerprint)
                .leaf("keyMaterial", made.private_pem.trim_end())
                .leaf("keyPairId", &key.id)
                .tags(&key.tags);
            Ok(w)
        }
        Action::ImportKeyPair => {
            let name = key_name(ctx)?;
            let public = key_pair::parse_public_param(p.req("PublicKeyMaterial")?)?;
            let tags = ctx.tag_specs(&["key-pair"])?;
            let key = ctx
                .write(|tx| tx.create_key_pair(&name, public, tags))
                .await?;
            let mut w = Xml::new();
            w.leaf("keyFingerprint", &key.fingerprint)
                .leaf("keyName", &key.name)
                .leaf("keyPairId", &key.id)
                .tags(&key.tags);
            Ok(w)
        }
        Action::DescribeKeyPairs => {
            let names = p.strings("KeyName")?;
            let include_public = p.bool("IncludePublicKey")?.unwrap_or(false);
            let d = Describe {
                ids_param: "KeyPairId",
                kind: Kind::KeyPair,
                filters: FILTERS,
                page: None,
            };
            ctx.read(|v| {
                let keys = &v.region.key_pairs;
                if let Some(missing) = names.iter().find(|n| !keys.values().any(|k| &k.name == *n))
                {
                    return Err(key_not_found(missing));
                }
                let mut page = d.run(p, keys.values(), |k| &k.id, |k| &k.tags, field)?;
                page.items
                    .retain(|k| names.is_empty() || names.contains(&k.name));
                page.items.sort_by(|a, b| a.name.cmp(&b.name));
                let mut w = Xml::new();
                w.set("keySet", page.items, |w, k| render(w, k, include_public));
                Ok(w)
            })
            .await?
        }
        Action::DeleteKeyPair => {
            let name = p.get("KeyName");
            let id = p.get("KeyPairId");
            if name.is_none() && id.is_none() {
                return Err(ApiError::new(
                    ErrorCode::MissingParameter,
                    "The request must contain the parameter KeyName or KeyPairId",
                ));
            }
            let deleted = ctx.write(|tx| tx.delete_key_pair(name, id)).await?;
            let mut w = Xml::new();
            w.leaf("return", "true").opt("keyPairId", deleted);
            Ok(w)
        }
    }
}

const FILTERS: &[&str] = &["key-pair-id", "fingerprint", "key-name", "key-type"];

fn field(k: &KeyPair, name: &str) -> Vec<String> {
    match name {
        "key-pair-id" => vec![k.id.to_string()],
        "fingerprint" => vec![k.fingerprint.clone()],
        "key-name" => vec![k.name.clone()],
        "key-type" => vec![k.key_type.clone()],
        _ => vec![],
    }
}

/// DescribeKeyPairs' item: its tag set even when empty, as EC2 answers.
fn render(w: &mut Xml, k: &KeyPair, include_public: bool) {
    w.leaf("keyPairId", &k.id)
        .leaf("keyType", &k.key_type)
        .tag_set(&k.tags);
    if include_public {
        w.leaf("publicKey", &k.public_key);
    }
    w.leaf("createTime", format_time(k.create_time))
        .leaf("keyName", &k.name)
        .leaf("keyFingerprint", &k.fingerprint);
}
