//! `camview-media-controller`: drives streams and viewers on the media server from bus commands.

use anyhow::Context;
use camview_common::config::Env;
use camview_common::telemetry;
use camview_media_controller::config::Settings;
use camview_media_controller::startup::{start, Dependencies};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_source(&Env).context("configuration")?;
    telemetry::init("camview-media-controller", settings.log_format);
    let deps = Dependencies::connect(&settings).await?;
    let controller = start(&settings, deps);
    shutdown_signal().await?;
    tracing::info!("shutting down");
    controller.shutdown().await;
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
