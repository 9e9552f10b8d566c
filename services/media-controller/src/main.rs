//! `camview-media-controller`: drives streams and viewers on the media server from bus commands.

use anyhow::Context;
use camview_common::config::Env;
use camview_common::{shutdown_signal, telemetry, DEFAULT_REDIS_CONNECT_TIMEOUT};
use camview_media_controller::config::Settings;
use camview_media_controller::startup::{serve_metrics, start, Dependencies};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_source(&Env).context("configuration")?;
    let _telemetry = telemetry::init("camview-media-controller", settings.log_format);
    let deps = Dependencies::connect(settings.redis.as_ref(), DEFAULT_REDIS_CONNECT_TIMEOUT)
        .await
        .context("connecting to Redis")?;
    let controller = start(&settings, deps);
    let metrics = serve_metrics(&settings, &controller)?;
    tracing::info!(addr = %metrics.local_addr(), "metrics served on /metrics and /healthz");
    shutdown_signal().await;
    tracing::info!("shutting down");
    controller.shutdown().await;
    metrics.shutdown().await;
    Ok(())
}
