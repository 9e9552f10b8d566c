//! `Application`: binds the listener, starts the bus client, the event router and the
//! liveness refresher, and serves viewer WebSockets until [`AppHandle::shutdown`].
//!
//! Invariant: the HTTP server never handles signals itself (`disable_signals`); the binary
//! (or a test) calls [`AppHandle::shutdown`], which tells viewers, releases their slots,
//! and stops within `SIGNALING_SHUTDOWN_GRACE_MS` plus one second.

use std::net::TcpListener;
use std::sync::Arc;

use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context;
use camview_common::auth::Authenticator;
use camview_common::{Backend, Bus, BusClient, Registry};

use crate::config::Settings;
use crate::hub::Hub;
use crate::revocation::AUTH_EVENTS_INSTANCE;
use crate::{edge, ws};

/// The bus, registry and authenticator an instance works with: Redis in a split
/// deployment, or in-process ones shared with the other services of an all-in-one binary.
#[derive(Clone)]
pub struct Dependencies {
    pub bus: Arc<dyn Bus>,
    pub registry: Arc<dyn Registry>,
    pub auth: Arc<Authenticator>,
}

impl Dependencies {
    /// `REDIS_URL` set: bus, registry and auth store on Redis (retried for up to
    /// `connect_timeout`); unset: an in-process bus and registry (warned) and the file auth
    /// store in `CAMVIEW_DATA_DIR` (or the XDG data directory).
    pub async fn connect(settings: &Settings, connect_timeout: Duration) -> anyhow::Result<Self> {
        let Backend { bus, registry } =
            Backend::connect(settings.redis.as_ref(), connect_timeout).await.context("connecting to Redis")?;
        let auth = Authenticator::open(settings.redis.as_ref(), &settings.data_dir, &settings.auth).await?;
        Ok(Self { bus, registry, auth: Arc::new(auth) })
    }
}

/// A bound, not yet running signaling instance.
pub struct Application {
    port: u16,
    server: Server,
    handle: AppHandle,
}

/// Controls a running instance; cheap to clone.
#[derive(Clone)]
pub struct AppHandle {
    hub: Arc<Hub>,
    server: ServerHandle,
}

impl AppHandle {
    pub fn instance_id(&self) -> &str {
        self.hub.instance_id()
    }

    /// Open viewer sockets.
    pub fn connection_count(&self) -> usize {
        self.hub.connection_count()
    }

    /// Authenticated viewers (joining or joined) on this instance.
    pub fn watched_viewers(&self) -> usize {
        self.hub.watched_viewers()
    }

    /// Graceful stop: refuse new sockets, send every viewer `error{shutting_down}` and
    /// close (1001), send `RemoveViewer{reason: shutting_down}` for each, wait for those
    /// (bounded by `SIGNALING_SHUTDOWN_GRACE_MS`), then stop the HTTP server.
    pub async fn shutdown(&self) {
        tracing::info!(open = self.hub.connection_count(), "shutting down");
        self.hub.drain(self.hub.settings.shutdown_grace).await;
        self.server.stop(true).await;
        tracing::info!("stopped");
    }
}

impl Application {
    /// Binds `SIGNALING_SERVER_HOST:SIGNALING_SERVER_PORT` (port 0 picks a free one),
    /// subscribes to this instance's bus channel and starts the background tasks. Must run
    /// inside a tokio runtime, which then also runs joins and releases.
    pub async fn build(settings: Settings, deps: Dependencies) -> anyhow::Result<Self> {
        let instance_id = format!("signaling-{}", uuid::Uuid::new_v4());
        deps.registry
            .refresh_liveness(&instance_id, settings.liveness_ttl)
            .await
            .context("registering liveness in the registry")?;
        let revocations =
            deps.bus.subscribe(AUTH_EVENTS_INSTANCE).await.context("subscribing to the auth events bus channel")?;
        let (bus, events) = BusClient::start(deps.bus, instance_id.clone())
            .await
            .context("subscribing to this instance's bus channel")?;
        let listener =
            TcpListener::bind(settings.address()).with_context(|| format!("binding {}", settings.address()))?;
        let port = listener.local_addr().context("reading the bound address")?.port();
        let workers = settings.workers;
        let tls = settings.tls.as_ref().map(|t| t.server_config()).transpose()?;
        let hub = Hub::new(instance_id.clone(), settings, deps.registry, bus, deps.auth);
        tokio::spawn(hub.clone().run_router(events));
        tokio::spawn(hub.clone().run_liveness());
        tokio::spawn(hub.clone().run_revocations(revocations));
        tokio::spawn(hub.clone().run_recheck());

        let data = web::Data::from(hub.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/healthz", web::get().to(health))
                .route("/metrics", web::get().to(metrics))
                .default_service(web::to(ws::upgrade))
        })
        .workers(workers)
        .disable_signals()
        .shutdown_timeout(1);
        let wss = tls.is_some();
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config),
            None => server.listen(listener),
        }
        .context("listening")?
        .run();
        tracing::info!(%instance_id, port, wss, "signaling listening for viewer WebSockets on any path");
        let handle = AppHandle { hub, server: server.handle() };
        Ok(Self { port, server, handle })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn instance_id(&self) -> &str {
        self.handle.instance_id()
    }

    pub fn handle(&self) -> AppHandle {
        self.handle.clone()
    }

    /// Serves until [`AppHandle::shutdown`] completes.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await.context("the signaling server failed")
    }
}

/// `GET /healthz` (public: probes use it): instance id and open sockets, for container
/// healthchecks; no camera or viewer ids.
async fn health(hub: web::Data<Hub>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "status": if hub.is_shutting_down() { "shutting_down" } else { "ok" },
        "instance": hub.instance_id(),
        "connections": hub.connection_count(),
    }))
}

/// `GET /metrics`: Prometheus text of every instrument in this process (see
/// [`crate::metrics`]), for `METRICS_ALLOWED_NETWORKS` only (403 otherwise).
async fn metrics(req: HttpRequest, hub: web::Data<Hub>) -> HttpResponse {
    if let Some(refusal) = edge::metrics_refusal(&req, &hub.settings) {
        return refusal;
    }
    HttpResponse::Ok()
        .content_type(camview_common::telemetry::PROMETHEUS_CONTENT_TYPE)
        .body(camview_common::telemetry::prometheus_text())
}
