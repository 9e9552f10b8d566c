//! `camview-signaling`: reads the environment, connects to Redis, serves viewer
//! WebSockets until SIGTERM or Ctrl-C, then shuts down gracefully.

use anyhow::Context;
use camview_common::{shutdown_signal, DEFAULT_REDIS_CONNECT_TIMEOUT};
use camview_signaling::configuration::Settings;
use camview_signaling::startup::{Application, Dependencies};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env().context("invalid configuration")?;
    // Held to the end of main: dropping it flushes buffered spans and metrics.
    let _telemetry = camview_common::telemetry::init("camview-signaling", settings.log_format);
    tracing::info!(?settings, "starting");
    let deps = Dependencies::connect(&settings, DEFAULT_REDIS_CONNECT_TIMEOUT).await?;
    let app = Application::build(settings, deps).await?;
    let handle = app.handle();
    tokio::spawn(async move {
        shutdown_signal().await;
        handle.shutdown().await;
    });
    app.run_until_stopped().await.context("server failed")
}
