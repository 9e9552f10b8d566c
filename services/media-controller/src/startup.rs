//! Starting a media-controller: in its own binary, in the all-in-one binary and in tests.

use tokio::sync::watch;
use tokio::task::JoinHandle;

use std::sync::Arc;

use crate::config::Settings;
use crate::kurento::KurentoClient;
use crate::metrics::{ControllerMetrics, RpcMetrics, SCOPE};
use crate::service::{run, Controller, ControllerSettings, KurentoMedia, RunnerSettings};

/// The bus and registry a controller works with.
pub use camview_common::Backend as Dependencies;

/// A running controller; dropping it does not stop it, [`ControllerHandle::shutdown`] does.
pub struct ControllerHandle {
    instance_id: String,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    client: KurentoClient,
    controller: Arc<Controller>,
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
        self.client.shutdown();
    }

    /// Stops abruptly, as a crash would: no lease release, no cleanup.
    pub fn abort(self) {
        self.task.abort();
        self.client.shutdown();
    }
}

/// Serves `GET /metrics` (this process' metrics) and `GET /healthz` (the controller's health)
/// on `METRICS_ADDR`.
pub fn serve_metrics(
    settings: &Settings,
    controller: &ControllerHandle,
) -> anyhow::Result<camview_common::telemetry::MetricsServer> {
    use anyhow::Context;
    let listener = std::net::TcpListener::bind(settings.metrics_addr)
        .with_context(|| format!("METRICS_ADDR: cannot listen on {}", settings.metrics_addr))?;
    let health = controller.controller().clone();
    camview_common::telemetry::serve_metrics(listener, move || health.is_healthy())
        .context("starting the metrics server")
}

/// Connects to the media server (retrying in the background) and starts the loops; metrics
/// go to the process' meter provider.
pub fn start(settings: &Settings, deps: Dependencies) -> ControllerHandle {
    start_with_meter(settings, deps, &camview_common::telemetry::meter(SCOPE))
}

/// Like [`start`], with instruments from `meter` (tests read them through their own provider).
pub fn start_with_meter(
    settings: &Settings,
    deps: Dependencies,
    meter: &opentelemetry::metrics::Meter,
) -> ControllerHandle {
    let instance_id = format!("media-controller-{}", uuid::Uuid::new_v4());
    let client = KurentoClient::start_with_metrics(settings.kurento.clone(), RpcMetrics::new(meter));
    let owner = settings.redis.as_ref().map_or("camview:", |r| r.prefix.as_str());
    let media = KurentoMedia::owned_by(client.clone(), owner);
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
        },
        ControllerMetrics::new(meter),
    );
    let mut runner = RunnerSettings::new(instance_id.clone());
    runner.lease_ttl = settings.lease_ttl;
    runner.liveness_grace = settings.liveness_ttl;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(controller.clone(), deps.bus, runner, stopped));
    tracing::info!(instance = %instance_id, url = %settings.kurento.url, "media-controller started");
    ControllerHandle { instance_id, stop, task, client, controller }
}

fn time_now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
