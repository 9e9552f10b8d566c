//! The bus and registry a service runs on: Redis when `REDIS_URL` is set, in-process otherwise.
//! One place for the choice, so every service connects, retries and warns the same way.

use std::sync::Arc;
use std::time::Duration;

use camview_proto::keys::Keys;

use crate::bus::{Bus, BusError, MemoryBus, RedisBus};
use crate::config::RedisConfig;
use crate::redis_client;
use crate::registry::{MemoryRegistry, RedisRegistry, Registry, RegistryError};

/// How long a service waits for Redis at start unless told otherwise.
pub const DEFAULT_REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A bus and a registry that belong together.
#[derive(Clone)]
pub struct Backend {
    pub bus: Arc<dyn Bus>,
    pub registry: Arc<dyn Registry>,
}

/// Redis could not be reached in time, or not used at all.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("Redis unreachable for {waited:?} (REDIS_URL): {source}")]
    Bus { waited: Duration, source: BusError },
    #[error("Redis unreachable for {waited:?} (REDIS_URL): {source}")]
    Registry { waited: Duration, source: RegistryError },
    /// REDIS_URL or the REDIS_TLS_* material cannot make a client; retrying will not help.
    #[error("cannot use REDIS_URL with the REDIS_TLS_* settings: {0}")]
    Client(redis::RedisError),
    /// The server is there but the TLS handshake failed; retrying will not help.
    #[error("TLS with Redis failed (check REDIS_URL's host name and REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE): {reason}")]
    Tls { reason: String },
}

impl BackendError {
    /// `Ok` with the error unchanged if retrying may help; `Err` with
    /// [`BackendError::Tls`] if rustls refused the connection, which retrying will not fix.
    fn retryable(self) -> Result<Self, Self> {
        let reason = match &self {
            Self::Bus { source, .. } => source.to_string(),
            Self::Registry { source, .. } => source.to_string(),
            Self::Client(_) | Self::Tls { .. } => return Err(self),
        };
        if redis_client::is_tls_failure(&reason) {
            Err(Self::Tls { reason })
        } else {
            Ok(self)
        }
    }

    /// The same error, saying how long Redis was tried.
    fn waited(self, waited: Duration) -> Self {
        match self {
            Self::Bus { source, .. } => Self::Bus { waited, source },
            Self::Registry { source, .. } => Self::Registry { waited, source },
            other => other,
        }
    }
}

impl Backend {
    /// A fresh in-process bus and registry: they reach only services of this process.
    pub fn in_process() -> Self {
        Self { bus: Arc::new(MemoryBus::new()), registry: Arc::new(MemoryRegistry::new()) }
    }

    /// Connects both to Redis at `url` under `keys`, once, without TLS material beyond the
    /// system roots.
    pub async fn redis(url: &str, keys: Keys) -> Result<Self, BackendError> {
        let client = redis_client::client(url, None).map_err(BackendError::Client)?;
        Self::redis_with(client, keys).await
    }

    /// Connects both through `client` under `keys`, once.
    async fn redis_with(client: redis::Client, keys: Keys) -> Result<Self, BackendError> {
        let waited = Duration::ZERO;
        let bus = RedisBus::with_client(client.clone(), keys.clone())
            .await
            .map_err(|source| BackendError::Bus { waited, source })?;
        let registry = RedisRegistry::with_client(client, keys)
            .await
            .map_err(|source| BackendError::Registry { waited, source })?;
        Ok(Self { bus: Arc::new(bus), registry: Arc::new(registry) })
    }

    /// Redis when configured, retried with backoff for up to `connect_timeout` because
    /// compose starts Redis beside the services; otherwise [`Backend::in_process`], loudly,
    /// since nothing outside this process can then reach the service.
    pub async fn connect(redis: Option<&RedisConfig>, connect_timeout: Duration) -> Result<Self, BackendError> {
        let Some(redis) = redis else {
            tracing::warn!("REDIS_URL is not set: SINGLE-PROCESS MODE with an in-process bus and registry; only services in this process can reach each other");
            return Ok(Self::in_process());
        };
        let client = redis.client().map_err(BackendError::Client)?;
        let started = tokio::time::Instant::now();
        let mut backoff = Duration::from_millis(200);
        loop {
            let error = match Self::redis_with(client.clone(), Keys::new(redis.prefix.clone())).await {
                Ok(backend) => {
                    tracing::info!(prefix = %redis.prefix, "connected to Redis");
                    return Ok(backend);
                }
                Err(e) => e.retryable()?,
            };
            if started.elapsed() + backoff >= connect_timeout {
                return Err(error.waited(started.elapsed()));
            }
            tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "Redis is not reachable yet");
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM (what container runtimes send), for graceful shutdowns.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("Ctrl-C received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}
