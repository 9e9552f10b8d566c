//! The Redis command connection of every store (bus, registry, users): a reconnecting
//! [`ConnectionManager`] that retries a request once when it failed because the connection
//! had dropped.
//!
//! After Redis restarts, every idle connection is dead, and a plain `ConnectionManager` fails
//! the first request on it before reconnecting: each component would answer one error per
//! connection after Redis is already back (a join refused, a keepalive 503). Retrying once
//! on the new connection hides exactly that. A request that reached a server which died
//! before answering may run twice; every request of camview is idempotent or tolerates a
//! duplicate (puts, deletes, set adds; a duplicated command is handled idempotently by the
//! media-controller).

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// Reconnection settings: give up on one attempt fast so callers see `Unavailable` within
/// seconds while Redis is down.
pub(crate) fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(3)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
}

/// A cheap-to-clone command connection (see the module docs).
#[derive(Clone)]
pub struct RedisConn(ConnectionManager);

impl RedisConn {
    /// Connects now; fails if Redis cannot be reached.
    pub async fn connect(client: Client) -> RedisResult<Self> {
        ConnectionManager::new_with_config(client, manager_config()).await.map(Self)
    }

    /// Connects on first use, with `config` (e.g. no response timeout for blocking reads).
    pub fn lazy(client: Client, config: ConnectionManagerConfig) -> RedisResult<Self> {
        ConnectionManager::new_lazy_with_config(client, config).map(Self)
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            match self.0.req_packed_command(cmd).await {
                Err(e) if e.is_connection_dropped() => {
                    tracing::debug!(error = %e, "the Redis connection had dropped; retrying once on a new one");
                    self.0.req_packed_command(cmd).await
                }
                other => other,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            match self.0.req_packed_commands(pipeline, offset, count).await {
                Err(e) if e.is_connection_dropped() => {
                    tracing::debug!(error = %e, "the Redis connection had dropped; retrying once on a new one");
                    self.0.req_packed_commands(pipeline, offset, count).await
                }
                other => other,
            }
        })
    }

    fn get_db(&self) -> i64 {
        self.0.get_db()
    }
}
