//! `camview-media-engine`: settings from the environment, then serve until Ctrl-C / SIGTERM.

use camview_common::lifecycle::service_main;
use camview_common::shutdown_signal;
use camview_media_engine::startup::{Application, Dependencies};
use camview_media_engine::Settings;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_main(
        "camview-media-engine",
        Settings::from_env(),
        |s| s.log_format,
        |settings| async move {
            let app = Application::build(settings, Dependencies::default()).await?;
            let handle = app.handle();
            tokio::spawn(async move {
                shutdown_signal().await;
                handle.shutdown().await;
            });
            app.run_until_stopped().await
        },
    )
    .await
}
