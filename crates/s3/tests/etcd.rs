//! S3 on etcd: several servers (several [`S3`] on one etcd) serve the same buckets and
//! objects, bodies of several chunks included; a server starting on an empty disk rebuilds
//! them from etcd; the byte quota answers 503 ServiceUnavailable.

use std::sync::Arc;

use fort_s3::store::MIN_PART_BYTES;
use fort_s3::{Caller, ObjectAttrs, S3};
use fort_store::Store;

const ME: Caller<'static> = Caller::Account("111122223333");

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// Bytes no two chunks of which are alike.
fn body(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

fn keys(s3: &S3) -> Vec<String> {
    s3.list("bkt", "", "", None, 1000, ME)
        .unwrap()
        .objects
        .into_iter()
        .map(|(k, _)| k)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_share_buckets_and_objects() {
    let (_etcd, store) = fort_store::etcd!();
    let store: Arc<dyn Store> = Arc::new(store);
    let roots = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let a = S3::open_shared(&roots[0].path().join("s3"), store.clone(), 1 << 30)
        .await
        .unwrap();
    let b = S3::open_shared(&roots[1].path().join("s3"), store.clone(), 1 << 30)
        .await
        .unwrap();
    let big = body((3 << 20) + 12_345, 1);
    let (a2, b2, data) = (a.clone(), b.clone(), big.clone());
    blocking(move || {
        a2.create_bucket("bkt", "111122223333", "us-east-1")
            .unwrap();
        let meta = b2
            .put(
                "bkt",
                "dir/big",
                &data,
                ObjectAttrs {
                    content_type: Some("application/octet-stream".into()),
                    ..ObjectAttrs::default()
                },
                ME,
            )
            .unwrap();
        assert_eq!(meta.etag, fort_s3::store::etag_of(&data));
        let (got, bytes, _) = a2.get("bkt", "dir/big", None, ME).unwrap();
        assert_eq!(got, meta, "the same metadata (time included) on both");
        assert!(
            bytes == data,
            "the body read through the other server differs"
        );
        // a multipart upload whose steps go through different servers
        let id = a2
            .create_upload("bkt", "mp", ObjectAttrs::default(), ME)
            .unwrap();
        let p1 = body(usize::try_from(MIN_PART_BYTES).unwrap(), 2);
        let p2 = body(1000, 3);
        let e1 = b2.upload_part("bkt", "mp", &id, 1, &p1, ME).unwrap();
        let e2 = a2.upload_part("bkt", "mp", &id, 2, &p2, ME).unwrap();
        b2.complete_upload("bkt", "mp", &id, &[(1, e1), (2, e2)], ME)
            .unwrap();
        let whole: Vec<u8> = [p1, p2].concat();
        assert!(a2.get("bkt", "mp", None, ME).unwrap().1 == whole);
        // copy through one, delete through the other
        b2.copy(("bkt", "dir/big"), ("bkt", "copy"), None, ME)
            .unwrap();
        a2.put("bkt", "gone", b"x", ObjectAttrs::default(), ME)
            .unwrap();
        b2.delete("bkt", "gone", ME).unwrap();
        assert_eq!(keys(&a2), ["copy", "dir/big", "mp"]);
        assert_eq!(keys(&b2), ["copy", "dir/big", "mp"]);
        assert_eq!(a2.head("bkt", "gone", ME).unwrap_err().code(), "NoSuchKey");
        assert_eq!(
            b2.create_bucket("bkt", "444455556666", "us-east-1")
                .unwrap_err()
                .code(),
            "BucketAlreadyExists"
        );
    })
    .await;

    // a server starting on an empty disk rebuilds everything from etcd
    let root = tempfile::tempdir().unwrap();
    let c = S3::open_shared(&root.path().join("s3"), store.clone(), 1 << 30)
        .await
        .unwrap();
    blocking(move || {
        assert_eq!(keys(&c), ["copy", "dir/big", "mp"]);
        assert!(c.get("bkt", "copy", None, ME).unwrap().1 == big);
        assert_eq!(c.bucket_owner("bkt").as_deref(), Some("111122223333"));
    })
    .await;
    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_answers_service_unavailable() {
    let (_etcd, store) = fort_store::etcd!();
    let store: Arc<dyn Store> = Arc::new(store);
    let root = tempfile::tempdir().unwrap();
    let s3 = S3::open_shared(&root.path().join("s3"), store, 3 << 20)
        .await
        .unwrap();
    blocking(move || {
        s3.create_bucket("bkt", "111122223333", "us-east-1")
            .unwrap();
        s3.put("bkt", "a", &body(2 << 20, 4), ObjectAttrs::default(), ME)
            .unwrap();
        let err = s3
            .put("bkt", "b", &body(2 << 20, 5), ObjectAttrs::default(), ME)
            .unwrap_err();
        assert_eq!((err.code(), err.status()), ("ServiceUnavailable", 503));
        assert_eq!(keys(&s3), ["a"]);
    })
    .await;
}
