//! Wiring: dependencies, the actix app, and the server bound to its own listener.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer, Resource};
use anyhow::Context;
use camview_common::auth::{self, AdminBootstrap, Authenticator};
use camview_common::{Backend, Bus, BusClient, BusError, Registry};

use crate::config::{IceSettings, SecuritySettings, Settings};
use crate::error::{method_not_allowed, not_found};
use crate::metrics::Metrics;
use crate::request_span::request_span;
use crate::routes::{self, config_js};
use crate::security::{cors, cross_site_check, rate_limit, Limits};
use crate::security_headers::SecurityHeaders;
use crate::whep::WhepSessions;

/// What the API talks to. Inject in-process implementations for the all-in-one binary.
#[derive(Clone)]
pub struct Deps {
    pub registry: Arc<dyn Registry>,
    /// A started client; whoever started it must keep draining its events receiver
    /// ([`Deps::start`] does).
    pub bus: Arc<BusClient>,
    /// Checks tokens against the users and shares in the auth store.
    pub auth: Arc<Authenticator>,
    /// The WHEP sessions of this instance, fed by the bus client's events.
    pub whep: Arc<WhepSessions>,
}

impl Deps {
    /// Starts a [`BusClient`] on `bus` under a fresh `api-<uuid>` instance id, routes the
    /// envelopes that are not replies to the WHEP sessions (late replies are dropped there), and
    /// keeps the instance's liveness key fresh, first once before returning.
    pub async fn start(
        bus: Arc<dyn Bus>,
        registry: Arc<dyn Registry>,
        auth: Arc<Authenticator>,
    ) -> Result<Self, BusError> {
        let instance_id = format!("api-{}", uuid::Uuid::new_v4());
        let (client, events) = BusClient::start(bus, instance_id.clone()).await?;
        let whep = WhepSessions::start(&client, events, registry.clone(), auth.clone()).await;
        tracing::info!(instance_id, "bus client started");
        Ok(Self { registry, bus: client, auth, whep })
    }

    /// In-process bus and registry: single-process mode, nothing is shared but `auth`.
    pub async fn in_process(auth: Arc<Authenticator>) -> Result<Self, BusError> {
        let backend = Backend::in_process();
        Self::start(backend.bus, backend.registry, auth).await
    }

    /// Redis when `REDIS_URL` is set (users in Redis too), else in-process with a loud
    /// warning and users in `CAMVIEW_DATA_DIR`.
    pub async fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let backend = match &settings.redis {
            Some(redis) => Backend::connect(Some(redis), settings.redis_connect_timeout).await.with_context(|| {
                format!("REDIS_CONNECT_TIMEOUT_SECONDS={} elapsed", settings.redis_connect_timeout.as_secs())
            })?,
            None => {
                tracing::warn!(
                    "REDIS_URL is not set: streams can only be started if a media-controller runs in this same process"
                );
                Backend::connect(None, settings.redis_connect_timeout).await?
            }
        };
        let auth = open_auth(settings).await?;
        Ok(Self::start(backend.bus, backend.registry, auth).await?)
    }
}

/// The auth store (Redis with `REDIS_URL`, else the file in `CAMVIEW_DATA_DIR`) and the
/// authenticator on it.
pub async fn open_auth(settings: &Settings) -> anyhow::Result<Arc<Authenticator>> {
    Ok(Arc::new(
        Authenticator::open(settings.redis.as_ref(), &settings.security.data_dir, &settings.security.auth).await?,
    ))
}

/// First start: creates the `admin` user (or sets its password from `CAMVIEW_ADMIN_PASSWORD`).
async fn bootstrap_admin(auth: &Authenticator, password: Option<&str>) -> anyhow::Result<()> {
    match auth::ensure_admin(auth.store().as_ref(), password).await.context("creating the admin user")? {
        AdminBootstrap::Generated(pw) => tracing::warn!(
            "created user \"{}\" with password {pw} (shown once; change it with camview user passwd {})",
            auth::ADMIN_USERNAME,
            auth::ADMIN_USERNAME
        ),
        AdminBootstrap::FromEnvironment => tracing::info!("the admin password is set from CAMVIEW_ADMIN_PASSWORD"),
        AdminBootstrap::Unchanged => {}
    }
    Ok(())
}

/// What every handler can read.
pub struct AppState {
    pub registry: Arc<dyn Registry>,
    pub bus: Arc<BusClient>,
    pub bus_request_timeout: Duration,
    pub camera_keepalive_seconds: u32,
    pub camera_status_ttl: Duration,
    pub controller_heartbeat_max_age: Duration,
    pub ice: IceSettings,
    /// The body of `GET /config.js`, rendered from `PUBLIC_*` once at start.
    pub config_js: String,
    pub static_dir: Option<PathBuf>,
    pub metrics: Metrics,
    pub auth: Arc<Authenticator>,
    pub security: SecuritySettings,
    pub limits: Limits,
    /// The origin of `PUBLIC_API_URL` when absolute (`https://host[:port]`).
    pub public_api_origin: Option<String>,
    /// `PUBLIC_API_URL` as written, for share links.
    pub public_api_url: Option<String>,
    /// Snapshot taps and their pictures.
    pub snapshots: Arc<crate::snapshot::Snapshots>,
    /// The WHEP sessions of this instance.
    pub whep: Arc<WhepSessions>,
}

/// The API server, bound and ready to run.
pub struct Application {
    port: u16,
    server: Server,
    snapshots: Arc<crate::snapshot::Snapshots>,
}

impl Application {
    /// Binds `settings.address()` (port 0 picks a free one) and builds the server on `deps`.
    pub async fn build(settings: Settings, deps: Deps) -> anyhow::Result<Self> {
        let address = settings.address();
        let listener = TcpListener::bind(&address)
            .with_context(|| format!("binding API_SERVER_HOST:API_SERVER_PORT = {address}"))?;
        let port = listener.local_addr().context("reading the bound address")?.port();
        bootstrap_admin(&deps.auth, settings.security.admin_password.as_deref()).await?;
        deps.whep.set_deadlines(settings.whep);
        let public_api_url = settings.public.api_url.as_ref().map(|u| u.as_str().to_owned());
        let public_api_origin = public_api_url
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null");
        let cors_origins = settings.security.cors_allowed_origins.clone();
        let metrics = Metrics::default();
        let snapshots = crate::snapshot::Snapshots::new(
            settings.snapshots.clone(),
            deps.bus.clone(),
            settings.bus_request_timeout,
            metrics.clone(),
        );
        let state = web::Data::new(AppState {
            snapshots: snapshots.clone(),
            registry: deps.registry,
            bus: deps.bus,
            bus_request_timeout: settings.bus_request_timeout,
            camera_keepalive_seconds: settings.camera_keepalive_seconds,
            camera_status_ttl: settings.camera_status_ttl,
            controller_heartbeat_max_age: settings.controller_heartbeat_max_age,
            ice: settings.ice,
            config_js: config_js::render(&settings.public),
            static_dir: settings.static_dir,
            metrics,
            auth: deps.auth,
            limits: Limits::new(&settings.security),
            security: settings.security,
            public_api_origin,
            public_api_url,
            whep: deps.whep,
        });
        let tls = settings.tls.as_ref().map(|t| t.server_config()).transpose()?;
        let security_headers = SecurityHeaders::new(&settings.embed, tls.is_some());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                // The last wrap runs first: span, rate limit, CORS, then the cross-site check.
                .wrap(from_fn(cross_site_check))
                .wrap(cors(&cors_origins))
                .wrap(from_fn(rate_limit))
                .wrap(from_fn(request_span))
                .wrap(security_headers.clone())
                // Every route is a row of `routes::ROUTES`, mounted from there and nowhere else.
                .configure(routes::configure)
                .default_service(web::to(not_found))
        });
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config),
            None => server.listen(listener),
        }
        .with_context(|| format!("listening on {address}"))?
        .run();
        tracing::info!(%address, port, tls = settings.tls.is_some(), "camview-api listening");
        Ok(Self { port, server, snapshots })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server from elsewhere (the all-in-one binary's shutdown).
    pub fn handle(&self) -> AppHandle {
        AppHandle { server: self.server.handle() }
    }

    /// Serves until [`AppHandle::shutdown`], then releases the snapshot taps.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let served = self.server.await;
        self.snapshots.close_all(Duration::from_secs(2)).await;
        served.context("the API server failed")
    }
}

/// Stops a running API; cheap to clone.
#[derive(Clone)]
pub struct AppHandle {
    server: actix_web::dev::ServerHandle,
}

impl AppHandle {
    /// Stops accepting, lets requests in flight finish, and returns once the server stopped.
    pub async fn shutdown(&self) {
        self.server.stop(true).await;
    }
}

/// A resource whose other methods answer 405 with the JSON error body.
pub fn resource(path: &str) -> Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}
