//! A service's life, the same for every camview service:
//! - [`service_main`] is the body of each binary's `main`: settings, telemetry, serve, and
//!   one exit-status convention;
//! - stopping a running application from elsewhere: its `run_until_stopped` waits on a
//!   [`StopSignal`]; whoever holds a [`StopHandle`] (its `main`, the all-in-one binary, a
//!   test) asks it to stop and waits until it has.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use tokio::sync::watch;

use crate::config::ConfigError;
use crate::telemetry::{self, LogFormat};

/// Runs an application (`run`: its `run_until_stopped()`) until Ctrl-C or SIGTERM, which
/// asks it to stop gracefully (`stop`: its handle's `shutdown()`).
pub async fn run_until_signal<E>(
    run: impl Future<Output = Result<(), E>>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<(), E> {
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        stop.await;
    });
    run.await
}

/// The exit status of a service stopped by an invalid setting (as `sysexits`' usage error).
pub const EXIT_BAD_CONFIG: u8 = 2;

/// What every service's `main` does: stops with [`EXIT_BAD_CONFIG`] and the variable's name on
/// stderr when `settings` is invalid; else starts telemetry in the settings' log format (held
/// until `serve` returns, then flushed) and runs `serve`, exiting 1 (logged) when it fails.
pub async fn service_main<S, E, Fut>(
    name: &str,
    settings: Result<S, ConfigError>,
    log_format: impl FnOnce(&S) -> LogFormat,
    serve: impl FnOnce(S) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let settings = match settings {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{name}: configuration error: {e}");
            return ExitCode::from(EXIT_BAD_CONFIG);
        }
    };
    let _telemetry = telemetry::init(name, log_format(&settings));
    match serve(settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "{name} stopped with an error");
            eprintln!("{name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Asks an application to stop; cheap to clone.
#[derive(Clone, Debug)]
pub struct StopHandle {
    requested: std::sync::Arc<watch::Sender<bool>>,
    finished: watch::Receiver<bool>,
}

/// The application's side: learns that a stop was asked for, and says when it has stopped.
#[derive(Debug)]
pub struct StopSignal {
    requested: watch::Receiver<bool>,
    finished: watch::Sender<bool>,
}

/// A new pair: no stop asked for yet.
pub fn stop_pair() -> (StopHandle, StopSignal) {
    let (requested_tx, requested_rx) = watch::channel(false);
    let (finished_tx, finished_rx) = watch::channel(false);
    (
        StopHandle { requested: std::sync::Arc::new(requested_tx), finished: finished_rx },
        StopSignal { requested: requested_rx, finished: finished_tx },
    )
}

impl StopHandle {
    /// Asks the application to stop, and returns once it has stopped (or its run was dropped).
    pub async fn shutdown(&self) {
        self.requested.send_replace(true);
        let mut finished = self.finished.clone();
        let _ = finished.wait_for(|done| *done).await;
    }
}

impl StopSignal {
    /// Resolves once a stop was asked for (at once if it already was). Never resolves while a
    /// handle lives and asks nothing; resolves when every handle is gone.
    pub async fn requested(&mut self) {
        let _ = self.requested.wait_for(|stop| *stop).await;
    }

    /// Tells every waiting [`StopHandle::shutdown`] that the application has stopped.
    pub fn finished(self) {
        self.finished.send_replace(true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn shutdown_returns_only_after_the_application_says_it_finished() {
        let (handle, mut signal) = stop_pair();
        let mut shutdown = tokio::spawn(async move { handle.shutdown().await });
        tokio::time::timeout(Duration::from_secs(5), signal.requested()).await.expect("stop seen");
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut shutdown).await.is_err(),
            "shutdown returned before the application finished"
        );
        signal.finished();
        tokio::time::timeout(Duration::from_secs(5), shutdown).await.expect("shutdown returns").unwrap();
    }

    #[tokio::test]
    async fn a_stop_asked_before_the_application_waits_is_not_lost() {
        let (handle, mut signal) = stop_pair();
        let asking = tokio::spawn({
            let handle = handle.clone();
            async move { handle.shutdown().await }
        });
        // The request is seen however late the application looks.
        tokio::time::timeout(Duration::from_secs(5), signal.requested()).await.expect("stop seen");
        signal.finished();
        tokio::time::timeout(Duration::from_secs(5), asking).await.expect("shutdown returns").unwrap();
    }

    #[tokio::test]
    async fn shutdown_returns_when_the_run_is_dropped_without_finishing() {
        let (handle, signal) = stop_pair();
        drop(signal);
        tokio::time::timeout(Duration::from_secs(5), handle.shutdown()).await.expect("shutdown returns");
    }
}
