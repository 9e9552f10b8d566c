//! `GET /metrics` and `GET /healthz` for services without an HTTP server of their own (the
//! media-controller and the media-engine). actix-web runs on its own thread with its own
//! runtime, so it works under any caller runtime and never competes with the service's tasks.

use std::net::SocketAddr;
use std::sync::Arc;

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpResponse, HttpServer};

use camview_common::telemetry::{prometheus_text, PROMETHEUS_CONTENT_TYPE, SHUTDOWN_GRACE};

/// `METRICS_ADDR` could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("METRICS_ADDR: cannot listen on {addr}: {source}")]
pub struct OpsBindError {
    pub addr: SocketAddr,
    #[source]
    pub source: std::io::Error,
}

/// Binds `METRICS_ADDR` before a service starts (so a taken port stops it at once); `None`
/// binds nothing (a service composed into the all-in-one binary).
pub fn bind_ops(addr: Option<SocketAddr>) -> Result<Option<std::net::TcpListener>, OpsBindError> {
    addr.map(|addr| std::net::TcpListener::bind(addr).map_err(|source| OpsBindError { addr, source })).transpose()
}

/// A running metrics server; dropping it stops it without waiting.
#[derive(Debug)]
pub struct OpsServer {
    addr: SocketAddr,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl OpsServer {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting, lets in-flight scrapes finish, and waits for the server thread.
    pub async fn shutdown(mut self) {
        self.handle.stop(true).await;
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "metrics server stopped with an error"),
                Err(_) => tracing::warn!("metrics server thread panicked"),
            }
        }
    }
}

impl Drop for OpsServer {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // The stop command is sent at once; the returned future only waits for completion.
            drop(self.handle.stop(false));
        }
    }
}

/// Serves this process' [`prometheus_text`] on `GET /metrics` and `health()` on `GET /healthz`
/// (200 `{"status":"ok"}` or 503 `{"status":"unavailable"}`) from `listener`.
pub fn serve_ops(
    listener: std::net::TcpListener,
    health: impl Fn() -> bool + Send + Sync + 'static,
) -> std::io::Result<OpsServer> {
    let addr = listener.local_addr()?;
    let health: Arc<dyn Fn() -> bool + Send + Sync> = Arc::new(health);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new().name("metrics-http".into()).spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let server = HttpServer::new(move || {
                let health = health.clone();
                App::new()
                    .route(
                        "/metrics",
                        web::get().to(|| async {
                            HttpResponse::Ok().content_type(PROMETHEUS_CONTENT_TYPE).body(prometheus_text())
                        }),
                    )
                    .route(
                        "/healthz",
                        web::get().to(move || {
                            let healthy = health();
                            async move {
                                if healthy {
                                    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
                                } else {
                                    HttpResponse::ServiceUnavailable()
                                        .json(serde_json::json!({"status": "unavailable"}))
                                }
                            }
                        }),
                    )
            })
            .workers(1)
            .disable_signals()
            .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
            .listen(listener);
            let server = match server {
                Ok(server) => server.run(),
                Err(e) => {
                    let _ = started_tx.send(Err(std::io::Error::new(e.kind(), e.to_string())));
                    return Err(e);
                }
            };
            let _ = started_tx.send(Ok(server.handle()));
            server.await
        })
    })?;
    match started_rx.recv() {
        Ok(Ok(handle)) => Ok(OpsServer { addr, handle, thread: Some(thread) }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::Error::other("metrics server thread ended before it started")),
    }
}
