//! Redis auth store: one hash per kind of record (field = name, value = JSON), the signing
//! key set once with `SET NX`, one-time codes as keys with a TTL taken with `GETDEL`.

use std::time::Duration;

use crate::redis_conn::RedisConn;
use async_trait::async_trait;
use base64::Engine;
use camview_proto::auth::{CameraSecretRecord, ShareRecord, UserRecord};
use camview_proto::keys::Keys;
use camview_proto::CameraId;
use redis::{AsyncCommands, Client};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{now_unix, prunable, sort_shares, AuthStore, AuthStoreError};

/// Users, shares and secrets in Redis under the deployment's key prefix.
#[derive(Clone)]
pub struct RedisAuthStore {
    conn: RedisConn,
    keys: Keys,
}

impl From<redis::RedisError> for AuthStoreError {
    fn from(e: redis::RedisError) -> Self {
        AuthStoreError::Unavailable(e.to_string())
    }
}

fn encode<T: Serialize>(v: &T) -> String {
    // Plain records of strings and numbers always serialize.
    serde_json::to_string(v).expect("auth records serialize")
}

fn decode<T: DeserializeOwned>(key: &str, field: &str, raw: &str) -> Result<T, AuthStoreError> {
    serde_json::from_str(raw)
        .map_err(|e| AuthStoreError::Corrupt { key: format!("{key}[{field}]"), reason: e.to_string() })
}

impl RedisAuthStore {
    /// Connects through `client` (see [`crate::redis_client`]).
    pub async fn with_client(client: Client, keys: Keys) -> Result<Self, AuthStoreError> {
        let conn = RedisConn::connect(client).await?;
        Ok(Self { conn, keys })
    }

    async fn hget<T: DeserializeOwned>(&self, key: String, field: &str) -> Result<Option<T>, AuthStoreError> {
        let raw: Option<String> = self.conn.clone().hget(&key, field).await?;
        raw.map(|r| decode(&key, field, &r)).transpose()
    }

    async fn hvals<T: DeserializeOwned>(&self, key: String) -> Result<Vec<(String, T)>, AuthStoreError> {
        let all: Vec<(String, String)> = self.conn.clone().hgetall(&key).await?;
        all.into_iter().map(|(f, raw)| decode(&key, &f, &raw).map(|v| (f, v))).collect()
    }
}

#[async_trait]
impl AuthStore for RedisAuthStore {
    async fn get_user(&self, username: &str) -> Result<Option<UserRecord>, AuthStoreError> {
        self.hget(self.keys.auth_users(), username).await
    }

    async fn create_user(&self, user: &UserRecord) -> Result<bool, AuthStoreError> {
        Ok(self.conn.clone().hset_nx(self.keys.auth_users(), &user.username, encode(user)).await?)
    }

    async fn update_user(&self, user: &UserRecord) -> Result<bool, AuthStoreError> {
        // HSET only if the field exists: a user deleted meanwhile is not brought back.
        let script = redis::Script::new(
            "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) return 1 end return 0",
        );
        let n: i64 = script
            .key(self.keys.auth_users())
            .arg(&user.username)
            .arg(encode(user))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(n == 1)
    }

    async fn delete_user(&self, username: &str) -> Result<bool, AuthStoreError> {
        let n: i64 = self.conn.clone().hdel(self.keys.auth_users(), username).await?;
        Ok(n == 1)
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>, AuthStoreError> {
        let mut users: Vec<UserRecord> =
            self.hvals(self.keys.auth_users()).await?.into_iter().map(|(_, u)| u).collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    async fn put_share(&self, share: &ShareRecord) -> Result<(), AuthStoreError> {
        let _: () = self.conn.clone().hset(self.keys.auth_shares(), &share.id, encode(share)).await?;
        Ok(())
    }

    async fn get_share(&self, id: &str) -> Result<Option<ShareRecord>, AuthStoreError> {
        self.hget(self.keys.auth_shares(), id).await
    }

    async fn list_shares(&self, camera_id: Option<&CameraId>) -> Result<Vec<ShareRecord>, AuthStoreError> {
        let now = now_unix();
        let mut out = Vec::new();
        for (id, share) in self.hvals::<ShareRecord>(self.keys.auth_shares()).await? {
            if prunable(&share, now) {
                let _: i64 = self.conn.clone().hdel(self.keys.auth_shares(), &id).await?;
            } else if camera_id.is_none_or(|c| *c == share.camera_id) {
                out.push(share);
            }
        }
        sort_shares(&mut out);
        Ok(out)
    }

    async fn put_camera_secret(&self, secret: &CameraSecretRecord) -> Result<(), AuthStoreError> {
        let _: () =
            self.conn.clone().hset(self.keys.auth_camera_secrets(), secret.camera_id.as_str(), encode(secret)).await?;
        Ok(())
    }

    async fn get_camera_secret(&self, camera_id: &CameraId) -> Result<Option<CameraSecretRecord>, AuthStoreError> {
        self.hget(self.keys.auth_camera_secrets(), camera_id).await
    }

    async fn delete_camera_secret(&self, camera_id: &CameraId) -> Result<bool, AuthStoreError> {
        let n: i64 = self.conn.clone().hdel(self.keys.auth_camera_secrets(), camera_id.as_str()).await?;
        Ok(n == 1)
    }

    async fn list_camera_secrets(&self) -> Result<Vec<CameraSecretRecord>, AuthStoreError> {
        let mut all: Vec<CameraSecretRecord> =
            self.hvals(self.keys.auth_camera_secrets()).await?.into_iter().map(|(_, s)| s).collect();
        all.sort_by(|a, b| a.camera_id.cmp(&b.camera_id));
        Ok(all)
    }

    async fn put_login_code(&self, code_sha256: &str, username: &str, ttl: Duration) -> Result<(), AuthStoreError> {
        let _: () =
            self.conn.clone().set_ex(self.keys.auth_login_link(code_sha256), username, ttl.as_secs().max(1)).await?;
        Ok(())
    }

    async fn take_login_code(&self, code_sha256: &str) -> Result<Option<String>, AuthStoreError> {
        Ok(self.conn.clone().get_del(self.keys.auth_login_link(code_sha256)).await?)
    }

    async fn signing_key(&self) -> Result<Vec<u8>, AuthStoreError> {
        let key = self.keys.auth_signing_key();
        let fresh = crate::auth::password::random_token(32);
        let _: Option<String> =
            redis::cmd("SET").arg(&key).arg(&fresh).arg("NX").query_async(&mut self.conn.clone()).await?;
        let stored: Option<String> = self.conn.clone().get(&key).await?;
        let stored = stored.ok_or_else(|| AuthStoreError::Unavailable(format!("{key} vanished right after SET NX")))?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(stored.as_bytes())
            .map_err(|e| AuthStoreError::Corrupt { key, reason: e.to_string() })
    }
}
