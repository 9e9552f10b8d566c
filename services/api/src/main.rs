//! `camview-api`: reads the environment, then serves until stopped.

use camview_api::{Application, Settings};

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("camview-api: configuration error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // Held to the end of main: dropping it flushes buffered spans and metrics.
    let _telemetry = camview_common::telemetry::init("camview-api", settings.log_format);
    let app = match Application::build_from_settings(settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "camview-api failed to start");
            eprintln!("camview-api: failed to start: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match app.run_until_stopped().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "camview-api stopped with an error");
            std::process::ExitCode::FAILURE
        }
    }
}
