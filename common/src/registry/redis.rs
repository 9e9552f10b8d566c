//! Redis registry: records as hashes with index sets, expiring keys for liveness, the
//! heartbeat and the lease, and Lua scripts wherever a check and a write must be atomic.
//!
//! Every key name comes from [`Keys`]; scripts receive their keys as `KEYS`, never build
//! them. Multi-key updates whose keys depend on stored data (a viewer's instance) read
//! that data first and pass it to the script, which refuses with `-1` if it changed in
//! between; the caller then retries.

mod codec;
mod nodes;
mod scripts;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::redis_conn::RedisConn;
use async_trait::async_trait;
use camview_proto::keys::Keys;
use camview_proto::stream::{CameraStatus, ControllerHeartbeat, StreamRecord, ViewerRecord};
use camview_proto::{CameraId, ViewerId};
use redis::{Client, ErrorKind, RedisError, ScriptInvocation};

use self::codec::HashRecord;
use self::scripts::*;
use super::{
    sort_viewers, ControllerLease, Fence, Liveness, Registry, RegistryError, SlotReservation, StreamStore, ViewerSlots,
};

/// How often a read-then-script update is retried when the data moved underneath it.
const OPTIMISTIC_RETRIES: usize = 5;

/// [`Registry`] on Redis, through one reconnecting multiplexed connection. Cheap to
/// share behind an `Arc`.
pub struct RedisRegistry {
    conn: RedisConn,
    keys: Keys,
    /// Set on a view from [`Registry::fenced`]: the term its fenced writes carry.
    fence: Option<Fence>,
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
        Ok(Self { conn, keys, fence: None })
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

    /// A set's members, sorted; a member that is not a valid `T` (an id) makes the set corrupt.
    async fn members<T>(&self, key: &str) -> Result<Vec<T>, RegistryError>
    where
        T: TryFrom<String> + Ord,
        T::Error: std::fmt::Display,
    {
        let raw: Vec<String> =
            redis::cmd("SMEMBERS").arg(key).query_async(&mut self.conn()).await.map_err(error_at(key))?;
        let mut members = raw
            .into_iter()
            .map(|m| T::try_from(m).map_err(|e| RegistryError::Corrupt { key: key.to_owned(), reason: e.to_string() }))
            .collect::<Result<Vec<T>, _>>()?;
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

    /// A fenced script call: the term counter as KEYS[1] and this view's term as ARGV[1].
    fn fenced_call<'a>(&self, script: &'a redis::Script) -> ScriptInvocation<'a> {
        let mut call = script.key(self.keys.controller_fence());
        call.arg(self.fence.as_ref().map(|f| f.term().to_string()).unwrap_or_default());
        call
    }

    /// Maps the error of a fenced write: `FENCED` first, then as [`error_at`].
    fn write_error<'a>(&'a self, key: &'a str) -> impl FnOnce(RedisError) -> RegistryError + 'a {
        move |e| match e.code() {
            Some("FENCED") => RegistryError::Fenced { term: self.fence.as_ref().map_or(0, Fence::term) },
            _ => error_at(key)(e),
        }
    }

    /// A slot reservation, writing `record` with it when newly reserved.
    async fn reserve(
        &self,
        camera_id: &CameraId,
        viewer_id: &ViewerId,
        limit: u32,
        record: Option<&ViewerRecord>,
    ) -> Result<SlotReservation, RegistryError> {
        let slots = self.keys.stream_viewers(camera_id);
        let mut call = self.fenced_call(&RESERVE_SLOT);
        call.key(self.keys.stream(camera_id)).key(&slots).arg(viewer_id.as_str()).arg(limit);
        if let Some(record) = record {
            call.key(self.keys.viewer(viewer_id))
                .key(self.keys.viewers_index())
                .key(self.keys.instance_viewers(&record.signaling_instance));
            for (field, value) in codec::encode(record)? {
                call.arg(field).arg(value);
            }
        }
        let code: i64 = call.invoke_async(&mut self.conn()).await.map_err(self.write_error(&slots))?;
        match code {
            0 => Ok(SlotReservation::Reserved),
            1 => Ok(SlotReservation::Full),
            2 => Ok(SlotReservation::StreamNotFound),
            other => Err(RegistryError::Corrupt { key: slots, reason: format!("reservation script returned {other}") }),
        }
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

    fn fenced(&self, fence: Fence) -> Arc<dyn Registry> {
        Arc::new(RedisRegistry { conn: self.conn.clone(), keys: self.keys.clone(), fence: Some(fence) })
    }
}

#[async_trait]
impl StreamStore for RedisRegistry {
    async fn put_stream(&self, stream: &StreamRecord) -> Result<(), RegistryError> {
        let key = self.keys.stream(&stream.camera_id);
        let mut call = self.fenced_call(&PUT_STREAM);
        call.key(&key).key(self.keys.streams_index()).arg(stream.camera_id.as_str());
        for (field, value) in codec::encode(stream)? {
            call.arg(field).arg(value);
        }
        call.invoke_async::<i64>(&mut self.conn()).await.map_err(self.write_error(&key))?;
        Ok(())
    }

    async fn get_stream(&self, camera_id: &CameraId) -> Result<Option<StreamRecord>, RegistryError> {
        self.get_record(&self.keys.stream(camera_id)).await
    }

    async fn list_streams(&self) -> Result<Vec<StreamRecord>, RegistryError> {
        let ids = self.members(&self.keys.streams_index()).await?;
        let keys: Vec<String> = ids.iter().map(|id| self.keys.stream(id)).collect();
        let mut streams: Vec<StreamRecord> = self.get_records(&keys).await?;
        streams.sort_by(|a, b| a.camera_id.cmp(&b.camera_id));
        Ok(streams)
    }

    async fn delete_stream(&self, camera_id: &CameraId) -> Result<bool, RegistryError> {
        let key = self.keys.stream(camera_id);
        let removed: i64 = self
            .fenced_call(&DELETE_STREAM)
            .key(&key)
            .key(self.keys.streams_index())
            .key(self.keys.stream_viewers(camera_id))
            .arg(camera_id.as_str())
            .invoke_async(&mut self.conn())
            .await
            .map_err(self.write_error(&key))?;
        Ok(removed > 0)
    }

    async fn put_camera_status(
        &self,
        camera_id: &CameraId,
        status: &CameraStatus,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let key = self.keys.camera(camera_id);
        self.replace_hash(&key, &codec::encode(status)?, |pipe| {
            pipe.pexpire(&key, px(ttl) as i64).ignore();
        })
        .await
    }

    async fn get_camera_status(&self, camera_id: &CameraId) -> Result<Option<CameraStatus>, RegistryError> {
        self.get_record(&self.keys.camera(camera_id)).await
    }

    async fn put_stream_source(&self, camera_id: &CameraId, source: Option<&str>) -> Result<(), RegistryError> {
        let key = self.keys.stream_source(camera_id);
        let call = match source {
            Some(url) => {
                let mut call = self.fenced_call(&SET_VALUE);
                call.key(&key).arg(url);
                call
            }
            None => {
                let mut call = self.fenced_call(&DELETE_VALUE);
                call.key(&key);
                call
            }
        };
        call.invoke_async::<()>(&mut self.conn()).await.map_err(self.write_error(&key))
    }

    async fn get_stream_source(&self, camera_id: &CameraId) -> Result<Option<String>, RegistryError> {
        let key = self.keys.stream_source(camera_id);
        redis::cmd("GET").arg(&key).query_async(&mut self.conn()).await.map_err(error_at(&key))
    }
}

#[async_trait]
impl ViewerSlots for RedisRegistry {
    async fn reserve_viewer_slot(
        &self,
        camera_id: &CameraId,
        viewer_id: &ViewerId,
        limit: u32,
    ) -> Result<SlotReservation, RegistryError> {
        self.reserve(camera_id, viewer_id, limit, None).await
    }

    async fn reserve_viewer(&self, viewer: &ViewerRecord, limit: u32) -> Result<SlotReservation, RegistryError> {
        self.reserve(&viewer.camera_id, &viewer.viewer_id, limit, Some(viewer)).await
    }

    async fn viewer_count(&self, camera_id: &CameraId) -> Result<u64, RegistryError> {
        let key = self.keys.stream_viewers(camera_id);
        redis::cmd("SCARD").arg(&key).query_async(&mut self.conn()).await.map_err(error_at(&key))
    }

    async fn put_viewer(&self, viewer: &ViewerRecord) -> Result<(), RegistryError> {
        let key = self.keys.viewer(&viewer.viewer_id);
        let fields = codec::encode(viewer)?;
        for _ in 0..OPTIMISTIC_RETRIES {
            let old = self.viewer_instance(&key).await?;
            let mut call = self.fenced_call(&PUT_VIEWER);
            call.key(&key).key(self.keys.viewers_index()).key(self.keys.instance_viewers(&viewer.signaling_instance));
            if !old.is_empty() && old != viewer.signaling_instance {
                call.key(self.keys.instance_viewers(&old));
            }
            call.arg(viewer.viewer_id.as_str()).arg(&old);
            for (field, value) in &fields {
                call.arg(field).arg(value);
            }
            let done: i64 = call.invoke_async(&mut self.conn()).await.map_err(self.write_error(&key))?;
            if done == 1 {
                return Ok(());
            }
        }
        Err(Self::moved_underneath(&key))
    }

    async fn get_viewer(&self, viewer_id: &ViewerId) -> Result<Option<ViewerRecord>, RegistryError> {
        self.get_record(&self.keys.viewer(viewer_id)).await
    }

    async fn list_viewers(&self, camera_id: Option<&CameraId>) -> Result<Vec<ViewerRecord>, RegistryError> {
        let index = match camera_id {
            Some(camera_id) => self.keys.stream_viewers(camera_id),
            None => self.keys.viewers_index(),
        };
        let ids: Vec<ViewerId> = self.members(&index).await?;
        let keys: Vec<String> = ids.iter().map(|id| self.keys.viewer(id)).collect();
        let mut viewers: Vec<ViewerRecord> = self.get_records(&keys).await?;
        sort_viewers(&mut viewers);
        Ok(viewers)
    }

    async fn viewers_of_instance(&self, instance_id: &str) -> Result<Vec<ViewerId>, RegistryError> {
        self.members(&self.keys.instance_viewers(instance_id)).await
    }

    async fn remove_viewer(&self, camera_id: &CameraId, viewer_id: &ViewerId) -> Result<bool, RegistryError> {
        let key = self.keys.viewer(viewer_id);
        for _ in 0..OPTIMISTIC_RETRIES {
            let instance = self.viewer_instance(&key).await?;
            let mut call = self.fenced_call(&REMOVE_VIEWER);
            call.key(self.keys.stream_viewers(camera_id)).key(&key).key(self.keys.viewers_index());
            if !instance.is_empty() {
                call.key(self.keys.instance_viewers(&instance));
            }
            let removed: i64 = call
                .arg(viewer_id.as_str())
                .arg(&instance)
                .invoke_async(&mut self.conn())
                .await
                .map_err(self.write_error(&key))?;
            if removed >= 0 {
                return Ok(removed > 0);
            }
        }
        Err(Self::moved_underneath(&key))
    }
}

#[async_trait]
impl Liveness for RedisRegistry {
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
        self.fenced_call(&SET_REMOVE)
            .key(&key)
            .arg(instance_id)
            .invoke_async::<i64>(&mut self.conn())
            .await
            .map_err(self.write_error(&key))?;
        Ok(())
    }
}

#[async_trait]
impl ControllerLease for RedisRegistry {
    async fn put_controller_heartbeat(
        &self,
        heartbeat: &ControllerHeartbeat,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let key = self.keys.controller_heartbeat();
        let json = serde_json::to_string(heartbeat)
            .map_err(|e| RegistryError::Corrupt { key: key.clone(), reason: e.to_string() })?;
        self.fenced_call(&SET_VALUE)
            .key(&key)
            .arg(json)
            .arg(px(ttl))
            .invoke_async::<()>(&mut self.conn())
            .await
            .map_err(self.write_error(&key))
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

    async fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<Option<u64>, RegistryError> {
        let key = self.keys.controller_lease();
        let term: u64 = ACQUIRE_LEASE
            .key(&key)
            .key(self.keys.controller_fence())
            .arg(holder)
            .arg(px(ttl))
            .invoke_async(&mut self.conn())
            .await
            .map_err(error_at(&key))?;
        Ok((term > 0).then_some(term))
    }

    async fn release_lease(&self, holder: &str) -> Result<(), RegistryError> {
        let key = self.keys.controller_lease();
        RELEASE_LEASE.key(&key).arg(holder).invoke_async::<i64>(&mut self.conn()).await.map_err(error_at(&key))?;
        Ok(())
    }

    async fn put_media_session(&self, session_id: &str) -> Result<(), RegistryError> {
        let key = self.keys.controller_session();
        self.fenced_call(&SET_VALUE)
            .key(&key)
            .arg(session_id)
            .invoke_async::<()>(&mut self.conn())
            .await
            .map_err(self.write_error(&key))
    }

    async fn get_media_session(&self) -> Result<Option<String>, RegistryError> {
        let key = self.keys.controller_session();
        redis::cmd("GET").arg(&key).query_async(&mut self.conn()).await.map_err(error_at(&key))
    }
}
