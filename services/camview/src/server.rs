//! The server: every service in this process on one in-process bus and registry, and one
//! [`Authenticator`] over the file store in the data directory, shared by the api and
//! signaling.

use camview_proto::CameraId;
use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use camview_common::auth::{self, AuthSettings, Authenticator};
use camview_common::bus::{Bus, MemoryBus};
use camview_common::config::Reader;
use camview_common::registry::{MemoryRegistry, Registry};
use camview_common::Backend;

use crate::demo;

/// Every variable each service reads is honoured; these only fill in what a single machine needs.
const ALL_IN_ONE_DEFAULTS: &[(&str, &str)] = &[("EXTERNAL_IP", "127.0.0.1"), ("KMS_LISTEN_ADDR", "127.0.0.1:8888")];

/// What the command line asked of the server.
pub struct Options {
    pub demo: bool,
    pub demo_camera: String,
}

pub async fn run(cli: Options) -> anyhow::Result<()> {
    let demo_camera = if cli.demo {
        Some(CameraId::parse(&cli.demo_camera).with_context(|| format!("--demo-camera {:?}", cli.demo_camera))?)
    } else {
        None
    };
    let mut env: HashMap<String, String> = std::env::vars().collect();
    for (k, v) in ALL_IN_ONE_DEFAULTS {
        env.entry((*k).to_owned()).or_insert_with(|| (*v).to_owned());
    }
    if env.remove("REDIS_URL").is_some() {
        eprintln!("camview: REDIS_URL is ignored: the all-in-one binary uses its in-process bus; run the separate services for Redis");
    }
    let engine_settings = camview_media_engine::Settings::from_source(&env).context("media-engine configuration")?;
    let api_settings = camview_api::Settings::from_source(&env).context("api configuration")?;
    // One telemetry setup for every service in this process: the API's /metrics shows all of
    // their instruments. Held to the end of main: dropping it flushes spans and metrics.
    let _telemetry = camview_common::telemetry::init("camview", api_settings.log_format);

    let auth = open_auth(&env).await?;
    let api_tls = api_settings.tls.is_some();
    if cli.demo && api_tls {
        anyhow::bail!("--demo serves plain HTTP on loopback: unset TLS_CERT_FILE/TLS_KEY_FILE for the demo");
    }

    // Every service is composed as its own binary composes it (`Application::build`), on one
    // in-process bus and registry. The engine and the controller serve no ops port of their
    // own here: the api's /metrics shows every instrument of this process.
    let mut engine_settings = engine_settings;
    engine_settings.metrics_addr = None;
    let engine = camview_media_engine::startup::Application::build(engine_settings, Default::default())
        .await
        .context("starting the media engine")?;
    let engine_url = engine.engine().ws_url();
    env.insert("KURENTO_WS_URL".into(), engine_url.clone());
    let mut controller_settings =
        camview_media_controller::config::Settings::from_source(&env).context("media-controller configuration")?;
    controller_settings.metrics_addr = None;
    let signaling_settings =
        camview_signaling::config::Settings::from_source(&env).context("signaling configuration")?;

    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let controller = camview_media_controller::startup::Application::build(
        controller_settings,
        camview_media_controller::startup::Dependencies::new(Backend { bus: bus.clone(), registry: registry.clone() }),
    )
    .await
    .context("starting the media-controller")?;
    let signaling = camview_signaling::startup::Application::build(
        signaling_settings,
        camview_signaling::startup::Dependencies { bus: bus.clone(), registry: registry.clone(), auth: auth.clone() },
    )
    .await
    .context("starting signaling")?;
    let api_deps = camview_api::Deps::start(bus.clone(), registry.clone(), auth.clone())
        .await
        .context("connecting the api to the bus")?;
    let api = camview_api::Application::build(api_settings, api_deps).await.context("starting the api")?;

    let (api_port, signaling_port) = (api.port(), signaling.port());
    let (api_handle, signaling_handle) = (api.handle(), signaling.handle());
    let (controller_handle, engine_handle) = (controller.handle(), engine.handle());
    let tasks = [
        ("api", tokio::spawn(api.run_until_stopped())),
        ("signaling", tokio::spawn(signaling.run_until_stopped())),
        ("media-controller", tokio::spawn(controller.run_until_stopped())),
        ("media engine", tokio::spawn(engine.run_until_stopped())),
    ];
    let host = env.get("EXTERNAL_IP").cloned().unwrap_or_else(|| "127.0.0.1".into());
    let (http, ws) = if api_tls { ("https", "wss") } else { ("http", "ws") };
    println!("camview is running: api {http}://{host}:{api_port}/  signaling {ws}://{host}:{signaling_port}/  media server {engine_url}");

    let demo = match &demo_camera {
        Some(camera) => Some(demo::start(&auth, &format!("http://127.0.0.1:{api_port}"), camera).await?),
        None => None,
    };
    if demo.is_some() {
        let code = auth.create_login_code(auth::ADMIN_USERNAME).await.context("creating the demo login link")?;
        println!(
            "open {http}://{host}:{api_port}/login#code={code} to log in as admin (one-time link, valid {} minutes), then {http}://{host}:{api_port}/viewer?camera={}",
            auth::LOGIN_CODE_TTL.as_secs() / 60,
            cli.demo_camera
        );
    }

    camview_common::shutdown_signal().await;
    println!("camview: shutting down");
    if let Some(demo) = demo {
        demo.stop().await;
    }
    // Outside in: no new viewers, then no new commands, then the media.
    signaling_handle.shutdown().await;
    api_handle.shutdown().await;
    controller_handle.shutdown().await;
    engine_handle.shutdown().await;
    for (name, task) in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = format!("{e:#}"), "{name} stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "{name} task failed"),
        }
    }
    Ok(())
}

/// The file store in the data directory and the one authenticator every service here uses.
async fn open_auth(env: &HashMap<String, String>) -> anyhow::Result<Arc<Authenticator>> {
    let reader = Reader::new(env);
    let settings = AuthSettings::from_reader(&reader).context("auth configuration")?;
    let data_dir = auth::store::default_data_dir(&reader);
    let authenticator = Authenticator::open(None, &data_dir, &settings).await?;
    tracing::info!(data_dir = %data_dir.display(), "users, grants and camera secrets are kept in the data directory (CAMVIEW_DATA_DIR)");
    Ok(Arc::new(authenticator))
}
