//! The media-controller's instruments (names from `docs/observability.md`).
//!
//! Instrument names are exactly the Prometheus names (the shared exporter adds no suffix).
//! `camview_errors_total` and `camview_bus_lag_seconds` are shared with other services and
//! recorded through `camview_common::telemetry`.
//!
//! Stream and viewer gauges are observed from [`Holdings`], a local copy of what this instance
//! manages: a standby holds nothing and reports 0 streams; the leader refreshes it from the
//! registry (the source of truth) after each command and on every heartbeat.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableGauge};
use opentelemetry::KeyValue;

/// Scope name of the controller's meter.
pub const SCOPE: &str = "camview-media-controller";

use camview_common::telemetry::SECONDS_BUCKETS;

/// What this instance manages now, as the gauges report it.
#[derive(Debug, Default)]
struct Holdings {
    leader: bool,
    /// Viewers per managed stream; a key per stream.
    viewers: BTreeMap<String, u64>,
}

/// Instruments of the Kurento JSON-RPC client.
#[derive(Clone)]
pub struct RpcMetrics {
    seconds: Histogram<f64>,
    errors: Counter<u64>,
}

impl RpcMetrics {
    pub fn new(meter: &Meter) -> Self {
        Self {
            seconds: meter
                .f64_histogram("camview_kurento_rpc_seconds")
                .with_unit("s")
                .with_description("Kurento JSON-RPC latency, seconds")
                .with_boundaries(SECONDS_BUCKETS.to_vec())
                .build(),
            errors: meter
                .u64_counter("camview_kurento_rpc_errors_total")
                .with_description("Kurento JSON-RPC error replies and transport failures")
                .build(),
        }
    }

    /// Records one finished request; `error` is the failure's code label, if it failed.
    pub fn record(&self, method: &'static str, operation: &str, elapsed: Duration, error: Option<&str>) {
        let method = KeyValue::new("method", method);
        self.seconds.record(elapsed.as_secs_f64(), &[method.clone(), KeyValue::new("operation", operation.to_owned())]);
        if let Some(code) = error {
            self.errors.add(1, &[method, KeyValue::new("code", code.to_owned())]);
        }
    }
}

/// Outcome label of a stream start or stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    Ok,
    /// A start of a stream that already existed.
    AlreadyStarted,
    /// The error code answered.
    Failed(&'a str),
}

impl Outcome<'_> {
    fn label(&self) -> String {
        match self {
            Outcome::Ok => "ok".into(),
            Outcome::AlreadyStarted => "already_started".into(),
            Outcome::Failed(code) => (*code).to_owned(),
        }
    }
}

/// Instruments of the controller service; cheap to clone.
#[derive(Clone)]
pub struct ControllerMetrics {
    holdings: Arc<Mutex<Holdings>>,
    starts: Counter<u64>,
    stops: Counter<u64>,
    ice_failures: Counter<u64>,
    dropped: Counter<u64>,
    /// Kept so the callbacks stay registered as long as the metrics live.
    _gauges: Arc<[ObservableGauge<u64>; 3]>,
}

impl ControllerMetrics {
    pub fn new(meter: &Meter) -> Self {
        let holdings: Arc<Mutex<Holdings>> = Arc::default();
        let h = holdings.clone();
        let streams = meter
            .u64_observable_gauge("camview_streams_active")
            .with_description("streams the leader manages (not stopped)")
            .with_callback(move |o| o.observe(lock(&h).viewers.len() as u64, &[]))
            .build();
        let h = holdings.clone();
        let viewers = meter
            .u64_observable_gauge("camview_stream_viewers")
            .with_description("viewers per stream")
            .with_callback(move |o| {
                for (camera, n) in &lock(&h).viewers {
                    o.observe(*n, &[KeyValue::new("camera_id", camera.clone())]);
                }
            })
            .build();
        let h = holdings.clone();
        let leader = meter
            .u64_observable_gauge("camview_controller_leader")
            .with_description("1 on the leader, 0 on a standby")
            .with_callback(move |o| o.observe(u64::from(lock(&h).leader), &[]))
            .build();
        let ice_failures =
            meter.u64_counter("camview_ice_failures_total").with_description("viewers whose ICE failed").build();
        // Unlabelled, so it can start at 0: the series exists before the first failure.
        ice_failures.add(0, &[]);
        Self {
            holdings,
            starts: meter
                .u64_counter("camview_stream_starts_total")
                .with_description("stream starts by outcome")
                .build(),
            stops: meter.u64_counter("camview_stream_stops_total").with_description("stream stops by outcome").build(),
            ice_failures,
            dropped: meter
                .u64_counter("camview_controller_commands_dropped_total")
                .with_description(
                    "commands not executed, by reason: expired (read after the sender's deadline) or panicked",
                )
                .build(),
            _gauges: Arc::new([streams, viewers, leader]),
        }
    }

    /// Metrics that record into a no-op meter (unit tests of the controller logic).
    pub fn noop() -> Self {
        Self::new(&opentelemetry::metrics::MeterProvider::meter(
            &opentelemetry::metrics::noop::NoopMeterProvider::new(),
            SCOPE,
        ))
    }

    /// Taking or losing the lease; a standby manages nothing.
    pub fn set_leader(&self, leader: bool) {
        let mut h = lock(&self.holdings);
        h.leader = leader;
        if !leader {
            h.viewers.clear();
        }
    }

    pub fn is_leader(&self) -> bool {
        lock(&self.holdings).leader
    }

    /// One stream as the registry shows it now: `None` when it no longer exists.
    pub fn set_stream(&self, camera_id: &str, viewers: Option<u64>) {
        let mut h = lock(&self.holdings);
        if !h.leader {
            return;
        }
        match viewers {
            Some(n) => {
                h.viewers.insert(camera_id.to_owned(), n);
            }
            None => {
                h.viewers.remove(camera_id);
            }
        }
    }

    /// Every stream as the registry shows it now (viewers per camera id).
    pub fn set_all_streams(&self, viewers: BTreeMap<String, u64>) {
        let mut h = lock(&self.holdings);
        if h.leader {
            h.viewers = viewers;
        }
    }

    pub fn stream_started(&self, outcome: Outcome<'_>) {
        self.starts.add(1, &[KeyValue::new("outcome", outcome.label())]);
    }

    pub fn stream_stopped(&self, outcome: Outcome<'_>) {
        self.stops.add(1, &[KeyValue::new("outcome", outcome.label())]);
    }

    pub fn ice_failed(&self) {
        self.ice_failures.add(1, &[]);
    }

    /// A command that did not run here to its end: `expired`, `panicked`, or `not_leader`
    /// (read after the lease lapsed, left unacknowledged for the leader to take over).
    pub fn command_dropped(&self, reason: &'static str) {
        self.dropped.add(1, &[KeyValue::new("reason", reason)]);
    }
}

fn lock(h: &Mutex<Holdings>) -> std::sync::MutexGuard<'_, Holdings> {
    // The guarded data is plain counts: a panic elsewhere cannot leave it inconsistent.
    h.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_standby_holds_no_streams_and_losing_the_lease_forgets_them() {
        let m = ControllerMetrics::noop();
        m.set_stream("CAM", Some(2));
        assert!(lock(&m.holdings).viewers.is_empty(), "a standby must not count streams");
        m.set_leader(true);
        m.set_stream("CAM", Some(2));
        m.set_stream("OTHER", Some(0));
        m.set_stream("OTHER", None);
        assert_eq!(lock(&m.holdings).viewers.iter().map(|(k, v)| (k.as_str(), *v)).collect::<Vec<_>>(), [("CAM", 2)]);
        m.set_leader(false);
        assert!(lock(&m.holdings).viewers.is_empty());
    }
}
