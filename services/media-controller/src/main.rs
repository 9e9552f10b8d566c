//! Connects to the media server and keeps the session alive. The bus-driven stream logic is
//! designed separately and will plug in here.

use anyhow::Context;
use camview_common::config::Env;
use camview_common::telemetry;
use camview_media_controller::config::Settings;
use camview_media_controller::kurento::{KurentoClient, ServerManager, SERVER_MANAGER_ID};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_source(&Env).context("configuration")?;
    telemetry::init("camview-media-controller", settings.log_format);
    let url = settings.kurento.url.clone();
    let client = KurentoClient::connect(settings.kurento).await.with_context(|| format!("connecting to the media server at {url}"))?;
    let info = ServerManager::attach(&client, SERVER_MANAGER_ID).get_info().await.context("reading the media server info")?;
    tracing::info!(version = %info.version, kind = %info.kind, capabilities = ?info.capabilities, "media server ready");
    shutdown_signal().await?;
    tracing::info!("shutting down");
    client.shutdown();
    Ok(())
}

/// Ctrl-C, or SIGTERM from the container runtime.
async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        ctrl_c = tokio::signal::ctrl_c() => ctrl_c.context("waiting for ctrl-c"),
        _ = term.recv() => Ok(()),
    }
}
