//! `camview-media-engine`: settings from the environment, then serve until Ctrl-C / SIGTERM.

use camview_common::telemetry::{self, LogFormat};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let log_format = match std::env::var("LOG_FORMAT")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.parse::<LogFormat>().map_err(|e| (v, e)))
    {
        None => LogFormat::default(),
        Some(Ok(f)) => f,
        Some(Err((v, e))) => {
            eprintln!("camview-media-engine: invalid LOG_FORMAT={v:?}: {e}");
            std::process::exit(2);
        }
    };
    let cfg = match camview_media_engine::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("camview-media-engine: {e}");
            std::process::exit(2);
        }
    };
    let _telemetry = telemetry::init("camview-media-engine", log_format);
    camview_media_engine::run(cfg, async {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    })
    .await
}
