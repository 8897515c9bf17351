//! Request counters of the EC2 API, in Prometheus text format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// The process's API counters.
pub static API: LazyLock<ApiMetrics> = LazyLock::new(ApiMetrics::default);

/// Requests by (action, result code): count and total seconds.
#[derive(Default)]
pub struct ApiMetrics {
    requests: Mutex<BTreeMap<(String, String), (u64, f64)>>,
}

impl ApiMetrics {
    pub fn record(&self, action: &str, code: &str, elapsed: Duration) {
        // Unknown actions are counted under one name: a client must not grow the map.
        let action = if crate::actions::is_action(action) {
            action
        } else {
            "unknown"
        };
        let mut map = self.requests.lock().expect("metrics lock");
        let entry = map.entry((action.to_owned(), code.to_owned())).or_default();
        entry.0 += 1;
        entry.1 += elapsed.as_secs_f64();
    }

    pub fn render(&self, out: &mut String) {
        let map = self.requests.lock().expect("metrics lock");
        out.push_str(
            "# HELP fort_api_requests_total EC2 API requests by action and result code.\n",
        );
        out.push_str("# TYPE fort_api_requests_total counter\n");
        for ((action, code), (n, _)) in map.iter() {
            let _ = writeln!(
                out,
                "fort_api_requests_total{{action=\"{action}\",code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP fort_api_request_seconds_total Time spent answering, by action.\n");
        out.push_str("# TYPE fort_api_request_seconds_total counter\n");
        let mut by_action: BTreeMap<&str, f64> = BTreeMap::new();
        for ((action, _), (_, secs)) in map.iter() {
            *by_action.entry(action).or_default() += secs;
        }
        for (action, secs) in by_action {
            let _ = writeln!(
                out,
                "fort_api_request_seconds_total{{action=\"{action}\"}} {secs:.6}"
            );
        }
    }
}
