//! The store (and, in split mode, the bus) a management command works on.

use std::sync::Arc;
use std::time::Duration;

use camview_common::auth::{self, AuthStore};
use camview_common::backend::Backend;
use camview_common::config::{Reader, RedisConfig};
use camview_proto::auth::Subject;

use super::CliError;

/// How long a command waits for Redis before giving up.
const REDIS_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the records live.
pub struct Target {
    pub store: Arc<dyn AuthStore>,
    /// Split mode only: Redis, to reach the bus when access is reduced.
    redis: Option<RedisConfig>,
}

impl Target {
    /// Redis when `REDIS_URL` is set, else the file store in the data directory.
    pub async fn open(reader: &Reader<'_>) -> Result<Self, CliError> {
        let redis = match reader.raw("REDIS_URL") {
            Some(_) => Some(RedisConfig::from_reader(reader).map_err(|e| CliError::Usage(e.to_string()))?),
            None => None,
        };
        let data_dir = auth::store::default_data_dir(reader);
        let store = match tokio::time::timeout(REDIS_TIMEOUT, auth::store::open(redis.as_ref(), &data_dir)).await {
            Ok(store) => store?,
            Err(_) => {
                return Err(CliError::Runtime(format!(
                    "the store did not answer within {REDIS_TIMEOUT:?} (is Redis at REDIS_URL running?)"
                )))
            }
        };
        Ok(Self { store, redis })
    }

    /// Tells live viewers of `subject` that their access changed. Through the Redis bus in
    /// split mode; the all-in-one server cannot be reached from here and ends them at its
    /// next periodic re-check. The change itself is already saved either way, and every
    /// token is checked against the store at each use.
    pub async fn revoked(&self, subject: Subject) {
        let Some(redis) = &self.redis else {
            eprintln!("note: a running all-in-one server ends live viewers affected by this change at its next periodic re-check (SIGNALING_AUTH_RECHECK_SECONDS, 30 s by default)");
            return;
        };
        let published = match Backend::connect(Some(redis), REDIS_TIMEOUT).await {
            Ok(backend) => auth::publish_revocation(backend.bus.as_ref(), subject).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = published {
            eprintln!("warning: the change is saved, but live viewers could not be told at once ({e}); signaling ends them at its next periodic re-check");
        }
    }
}
