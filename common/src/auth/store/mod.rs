//! Where users, shares, camera secrets, one-time login codes and the signing key live:
//! Redis in split mode ([`RedisAuthStore`]), a JSON file in `CAMVIEW_DATA_DIR` for the
//! all-in-one binary ([`FileAuthStore`]); both survive restarts.
//!
//! Invariants every implementation keeps (checked by the contract suite in
//! `common/tests/contract/auth_store.rs`): [`AuthStore::create_user`] creates at most once
//! under concurrency; [`AuthStore::signing_key`] returns the same key to every caller,
//! forever; [`AuthStore::take_login_code`] hands a code out at most once.

mod file;
mod redis;

pub use file::FileAuthStore;
pub use redis::RedisAuthStore;

use std::time::Duration;

use async_trait::async_trait;
use camview_proto::auth::{CameraSecretRecord, ShareRecord, UserRecord};
use camview_proto::CameraId;

/// Errors of the auth store.
#[derive(Debug, thiserror::Error)]
pub enum AuthStoreError {
    #[error("the auth store is unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt auth store entry {key}: {reason}")]
    Corrupt { key: String, reason: String },
}

/// Users, shares and secrets. See the module docs for the invariants.
#[async_trait]
pub trait AuthStore: Send + Sync + 'static {
    async fn get_user(&self, username: &str) -> Result<Option<UserRecord>, AuthStoreError>;
    /// Creates a user unless one with that name exists; true if created.
    async fn create_user(&self, user: &UserRecord) -> Result<bool, AuthStoreError>;
    /// Replaces an existing user; false if there is none.
    async fn update_user(&self, user: &UserRecord) -> Result<bool, AuthStoreError>;
    async fn delete_user(&self, username: &str) -> Result<bool, AuthStoreError>;
    /// Every user, sorted by name.
    async fn list_users(&self) -> Result<Vec<UserRecord>, AuthStoreError>;

    /// Creates or replaces a share.
    async fn put_share(&self, share: &ShareRecord) -> Result<(), AuthStoreError>;
    async fn get_share(&self, id: &str) -> Result<Option<ShareRecord>, AuthStoreError>;
    /// Shares of one camera or all, sorted by creation time; shares expired for more than a
    /// day are pruned on the way.
    async fn list_shares(&self, camera_id: Option<&CameraId>) -> Result<Vec<ShareRecord>, AuthStoreError>;

    async fn put_camera_secret(&self, secret: &CameraSecretRecord) -> Result<(), AuthStoreError>;
    async fn get_camera_secret(&self, camera_id: &CameraId) -> Result<Option<CameraSecretRecord>, AuthStoreError>;
    async fn delete_camera_secret(&self, camera_id: &CameraId) -> Result<bool, AuthStoreError>;
    /// Every camera with a secret, sorted by id.
    async fn list_camera_secrets(&self) -> Result<Vec<CameraSecretRecord>, AuthStoreError>;

    /// Stores a one-time login code (by its digest) for `username`, valid for `ttl`.
    async fn put_login_code(&self, code_sha256: &str, username: &str, ttl: Duration) -> Result<(), AuthStoreError>;
    /// The username of an unexpired code, removing it: a code works once.
    async fn take_login_code(&self, code_sha256: &str) -> Result<Option<String>, AuthStoreError>;

    /// The deployment's HS256 key: created at first use, then the same for every instance.
    async fn signing_key(&self) -> Result<Vec<u8>, AuthStoreError>;
}

/// Days an expired share is kept for the list before it is pruned.
pub(crate) const SHARE_RETENTION_SECS: u64 = 24 * 3600;

pub(crate) use crate::clock::now_unix;

/// Whether a share is long past its expiry and can go.
pub(crate) fn prunable(share: &ShareRecord, now: u64) -> bool {
    share.expires_at + SHARE_RETENTION_SECS < now
}

/// Order of [`AuthStore::list_shares`].
pub(crate) fn sort_shares(shares: &mut [ShareRecord]) {
    shares.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
}

/// `CAMVIEW_DATA_DIR`, else `$XDG_DATA_HOME/camview`, else `$HOME/.local/share/camview`.
pub fn default_data_dir(r: &crate::config::Reader<'_>) -> std::path::PathBuf {
    if let Some(dir) = r.raw("CAMVIEW_DATA_DIR") {
        return dir.into();
    }
    if let Some(xdg) = r.raw("XDG_DATA_HOME") {
        return std::path::Path::new(&xdg).join("camview");
    }
    let home = r.raw("HOME").unwrap_or_else(|| "/var/lib".into());
    std::path::Path::new(&home).join(".local/share/camview")
}

/// The store a service uses: Redis when `redis` is set (split mode), else the file in
/// `data_dir` (the all-in-one binary and single-process runs).
pub async fn open(
    redis: Option<&crate::config::RedisConfig>,
    data_dir: &std::path::Path,
) -> Result<std::sync::Arc<dyn AuthStore>, AuthStoreError> {
    match redis {
        Some(cfg) => {
            let client = cfg.client().map_err(|e| AuthStoreError::Unavailable(e.to_string()))?;
            let keys = camview_proto::keys::Keys::new(cfg.prefix.clone());
            Ok(std::sync::Arc::new(RedisAuthStore::with_client(client, keys).await?))
        }
        None => Ok(std::sync::Arc::new(FileAuthStore::open(data_dir)?)),
    }
}
