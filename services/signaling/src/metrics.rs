//! Signaling's instruments (docs/observability.md), recorded through the shared OTel meter
//! and served with every other instrument of the process on `GET /metrics`.
//!
//! Invariants: label values come from bounded sets (error codes, remove reasons, phases);
//! the two gauges are up-down counters moved by guards and route changes, so several hubs in
//! one process (tests, all-in-one) add up instead of overwriting each other.

use std::time::Duration;

use camview_common::telemetry::{meter, SECONDS_BUCKETS};
use camview_proto::bus::RemoveReason;
use camview_proto::ErrorCode;
use opentelemetry::metrics::{Counter, Histogram, UpDownCounter};
use opentelemetry::KeyValue;

/// Which part of a join [`Metrics::join_phase`] timed, from the viewer's offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinPhase {
    /// The answer went to the browser.
    Answer,
    /// The media-controller reported the viewer connected (media flowing).
    Media,
}

/// Why a socket was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Limit,
    Shutdown,
    /// A foreign `Origin` on the upgrade (403, not upgraded).
    Origin,
    /// Too many upgrades from one client address (429, not upgraded).
    RateLimited,
}

pub struct Metrics {
    connections: UpDownCounter<i64>,
    viewers: UpDownCounter<i64>,
    joins: Counter<u64>,
    join_seconds: Histogram<f64>,
    releases: Counter<u64>,
    rejected: Counter<u64>,
    revoked: Counter<u64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let meter = meter("camview-signaling");
        Metrics {
            connections: meter
                .i64_up_down_counter("camview_signaling_connections")
                .with_description("open viewer WebSockets")
                .build(),
            viewers: meter
                .i64_up_down_counter("camview_viewers_active")
                .with_description("viewers held by this instance")
                .build(),
            joins: meter
                .u64_counter("camview_viewer_joins_total")
                .with_description("joins by outcome (ok or the error code)")
                .build(),
            join_seconds: meter
                .f64_histogram("camview_viewer_join_seconds")
                .with_unit("s")
                .with_description("from the viewer's offer to the answer sent, and to the viewer connected")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            releases: meter
                .u64_counter("camview_signaling_releases_total")
                .with_description("viewers released by this instance")
                .build(),
            rejected: meter
                .u64_counter("camview_signaling_rejected_connections_total")
                .with_description("sockets refused (limit, shutdown, origin, rate_limited)")
                .build(),
            revoked: meter
                .u64_counter("camview_signaling_revoked_viewers_total")
                .with_description("live viewers ended because their access was revoked")
                .build(),
        }
    }
}

/// Counts one open socket until dropped.
pub struct OpenConnection(UpDownCounter<i64>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.add(-1, &[]);
    }
}

impl Metrics {
    /// A join ended: `None` is success.
    pub fn join_finished(&self, error: Option<ErrorCode>) {
        let outcome = error.map_or("ok", ErrorCode::as_str);
        self.joins.add(1, &[KeyValue::new("outcome", outcome)]);
    }

    pub fn join_phase(&self, phase: JoinPhase, took: Duration) {
        let phase = match phase {
            JoinPhase::Answer => "answer",
            JoinPhase::Media => "media",
        };
        self.join_seconds.record(took.as_secs_f64(), &[KeyValue::new("phase", phase)]);
    }

    pub fn released(&self, reason: RemoveReason) {
        let reason = match reason {
            RemoveReason::Left => "left",
            RemoveReason::SocketClosed => "socket_closed",
            RemoveReason::Failed => "failed",
            RemoveReason::InstanceDead => "instance_dead",
            RemoveReason::ShuttingDown => "shutting_down",
        };
        self.releases.add(1, &[KeyValue::new("reason", reason)]);
    }

    pub fn connection_rejected(&self, why: Rejection) {
        let reason = match why {
            Rejection::Limit => "limit",
            Rejection::Shutdown => "shutdown",
            Rejection::Origin => "origin",
            Rejection::RateLimited => "rate_limited",
        };
        self.rejected.add(1, &[KeyValue::new("reason", reason)]);
    }

    /// A live viewer was ended because it lost access.
    pub fn viewer_revoked(&self) {
        self.revoked.add(1, &[]);
    }

    /// A socket opened; it counts until the guard is dropped.
    pub fn connection_opened(&self) -> OpenConnection {
        self.connections.add(1, &[]);
        OpenConnection(self.connections.clone())
    }

    /// A viewer started (+1) or stopped (-1) being routed to a socket of this instance.
    pub fn viewers_changed(&self, delta: i64) {
        self.viewers.add(delta, &[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camview_common::telemetry::prometheus_text;

    fn value(text: &str, series: &str) -> f64 {
        camview_common::testing::series(text, series).unwrap_or(0.0)
    }

    // One test owns these series in this binary's registry, so exact values hold.
    #[test]
    fn joins_are_counted_by_outcome_phases_timed_and_gauges_follow_guards() {
        let m = Metrics::default();
        m.join_finished(None);
        m.join_finished(Some(ErrorCode::StreamFull));
        m.join_phase(JoinPhase::Answer, Duration::from_millis(30));
        m.join_phase(JoinPhase::Media, Duration::from_millis(300));
        m.released(RemoveReason::Left);
        m.connection_rejected(Rejection::Limit);
        let open = m.connection_opened();
        let _second = m.connection_opened();
        drop(open);
        m.viewers_changed(1);
        let text = prometheus_text();
        for (series, want) in [
            (r#"camview_viewer_joins_total{outcome="ok"}"#, 1.0),
            (r#"camview_viewer_joins_total{outcome="stream_full"}"#, 1.0),
            (r#"camview_viewer_join_seconds_bucket{phase="answer",le="0.05"}"#, 1.0),
            (r#"camview_viewer_join_seconds_bucket{phase="media",le="0.25"}"#, 0.0),
            (r#"camview_viewer_join_seconds_count{phase="media"}"#, 1.0),
            (r#"camview_signaling_releases_total{reason="left"}"#, 1.0),
            (r#"camview_signaling_rejected_connections_total{reason="limit"}"#, 1.0),
            ("camview_signaling_connections", 1.0),
            ("camview_viewers_active", 1.0),
        ] {
            assert_eq!(value(&text, series), want, "{series} in\n{text}");
        }
    }
}
