//! Redis-backed bus and registry.

use std::sync::Arc;

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

/// [`redis_backend`] plus a started bus client.
#[tracing::instrument(skip_all, fields(prefix = %redis.prefix))]
pub async fn connect(redis: &RedisConfig) -> anyhow::Result<Deps> {
    let (bus, registry) = redis_backend(&redis.url, &redis.prefix).await?;
    Ok(Deps::start(bus, registry).await?)
}
