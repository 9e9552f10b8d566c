//! Redis-backed bus and registry.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use camview_common::bus::redis::RedisBus;
use camview_common::config::RedisConfig;
use camview_common::registry::redis::RedisRegistry;
use camview_common::{Bus, Registry};
use camview_proto::keys::Keys;

use crate::startup::Deps;

/// Connects the Redis bus and registry with every key under `prefix`.
pub async fn redis_backend(
    url: &str,
    prefix: &str,
) -> anyhow::Result<(Arc<dyn Bus>, Arc<dyn Registry>)> {
    let keys = Keys::new(prefix);
    let bus = RedisBus::connect(url, keys.clone())
        .await
        .context("connecting the Redis bus (REDIS_URL)")?;
    let registry = RedisRegistry::connect(url, keys)
        .await
        .context("connecting the Redis registry (REDIS_URL)")?;
    Ok((Arc::new(bus), Arc::new(registry)))
}

/// [`redis_backend`] plus a started bus client. Redis may come up after the API (compose
/// starts them together): retries with backoff for up to `connect_timeout`, then fails.
#[tracing::instrument(skip_all, fields(prefix = %redis.prefix))]
pub async fn connect(redis: &RedisConfig, connect_timeout: Duration) -> anyhow::Result<Deps> {
    let deadline = tokio::time::Instant::now() + connect_timeout;
    let mut backoff = Duration::from_millis(200);
    let (bus, registry) = loop {
        match redis_backend(&redis.url, &redis.prefix).await {
            Ok(backend) => break backend,
            Err(e) if tokio::time::Instant::now() + backoff < deadline => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    retry_in_ms = backoff.as_millis() as u64,
                    "Redis is not reachable yet"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                return Err(e.context(format!(
                    "Redis unreachable for REDIS_CONNECT_TIMEOUT_SECONDS={}",
                    connect_timeout.as_secs()
                )))
            }
        }
    };
    tracing::info!("connected to Redis");
    Ok(Deps::start(bus, registry).await?)
}
