//! Prometheus text metrics of one API instance, served on `GET /metrics`.
//!
//! Invariants: counters only grow; every name starts with `camview_`; label values come
//! from bounded sets (route patterns, standard methods, status codes, command kinds), never
//! from raw client input. Hand-written exposition, as in signaling, keeps dependencies short.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the request-latency histogram.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// How a request to the media-controller ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ControllerOutcome {
    Ok,
    Failed,
    Timeout,
    Unavailable,
}

impl ControllerOutcome {
    fn as_str(self) -> &'static str {
        match self {
            ControllerOutcome::Ok => "ok",
            ControllerOutcome::Failed => "failed",
            ControllerOutcome::Timeout => "timeout",
            ControllerOutcome::Unavailable => "unavailable",
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    /// (method, route pattern, status) -> count.
    requests: Mutex<BTreeMap<(&'static str, String, u16), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    micros_sum: AtomicU64,
    /// (command kind, outcome) -> count.
    controller: Mutex<BTreeMap<(&'static str, ControllerOutcome), u64>>,
}

/// Registry figures read at scrape time; None when the registry did not answer.
pub struct Gauges {
    pub streams: Option<u64>,
    pub viewers: Option<u64>,
}

impl Metrics {
    /// A request finished. `route` is the matched pattern (e.g. `/streams/{camera_id}`).
    pub fn request_finished(&self, method: &str, route: Option<&str>, status: u16, took: Duration) {
        let method = bounded_method(method);
        let route = route.unwrap_or("unmatched").to_owned();
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((method, route, status))
            .or_default() += 1;
        let secs = took.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.micros_sum.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// A command to the media-controller ended with `outcome`.
    pub fn controller_request(&self, kind: &'static str, outcome: ControllerOutcome) {
        *self
            .controller
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((kind, outcome))
            .or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::new();
        // invariant: writing to a String cannot fail, so the results are ignored below
        let _ = writeln!(out, "# HELP camview_api_requests_total HTTP requests by method, route and status.\n# TYPE camview_api_requests_total counter");
        for ((method, route, status), n) in self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(out, "camview_api_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}", escape(route));
        }
        let _ = writeln!(out, "# HELP camview_api_request_seconds HTTP request latency.\n# TYPE camview_api_request_seconds histogram");
        for (bound, n) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                out,
                "camview_api_request_seconds_bucket{{le=\"{bound}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "camview_api_request_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "camview_api_request_seconds_sum {}",
            self.micros_sum.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "camview_api_request_seconds_count {count}");
        let _ = writeln!(out, "# HELP camview_api_controller_requests_total Commands sent to the media-controller by outcome.\n# TYPE camview_api_controller_requests_total counter");
        for ((kind, outcome), n) in self
            .controller
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "camview_api_controller_requests_total{{command=\"{kind}\",outcome=\"{}\"}} {n}",
                outcome.as_str()
            );
        }
        let _ = writeln!(out, "# HELP camview_api_registry_up Whether the registry answered this scrape.\n# TYPE camview_api_registry_up gauge");
        let up = gauges.streams.is_some() && gauges.viewers.is_some();
        let _ = writeln!(out, "camview_api_registry_up {}", u8::from(up));
        if let Some(streams) = gauges.streams {
            let _ = writeln!(out, "# HELP camview_streams_active Started streams in the registry.\n# TYPE camview_streams_active gauge");
            let _ = writeln!(out, "camview_streams_active {streams}");
        }
        if let Some(viewers) = gauges.viewers {
            let _ = writeln!(out, "# HELP camview_viewers_total Viewers of all streams in the registry.\n# TYPE camview_viewers_total gauge");
            let _ = writeln!(out, "camview_viewers_total {viewers}");
        }
        out
    }
}

/// Standard methods keep their name; anything else is `other`.
fn bounded_method(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

/// Label values escape `\`, `"` and newlines.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_route_pattern_and_odd_methods_are_folded() {
        let m = Metrics::default();
        m.request_finished(
            "GET",
            Some("/streams/{camera_id}"),
            200,
            Duration::from_millis(3),
        );
        m.request_finished(
            "GET",
            Some("/streams/{camera_id}"),
            200,
            Duration::from_millis(30),
        );
        m.request_finished("BREW", None, 404, Duration::from_millis(1));
        let text = m.render(&Gauges {
            streams: Some(2),
            viewers: Some(5),
        });
        assert!(text.contains("camview_api_requests_total{method=\"GET\",route=\"/streams/{camera_id}\",status=\"200\"} 2"), "{text}");
        assert!(
            text.contains(
                "camview_api_requests_total{method=\"other\",route=\"unmatched\",status=\"404\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("camview_api_request_seconds_bucket{le=\"0.005\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("camview_api_request_seconds_count 3"),
            "{text}"
        );
        assert!(
            text.contains("camview_streams_active 2") && text.contains("camview_viewers_total 5"),
            "{text}"
        );
        assert!(text.contains("camview_api_registry_up 1"), "{text}");
    }

    #[test]
    fn controller_outcomes_are_counted_and_a_silent_registry_shows_as_down() {
        let m = Metrics::default();
        m.controller_request("StartStream", ControllerOutcome::Timeout);
        let text = m.render(&Gauges {
            streams: None,
            viewers: None,
        });
        assert!(text.contains("camview_api_controller_requests_total{command=\"StartStream\",outcome=\"timeout\"} 1"), "{text}");
        assert!(text.contains("camview_api_registry_up 0"), "{text}");
        assert!(!text.contains("camview_streams_active"), "{text}");
    }

    #[test]
    fn every_metric_name_starts_with_camview() {
        let text = Metrics::default().render(&Gauges {
            streams: Some(0),
            viewers: Some(0),
        });
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("camview_"), "{line}");
        }
    }
}
