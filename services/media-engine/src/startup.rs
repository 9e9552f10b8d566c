//! Starting the media engine, in the shape every camview service has:
//! [`Application::build`]`(settings, dependencies)` binds and starts, then [`Application::port`]
//! and [`Application::run_until_stopped`]; a [`StopHandle`] stops it from elsewhere.

use std::net::SocketAddr;

use anyhow::Context;
use camview_common::{stop_pair, StopHandle, StopSignal};
use camview_http::{bind_ops, serve_ops, OpsServer};
use opentelemetry::metrics::Meter;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::{metrics, Engine};

/// What the engine needs from outside: only where its instruments go.
pub struct Dependencies {
    pub meter: Meter,
}

impl Default for Dependencies {
    /// The process' meter provider (what `/metrics` serves).
    fn default() -> Self {
        Self { meter: camview_common::telemetry::meter(metrics::SCOPE) }
    }
}

/// A started engine with its ops server (`GET /metrics`, `GET /healthz` on `METRICS_ADDR`,
/// none when that is unset by the all-in-one binary).
pub struct Application {
    engine: Engine,
    ops: Option<OpsServer>,
    stop: StopSignal,
    handle: StopHandle,
}

impl Application {
    /// Binds the Kurento WebSocket listener (`KMS_LISTEN_ADDR`), the WebRTC sockets and
    /// `METRICS_ADDR` (port 0 picks free ones), then serves.
    pub async fn build(settings: Settings, deps: Dependencies) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.ws_addr)
            .await
            .with_context(|| format!("KMS_LISTEN_ADDR/ENGINE_WS_ADDR: cannot listen on {}", settings.ws_addr))?;
        let ops_listener = bind_ops(settings.metrics_addr)?;
        let engine = Engine::start_on_with_meter(listener, settings, &deps.meter).await?;
        // Healthy until stopped.
        let running = engine.cancel.clone();
        let ops = ops_listener
            .map(|l| serve_ops(l, move || !running.is_cancelled()))
            .transpose()
            .context("starting the ops server")?;
        if let Some(ops) = &ops {
            tracing::info!(addr = %ops.local_addr(), "metrics served on /metrics and /healthz");
        }
        let (handle, stop) = stop_pair();
        Ok(Self { engine, ops, stop, handle })
    }

    /// The Kurento JSON-RPC port.
    pub fn port(&self) -> u16 {
        self.engine.ws_addr().port()
    }

    /// Where `/metrics` and `/healthz` are served.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(OpsServer::local_addr)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Stops the engine from elsewhere ([`StopHandle::shutdown`] returns once it has).
    pub fn handle(&self) -> StopHandle {
        self.handle.clone()
    }

    /// Serves until a stop is asked for, then stops every task and the ops server.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Self { engine, ops, mut stop, handle } = self;
        drop(handle);
        stop.requested().await;
        engine.shutdown();
        if let Some(ops) = ops {
            ops.shutdown().await;
        }
        stop.finished();
        Ok(())
    }
}
