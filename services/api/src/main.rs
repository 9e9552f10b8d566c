//! `camview-api`: reads the environment, then serves until Ctrl-C / SIGTERM.

use camview_api::{Application, Deps, Settings};
use camview_common::lifecycle::{run_until_signal, service_main};

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
            run_until_signal(app.run_until_stopped(), async move { handle.shutdown().await }).await
        },
    )
    .await
}
