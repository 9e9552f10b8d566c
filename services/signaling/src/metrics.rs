//! Prometheus text metrics of one instance, served on `GET /metrics`.
//!
//! Invariant: counters only grow; every name starts with `camview_`. Hand-written
//! exposition keeps the dependency list short; the OTLP pipeline can scrape it.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use camview_proto::ErrorCode;

/// Upper bounds (seconds) of the join-latency histogram.
const JOIN_BUCKETS: [f64; 9] = [0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Join outcomes counted separately; any other code counts as `error`.
const OUTCOMES: [&str; 5] = [
    "answered",
    "stream_full",
    "stream_not_found",
    "unauthorized",
    "error",
];

#[derive(Default)]
pub struct Metrics {
    joins: [AtomicU64; OUTCOMES.len()],
    join_buckets: [AtomicU64; JOIN_BUCKETS.len()],
    join_count: AtomicU64,
    join_micros_sum: AtomicU64,
    releases: AtomicU64,
    rejected_connections: AtomicU64,
}

impl Metrics {
    /// A join finished with `outcome` (None = answered) after `took`.
    pub fn join_finished(&self, outcome: Option<ErrorCode>, took: Duration) {
        let label = match outcome {
            None => "answered",
            Some(ErrorCode::StreamFull) => "stream_full",
            Some(ErrorCode::StreamNotFound) => "stream_not_found",
            Some(ErrorCode::Unauthorized) => "unauthorized",
            Some(_) => "error",
        };
        let i = OUTCOMES
            .iter()
            .position(|o| *o == label)
            .unwrap_or(OUTCOMES.len() - 1);
        self.joins[i].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (bound, bucket) in JOIN_BUCKETS.iter().zip(&self.join_buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.join_count.fetch_add(1, Ordering::Relaxed);
        self.join_micros_sum.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    pub fn released(&self) {
        self.releases.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_rejected(&self) {
        self.rejected_connections.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text, with the live gauges passed in.
    pub fn render(&self, instance: &str, connections: usize, viewers: usize) -> String {
        let mut out = String::new();
        let l = format!("instance=\"{instance}\"");
        // invariant: writing to a String cannot fail
        let _ = writeln!(out, "# HELP camview_signaling_connections Open viewer WebSockets.\n# TYPE camview_signaling_connections gauge");
        let _ = writeln!(out, "camview_signaling_connections{{{l}}} {connections}");
        let _ = writeln!(out, "# HELP camview_viewers_active Viewers held by this signaling instance.\n# TYPE camview_viewers_active gauge");
        let _ = writeln!(out, "camview_viewers_active{{{l}}} {viewers}");
        let _ = writeln!(out, "# HELP camview_signaling_joins_total Joins by outcome.\n# TYPE camview_signaling_joins_total counter");
        for (name, n) in OUTCOMES.iter().zip(&self.joins) {
            let _ = writeln!(
                out,
                "camview_signaling_joins_total{{{l},outcome=\"{name}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(out, "# HELP camview_viewer_join_seconds Time from join to answer or error.\n# TYPE camview_viewer_join_seconds histogram");
        for (bound, n) in JOIN_BUCKETS.iter().zip(&self.join_buckets) {
            let _ = writeln!(
                out,
                "camview_viewer_join_seconds_bucket{{{l},le=\"{bound}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let count = self.join_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "camview_viewer_join_seconds_bucket{{{l},le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "camview_viewer_join_seconds_sum{{{l}}} {}",
            self.join_micros_sum.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "camview_viewer_join_seconds_count{{{l}}} {count}");
        let _ = writeln!(out, "# HELP camview_signaling_releases_total Viewers released by this instance.\n# TYPE camview_signaling_releases_total counter");
        let _ = writeln!(
            out,
            "camview_signaling_releases_total{{{l}}} {}",
            self.releases.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP camview_signaling_rejected_connections_total Sockets refused at the connection limit or during shutdown.\n# TYPE camview_signaling_rejected_connections_total counter");
        let _ = writeln!(
            out,
            "camview_signaling_rejected_connections_total{{{l}}} {}",
            self.rejected_connections.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_are_counted_by_outcome_and_timed_in_cumulative_buckets() {
        let m = Metrics::default();
        m.join_finished(None, Duration::from_millis(30));
        m.join_finished(Some(ErrorCode::StreamFull), Duration::from_millis(3));
        m.join_finished(
            Some(ErrorCode::ControllerUnavailable),
            Duration::from_secs(20),
        );
        let text = m.render("sig-1", 2, 1);
        assert!(
            text.contains(
                "camview_signaling_joins_total{instance=\"sig-1\",outcome=\"answered\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("outcome=\"stream_full\"} 1"));
        assert!(text.contains("outcome=\"error\"} 1"));
        assert!(
            text.contains("camview_viewer_join_seconds_bucket{instance=\"sig-1\",le=\"0.01\"} 1")
        );
        assert!(
            text.contains("camview_viewer_join_seconds_bucket{instance=\"sig-1\",le=\"0.05\"} 2")
        );
        assert!(text.contains("le=\"+Inf\"} 3"));
        assert!(text.contains("camview_signaling_connections{instance=\"sig-1\"} 2"));
        assert!(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| l.starts_with("camview_")));
    }
}
