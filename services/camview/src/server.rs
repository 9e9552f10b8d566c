//! `camview`: the whole product in one process. The api, signaling, media-controller and
//! media-engine share an in-process bus and registry, so nothing needs installing: no Redis,
//! no Kurento. `--demo` adds a simulated camera that follows the API's keepalive answers.

mod demo;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use camview_common::bus::{Bus, MemoryBus};
use camview_common::registry::{MemoryRegistry, Registry};
use clap::Parser;

/// Every variable each service reads is honoured; these only fill in what a single machine needs.
const ALL_IN_ONE_DEFAULTS: &[(&str, &str)] = &[("EXTERNAL_IP", "127.0.0.1"), ("KMS_LISTEN_ADDR", "127.0.0.1:8888")];

#[derive(Debug, Parser)]
#[command(version, about = "camview: camera livestreams in the browser, all services in one process")]
struct Cli {
    /// Also start a simulated camera on a stream and print the viewer URL.
    #[arg(long)]
    demo: bool,
    /// Camera id of the demo stream.
    #[arg(long, default_value = "demo")]
    demo_camera: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut env: HashMap<String, String> = std::env::vars().collect();
    for (k, v) in ALL_IN_ONE_DEFAULTS {
        env.entry((*k).to_owned()).or_insert_with(|| (*v).to_owned());
    }
    if env.remove("REDIS_URL").is_some() {
        eprintln!("camview: REDIS_URL is ignored: the all-in-one binary uses its in-process bus; run the separate services for Redis");
    }
    let lookup = env.clone();
    let engine_config = camview_media_engine::Config::from_lookup(move |k| lookup.get(k).cloned()).context("media-engine configuration")?;
    let api_settings = camview_api::Settings::from_source(&env).context("api configuration")?;
    // One telemetry setup for every service in this process: the API's /metrics shows all of
    // their instruments. Held to the end of main: dropping it flushes spans and metrics.
    let _telemetry = camview_common::telemetry::init("camview", api_settings.log_format);

    let engine = camview_media_engine::Engine::start(engine_config).await.context("starting the media engine")?;
    env.insert("KURENTO_WS_URL".into(), engine.ws_url());
    let controller_settings = camview_media_controller::config::Settings::from_source(&env).context("media-controller configuration")?;
    let signaling_settings = camview_signaling::configuration::Settings::from_source(&env).context("signaling configuration")?;

    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let controller = camview_media_controller::startup::start(
        &controller_settings,
        camview_media_controller::startup::Dependencies { bus: bus.clone(), registry: registry.clone() },
    );
    let signaling = camview_signaling::startup::Application::build(
        signaling_settings,
        camview_signaling::startup::Dependencies { bus: bus.clone(), registry: registry.clone() },
    )
    .await
    .context("starting signaling")?;
    let api_deps = camview_api::Deps::start(bus.clone(), registry.clone()).await.context("connecting the api to the bus")?;
    let api = camview_api::Application::build(api_settings, api_deps).await.context("starting the api")?;

    let (api_port, signaling_port) = (api.port(), signaling.port());
    let api_handle = api.handle();
    let signaling_handle = signaling.handle();
    let api_task = tokio::spawn(api.run_until_stopped());
    let signaling_task = tokio::spawn(signaling.run_until_stopped());
    let host = env.get("EXTERNAL_IP").cloned().unwrap_or_else(|| "127.0.0.1".into());
    println!("camview is running: api http://{host}:{api_port}/  signaling ws://{host}:{signaling_port}/  media server {}", engine.ws_url());

    let demo = if cli.demo { Some(demo::start(&format!("http://127.0.0.1:{api_port}"), &cli.demo_camera).await?) } else { None };
    if demo.is_some() {
        println!("open http://{host}:{api_port}/viewer?camera={} in a browser and press Start", cli.demo_camera);
    }

    camview_common::shutdown_signal().await;
    println!("camview: shutting down");
    if let Some(demo) = demo {
        demo.stop().await;
    }
    signaling_handle.shutdown().await;
    api_handle.stop(true).await;
    controller.shutdown().await;
    engine.shutdown();
    for (name, task) in [("api", api_task), ("signaling", signaling_task)] {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "{name} stopped with an error"),
            Err(e) => tracing::warn!(error = %e, "{name} task failed"),
        }
    }
    Ok(())
}
