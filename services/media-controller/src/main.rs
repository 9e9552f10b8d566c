//! `camview-media-controller`: drives streams and viewers on the media server from bus
//! commands, until Ctrl-C / SIGTERM.

use camview_common::lifecycle::{run_until_signal, service_main};
use camview_media_controller::config::Settings;
use camview_media_controller::startup::{Application, Dependencies};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    service_main(
        "camview-media-controller",
        Settings::from_env(),
        |s| s.log_format,
        |settings| async move {
            let deps = Dependencies::connect(&settings).await?;
            let app = Application::build(settings, deps).await?;
            let handle = app.handle();
            run_until_signal(app.run_until_stopped(), async move { handle.shutdown().await }).await
        },
    )
    .await
}
