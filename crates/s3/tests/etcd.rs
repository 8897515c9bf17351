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

/// Keys under `prefix` in the store once they number `want` (every server deletes what
/// it retired just after applying), or after 5 s.
async fn keys_in_store(store: &Arc<dyn Store>, prefix: &str, want: usize) -> usize {
    let mut n = 0;
    for _ in 0..250 {
        n = store.range(prefix.as_bytes()).await.unwrap().kvs.len();
        if n == want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_and_deleted_objects_leave_the_store() {
    let (_etcd, store) = fort_store::etcd!();
    let store: Arc<dyn Store> = Arc::new(store);
    let roots = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    // room for two 2 MiB bodies, not three
    let quota = 5 << 20;
    let a = S3::open_shared(&roots[0].path().join("s3"), store.clone(), quota)
        .await
        .unwrap();
    let b = S3::open_shared(&roots[1].path().join("s3"), store.clone(), quota)
        .await
        .unwrap();
    let last = body(2 << 20, 99);
    let (a2, b2, want) = (a.clone(), b.clone(), last.clone());
    blocking(move || {
        a2.create_bucket("bkt", "111122223333", "us-east-1")
            .unwrap();
        // ten 2 MiB versions of one key through both servers: only the last is kept
        for i in 0..10u32 {
            let s = if i % 2 == 0 { &a2 } else { &b2 };
            let data = if i == 9 {
                want.clone()
            } else {
                body(2 << 20, i)
            };
            s.put("bkt", "k", &data, ObjectAttrs::default(), ME)
                .unwrap();
        }
        // a copy keeps the original's operation alive after the original goes
        b2.copy(("bkt", "k"), ("bkt", "c"), None, ME).unwrap();
        a2.delete("bkt", "k", ME).unwrap();
        assert!(b2.get("bkt", "c", None, ME).unwrap().1 == want);
        // a multipart upload, completed then deleted; another aborted
        let id = a2
            .create_upload("bkt", "mp", ObjectAttrs::default(), ME)
            .unwrap();
        // one part: the last part, which may be small
        let p1 = body(100_000, 7);
        // part 1 twice: the second replaces the first
        b2.upload_part("bkt", "mp", &id, 1, &p1, ME).unwrap();
        let e1 = a2.upload_part("bkt", "mp", &id, 1, &p1, ME).unwrap();
        a2.complete_upload("bkt", "mp", &id, &[(1, e1)], ME)
            .unwrap();
        b2.delete("bkt", "mp", ME).unwrap();
        let id = b2
            .create_upload("bkt", "ab", ObjectAttrs::default(), ME)
            .unwrap();
        a2.upload_part("bkt", "ab", &id, 1, b"part", ME).unwrap();
        b2.abort_upload("bkt", "ab", &id, ME).unwrap();
        // failed writes leave nothing either
        assert!(
            a2.put("none", "x", b"x", ObjectAttrs::default(), ME)
                .is_err()
        );
        assert_eq!(keys(&a2), ["c"]);
    })
    .await;
    // left: the bucket's creation, the last put of k (the copy's source) and its delete
    // (which must stay while that put does), and the copy; the put's body in 3 chunks
    assert_eq!(keys_in_store(&store, "/fort/s3/op/", 4).await, 4);
    assert_eq!(keys_in_store(&store, "/fort/s3/blob/", 3).await, 3);
    // both servers up to date (a read waits for that), then they count the same bytes
    let (a2, b2) = (a.clone(), b.clone());
    blocking(move || (keys(&a2), keys(&b2))).await;
    assert_eq!(a.used_bytes(), b.used_bytes());
    assert!(a.used_bytes() < 3 << 20, "{} bytes", a.used_bytes());

    // a server starting now rebuilds the same from what is left
    let root = tempfile::tempdir().unwrap();
    let c = S3::open_shared(&root.path().join("s3"), store.clone(), quota)
        .await
        .unwrap();
    let (a2, c2) = (a.clone(), c.clone());
    blocking(move || {
        assert_eq!(keys(&c2), ["c"]);
        assert!(c2.get("bkt", "c", None, ME).unwrap().1 == last);
        assert_eq!(c2.head("bkt", "k", ME).unwrap_err().code(), "NoSuchKey");
        // the copy deleted, the bucket deleted: nothing is left at all
        c2.delete("bkt", "c", ME).unwrap();
        a2.delete_bucket("bkt", ME).unwrap();
    })
    .await;
    assert_eq!(keys_in_store(&store, "/fort/s3/op/", 0).await, 0);
    assert_eq!(keys_in_store(&store, "/fort/s3/blob/", 0).await, 0);
    let c2 = c.clone();
    blocking(move || c2.bucket_owner("bkt")).await;
    assert_eq!(c.used_bytes(), 0);
    drop((a, b));
}
