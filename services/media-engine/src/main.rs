//! `camview-media-engine`: settings from the environment, then serve until Ctrl-C / SIGTERM.

use camview_common::lifecycle::{run_until_signal, service_main};
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
            run_until_signal(app.run_until_stopped(), async move { handle.shutdown().await }).await
        },
    )
    .await
}
