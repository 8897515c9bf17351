//! Buckets and objects on disk, with an in-memory index for listings.
//!
//! Layout under the root (`DATA_DIR/s3`):
//!
//! ```text
//! .tmp/<uuid>                      writes in progress (cleared at open)
//! <bucket>/bucket.json             owner, region, creation time
//! <bucket>/objects/<sha256(key)>   one file per object: header, metadata, body
//! ```
//!
//! An object's file name is the hex SHA-256 of its key, so no key (`../x`, `/etc`, 1024
//! bytes of UTF-8) ever becomes a path. A write goes to `.tmp` and is renamed into place:
//! a reader or a crash sees the old object or the new one, never a mix, and the
//! metadata lives in the same file as the body for the same reason.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use md5::Md5;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

// two digest traits: md-5 is on digest 0.10, sha2 on 0.11
use md5::Digest as _;
use sha2::Digest as _;

use crate::error::S3Error;
use crate::list::{self, Entry};
use crate::metrics::METRICS;
use crate::names::{check_bucket_name, check_key};

mod multipart;
mod shared;
pub use multipart::{MAX_MULTIPART_OBJECT_BYTES, MAX_PARTS, MIN_PART_BYTES};
use shared::{Mode, Op, who};

/// The largest object a single PutObject stores (S3 allows 5 GiB; Fort holds a request
/// body in memory, so it stops well below).
pub const MAX_OBJECT_BYTES: usize = 256 << 20;

/// The most user metadata (`x-amz-meta-*`) an object carries, as in S3.
pub const MAX_USER_METADATA_BYTES: usize = 2048;

const MAGIC: &[u8; 8] = b"FORTS3\x00\x01";
/// Bounds the metadata read from a file header: a key and 2 KiB of user metadata fit.
const MAX_HEADER_BYTES: u32 = 64 << 10;
const BUCKET_FILE: &str = "bucket.json";
const OBJECTS_DIR: &str = "objects";
const TMP_DIR: &str = ".tmp";

/// A bucket's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketMeta {
    pub name: String,
    /// The account that created it: the only one that may use it.
    pub owner: String,
    /// Its LocationConstraint (`us-east-1` when none was given).
    pub region: String,
    /// Unix milliseconds.
    pub created_ms: i64,
}

/// The headers an object was stored with and answers with.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectAttrs {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub content_language: Option<String>,
    pub cache_control: Option<String>,
    /// `x-amz-meta-NAME` headers, names lowercased without the prefix.
    pub metadata: BTreeMap<String, String>,
}

/// An object's metadata, as stored in its file's header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    pub key: String,
    /// Hex MD5 of the body, without quotes.
    pub etag: String,
    pub size: u64,
    /// Unix milliseconds.
    pub last_modified_ms: i64,
    #[serde(flatten)]
    pub attrs: ObjectAttrs,
}

impl ObjectMeta {
    /// The ETag as S3 sends it: in double quotes.
    pub fn quoted_etag(&self) -> String {
        format!("\"{}\"", self.etag)
    }
}

/// What listings need of an object, kept in memory for every object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub etag: String,
    pub size: u64,
    pub last_modified_ms: i64,
}

/// A listing page, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing {
    pub objects: Vec<(String, Summary)>,
    pub common_prefixes: Vec<String>,
    /// The name of the last entry (key or common prefix): where the next page starts.
    pub last: Option<String>,
    pub truncated: bool,
}

/// How CreateBucket went when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    New,
    /// The caller already owns it and S3 answers 200 (us-east-1's legacy behaviour).
    AlreadyOwned,
}

/// Who is asking: an account (checked against the bucket's owner), or Fort itself
/// (flow-log delivery, which checks its own permissions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller<'a> {
    Account(&'a str),
    Fort,
}

/// A requested byte range, as a `Range: bytes=…` header gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-` or `first-last` (inclusive).
    From { first: u64, last: Option<u64> },
    /// `-n`: the last n bytes.
    Suffix(u64),
}

impl ByteRange {
    /// The inclusive range within an object of `size` bytes, or None if unsatisfiable.
    pub fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            ByteRange::From { first, last } => {
                if first >= size {
                    return None;
                }
                let last = last.map_or(size - 1, |l| l.min(size - 1));
                (last >= first).then_some((first, last))
            }
            ByteRange::Suffix(n) if n == 0 || size == 0 => None,
            ByteRange::Suffix(n) => Some((size.saturating_sub(n), size - 1)),
        }
    }
}

/// An object being read: its metadata, and its file positioned at the first byte to send.
pub struct ObjectReader {
    pub meta: ObjectMeta,
    pub file: File,
    /// Bytes to send from `file`.
    pub len: u64,
    /// The inclusive range served, for a ranged read.
    pub span: Option<(u64, u64)>,
}

struct Bucket {
    meta: BucketMeta,
    objects: BTreeMap<String, Summary>,
}

/// Fort's S3 storage: every bucket of every account (one namespace, as in S3).
pub struct S3 {
    root: PathBuf,
    buckets: RwLock<BTreeMap<String, Bucket>>,
    /// Multipart uploads in progress, by upload id.
    uploads: std::sync::Mutex<BTreeMap<String, multipart::Upload>>,
    mode: Mode,
}

/// The hex SHA-256 of a key: its file name.
pub fn object_file_name(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The hex MD5 of a body: its ETag (single-part uploads).
pub fn etag_of(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// Unix milliseconds, now; while applying an operation of the shared log, its writer's
/// clock (every server applies it alike).
fn now_ms() -> i64 {
    if let Some(now) = shared::applying_now() {
        return now;
    }
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000)
        .unwrap_or(i64::MAX)
}

impl S3 {
    /// Opens (creating) the store at `root`, loading every bucket and object header.
    pub fn open(root: &Path) -> Result<S3, S3Error> {
        Self::open_with(root, Mode::Local)
    }

    fn open_with(root: &Path, mode: Mode) -> Result<S3, S3Error> {
        let tmp = root.join(TMP_DIR);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| S3Error::io("clearing .tmp", &e))?;
        }
        fs::create_dir_all(&tmp).map_err(|e| S3Error::io("creating the S3 directory", &e))?;
        let mut buckets = BTreeMap::new();
        let entries =
            fs::read_dir(root).map_err(|e| S3Error::io("reading the S3 directory", &e))?;
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if name.starts_with('.') || check_bucket_name(&name).is_err() {
                continue;
            }
            let dir = entry.path();
            let meta = match fs::read(dir.join(BUCKET_FILE)) {
                Ok(bytes) => match serde_json::from_slice::<BucketMeta>(&bytes) {
                    Ok(m) if m.name == name => m,
                    _ => {
                        tracing::warn!(bucket = name, "unreadable bucket.json: bucket skipped");
                        continue;
                    }
                },
                Err(_) => {
                    // A create or delete that did not finish: nothing was acknowledged.
                    tracing::warn!(bucket = name, "no bucket.json: removing the leftover");
                    let _ = fs::remove_dir_all(&dir);
                    continue;
                }
            };
            let mut objects = BTreeMap::new();
            if let Ok(files) = fs::read_dir(dir.join(OBJECTS_DIR)) {
                for file in files.flatten() {
                    match read_header_at(&file.path()) {
                        Ok(m) if file.file_name().to_str() == Some(&object_file_name(&m.key)) => {
                            objects.insert(
                                m.key,
                                Summary {
                                    etag: m.etag,
                                    size: m.size,
                                    last_modified_ms: m.last_modified_ms,
                                },
                            );
                        }
                        _ => tracing::warn!(
                            bucket = name,
                            file = %file.path().display(),
                            "unreadable object file skipped"
                        ),
                    }
                }
            }
            buckets.insert(name, Bucket { meta, objects });
        }
        Ok(S3 {
            root: root.to_owned(),
            buckets: RwLock::new(buckets),
            uploads: std::sync::Mutex::new(multipart::load(root)),
            mode,
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Bucket>> {
        self.buckets.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Bucket>> {
        self.buckets.write().unwrap_or_else(|p| p.into_inner())
    }

    fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }

    fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.bucket_dir(bucket)
            .join(OBJECTS_DIR)
            .join(object_file_name(key))
    }

    /// Writes `bytes` to a new file in `.tmp`, synced; returns its path.
    fn write_tmp(&self, parts: &[&[u8]]) -> Result<PathBuf, S3Error> {
        let path = self
            .root
            .join(TMP_DIR)
            .join(uuid::Uuid::new_v4().to_string());
        let result = (|| {
            let mut f = File::create(&path)?;
            for p in parts {
                f.write_all(p)?;
            }
            f.sync_data()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&path);
            return Err(S3Error::io("writing a temporary file", &e));
        }
        Ok(path)
    }

    /// The owner of `bucket`, if it exists: flow-log delivery checks it.
    pub fn bucket_owner(&self, bucket: &str) -> Option<String> {
        let owner = || self.read().get(bucket).map(|b| b.meta.owner.clone());
        match (owner(), &self.mode) {
            (None, Mode::Shared(..)) => {
                // maybe created through another server and not applied here yet: catch up
                // (on a thread of its own: the caller may be an async task)
                let synced = std::thread::scope(|s| s.spawn(|| self.sync_reads()).join());
                if let Ok(Err(e)) = synced {
                    tracing::warn!(error = %e, bucket, "checking a bucket on this server's copy");
                }
                owner()
            }
            (found, _) => found,
        }
    }

    /// A bucket's metadata, for `caller`.
    pub fn bucket(&self, bucket: &str, caller: Caller<'_>) -> Result<BucketMeta, S3Error> {
        self.sync_reads()?;
        let buckets = self.read();
        let b = authorize(&buckets, bucket, caller)?;
        Ok(b.meta.clone())
    }

    /// The buckets `owner` owns, by name.
    pub fn list_buckets(&self, owner: &str) -> Vec<BucketMeta> {
        if let Err(e) = self.sync_reads() {
            tracing::warn!(error = %e, "listing buckets from this server's copy");
        }
        self.read()
            .values()
            .filter(|b| b.meta.owner == owner)
            .map(|b| b.meta.clone())
            .collect()
    }

    /// Creates `name` for `owner` in `region`.
    pub fn create_bucket(&self, name: &str, owner: &str, region: &str) -> Result<Created, S3Error> {
        if let Some(o) = self.replicate(&[], || Op::CreateBucket {
            name: name.to_owned(),
            owner: owner.to_owned(),
            region: region.to_owned(),
        }) {
            return o.created();
        }
        check_bucket_name(name)?;
        let mut buckets = self.write();
        if let Some(b) = buckets.get(name) {
            return if b.meta.owner != owner {
                Err(S3Error::BucketAlreadyExists(name.to_owned()))
            } else if b.meta.region == "us-east-1" && region == "us-east-1" {
                Ok(Created::AlreadyOwned)
            } else {
                Err(S3Error::BucketAlreadyOwnedByYou(name.to_owned()))
            };
        }
        let meta = BucketMeta {
            name: name.to_owned(),
            owner: owner.to_owned(),
            region: region.to_owned(),
            created_ms: now_ms(),
        };
        let dir = self.bucket_dir(name);
        let json = serde_json::to_vec(&meta).map_err(|e| S3Error::Internal(e.to_string()))?;
        let tmp = self.write_tmp(&[&json])?;
        let result = (|| {
            if dir.exists() {
                // left over from a delete that did not finish
                fs::remove_dir_all(&dir)?;
            }
            fs::create_dir_all(dir.join(OBJECTS_DIR))?;
            fs::rename(&tmp, dir.join(BUCKET_FILE))?;
            File::open(&dir)?.sync_all()?;
            File::open(&self.root)?.sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            let _ = fs::remove_dir_all(&dir);
            return Err(S3Error::io("creating the bucket", &e));
        }
        buckets.insert(
            name.to_owned(),
            Bucket {
                meta,
                objects: BTreeMap::new(),
            },
        );
        Ok(Created::New)
    }

    /// Deletes an empty bucket.
    pub fn delete_bucket(&self, name: &str, caller: Caller<'_>) -> Result<(), S3Error> {
        if let Some(o) = self.replicate(&[], || Op::DeleteBucket {
            name: name.to_owned(),
            caller: who(caller),
        }) {
            return o.unit();
        }
        let mut buckets = self.write();
        let b = authorize(&buckets, name, caller)?;
        if !b.objects.is_empty() {
            return Err(S3Error::BucketNotEmpty(name.to_owned()));
        }
        let dir = self.bucket_dir(name);
        // bucket.json first: a crash after it leaves a leftover that open() removes
        fs::remove_file(dir.join(BUCKET_FILE))
            .map_err(|e| S3Error::io("deleting the bucket", &e))?;
        buckets.remove(name);
        if let Err(e) = fs::remove_dir_all(&dir) {
            tracing::warn!(bucket = name, error = %e, "bucket directory left behind");
        }
        drop(buckets);
        self.drop_uploads_of(name);
        Ok(())
    }

    /// Stores an object (replacing any under the same key); returns its metadata.
    pub fn put(
        &self,
        bucket: &str,
        key: &str,
        body: &[u8],
        attrs: ObjectAttrs,
        caller: Caller<'_>,
    ) -> Result<ObjectMeta, S3Error> {
        if let Some(o) = self.replicate(body, || Op::Put {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            attrs: attrs.clone(),
            caller: who(caller),
        }) {
            return o.meta();
        }
        check_key(key)?;
        if body.len() > MAX_OBJECT_BYTES {
            return Err(S3Error::EntityTooLarge);
        }
        let user_metadata: usize = attrs.metadata.iter().map(|(k, v)| k.len() + v.len()).sum();
        if user_metadata > MAX_USER_METADATA_BYTES {
            return Err(S3Error::MetadataTooLarge);
        }
        // fail early, before writing, when the bucket is not there
        authorize(&self.read(), bucket, caller)?;
        let meta = ObjectMeta {
            key: key.to_owned(),
            etag: etag_of(body),
            size: body.len() as u64,
            last_modified_ms: now_ms(),
            attrs,
        };
        let tmp = self.write_object_tmp(&meta, |f| f.write_all(body))?;
        self.commit(tmp, bucket, meta, caller)
    }

    /// Writes an object file (header, then what `body` writes) to `.tmp`, synced.
    fn write_object_tmp(
        &self,
        meta: &ObjectMeta,
        body: impl FnOnce(&mut File) -> std::io::Result<()>,
    ) -> Result<PathBuf, S3Error> {
        let json = serde_json::to_vec(meta).map_err(|e| S3Error::Internal(e.to_string()))?;
        let len = u32::try_from(json.len())
            .ok()
            .filter(|l| *l <= MAX_HEADER_BYTES)
            .ok_or(S3Error::MetadataTooLarge)?;
        let path = self
            .root
            .join(TMP_DIR)
            .join(uuid::Uuid::new_v4().to_string());
        let result = (|| {
            let mut f = File::create(&path)?;
            f.write_all(MAGIC)?;
            f.write_all(&len.to_be_bytes())?;
            f.write_all(&json)?;
            body(&mut f)?;
            f.sync_data()?;
            let written = f.metadata()?.len();
            if written != 12 + u64::from(len) + meta.size {
                return Err(std::io::Error::other("object body changed while copied"));
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&path);
            return Err(S3Error::io("writing the object", &e));
        }
        Ok(path)
    }

    /// Renames a written object file into its bucket and indexes it.
    fn commit(
        &self,
        tmp: PathBuf,
        bucket: &str,
        meta: ObjectMeta,
        caller: Caller<'_>,
    ) -> Result<ObjectMeta, S3Error> {
        let mut buckets = self.write();
        let b = match authorize_mut(&mut buckets, bucket, caller) {
            Ok(b) => b,
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = fs::rename(&tmp, self.object_path(bucket, &meta.key)) {
            let _ = fs::remove_file(&tmp);
            return Err(S3Error::io("storing the object", &e));
        }
        b.objects.insert(
            meta.key.clone(),
            Summary {
                etag: meta.etag.clone(),
                size: meta.size,
                last_modified_ms: meta.last_modified_ms,
            },
        );
        drop(buckets);
        // the rename is durable once its directory is (outside the lock: other writes go on)
        sync_dir(&self.bucket_dir(bucket).join(OBJECTS_DIR))?;
        METRICS.object_written(meta.size);
        Ok(meta)
    }

    /// Copies an object (server side, streamed), with its own headers or `attrs`.
    pub fn copy(
        &self,
        (src_bucket, src_key): (&str, &str),
        (bucket, key): (&str, &str),
        attrs: Option<ObjectAttrs>,
        caller: Caller<'_>,
    ) -> Result<ObjectMeta, S3Error> {
        if let Some(o) = self.replicate(&[], || Op::Copy {
            src_bucket: src_bucket.to_owned(),
            src_key: src_key.to_owned(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            attrs: attrs.clone(),
            caller: who(caller),
        }) {
            return o.meta();
        }
        check_key(key)?;
        authorize(&self.read(), bucket, caller)?;
        let (src, mut file) = self.open_object(src_bucket, src_key, caller)?;
        let meta = ObjectMeta {
            key: key.to_owned(),
            etag: src.etag,
            size: src.size,
            last_modified_ms: now_ms(),
            attrs: attrs.unwrap_or(src.attrs),
        };
        let tmp = self.write_object_tmp(&meta, |f| std::io::copy(&mut file, f).map(|_| ()))?;
        self.commit(tmp, bucket, meta, caller)
    }

    /// Fort's own writer (flow-log delivery): stores `body` under `key` in `bucket`,
    /// whoever owns the bucket.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<ObjectMeta, S3Error> {
        let attrs = ObjectAttrs {
            content_type: Some(content_type.to_owned()),
            ..ObjectAttrs::default()
        };
        self.put(bucket, key, &body, attrs, Caller::Fort)
    }

    /// An object's metadata.
    pub fn head(&self, bucket: &str, key: &str, caller: Caller<'_>) -> Result<ObjectMeta, S3Error> {
        self.sync_reads()?;
        Ok(self.open_object(bucket, key, caller)?.0)
    }

    /// An object's metadata and its body, or the part of it `range` names (with the
    /// inclusive range served). `Err(InvalidRange)` if the range is unsatisfiable.
    #[allow(clippy::type_complexity)]
    pub fn get(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
        caller: Caller<'_>,
    ) -> Result<(ObjectMeta, Vec<u8>, Option<(u64, u64)>), S3Error> {
        let reader = self.open_range(bucket, key, range, caller)?;
        let mut body = Vec::with_capacity(usize::try_from(reader.len).unwrap_or(0));
        let ObjectReader {
            meta,
            file,
            len,
            span,
        } = reader;
        match file.take(len).read_to_end(&mut body) {
            Ok(n) if n as u64 == len => Ok((meta, body, span)),
            Ok(_) => Err(S3Error::Internal("object file is short".into())),
            Err(e) => Err(S3Error::io("reading the object", &e)),
        }
    }

    /// An object opened for reading `range` (all of it if None): the caller streams
    /// `len` bytes from `file`.
    pub fn open_range(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
        caller: Caller<'_>,
    ) -> Result<ObjectReader, S3Error> {
        self.sync_reads()?;
        let (meta, mut file) = self.open_object(bucket, key, caller)?;
        let span = match range {
            None => None,
            Some(r) => Some(r.resolve(meta.size).ok_or(S3Error::InvalidRange)?),
        };
        let (first, len) = span.map_or((0, meta.size), |(a, b)| (a, b - a + 1));
        file.seek(SeekFrom::Current(i64::try_from(first).unwrap_or(i64::MAX)))
            .map_err(|e| S3Error::io("reading the object", &e))?;
        Ok(ObjectReader {
            meta,
            file,
            len,
            span,
        })
    }

    /// The object's metadata and its file, positioned at the start of the body.
    fn open_object(
        &self,
        bucket: &str,
        key: &str,
        caller: Caller<'_>,
    ) -> Result<(ObjectMeta, File), S3Error> {
        {
            let buckets = self.read();
            let b = authorize(&buckets, bucket, caller)?;
            if !b.objects.contains_key(key) {
                return Err(S3Error::NoSuchKey(key.to_owned()));
            }
        }
        let mut file = match File::open(self.object_path(bucket, key)) {
            Ok(f) => f,
            // deleted since
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(S3Error::NoSuchKey(key.to_owned()));
            }
            Err(e) => return Err(S3Error::io("opening the object", &e)),
        };
        let (meta, _) = read_header(&mut file).map_err(S3Error::Internal)?;
        if meta.key != key {
            return Err(S3Error::Internal("object file names another key".into()));
        }
        Ok((meta, file))
    }

    /// Deletes an object; deleting one that is not there succeeds, as in S3.
    pub fn delete(&self, bucket: &str, key: &str, caller: Caller<'_>) -> Result<(), S3Error> {
        if let Some(o) = self.replicate(&[], || Op::Delete {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            caller: who(caller),
        }) {
            return o.unit();
        }
        let mut buckets = self.write();
        let b = authorize_mut(&mut buckets, bucket, caller)?;
        if b.objects.remove(key).is_some() {
            match fs::remove_file(self.object_path(bucket, key)) {
                Ok(()) => METRICS.object_deleted(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    // keep the index true to the disk
                    if let Ok(meta) = read_header_at(&self.object_path(bucket, key)) {
                        b.objects.insert(
                            key.to_owned(),
                            Summary {
                                etag: meta.etag,
                                size: meta.size,
                                last_modified_ms: meta.last_modified_ms,
                            },
                        );
                    }
                    return Err(S3Error::io("deleting the object", &e));
                }
            }
        }
        Ok(())
    }

    /// A page of the bucket's keys (see [`list::list`]).
    pub fn list(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: &str,
        after: Option<&str>,
        max: usize,
        caller: Caller<'_>,
    ) -> Result<Listing, S3Error> {
        self.sync_reads()?;
        let buckets = self.read();
        let b = authorize(&buckets, bucket, caller)?;
        let page = list::list(&b.objects, prefix, delimiter, after, max);
        let last = page.entries.last().map(|e| e.name().to_owned());
        let mut listing = Listing {
            objects: Vec::new(),
            common_prefixes: Vec::new(),
            last,
            truncated: page.truncated,
        };
        for entry in page.entries {
            match entry {
                Entry::Object(k, s) => listing.objects.push((k.to_owned(), s.clone())),
                Entry::CommonPrefix(p) => listing.common_prefixes.push(p),
            }
        }
        Ok(listing)
    }
}

fn authorize<'a>(
    buckets: &'a BTreeMap<String, Bucket>,
    bucket: &str,
    caller: Caller<'_>,
) -> Result<&'a Bucket, S3Error> {
    let b = buckets
        .get(bucket)
        .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
    match caller {
        Caller::Account(a) if a != b.meta.owner => Err(S3Error::AccessDenied),
        _ => Ok(b),
    }
}

fn authorize_mut<'a>(
    buckets: &'a mut BTreeMap<String, Bucket>,
    bucket: &str,
    caller: Caller<'_>,
) -> Result<&'a mut Bucket, S3Error> {
    let b = buckets
        .get_mut(bucket)
        .ok_or_else(|| S3Error::NoSuchBucket(bucket.to_owned()))?;
    match caller {
        Caller::Account(a) if a != b.meta.owner => Err(S3Error::AccessDenied),
        _ => Ok(b),
    }
}

fn sync_dir(dir: &Path) -> Result<(), S3Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| S3Error::io("syncing a directory", &e))
}

fn read_header_at(path: &Path) -> Result<ObjectMeta, String> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    Ok(read_header(&mut f)?.0)
}

/// Reads an object file's header, leaving `file` at the start of the body; checks that
/// the body has the size the header says. Returns the metadata and the header length.
fn read_header(file: &mut File) -> Result<(ObjectMeta, u64), String> {
    let mut fixed = [0u8; 12];
    file.read_exact(&mut fixed).map_err(|e| e.to_string())?;
    if &fixed[..8] != MAGIC {
        return Err("not an object file".into());
    }
    let len = u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]);
    if len > MAX_HEADER_BYTES {
        return Err("header too long".into());
    }
    let mut json = vec![0u8; len as usize];
    file.read_exact(&mut json).map_err(|e| e.to_string())?;
    let meta: ObjectMeta = serde_json::from_slice(&json).map_err(|e| e.to_string())?;
    let header = 12 + u64::from(len);
    let total = file.metadata().map_err(|e| e.to_string())?.len();
    if total != header + meta.size {
        return Err("object file size does not match its header".into());
    }
    Ok((meta, header))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn store() -> (tempfile::TempDir, S3) {
        let dir = tempfile::tempdir().unwrap();
        let s3 = S3::open(&dir.path().join("s3")).unwrap();
        (dir, s3)
    }

    pub(super) const A: Caller<'static> = Caller::Account("111111111111");
    pub(super) const B: Caller<'static> = Caller::Account("222222222222");

    #[test]
    fn etag_is_md5_hex() {
        assert_eq!(etag_of(b""), "d41d8cd98f00b204e9800998ecf8427e");
        let (_d, s3) = store();
        s3.create_bucket("bkt", "111111111111", "us-east-1")
            .unwrap();
        let meta = s3
            .put("bkt", "k", b"hello", ObjectAttrs::default(), A)
            .unwrap();
        assert_eq!(meta.quoted_etag(), "\"5d41402abc4b2a76b9719d911017c592\"");
    }

    #[test]
    fn bucket_namespace_is_global() {
        let (_d, s3) = store();
        assert_eq!(
            s3.create_bucket("bkt", "111111111111", "us-east-1"),
            Ok(Created::New)
        );
        assert_eq!(
            s3.create_bucket("bkt", "111111111111", "us-east-1"),
            Ok(Created::AlreadyOwned)
        );
        assert_eq!(
            s3.create_bucket("bkt", "222222222222", "us-east-1"),
            Err(S3Error::BucketAlreadyExists("bkt".into()))
        );
        s3.create_bucket("bkt2", "111111111111", "eu-west-1")
            .unwrap();
        assert_eq!(
            s3.create_bucket("bkt2", "111111111111", "eu-west-1"),
            Err(S3Error::BucketAlreadyOwnedByYou("bkt2".into()))
        );
        assert_eq!(s3.bucket("bkt", B), Err(S3Error::AccessDenied));
        assert_eq!(s3.bucket_owner("bkt").as_deref(), Some("111111111111"));
        assert_eq!(s3.list_buckets("111111111111").len(), 2);
        assert!(s3.list_buckets("222222222222").is_empty());
        assert!(matches!(
            s3.create_bucket("Bad_Name", "1", "us-east-1"),
            Err(S3Error::InvalidBucketName(_))
        ));
    }

    /// Keys are names, not paths: nothing is written outside the bucket's objects dir.
    #[test]
    fn keys_never_escape_the_bucket() {
        let (dir, s3) = store();
        s3.create_bucket("bkt", "111111111111", "us-east-1")
            .unwrap();
        let keys = [
            "../../escape",
            "/etc/passwd",
            "../bkt2/objects/x",
            "a/../../../b",
            "..",
            ".",
            "a\0b",
            "\\..\\windows",
            "ünïcödé/ключ/鍵",
        ];
        for k in keys {
            s3.put("bkt", k, k.as_bytes(), ObjectAttrs::default(), A)
                .unwrap();
        }
        let objects = dir.path().join("s3/bkt/objects");
        let files: Vec<_> = fs::read_dir(&objects).unwrap().flatten().collect();
        assert_eq!(files.len(), keys.len());
        for f in files {
            let name = f.file_name().into_string().unwrap();
            assert_eq!(name.len(), 64);
            assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        // the whole tree holds exactly: .tmp, bkt/bucket.json, bkt/objects/*
        let top: Vec<_> = fs::read_dir(dir.path().join("s3"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(top.len(), 2, "{top:?}");
        assert!(!dir.path().join("escape").exists());
        for k in keys {
            assert_eq!(s3.get("bkt", k, None, A).unwrap().1, k.as_bytes());
        }
    }

    #[test]
    fn objects_survive_reopen() {
        let (dir, s3) = store();
        s3.create_bucket("bkt", "111111111111", "eu-west-1")
            .unwrap();
        let attrs = ObjectAttrs {
            content_type: Some("text/plain".into()),
            metadata: [("a".to_owned(), "b".to_owned())].into(),
            ..ObjectAttrs::default()
        };
        let meta = s3
            .put("bkt", "x/y", b"0123456789", attrs.clone(), A)
            .unwrap();
        s3.put("bkt", "gone", b"", ObjectAttrs::default(), A)
            .unwrap();
        s3.delete("bkt", "gone", A).unwrap();
        drop(s3);
        let s3 = S3::open(&dir.path().join("s3")).unwrap();
        assert_eq!(s3.bucket("bkt", A).unwrap().region, "eu-west-1");
        let head = s3.head("bkt", "x/y", A).unwrap();
        assert_eq!(head, meta);
        assert_eq!(head.attrs, attrs);
        assert_eq!(
            s3.head("bkt", "gone", A),
            Err(S3Error::NoSuchKey("gone".into()))
        );
        let listing = s3.list("bkt", "", "", None, 1000, A).unwrap();
        assert_eq!(listing.objects.len(), 1);
    }

    #[test]
    fn ranges() {
        let (_d, s3) = store();
        s3.create_bucket("bkt", "111111111111", "us-east-1")
            .unwrap();
        s3.put("bkt", "k", b"0123456789", ObjectAttrs::default(), A)
            .unwrap();
        let get = |r| s3.get("bkt", "k", Some(r), A).map(|(_, b, s)| (b, s));
        assert_eq!(
            get(ByteRange::From {
                first: 2,
                last: Some(4)
            })
            .unwrap(),
            (b"234".to_vec(), Some((2, 4)))
        );
        assert_eq!(
            get(ByteRange::From {
                first: 8,
                last: None
            })
            .unwrap()
            .0,
            b"89"
        );
        assert_eq!(
            get(ByteRange::From {
                first: 8,
                last: Some(100)
            })
            .unwrap()
            .0,
            b"89"
        );
        assert_eq!(get(ByteRange::Suffix(3)).unwrap().0, b"789");
        assert_eq!(get(ByteRange::Suffix(30)).unwrap().0, b"0123456789");
        assert_eq!(
            get(ByteRange::From {
                first: 10,
                last: None
            }),
            Err(S3Error::InvalidRange)
        );
        assert_eq!(get(ByteRange::Suffix(0)), Err(S3Error::InvalidRange));
    }

    #[test]
    fn buckets_with_objects_are_not_deleted() {
        let (dir, s3) = store();
        s3.create_bucket("bkt", "111111111111", "us-east-1")
            .unwrap();
        s3.put_object("bkt", "k", b"x".to_vec(), "application/octet-stream")
            .unwrap();
        assert_eq!(
            s3.delete_bucket("bkt", A),
            Err(S3Error::BucketNotEmpty("bkt".into()))
        );
        assert_eq!(s3.delete_bucket("bkt", B), Err(S3Error::AccessDenied));
        assert_eq!(s3.delete("bkt", "k", B), Err(S3Error::AccessDenied));
        s3.delete("bkt", "k", A).unwrap();
        s3.delete("bkt", "never-was", A).unwrap();
        s3.delete_bucket("bkt", A).unwrap();
        assert!(!dir.path().join("s3/bkt").exists());
        assert_eq!(
            s3.put_object("bkt", "k", vec![], "text/plain"),
            Err(S3Error::NoSuchBucket("bkt".into()))
        );
        // the name is free again, for anyone
        s3.create_bucket("bkt", "222222222222", "us-east-1")
            .unwrap();
    }

    #[test]
    fn leftovers_are_cleared_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("s3");
        fs::create_dir_all(root.join(".tmp")).unwrap();
        fs::write(root.join(".tmp/half-written"), b"x").unwrap();
        fs::create_dir_all(root.join("half-created/objects")).unwrap();
        let s3 = S3::open(&root).unwrap();
        assert!(!root.join(".tmp/half-written").exists());
        assert!(!root.join("half-created").exists());
        assert_eq!(s3.bucket_owner("half-created"), None);
    }
}
