//! `camview-signaling`: reads the environment, then serves viewer WebSockets until Ctrl-C /
//! SIGTERM, and shuts down gracefully.

use camview_common::lifecycle::{run_until_signal, service_main};
use camview_common::DEFAULT_REDIS_CONNECT_TIMEOUT;
use camview_signaling::config::Settings;
use camview_signaling::startup::{Application, Dependencies};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_main(
        "camview-signaling",
        Settings::from_env(),
        |s| s.log_format,
        |settings| async move {
            tracing::info!(?settings, "starting");
            let deps = Dependencies::connect(&settings, DEFAULT_REDIS_CONNECT_TIMEOUT).await?;
            let app = Application::build(settings, deps).await?;
            let handle = app.handle();
            run_until_signal(app.run_until_stopped(), async move { handle.shutdown().await }).await
        },
    )
    .await
}
