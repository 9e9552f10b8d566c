//! `camview-api`: reads the environment, then serves until Ctrl-C / SIGTERM.

use camview_api::{Application, Deps, Settings};
use camview_common::lifecycle::service_main;
use camview_common::shutdown_signal;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_main(
        "camview-api",
        Settings::from_env(),
        |s| s.log_format,
        |settings| async move {
            let deps = Deps::from_settings(&settings).await?;
            let app = Application::build(settings, deps).await?;
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
