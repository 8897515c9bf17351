//! Multipart uploads: what `aws s3 cp` and boto3's transfer manager use above 8 MiB.
//!
//! ```text
//! .uploads/<upload id>/upload.json       bucket, key, initiator, headers
//! .uploads/<upload id>/<part>-<md5 hex>  each part's body
//! ```
//!
//! Completing streams the parts, in the order the client lists them, into one object file
//! and renames it into place like any other write: until then the key keeps its old
//! object, and an upload in progress survives a restart.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::PathBuf;

use md5::Digest as _;
use md5::Md5;
use serde::{Deserialize, Serialize};

use super::{Caller, ObjectAttrs, ObjectMeta, Op, S3, authorize, etag_of, now_ms, shared, who};
use crate::error::S3Error;
use crate::names::check_key;

pub(super) const UPLOADS_DIR: &str = ".uploads";
const UPLOAD_FILE: &str = "upload.json";

/// The most parts an upload has, as in S3.
pub const MAX_PARTS: u32 = 10_000;
/// The smallest part but the last, as in S3.
pub const MIN_PART_BYTES: u64 = 5 << 20;
/// The largest object an upload completes into (S3's single-PUT maximum).
pub const MAX_MULTIPART_OBJECT_BYTES: u64 = 5 << 30;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct UploadMeta {
    bucket: String,
    key: String,
    /// The account that started it (None: Fort itself).
    owner: Option<String>,
    attrs: ObjectAttrs,
    initiated_ms: i64,
}

#[derive(Clone, Debug)]
struct Part {
    etag: String,
    size: u64,
}

pub(super) struct Upload {
    meta: UploadMeta,
    parts: BTreeMap<u32, Part>,
}

fn caller_owner(caller: Caller<'_>) -> Option<String> {
    match caller {
        Caller::Account(a) => Some(a.to_owned()),
        Caller::Fort => None,
    }
}

/// Loads every upload in progress (at open).
pub(super) fn load(root: &std::path::Path) -> BTreeMap<String, Upload> {
    let mut uploads = BTreeMap::new();
    let Ok(dirs) = fs::read_dir(root.join(UPLOADS_DIR)) else {
        return uploads;
    };
    for dir in dirs.flatten() {
        let Some(id) = dir.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let meta = fs::read(dir.path().join(UPLOAD_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice::<UploadMeta>(&b).ok());
        let Some(meta) = meta else {
            let _ = fs::remove_dir_all(dir.path());
            continue;
        };
        let mut parts = BTreeMap::new();
        for file in fs::read_dir(dir.path()).into_iter().flatten().flatten() {
            let name = file.file_name();
            let Some((n, etag)) = name.to_str().and_then(|n| n.split_once('-')) else {
                continue;
            };
            let (Ok(n), Ok(m)) = (n.parse::<u32>(), file.metadata()) else {
                continue;
            };
            if etag.len() == 32 && etag.bytes().all(|b| b.is_ascii_hexdigit()) {
                parts.insert(
                    n,
                    Part {
                        etag: etag.to_owned(),
                        size: m.len(),
                    },
                );
            }
        }
        uploads.insert(id, Upload { meta, parts });
    }
    uploads
}

impl S3 {
    fn uploads(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Upload>> {
        self.uploads.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn upload_dir(&self, id: &str) -> PathBuf {
        self.root.join(UPLOADS_DIR).join(id)
    }

    /// The upload `id`, if it is for `bucket`/`key` and `caller` may use it.
    fn check_upload<'a>(
        uploads: &'a mut BTreeMap<String, Upload>,
        id: &str,
        bucket: &str,
        key: &str,
        caller: Caller<'_>,
    ) -> Result<&'a mut Upload, S3Error> {
        uploads
            .get_mut(id)
            .filter(|u| {
                u.meta.bucket == bucket
                    && u.meta.key == key
                    && (caller == Caller::Fort || u.meta.owner == caller_owner(caller))
            })
            .ok_or(S3Error::NoSuchUpload)
    }

    /// Starts an upload; returns its id.
    pub fn create_upload(
        &self,
        bucket: &str,
        key: &str,
        attrs: ObjectAttrs,
        caller: Caller<'_>,
    ) -> Result<String, S3Error> {
        if let Some(o) = self.replicate(&[], || Op::CreateUpload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            attrs: attrs.clone(),
            caller: who(caller),
            id: uuid::Uuid::new_v4().simple().to_string(),
        }) {
            return o.text();
        }
        check_key(key)?;
        authorize(&self.read(), bucket, caller)?;
        let id = shared::upload_id().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let meta = UploadMeta {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            owner: caller_owner(caller),
            attrs,
            initiated_ms: now_ms(),
        };
        let json = serde_json::to_vec(&meta).map_err(|e| S3Error::Internal(e.to_string()))?;
        let tmp = self.write_tmp(&[&json])?;
        let dir = self.upload_dir(&id);
        let result =
            fs::create_dir_all(&dir).and_then(|()| fs::rename(&tmp, dir.join(UPLOAD_FILE)));
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_dir_all(&dir);
            return Err(S3Error::io("starting the upload", &e));
        }
        self.uploads().insert(
            id.clone(),
            Upload {
                meta,
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    /// Stores part `n` of an upload (replacing an earlier part `n`); returns its ETag.
    pub fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        n: u32,
        body: &[u8],
        caller: Caller<'_>,
    ) -> Result<String, S3Error> {
        if let Some(o) = self.replicate(body, || Op::UploadPart {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            id: id.to_owned(),
            n,
            caller: who(caller),
        }) {
            return o.text();
        }
        if !(1..=MAX_PARTS).contains(&n) {
            return Err(S3Error::InvalidArgument(
                "Part number must be an integer between 1 and 10000, inclusive".into(),
            ));
        }
        authorize(&self.read(), bucket, caller)?;
        Self::check_upload(&mut self.uploads(), id, bucket, key, caller)?;
        let etag = etag_of(body);
        let tmp = self.write_tmp(&[body])?;
        let mut uploads = self.uploads();
        let upload = match Self::check_upload(&mut uploads, id, bucket, key, caller) {
            Ok(u) => u,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        let dir = self.upload_dir(id);
        if let Err(e) = fs::rename(&tmp, dir.join(format!("{n}-{etag}"))) {
            let _ = fs::remove_file(&tmp);
            return Err(S3Error::io("storing the part", &e));
        }
        let part = Part {
            etag: etag.clone(),
            size: body.len() as u64,
        };
        if let Some(old) = upload.parts.insert(n, part)
            && old.etag != etag
        {
            let _ = fs::remove_file(dir.join(format!("{n}-{}", old.etag)));
        }
        Ok(etag)
    }

    /// Completes an upload from the parts the client lists (number, ETag), in
    /// ascending order; the object's ETag is S3's `md5(part md5s)-count`.
    pub fn complete_upload(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        listed: &[(u32, String)],
        caller: Caller<'_>,
    ) -> Result<ObjectMeta, S3Error> {
        if let Some(o) = self.replicate(&[], || Op::CompleteUpload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            id: id.to_owned(),
            listed: listed.to_vec(),
            caller: who(caller),
        }) {
            return o.meta();
        }
        authorize(&self.read(), bucket, caller)?;
        let (attrs, parts) = {
            let mut uploads = self.uploads();
            let upload = Self::check_upload(&mut uploads, id, bucket, key, caller)?;
            if listed.is_empty() {
                return Err(S3Error::MalformedXml);
            }
            if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
                return Err(S3Error::InvalidPartOrder);
            }
            let mut parts = Vec::with_capacity(listed.len());
            for (i, (n, etag)) in listed.iter().enumerate() {
                let part = upload
                    .parts
                    .get(n)
                    .filter(|p| p.etag == etag.trim().trim_matches('"'))
                    .ok_or(S3Error::InvalidPart)?;
                if i + 1 < listed.len() && part.size < MIN_PART_BYTES {
                    return Err(S3Error::EntityTooSmall);
                }
                parts.push((*n, part.clone()));
            }
            (upload.meta.attrs.clone(), parts)
        };
        let size: u64 = parts.iter().map(|(_, p)| p.size).sum();
        if size > MAX_MULTIPART_OBJECT_BYTES {
            return Err(S3Error::EntityTooLarge);
        }
        let mut digests = Md5::new();
        for (_, p) in &parts {
            digests.update(hex::decode(&p.etag).unwrap_or_default());
        }
        let meta = ObjectMeta {
            key: key.to_owned(),
            etag: format!("{}-{}", hex::encode(digests.finalize()), parts.len()),
            size,
            last_modified_ms: now_ms(),
            attrs,
        };
        let dir = self.upload_dir(id);
        let tmp = self.write_object_tmp(&meta, |out| {
            for (n, p) in &parts {
                let mut f = File::open(dir.join(format!("{n}-{}", p.etag)))?;
                std::io::copy(&mut f, out)?;
            }
            Ok(())
        })?;
        let meta = self.commit(tmp, bucket, meta, caller)?;
        self.uploads().remove(id);
        let _ = fs::remove_dir_all(&dir);
        Ok(meta)
    }

    /// Abandons an upload and its parts.
    pub fn abort_upload(
        &self,
        bucket: &str,
        key: &str,
        id: &str,
        caller: Caller<'_>,
    ) -> Result<(), S3Error> {
        if let Some(o) = self.replicate(&[], || Op::AbortUpload {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            id: id.to_owned(),
            caller: who(caller),
        }) {
            return o.unit();
        }
        authorize(&self.read(), bucket, caller)?;
        let mut uploads = self.uploads();
        Self::check_upload(&mut uploads, id, bucket, key, caller)?;
        uploads.remove(id);
        let _ = fs::remove_dir_all(self.upload_dir(id));
        Ok(())
    }

    /// Drops the uploads into a bucket that is gone.
    pub(super) fn drop_uploads_of(&self, bucket: &str) {
        let mut uploads = self.uploads();
        let gone: Vec<String> = uploads
            .iter()
            .filter(|(_, u)| u.meta.bucket == bucket)
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            uploads.remove(&id);
            let _ = fs::remove_dir_all(self.upload_dir(&id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{A, B, store};
    use super::*;

    #[test]
    fn parts_complete_into_one_object() {
        let (dir, s3) = store();
        s3.create_bucket("bkt", "111111111111", "us-east-1")
            .unwrap();
        let id = s3
            .create_upload("bkt", "big", ObjectAttrs::default(), A)
            .unwrap();
        let one = vec![1u8; usize::try_from(MIN_PART_BYTES).unwrap()];
        let two = b"tail".to_vec();
        let e1 = s3.upload_part("bkt", "big", &id, 1, &one, A).unwrap();
        let e2 = s3
            .upload_part("bkt", "big", &id, 2, b"first try", A)
            .unwrap();
        assert_eq!(
            s3.upload_part("bkt", "big", &id, 2, &two, B),
            Err(S3Error::AccessDenied)
        );
        let e2b = s3.upload_part("bkt", "big", &id, 2, &two, A).unwrap();
        assert_eq!(
            s3.complete_upload("bkt", "big", &id, &[(1, e1.clone()), (2, e2)], A),
            Err(S3Error::InvalidPart)
        );
        assert_eq!(
            s3.complete_upload("bkt", "big", &id, &[(2, e2b.clone()), (1, e1.clone())], A),
            Err(S3Error::InvalidPartOrder)
        );
        assert_eq!(
            s3.complete_upload("bkt", "big", &id, &[(1, e1.clone()), (3, e1.clone())], A),
            Err(S3Error::InvalidPart)
        );
        // an upload survives a restart
        drop(s3);
        let s3 = S3::open(&dir.path().join("s3")).unwrap();
        let meta = s3
            .complete_upload(
                "bkt",
                "big",
                &id,
                &[(1, e1.clone()), (2, format!("\"{e2b}\""))],
                A,
            )
            .unwrap();
        let mut both = Vec::new();
        both.extend(hex::decode(&e1).unwrap());
        both.extend(hex::decode(&e2b).unwrap());
        assert_eq!(meta.etag, format!("{}-2", hex::encode(Md5::digest(&both))));
        let (_, body, _) = s3.get("bkt", "big", None, A).unwrap();
        assert_eq!(body.len(), one.len() + two.len());
        assert!(body.ends_with(b"tail"));
        assert_eq!(
            s3.complete_upload("bkt", "big", &id, &[(1, e1)], A),
            Err(S3Error::NoSuchUpload)
        );
        assert!(!dir.path().join("s3/.uploads").join(&id).exists());
    }

    #[test]
    fn small_parts_and_aborts() {
        let (dir, s3) = store();
        s3.create_bucket("bkt", "111111111111", "us-east-1")
            .unwrap();
        let id = s3
            .create_upload("bkt", "k", ObjectAttrs::default(), A)
            .unwrap();
        let e1 = s3.upload_part("bkt", "k", &id, 1, b"small", A).unwrap();
        let e2 = s3.upload_part("bkt", "k", &id, 2, b"small", A).unwrap();
        assert_eq!(
            s3.complete_upload("bkt", "k", &id, &[(1, e1), (2, e2)], A),
            Err(S3Error::EntityTooSmall)
        );
        assert!(s3.upload_part("bkt", "k", &id, 0, b"", A).is_err());
        assert!(s3.upload_part("bkt", "k", &id, 10_001, b"", A).is_err());
        assert_eq!(
            s3.upload_part("bkt", "other-key", &id, 1, b"", A),
            Err(S3Error::NoSuchUpload)
        );
        s3.abort_upload("bkt", "k", &id, A).unwrap();
        assert_eq!(
            s3.abort_upload("bkt", "k", &id, A),
            Err(S3Error::NoSuchUpload)
        );
        assert!(!dir.path().join("s3/.uploads").join(&id).exists());
        // a bucket's uploads go with it
        let id = s3
            .create_upload("bkt", "k", ObjectAttrs::default(), A)
            .unwrap();
        s3.delete_bucket("bkt", A).unwrap();
        assert!(!dir.path().join("s3/.uploads").join(&id).exists());
    }
}
