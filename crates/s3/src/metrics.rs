//! S3 counters for `/metrics`, in Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};

/// The process's S3 counters.
pub static METRICS: LazyLock<S3Metrics> = LazyLock::new(S3Metrics::default);

#[derive(Default)]
pub struct S3Metrics {
    objects_written: AtomicU64,
    bytes_written: AtomicU64,
    objects_deleted: AtomicU64,
    /// By (operation, result code): both from fixed sets, so the map stays small.
    requests: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl S3Metrics {
    pub(crate) fn object_written(&self, bytes: u64) {
        self.objects_written.fetch_add(1, Ordering::Relaxed);
        self.bytes_written.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn object_deleted(&self) {
        self.objects_deleted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn request(&self, operation: &'static str, code: &'static str) {
        let mut map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *map.entry((operation, code)).or_default() += 1;
    }

    /// Objects written so far (through the API or Fort's own writer).
    pub fn objects_written(&self) -> u64 {
        self.objects_written.load(Ordering::Relaxed)
    }

    pub fn render(&self, out: &mut String) {
        for (name, help, value) in [
            (
                "fort_s3_objects_written_total",
                "S3 objects stored (PutObject and Fort's own deliveries).",
                &self.objects_written,
            ),
            (
                "fort_s3_bytes_written_total",
                "Bytes of S3 object bodies stored.",
                &self.bytes_written,
            ),
            (
                "fort_s3_objects_deleted_total",
                "S3 objects deleted.",
                &self.objects_deleted,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        out.push_str(
            "# HELP fort_s3_requests_total S3 API requests by operation and result code.\n",
        );
        out.push_str("# TYPE fort_s3_requests_total counter\n");
        let map = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        for ((op, code), n) in map.iter() {
            let _ = writeln!(
                out,
                "fort_s3_requests_total{{operation=\"{op}\",code=\"{code}\"}} {n}"
            );
        }
    }
}
