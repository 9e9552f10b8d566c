//! The API's instruments (docs/observability.md), recorded through the shared OTel meter and
//! served with every other instrument of the process on `GET /metrics`.
//!
//! Invariant: label values come from bounded sets (route patterns, standard methods, status
//! codes, command kinds), never from raw client input.

use std::time::Duration;

use camview_common::telemetry::{meter, SECONDS_BUCKETS};
use camview_common::BusError;
use camview_proto::bus::Message;
use opentelemetry::metrics::{Counter, Histogram};
use opentelemetry::KeyValue;

/// How a request to the media-controller ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ControllerOutcome {
    Ok,
    Failed,
    Timeout,
    Unavailable,
}

impl ControllerOutcome {
    /// The outcome of a bus request's result: a `Failed` reply, a timeout, or no bus.
    pub fn of(result: &Result<Message, BusError>) -> Self {
        match result {
            Ok(Message::Failed(_)) => ControllerOutcome::Failed,
            Ok(_) => ControllerOutcome::Ok,
            Err(BusError::Timeout { .. }) => ControllerOutcome::Timeout,
            Err(_) => ControllerOutcome::Unavailable,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            ControllerOutcome::Ok => "ok",
            ControllerOutcome::Failed => "failed",
            ControllerOutcome::Timeout => "timeout",
            ControllerOutcome::Unavailable => "unavailable",
        }
    }
}

/// `camview_http_requests_total`, `camview_http_request_duration_seconds`,
/// `camview_controller_requests_total`. Clones share the instruments (the snapshot service
/// counts its tap requests with one).
#[derive(Clone)]
pub struct Metrics {
    requests: Counter<u64>,
    duration: Histogram<f64>,
    controller: Counter<u64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let meter = meter("camview-api");
        Metrics {
            requests: meter
                .u64_counter("camview_http_requests_total")
                .with_description("HTTP requests by route pattern")
                .build(),
            duration: meter
                .f64_histogram("camview_http_request_duration_seconds")
                .with_unit("s")
                .with_description("HTTP request latency")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            controller: meter
                .u64_counter("camview_controller_requests_total")
                .with_description("bus requests to the controller by command and outcome")
                .build(),
        }
    }
}

impl Metrics {
    /// A request finished. `route` is the matched pattern (e.g. `/streams/{camera_id}`).
    pub fn request_finished(&self, method: &str, route: Option<&str>, status: u16, took: Duration) {
        let method = KeyValue::new("method", bounded_method(method));
        let route = KeyValue::new("route", route.unwrap_or("unmatched").to_owned());
        self.requests.add(1, &[method.clone(), route.clone(), KeyValue::new("status", i64::from(status))]);
        self.duration.record(took.as_secs_f64(), &[method, route]);
    }

    /// A command to the media-controller ended with `outcome`.
    pub fn controller_request(&self, kind: &'static str, outcome: ControllerOutcome) {
        self.controller.add(1, &[KeyValue::new("command", kind), KeyValue::new("outcome", outcome.as_str())]);
    }
}

/// Standard methods keep their name; anything else is `other`.
fn bounded_method(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE"];
    KNOWN.iter().find(|m| **m == method).copied().unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;
    use camview_common::telemetry::prometheus_text;

    // The registry is process-wide: each test uses label values no other test uses.

    #[test]
    fn requests_are_counted_by_route_pattern_and_odd_methods_are_folded() {
        let m = Metrics::default();
        m.request_finished("GET", Some("/unit/{a}"), 200, Duration::from_millis(3));
        m.request_finished("GET", Some("/unit/{a}"), 200, Duration::from_millis(30));
        m.request_finished("BREW", Some("/unit/brew"), 404, Duration::from_millis(1));
        let text = prometheus_text();
        assert!(
            text.contains(r#"camview_http_requests_total{method="GET",route="/unit/{a}",status="200"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"camview_http_requests_total{method="other",route="/unit/brew",status="404"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"camview_http_request_duration_seconds_bucket{method="GET",route="/unit/{a}",le="0.005"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"camview_http_request_duration_seconds_count{method="GET",route="/unit/{a}"} 2"#),
            "{text}"
        );
    }

    #[test]
    fn controller_outcomes_are_counted_by_command() {
        let m = Metrics::default();
        m.controller_request("UnitCommand", ControllerOutcome::Timeout);
        let text = prometheus_text();
        assert!(
            text.contains(r#"camview_controller_requests_total{command="UnitCommand",outcome="timeout"} 1"#),
            "{text}"
        );
    }
}
