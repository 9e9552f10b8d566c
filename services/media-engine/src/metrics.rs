//! The engine's instruments (names from `docs/observability.md`), all observable: packet and
//! byte counts stay plain atomics on the media hot path ([`MediaCounters`]) and sessions and
//! objects stay in the RPC core; the callbacks read them only when metrics are collected.
//!
//! A media node of a multi-node deployment (`REDIS_URL` set) adds `node="<NODE_ID>"` to every
//! sample, so Prometheus groups the engines of a pool by node whatever target it scraped them
//! as; `camview_engine_streams`, `_viewers` and `_cpu_percent` are the load its heartbeat reports.

use std::sync::{Arc, Mutex, Weak};

use opentelemetry::metrics::{Meter, ObservableCounter, ObservableGauge};
use opentelemetry::KeyValue;

use crate::media::MediaCounters;
use crate::rpc::Core;

/// Scope name of the engine's meter.
pub const SCOPE: &str = "camview-media-engine";

/// The label naming the media node on every engine sample.
pub const NODE_LABEL: &str = "node";

/// Keeps the engine's observable instruments registered.
pub struct EngineMetrics {
    _counters: [ObservableCounter<u64>; 6],
    _gauges: [ObservableGauge<u64>; 4],
    _cpu: ObservableGauge<f64>,
}

/// Label sets of one engine: the instrument's own labels, then the node's.
#[derive(Clone)]
struct Labels(Option<KeyValue>);

impl Labels {
    fn of(&self, own: &[KeyValue]) -> Vec<KeyValue> {
        own.iter().cloned().chain(self.0.clone()).collect()
    }

    fn one(&self, key: &'static str, value: &'static str) -> Vec<KeyValue> {
        self.of(&[KeyValue::new(key, value)])
    }
}

impl EngineMetrics {
    /// Registers the instruments; they report nothing once the engine is dropped. `node`: the
    /// node id every sample is labelled with (`None`: a single engine, no `node` label).
    pub(crate) fn register(
        meter: &Meter,
        core: Weak<Mutex<Core>>,
        counters: &Arc<MediaCounters>,
        node: Option<&str>,
    ) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let labels = Labels(node.map(|id| KeyValue::new(NODE_LABEL, id.to_owned())));
        let none = labels.of(&[]);
        let (dir_in, dir_out) = (labels.one("direction", "in"), labels.one("direction", "out"));
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
        let plain = none.clone();
        let foreign = meter
            .u64_observable_counter("camview_engine_rtp_foreign_packets_total")
            .with_description(
                "datagrams on camera sockets (RTP and RTCP) from another address than the camera's, dropped",
            )
            .with_callback(move |o| {
                if let Some(c) = c.upgrade() {
                    o.observe(c.rtp_foreign_in.load(Relaxed), &plain);
                }
            })
            .build();
        let faults = |name: &'static str,
                      label: &'static str,
                      desc: &'static str,
                      read: fn(&crate::supervise::Faults) -> Vec<(&'static str, u64)>| {
            let c = Arc::downgrade(counters);
            let labels = labels.clone();
            meter
                .u64_observable_counter(name)
                .with_description(desc)
                .with_callback(move |o| {
                    if let Some(c) = c.upgrade() {
                        for (v, n) in read(&c.faults) {
                            o.observe(n, &labels.one(label, v));
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
        let (k, plain) = (core.clone(), none.clone());
        let sessions = meter
            .u64_observable_gauge("camview_engine_sessions")
            .with_description("connected JSON-RPC sessions")
            .with_callback(move |o| {
                if let Some(core) = k.upgrade() {
                    o.observe(lock(&core).connected_sessions(), &plain);
                }
            })
            .build();
        let (k, by_type) = (core.clone(), labels.clone());
        let objects = meter
            .u64_observable_gauge("camview_engine_media_objects")
            .with_description("live media objects by type")
            .with_callback(move |o| {
                if let Some(core) = k.upgrade() {
                    for (class, n) in lock(&core).media_objects() {
                        o.observe(n, &by_type.one("type", class));
                    }
                }
            })
            .build();
        // The same counts as the node heartbeat's load (`Core::node_counts`).
        let node_count = |name: &'static str, desc: &'static str, pick: fn((u32, u32)) -> u32| {
            let (k, plain) = (core.clone(), none.clone());
            meter
                .u64_observable_gauge(name)
                .with_description(desc)
                .with_callback(move |o| {
                    if let Some(core) = k.upgrade() {
                        o.observe(u64::from(pick(lock(&core).node_counts())), &plain);
                    }
                })
                .build()
        };
        let streams = node_count(
            "camview_engine_streams",
            "camera sources (RtpEndpoints fed by a camera, PlayerEndpoints): the streams of the node",
            |(s, _)| s,
        );
        let viewers = node_count("camview_engine_viewers", "WebRtcEndpoints: the viewers of the node", |(_, v)| v);
        let (c, plain) = (Arc::downgrade(counters), none);
        let cpu = meter
            .f64_observable_gauge("camview_engine_cpu_percent")
            .with_unit("%")
            .with_description("the engine process' CPU, percent of all cores (last second)")
            .with_callback(move |o| {
                if let Some(c) = c.upgrade() {
                    o.observe(c.cpu.percent(), &plain);
                }
            })
            .build();
        Self {
            _counters: [packets, bytes, foreign, panics, restarts, full],
            _gauges: [sessions, objects, streams, viewers],
            _cpu: cpu,
        }
    }
}

fn lock(core: &Mutex<Core>) -> std::sync::MutexGuard<'_, Core> {
    crate::supervise::lock(core)
}
