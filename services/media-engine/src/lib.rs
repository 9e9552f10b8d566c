//! camview-media-engine: a Kurento-compatible (7.x JSON-RPC) media server that forwards camera
//! RTP (H.264, VP8) to WebRTC viewers without transcoding.
//!
//! A service like every camview service: [`startup::Application::build`] binds its listeners
//! and starts it, `run_until_stopped` serves (the binary's `main`, the all-in-one binary).
//! Tests start the bare [`Engine`] with [`Engine::start`] (port 0).
#![forbid(unsafe_code)]

pub mod audio;
pub mod codec_params;
pub mod config;
pub mod cpu;
mod error;
pub mod events;
pub mod media;
pub mod metrics;
pub mod node;
pub mod rpc;
pub mod sdp;
mod server;
pub mod startup;
pub mod supervise;
#[cfg(feature = "test-support")]
pub mod testing;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::{ConfigError, RtspTransport, Settings, WebRtcPorts};
pub use rpc::CoreStats;

use events::{EngineEvent, EventTx};
use media::webrtc::WebRtcMux;
use media::MediaCounters;
use metrics::EngineMetrics;
use rpc::{Core, MediaCtx};
use supervise::{lock, spawn_supervised, Faults};

/// Events waiting for the router, at most: when full, the newest is dropped and counted
/// (`camview_engine_queue_full_total{queue="events"}`). Media code never waits on it.
pub const EVENT_QUEUE: usize = 16384;

/// Counters for tests and monitoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineStats {
    pub core: CoreStats,
    pub rtp_packets_in: u64,
    pub rtp_garbage_in: u64,
    /// Datagrams on camera sockets from another address than the camera's (dropped).
    pub rtp_foreign_in: u64,
    pub webrtc_packets_in: u64,
    pub webrtc_unknown_in: u64,
    /// Datagrams routed to a viewer that its `Rtc` never accepted.
    pub webrtc_refused_in: u64,
    pub rtp_packets_out: u64,
    pub rtp_bytes_in: u64,
    pub rtp_bytes_out: u64,
}

/// A running engine.
pub struct Engine {
    core: Arc<Mutex<Core>>,
    counters: Arc<MediaCounters>,
    mux: Arc<WebRtcMux>,
    ws_addr: SocketAddr,
    path: String,
    cancel: CancellationToken,
    _metrics: EngineMetrics,
}

impl Engine {
    /// Binds the WebSocket listener and the WebRTC sockets and starts serving.
    pub async fn start(cfg: Settings) -> anyhow::Result<Engine> {
        let listener = TcpListener::bind(cfg.ws_addr)
            .await
            .with_context(|| format!("KMS_LISTEN_ADDR/ENGINE_WS_ADDR: cannot listen on {}", cfg.ws_addr))?;
        Self::start_on(listener, cfg).await
    }

    /// Serves on an already bound listener; metrics go to the process' meter provider.
    pub async fn start_on(listener: TcpListener, cfg: Settings) -> anyhow::Result<Engine> {
        Self::start_on_with_meter(listener, cfg, &camview_common::telemetry::meter(metrics::SCOPE)).await
    }

    /// Like [`Engine::start_on`], with instruments from `meter` (tests read them through their
    /// own provider).
    pub async fn start_on_with_meter(
        listener: TcpListener,
        cfg: Settings,
        meter: &opentelemetry::metrics::Meter,
    ) -> anyhow::Result<Engine> {
        let ws_addr = listener.local_addr()?;
        let cfg = Arc::new(cfg);
        let cancel = CancellationToken::new();
        let counters = Arc::new(MediaCounters::default());
        let faults = counters.faults.clone();
        // Bounded (EVENT_QUEUE): drop newest, counted.
        let (etx, erx) = tokio::sync::mpsc::channel(EVENT_QUEUE);
        let events = EventTx::new(etx, faults.clone());
        let mux = WebRtcMux::start(cfg.clone(), events.clone(), counters.clone(), cancel.clone())
            .context("cannot bind the WebRTC UDP port")?;
        let ctx = MediaCtx { cfg: cfg.clone(), mux: mux.clone(), events, counters: counters.clone() };
        let core = Arc::new(Mutex::new(Core::new(ctx)));
        let node_id = cfg.node.as_ref().map(|n| n.node_id.as_str());
        let metrics = EngineMetrics::register(meter, Arc::downgrade(&core), &counters, node_id);

        // The event router and the collector serve every session: supervised (restarted after a
        // panic, counted); a restarted router goes on with the same queue.
        let erx = Arc::new(tokio::sync::Mutex::new(erx));
        let (c, stop) = (core.clone(), cancel.clone());
        spawn_supervised("event-router", faults.clone(), cancel.clone(), move || {
            route_events(c.clone(), erx.clone(), stop.clone())
        });
        let (c, stop) = (core.clone(), cancel.clone());
        let period = cfg.gc_period;
        spawn_supervised("gc", faults.clone(), cancel.clone(), move || {
            let (c, stop) = (c.clone(), stop.clone());
            async move {
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tick.tick() => lock(&c).collect_garbage(Instant::now()),
                    }
                }
            }
        });
        let (gauge, stop) = (counters.cpu.clone(), cancel.clone());
        spawn_supervised("cpu-meter", faults.clone(), cancel.clone(), move || {
            cpu::run_cpu_meter(gauge.clone(), stop.clone())
        });
        if let Some(node) = &cfg.node {
            let rpc_url =
                node.rpc_url.clone().unwrap_or_else(|| node::default_rpc_url(cfg.external_ip, ws_addr, &cfg.ws_path));
            tracing::info!(node_id = %node.node_id, %rpc_url, period = ?node.period, "publishing node heartbeats");
            let hb = Arc::new(node::heartbeat::Heartbeat {
                settings: node.clone(),
                rpc_url,
                external_ip: cfg.external_ip,
                core: core.clone(),
                counters: counters.clone(),
            });
            let stop = cancel.clone();
            spawn_supervised("node-heartbeat", faults.clone(), cancel.clone(), move || {
                node::heartbeat::run(hb.clone(), stop.clone())
            });
        }
        server::spawn_accept_loop(listener, core.clone(), cfg.ws_path.clone(), faults, cancel.clone());
        tracing::info!(%ws_addr, webrtc = ?mux.shared_addrs(), "media engine listening");
        Ok(Engine { core, counters, mux, ws_addr, path: cfg.ws_path.clone(), cancel, _metrics: metrics })
    }

    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    /// `ws://ADDR/kurento`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/{}", self.ws_addr, self.path)
    }

    /// The shared WebRTC sockets (empty in port-range mode).
    pub fn webrtc_addrs(&self) -> Vec<SocketAddr> {
        self.mux.shared_addrs()
    }

    pub fn server_id(&self) -> String {
        lock(&self.core).server_id().to_string()
    }

    pub fn stats(&self) -> EngineStats {
        let c = &self.counters;
        EngineStats {
            core: lock(&self.core).stats(),
            rtp_packets_in: c.rtp_packets_in.load(Ordering::Relaxed),
            rtp_garbage_in: c.rtp_garbage_in.load(Ordering::Relaxed),
            rtp_foreign_in: c.rtp_foreign_in.load(Ordering::Relaxed),
            webrtc_packets_in: c.webrtc_packets_in.load(Ordering::Relaxed),
            webrtc_unknown_in: c.webrtc_unknown_in.load(Ordering::Relaxed),
            webrtc_refused_in: c.webrtc_refused_in.load(Ordering::Relaxed),
            rtp_packets_out: c.rtp_packets_out.load(Ordering::Relaxed),
            rtp_bytes_in: c.rtp_bytes_in.load(Ordering::Relaxed),
            rtp_bytes_out: c.rtp_bytes_out.load(Ordering::Relaxed),
        }
    }

    /// Contained panics, task restarts and full queues so far (also on `/metrics`).
    pub fn faults(&self) -> &Faults {
        &self.counters.faults
    }

    /// Test support: makes worker `w`'s own loop panic (outside any viewer's handling).
    #[cfg(feature = "test-support")]
    pub fn inject_worker_panic(&self, w: usize) {
        self.mux.workers.send_state(w, media::worker::Cmd::Panic);
    }

    /// Stops every task; objects are dropped with the engine.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// The event router: wraps each event for its subscribers (under the core lock, briefly).
async fn route_events(
    core: Arc<Mutex<Core>>,
    rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<EngineEvent>>>,
    stop: CancellationToken,
) {
    let mut rx = rx.lock().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            ev = rx.recv() => match ev {
                Some(ev) => lock(&core).route_event(ev),
                None => break,
            },
        }
    }
}
