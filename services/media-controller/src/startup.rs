//! Starting a media-controller, in the shape every camview service has:
//! [`Application::build`]`(settings, dependencies)` connects and starts, then
//! [`Application::port`] and [`Application::run_until_stopped`]; a [`StopHandle`] stops it from
//! elsewhere (its `main`, the all-in-one binary). Tests start bare controllers with [`start`].

use std::sync::Arc;

use anyhow::Context;
use camview_common::{stop_pair, Backend, Bus, Registry, StopHandle, StopSignal, DEFAULT_REDIS_CONNECT_TIMEOUT};
use camview_http::{bind_ops, serve_ops, OpsServer};
use opentelemetry::metrics::Meter;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::{MediaNodesMode, Settings};
use crate::kurento::KurentoClient;
use crate::metrics::{ControllerMetrics, RpcMetrics, SCOPE};
use crate::service::media::MediaServer;
use crate::service::media_pool::MediaPool;
use crate::service::node_poller::spawn_node_pollers;
use crate::service::placement::Policy;
use crate::service::{run, Controller, ControllerSettings, KurentoMedia, RunnerSettings};

/// The bus and registry a controller works with, and where its instruments go.
#[derive(Clone)]
pub struct Dependencies {
    pub bus: Arc<dyn Bus>,
    pub registry: Arc<dyn Registry>,
    pub meter: Meter,
}

impl Dependencies {
    /// `backend`, with instruments on the process' meter provider (what `/metrics` serves).
    pub fn new(backend: Backend) -> Self {
        Self { bus: backend.bus, registry: backend.registry, meter: camview_common::telemetry::meter(SCOPE) }
    }

    /// Redis per `REDIS_URL` (retried for a while), else an in-process bus and registry.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let backend = Backend::connect(settings.redis.as_ref(), DEFAULT_REDIS_CONNECT_TIMEOUT)
            .await
            .context("connecting to Redis")?;
        Ok(Self::new(backend))
    }
}

/// A started controller with its ops server (`GET /metrics`, `GET /healthz` on
/// `METRICS_ADDR`, none when that is unset by the all-in-one binary).
pub struct Application {
    controller: ControllerHandle,
    ops: Option<OpsServer>,
    stop: StopSignal,
    handle: StopHandle,
}

impl Application {
    /// Binds `METRICS_ADDR` (port 0 picks a free one), then connects to the media server
    /// (retrying in the background) and starts the loops (leader or standby).
    pub async fn build(settings: Settings, deps: Dependencies) -> anyhow::Result<Self> {
        let ops_listener = bind_ops(settings.metrics_addr)?;
        let controller = start(&settings, deps);
        let health = controller.controller().clone();
        let ops = ops_listener
            .map(|l| serve_ops(l, move || health.is_healthy()))
            .transpose()
            .context("starting the ops server")?;
        if let Some(ops) = &ops {
            tracing::info!(addr = %ops.local_addr(), "metrics served on /metrics and /healthz");
        }
        let (handle, stop) = stop_pair();
        Ok(Self { controller, ops, stop, handle })
    }

    /// The port of `/metrics` and `/healthz` (the controller serves nothing else), if served.
    pub fn port(&self) -> Option<u16> {
        self.ops.as_ref().map(|ops| ops.local_addr().port())
    }

    pub fn controller(&self) -> &ControllerHandle {
        &self.controller
    }

    /// Stops the controller from elsewhere ([`StopHandle::shutdown`] returns once it has).
    pub fn handle(&self) -> StopHandle {
        self.handle.clone()
    }

    /// Runs until a stop is asked for, then gives the lease up, closes the media-server
    /// connection and stops the ops server.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self { controller, ops, mut stop, handle } = self;
        drop(handle);
        stop.requested().await;
        controller.shutdown().await;
        if let Some(ops) = ops {
            ops.shutdown().await;
        }
        stop.finished();
        Ok(())
    }
}

/// A running controller; dropping it does not stop it, [`ControllerHandle::shutdown`] does.
pub struct ControllerHandle {
    instance_id: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    media: MediaConnection,
    controller: Arc<Controller>,
    /// The `KURENTO_NODES` pollers; they stop with the controller.
    node_pollers: Vec<JoinHandle<()>>,
}

impl ControllerHandle {
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Connected to the media server and to the bus (leader or standby).
    pub fn is_healthy(&self) -> bool {
        self.controller.is_healthy()
    }

    /// The controller, for health checks that outlive this handle (e.g. `/healthz`).
    pub fn controller(&self) -> &Arc<Controller> {
        &self.controller
    }

    /// Stops the loops, gives the lease up and closes the media-server connection.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "controller task failed");
        }
        for poller in self.node_pollers {
            if let Err(e) = poller.await {
                tracing::error!(error = %e, "Kurento node poller failed");
            }
        }
        self.media.shutdown();
    }

    /// Stops abruptly, as a crash would: no lease release, no cleanup.
    pub fn abort(self) {
        self.task.abort();
        self.node_pollers.iter().for_each(JoinHandle::abort);
        self.media.shutdown();
    }
}

/// The controller's connections to media servers: one, or a pool of nodes.
enum MediaConnection {
    Single(KurentoClient),
    /// The pool and its discovery refresh.
    Pool(Arc<MediaPool>, JoinHandle<()>),
}

impl MediaConnection {
    fn shutdown(&self) {
        match self {
            MediaConnection::Single(client) => client.shutdown(),
            MediaConnection::Pool(pool, refresh) => {
                refresh.abort();
                pool.shutdown();
            }
        }
    }
}

/// Connects a pool to newly registered nodes every `period` (until aborted).
fn spawn_refresh(pool: Arc<MediaPool>, period: std::time::Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = pool.refresh().await {
                tracing::debug!(error = %e, "media node discovery refresh failed");
            }
        }
    })
}

/// Connects to the media server (retrying in the background) and starts the loops, without
/// an ops server ([`Application::build`] adds one).
pub fn start(settings: &Settings, deps: Dependencies) -> ControllerHandle {
    let meter = &deps.meter;
    let instance_id = format!("media-controller-{}", uuid::Uuid::new_v4());
    let owner = settings.redis.as_ref().map_or("camview:", |r| r.prefix.as_str());
    let (media, connection): (Arc<dyn MediaServer>, _) = match settings.media_nodes {
        MediaNodesMode::Single => {
            let client = KurentoClient::start_with_metrics(settings.kurento.clone(), RpcMetrics::new(meter));
            (KurentoMedia::owned_by(client.clone(), owner), MediaConnection::Single(client))
        }
        MediaNodesMode::Registry => {
            let pool =
                MediaPool::new(deps.registry.clone(), settings.kurento.clone(), Some(RpcMetrics::new(meter)), owner);
            let refresh = spawn_refresh(pool.clone(), settings.media_nodes_refresh);
            (pool.clone() as Arc<dyn MediaServer>, MediaConnection::Pool(pool, refresh))
        }
    };
    let placement = (settings.media_nodes == MediaNodesMode::Registry).then(Policy::default);
    let now = time_now_unix();
    let controller = Controller::new(
        deps.registry.clone(),
        deps.bus.clone(),
        media,
        ControllerSettings {
            external_ip: settings.external_ip.clone(),
            codec: settings.codec,
            payload_type: settings.payload_type,
            audio: settings.audio,
            ice: settings.ice_settings(now),
            stall_after: settings.stall_after,
            max_streams: settings.max_streams,
            max_viewers_per_stream: settings.max_viewers_per_stream,
            relay_after: (settings.relay_after_viewers > 0 && placement.is_some())
                .then_some(settings.relay_after_viewers),
            placement,
        },
        ControllerMetrics::new(meter),
    );
    let mut runner = RunnerSettings::new(instance_id.clone());
    runner.lease_ttl = settings.lease_ttl;
    runner.liveness_grace = settings.liveness_ttl;
    let (stop, stopped) = watch::channel(false);
    let node_pollers =
        spawn_node_pollers(&settings.kurento_nodes, settings.kurento_nodes_poll, deps.registry.clone(), &stopped);
    let task = tokio::spawn(run(controller.clone(), deps.bus, runner, stopped));
    match settings.media_nodes {
        MediaNodesMode::Single => {
            tracing::info!(instance = %instance_id, url = %settings.kurento.url, "media-controller started")
        }
        MediaNodesMode::Registry => {
            tracing::info!(instance = %instance_id, "media-controller started, placing streams on the registry's media nodes")
        }
    }
    ControllerHandle { instance_id, stop, task, media: connection, controller, node_pollers }
}

fn time_now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
