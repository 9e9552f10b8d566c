//! `camview-signaling`: reads the environment, connects to Redis, serves viewer
//! WebSockets until SIGTERM or Ctrl-C, then shuts down gracefully.

use anyhow::Context;
use camview_signaling::configuration::Settings;
use camview_signaling::startup::{Application, Dependencies};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::from_env().context("invalid configuration")?;
    camview_common::telemetry::init("camview-signaling", settings.log_format);
    tracing::info!(?settings, "starting");
    let deps = Dependencies::connect(&settings).await?;
    let app = Application::build(settings, deps).await?;
    let handle = app.handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        handle.shutdown().await;
    });
    app.run_until_stopped().await.context("server failed")
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}
