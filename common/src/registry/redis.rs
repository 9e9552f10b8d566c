//! Redis registry: records as hashes with index sets, expiring keys for liveness, the
//! heartbeat and the lease, and Lua scripts wherever a check and a write must be atomic.
//!
//! Every key name comes from [`Keys`]; scripts receive their keys as `KEYS`, never build
//! them. Multi-key updates whose keys depend on stored data (a viewer's instance) read
//! that data first and pass it to the script, which refuses with `-1` if it changed in
//! between; the caller then retries.

mod codec;

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use crate::redis_conn::RedisConn;
use async_trait::async_trait;
use camview_proto::keys::Keys;
use camview_proto::stream::{CameraStatus, ControllerHeartbeat, StreamRecord, ViewerRecord};
use redis::{Client, ErrorKind, RedisError, Script};

use self::codec::HashRecord;
use super::{sort_viewers, Registry, RegistryError, SlotReservation};

/// How often a read-then-script update is retried when the data moved underneath it.
const OPTIMISTIC_RETRIES: usize = 5;

/// EXISTS stream -> SISMEMBER -> SCARD < limit -> SADD. Returns 0 reserved, 1 full,
/// 2 no such stream.
static RESERVE_SLOT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 0 then return 2 end
        if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return 0 end
        if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[2]) then return 1 end
        redis.call('SADD', KEYS[2], ARGV[1])
        return 0
        ",
    )
});

/// Replaces a viewer hash and moves it between instance sets. KEYS: viewer, viewers
/// index, new instance set, [old instance set]. ARGV: viewer id, expected old instance
/// ('' for none), field/value pairs.
static PUT_VIEWER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local old = redis.call('HGET', KEYS[1], 'signaling_instance') or ''
        if old ~= ARGV[2] then return -1 end
        redis.call('DEL', KEYS[1])
        redis.call('HSET', KEYS[1], unpack(ARGV, 3))
        redis.call('SADD', KEYS[2], ARGV[1])
        if KEYS[4] then redis.call('SREM', KEYS[4], ARGV[1]) end
        redis.call('SADD', KEYS[3], ARGV[1])
        return 1
        ",
    )
});

/// Frees a slot and removes a viewer's record and index entries. KEYS: slot set, viewer,
/// viewers index, [instance set]. ARGV: viewer id, expected instance ('' for none).
/// Returns how many entries went away, or -1.
static REMOVE_VIEWER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local inst = redis.call('HGET', KEYS[2], 'signaling_instance') or ''
        if inst ~= ARGV[2] then return -1 end
        local n = redis.call('SREM', KEYS[1], ARGV[1]) + redis.call('DEL', KEYS[2]) + redis.call('SREM', KEYS[3], ARGV[1])
        if KEYS[4] then n = n + redis.call('SREM', KEYS[4], ARGV[1]) end
        return n
        ",
    )
});

/// Takes the lease if free, renews it if ARGV[1] holds it. Returns 1 if held now.
static ACQUIRE_LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local holder = redis.call('GET', KEYS[1])
        if holder == false then
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            return 1
        end
        if holder == ARGV[1] then
            redis.call('PEXPIRE', KEYS[1], ARGV[2])
            return 1
        end
        return 0
        ",
    )
});

/// Deletes the lease only if ARGV[1] holds it.
static RELEASE_LEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        ",
    )
});

/// [`Registry`] on Redis, through one reconnecting multiplexed connection. Cheap to
/// share behind an `Arc`.
pub struct RedisRegistry {
    conn: RedisConn,
    keys: Keys,
}

/// Maps a Redis error; data Redis holds but we cannot read is `Corrupt`, not `Unavailable`.
fn error_at(key: &str) -> impl FnOnce(RedisError) -> RegistryError + '_ {
    move |e| match e.kind() {
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => {
            RegistryError::Corrupt { key: key.to_owned(), reason: e.to_string() }
        }
        _ if e.code() == Some("WRONGTYPE") => RegistryError::Corrupt { key: key.to_owned(), reason: e.to_string() },
        _ => RegistryError::Unavailable(e.to_string()),
    }
}

/// A TTL as `PX` milliseconds (Redis refuses 0).
fn px(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisRegistry {
    /// Connects to `url` (no TLS material beyond the system roots); the connection is
    /// re-established by itself after a loss.
    pub async fn connect(url: &str, keys: Keys) -> Result<Self, RegistryError> {
        Self::with_client(
            crate::redis_client::client(url, None).map_err(|e| RegistryError::Unavailable(e.to_string()))?,
            keys,
        )
        .await
    }

    /// Like [`RedisRegistry::connect`], through a client from [`crate::redis_client::client`].
    pub async fn with_client(client: Client, keys: Keys) -> Result<Self, RegistryError> {
        let conn = RedisConn::connect(client).await.map_err(|e| RegistryError::Unavailable(e.to_string()))?;
        Ok(Self { conn, keys })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    async fn get_record<T: HashRecord>(&self, key: &str) -> Result<Option<T>, RegistryError> {
        let fields: HashMap<String, String> =
            redis::cmd("HGETALL").arg(key).query_async(&mut self.conn()).await.map_err(error_at(key))?;
        codec::decode(key, fields)
    }

    /// Records at `keys`, skipping keys that are gone (an index entry outliving its record).
    async fn get_records<T: HashRecord>(&self, keys: &[String]) -> Result<Vec<T>, RegistryError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for key in keys {
            pipe.cmd("HGETALL").arg(key);
        }
        let replies: Vec<HashMap<String, String>> =
            pipe.query_async(&mut self.conn()).await.map_err(error_at(&keys[0]))?;
        let mut records = Vec::with_capacity(replies.len());
        for (key, fields) in keys.iter().zip(replies) {
            records.extend(codec::decode(key, fields)?);
        }
        Ok(records)
    }

    /// Replaces the hash at `key` with `fields` in one transaction, plus `extra` commands.
    async fn replace_hash(
        &self,
        key: &str,
        fields: &[(String, String)],
        extra: impl FnOnce(&mut redis::Pipeline),
    ) -> Result<(), RegistryError> {
        let mut pipe = redis::pipe();
        pipe.atomic().del(key).ignore();
        if !fields.is_empty() {
            pipe.hset_multiple(key, fields).ignore();
        }
        extra(&mut pipe);
        pipe.query_async::<()>(&mut self.conn()).await.map_err(error_at(key))
    }

    async fn members(&self, key: &str) -> Result<Vec<String>, RegistryError> {
        let mut members: Vec<String> =
            redis::cmd("SMEMBERS").arg(key).query_async(&mut self.conn()).await.map_err(error_at(key))?;
        members.sort();
        Ok(members)
    }

    /// The signaling instance stored on a viewer's record, `""` when there is none.
    async fn viewer_instance(&self, viewer_key: &str) -> Result<String, RegistryError> {
        let instance: Option<String> = redis::cmd("HGET")
            .arg(viewer_key)
            .arg("signaling_instance")
            .query_async(&mut self.conn())
            .await
            .map_err(error_at(viewer_key))?;
        Ok(instance.unwrap_or_default())
    }

    fn moved_underneath(key: &str) -> RegistryError {
        RegistryError::Unavailable(format!("{key} kept changing during {OPTIMISTIC_RETRIES} attempts"))
    }
}

#[async_trait]
impl Registry for RedisRegistry {
    async fn ping(&self) -> Result<(), RegistryError> {
        redis::cmd("PING")
            .query_async::<String>(&mut self.conn())
            .await
            .map_err(|e| RegistryError::Unavailable(e.to_string()))?;
        Ok(())
    }

    async fn put_stream(&self, stream: &StreamRecord) -> Result<(), RegistryError> {
        let key = self.keys.stream(&stream.camera_id);
        let fields = codec::encode(stream)?;
        let index = self.keys.streams_index();
        self.replace_hash(&key, &fields, |pipe| {
            pipe.sadd(index, &stream.camera_id).ignore();
        })
        .await
    }

    async fn get_stream(&self, camera_id: &str) -> Result<Option<StreamRecord>, RegistryError> {
        self.get_record(&self.keys.stream(camera_id)).await
    }

    async fn list_streams(&self) -> Result<Vec<StreamRecord>, RegistryError> {
        let ids = self.members(&self.keys.streams_index()).await?;
        let keys: Vec<String> = ids.iter().map(|id| self.keys.stream(id)).collect();
        let mut streams: Vec<StreamRecord> = self.get_records(&keys).await?;
        streams.sort_by(|a, b| a.camera_id.cmp(&b.camera_id));
        Ok(streams)
    }

    async fn delete_stream(&self, camera_id: &str) -> Result<bool, RegistryError> {
        let key = self.keys.stream(camera_id);
        let (deleted, unindexed): (u64, u64) = redis::pipe()
            .atomic()
            .del(&key)
            .srem(self.keys.streams_index(), camera_id)
            .del(self.keys.stream_viewers(camera_id))
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(error_at(&key))?;
        Ok(deleted + unindexed > 0)
    }

    async fn put_camera_status(
        &self,
        camera_id: &str,
        status: &CameraStatus,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let key = self.keys.camera(camera_id);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        self.replace_hash(&key, &codec::encode(status)?, |pipe| {
            pipe.pexpire(&key, ttl_ms as i64).ignore();
        })
        .await
    }

    async fn get_camera_status(&self, camera_id: &str) -> Result<Option<CameraStatus>, RegistryError> {
        self.get_record(&self.keys.camera(camera_id)).await
    }

    async fn reserve_viewer_slot(
        &self,
        camera_id: &str,
        viewer_id: &str,
        limit: u32,
    ) -> Result<SlotReservation, RegistryError> {
        let slots = self.keys.stream_viewers(camera_id);
        let code: i64 = RESERVE_SLOT
            .key(self.keys.stream(camera_id))
            .key(&slots)
            .arg(viewer_id)
            .arg(limit)
            .invoke_async(&mut self.conn())
            .await
            .map_err(error_at(&slots))?;
        match code {
            0 => Ok(SlotReservation::Reserved),
            1 => Ok(SlotReservation::Full),
            2 => Ok(SlotReservation::StreamNotFound),
            other => Err(RegistryError::Corrupt { key: slots, reason: format!("reservation script returned {other}") }),
        }
    }

    async fn viewer_count(&self, camera_id: &str) -> Result<u64, RegistryError> {
        let key = self.keys.stream_viewers(camera_id);
        redis::cmd("SCARD").arg(&key).query_async(&mut self.conn()).await.map_err(error_at(&key))
    }

    async fn put_viewer(&self, viewer: &ViewerRecord) -> Result<(), RegistryError> {
        let key = self.keys.viewer(&viewer.viewer_id);
        let fields = codec::encode(viewer)?;
        for _ in 0..OPTIMISTIC_RETRIES {
            let old = self.viewer_instance(&key).await?;
            let mut call = PUT_VIEWER.key(&key);
            call.key(self.keys.viewers_index()).key(self.keys.instance_viewers(&viewer.signaling_instance));
            if !old.is_empty() && old != viewer.signaling_instance {
                call.key(self.keys.instance_viewers(&old));
            }
            call.arg(&viewer.viewer_id).arg(&old);
            for (field, value) in &fields {
                call.arg(field).arg(value);
            }
            let done: i64 = call.invoke_async(&mut self.conn()).await.map_err(error_at(&key))?;
            if done == 1 {
                return Ok(());
            }
        }
        Err(Self::moved_underneath(&key))
    }

    async fn get_viewer(&self, viewer_id: &str) -> Result<Option<ViewerRecord>, RegistryError> {
        self.get_record(&self.keys.viewer(viewer_id)).await
    }

    async fn list_viewers(&self, camera_id: Option<&str>) -> Result<Vec<ViewerRecord>, RegistryError> {
        let index = match camera_id {
            Some(camera_id) => self.keys.stream_viewers(camera_id),
            None => self.keys.viewers_index(),
        };
        let keys: Vec<String> = self.members(&index).await?.iter().map(|id| self.keys.viewer(id)).collect();
        let mut viewers: Vec<ViewerRecord> = self.get_records(&keys).await?;
        sort_viewers(&mut viewers);
        Ok(viewers)
    }

    async fn viewers_of_instance(&self, instance_id: &str) -> Result<Vec<String>, RegistryError> {
        self.members(&self.keys.instance_viewers(instance_id)).await
    }

    async fn remove_viewer(&self, camera_id: &str, viewer_id: &str) -> Result<bool, RegistryError> {
        let key = self.keys.viewer(viewer_id);
        for _ in 0..OPTIMISTIC_RETRIES {
            let instance = self.viewer_instance(&key).await?;
            let mut call = REMOVE_VIEWER.key(self.keys.stream_viewers(camera_id));
            call.key(&key).key(self.keys.viewers_index());
            if !instance.is_empty() {
                call.key(self.keys.instance_viewers(&instance));
            }
            let removed: i64 =
                call.arg(viewer_id).arg(&instance).invoke_async(&mut self.conn()).await.map_err(error_at(&key))?;
            if removed >= 0 {
                return Ok(removed > 0);
            }
        }
        Err(Self::moved_underneath(&key))
    }

    async fn refresh_liveness(&self, instance_id: &str, ttl: Duration) -> Result<(), RegistryError> {
        let key = self.keys.instance_alive(instance_id);
        redis::pipe()
            .atomic()
            .cmd("SET")
            .arg(&key)
            .arg(1)
            .arg("PX")
            .arg(px(ttl))
            .ignore()
            .sadd(self.keys.instances_index(), instance_id)
            .ignore()
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(error_at(&key))
    }

    async fn is_alive(&self, instance_id: &str) -> Result<bool, RegistryError> {
        let key = self.keys.instance_alive(instance_id);
        redis::cmd("EXISTS").arg(&key).query_async(&mut self.conn()).await.map_err(error_at(&key))
    }

    async fn known_instances(&self) -> Result<Vec<String>, RegistryError> {
        self.members(&self.keys.instances_index()).await
    }

    async fn forget_instance(&self, instance_id: &str) -> Result<(), RegistryError> {
        let key = self.keys.instances_index();
        redis::cmd("SREM").arg(&key).arg(instance_id).query_async::<()>(&mut self.conn()).await.map_err(error_at(&key))
    }

    async fn put_controller_heartbeat(
        &self,
        heartbeat: &ControllerHeartbeat,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let key = self.keys.controller_heartbeat();
        let json = serde_json::to_string(heartbeat)
            .map_err(|e| RegistryError::Corrupt { key: key.clone(), reason: e.to_string() })?;
        redis::cmd("SET")
            .arg(&key)
            .arg(json)
            .arg("PX")
            .arg(px(ttl))
            .query_async::<()>(&mut self.conn())
            .await
            .map_err(error_at(&key))
    }

    async fn get_controller_heartbeat(&self) -> Result<Option<ControllerHeartbeat>, RegistryError> {
        let key = self.keys.controller_heartbeat();
        let raw: Option<String> =
            redis::cmd("GET").arg(&key).query_async(&mut self.conn()).await.map_err(error_at(&key))?;
        raw.map(|raw| {
            serde_json::from_str(&raw).map_err(|e| RegistryError::Corrupt { key: key.clone(), reason: e.to_string() })
        })
        .transpose()
    }

    async fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<bool, RegistryError> {
        let key = self.keys.controller_lease();
        let held: i64 = ACQUIRE_LEASE
            .key(&key)
            .arg(holder)
            .arg(px(ttl))
            .invoke_async(&mut self.conn())
            .await
            .map_err(error_at(&key))?;
        Ok(held == 1)
    }

    async fn release_lease(&self, holder: &str) -> Result<(), RegistryError> {
        let key = self.keys.controller_lease();
        RELEASE_LEASE.key(&key).arg(holder).invoke_async::<i64>(&mut self.conn()).await.map_err(error_at(&key))?;
        Ok(())
    }

    async fn put_media_session(&self, session_id: &str) -> Result<(), RegistryError> {
        let key = self.keys.controller_session();
        redis::cmd("SET").arg(&key).arg(session_id).query_async::<()>(&mut self.conn()).await.map_err(error_at(&key))
    }

    async fn get_media_session(&self) -> Result<Option<String>, RegistryError> {
        let key = self.keys.controller_session();
        redis::cmd("GET").arg(&key).query_async(&mut self.conn()).await.map_err(error_at(&key))
    }
}
