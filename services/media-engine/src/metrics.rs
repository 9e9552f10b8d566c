//! The engine's instruments (names from `docs/observability.md`), all observable: packet and
//! byte counts stay plain atomics on the media hot path ([`MediaCounters`]) and sessions and
//! objects stay in the RPC core; the callbacks read them only when metrics are collected.

use std::sync::{Arc, Mutex, Weak};

use opentelemetry::metrics::{Meter, ObservableCounter, ObservableGauge};
use opentelemetry::KeyValue;

use crate::media::MediaCounters;
use crate::rpc::Core;

/// Scope name of the engine's meter.
pub const SCOPE: &str = "camview-media-engine";

/// Keeps the engine's observable instruments registered.
pub struct EngineMetrics {
    _counters: [ObservableCounter<u64>; 6],
    _gauges: [ObservableGauge<u64>; 2],
}

impl EngineMetrics {
    /// Registers the instruments; they report nothing once the engine is dropped.
    pub(crate) fn register(meter: &Meter, core: Weak<Mutex<Core>>, counters: &Arc<MediaCounters>) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let (dir_in, dir_out) = ([KeyValue::new("direction", "in")], [KeyValue::new("direction", "out")]);
        let c = Arc::downgrade(counters);
        let (a_in, a_out) = (dir_in.clone(), dir_out.clone());
        let packets = meter
            .u64_observable_counter("camview_engine_packets_total")
            .with_description("RTP packets in (from cameras) and out (to viewers)")
            .with_callback(move |o| {
                if let Some(c) = c.upgrade() {
                    o.observe(c.rtp_packets_in.load(Relaxed), &a_in);
                    o.observe(c.rtp_packets_out.load(Relaxed), &a_out);
                }
            })
            .build();
        let c = Arc::downgrade(counters);
        let bytes = meter
            .u64_observable_counter("camview_engine_bytes_total")
            .with_unit("By")
            .with_description("RTP payload bytes in and out")
            .with_callback(move |o| {
                if let Some(c) = c.upgrade() {
                    o.observe(c.rtp_bytes_in.load(Relaxed), &dir_in);
                    o.observe(c.rtp_bytes_out.load(Relaxed), &dir_out);
                }
            })
            .build();
        let c = Arc::downgrade(counters);
        let foreign = meter
            .u64_observable_counter("camview_engine_rtp_foreign_packets_total")
            .with_description(
                "datagrams on camera sockets (RTP and RTCP) from another address than the camera's, dropped",
            )
            .with_callback(move |o| {
                if let Some(c) = c.upgrade() {
                    o.observe(c.rtp_foreign_in.load(Relaxed), &[]);
                }
            })
            .build();
        let faults = |name: &'static str,
                      label: &'static str,
                      desc: &'static str,
                      read: fn(&crate::supervise::Faults) -> Vec<(&'static str, u64)>| {
            let c = Arc::downgrade(counters);
            meter
                .u64_observable_counter(name)
                .with_description(desc)
                .with_callback(move |o| {
                    if let Some(c) = c.upgrade() {
                        for (v, n) in read(&c.faults) {
                            o.observe(n, &[KeyValue::new(label, v)]);
                        }
                    }
                })
                .build()
        };
        let panics = faults(
            "camview_engine_panics_total",
            "place",
            "panics contained (viewer: that viewer was closed; rpc: that request got an error; camera: that datagram was dropped; connection: that WebSocket was closed)",
            |f| f.panics(),
        );
        let restarts = faults(
            "camview_engine_task_restarts_total",
            "task",
            "tasks serving many (socket readers, camera loops, workers, the accept loop, event router, collector) restarted after a panic",
            |f| f.restarts(),
        );
        let full = faults(
            "camview_engine_queue_full_total",
            "queue",
            "messages a full queue refused (worker: media dropped or the RPC refused; events: dropped; connection: the slow client disconnected; rtp_sink: a packet for an RtpEndpoint's peer dropped)",
            |f| f.queue_full(),
        );
        let k = core.clone();
        let sessions = meter
            .u64_observable_gauge("camview_engine_sessions")
            .with_description("connected JSON-RPC sessions")
            .with_callback(move |o| {
                if let Some(core) = k.upgrade() {
                    o.observe(lock(&core).connected_sessions(), &[]);
                }
            })
            .build();
        let objects = meter
            .u64_observable_gauge("camview_engine_media_objects")
            .with_description("live media objects by type")
            .with_callback(move |o| {
                if let Some(core) = core.upgrade() {
                    for (class, n) in lock(&core).media_objects() {
                        o.observe(n, &[KeyValue::new("type", class)]);
                    }
                }
            })
            .build();
        Self { _counters: [packets, bytes, foreign, panics, restarts, full], _gauges: [sessions, objects] }
    }
}

fn lock(core: &Mutex<Core>) -> std::sync::MutexGuard<'_, Core> {
    crate::supervise::lock(core)
}
