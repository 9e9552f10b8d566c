//! `Application`: binds the listener, starts the bus client, the event router and the
//! liveness refresher, and serves viewer WebSockets until [`AppHandle::shutdown`].
//!
//! Invariant: the HTTP server never handles signals itself (`disable_signals`); the binary
//! (or a test) calls [`AppHandle::shutdown`], which tells viewers, releases their slots,
//! and stops within `SIGNALING_SHUTDOWN_GRACE_MS` plus one second.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context;
use camview_common::BusClient;

use crate::configuration::Settings;
use crate::hub::Hub;
use crate::ws;

/// The bus and registry an instance talks to: Redis in a split deployment, or in-process
/// implementations shared with the other services of an all-in-one binary.
/// The bus and registry an instance works with; the all-in-one binary injects in-process ones.
pub use camview_common::Backend as Dependencies;

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
        if settings.auth_jwt_secret.is_none() {
            tracing::warn!("AUTH_JWT_SECRET is not set: viewer authentication is OFF, anyone may join any stream");
        }
        deps.registry
            .refresh_liveness(&instance_id, settings.liveness_ttl)
            .await
            .context("registering liveness in the registry")?;
        let (bus, events) = BusClient::start(deps.bus, instance_id.clone())
            .await
            .context("subscribing to this instance's bus channel")?;
        let listener = TcpListener::bind(settings.address())
            .with_context(|| format!("binding {}", settings.address()))?;
        let port = listener
            .local_addr()
            .context("reading the bound address")?
            .port();
        let workers = settings.workers;
        let tls = settings.tls.as_ref().map(|t| t.server_config()).transpose()?;
        let hub = Hub::new(instance_id.clone(), settings, deps.registry, bus);
        tokio::spawn(hub.clone().run_router(events));
        tokio::spawn(hub.clone().run_liveness());

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
        let handle = AppHandle {
            hub,
            server: server.handle(),
        };
        Ok(Self {
            port,
            server,
            handle,
        })
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
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// `GET /healthz`: instance id and open sockets, for container healthchecks.
async fn health(hub: web::Data<Hub>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "status": if hub.is_shutting_down() { "shutting_down" } else { "ok" },
        "instance": hub.instance_id(),
        "connections": hub.connection_count(),
    }))
}

/// `GET /metrics`: Prometheus text of every instrument in this process (see [`crate::metrics`]).
async fn metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(camview_common::telemetry::PROMETHEUS_CONTENT_TYPE)
        .body(camview_common::telemetry::prometheus_text())
}
