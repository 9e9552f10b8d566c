//! [`MediaNodes`] on Redis: one JSON string per node with the heartbeat's TTL
//! ([`Keys::media_node`]), a sorted set of node ids scored by the expiry of their last heartbeat
//! ([`Keys::media_nodes_index`]), pruned when nodes are listed, and a draining mark per node
//! ([`Keys::media_node_draining`]). Expiries are counted on the Redis server's clock (`TIME` in
//! the scripts), so the clocks of engines and controllers never matter.
//!
//! Cost: a heartbeat is one script call (`SET PX` + `ZADD`); listing is one script call
//! (`ZREMRANGEBYSCORE` + `ZRANGE`) and two `MGET`s in one round trip.

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use camview_proto::keys::Keys;
use camview_proto::node::MediaNode;
use camview_proto::CameraId;
use redis::Script;

use super::scripts::{fenced, DELETE_VALUE, SET_VALUE};
use super::{error_at, px, RedisRegistry};
use crate::registry::{MediaNodes, RegistryError};

/// The Redis server's clock in ms, as a Lua expression prefix.
const NOW_MS: &str =
    "local t = redis.call('TIME')\nlocal now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// Writes a heartbeat. KEYS: node, index. ARGV: JSON, px, node id.
static PUT_NODE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW_MS}
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[3])
        return 1"
    ))
});

/// Prunes the ids whose heartbeat lapsed and returns the others, sorted. KEYS: index.
static LIVE_NODE_IDS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        "{NOW_MS}
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        return redis.call('ZRANGE', KEYS[1], 0, -1)"
    ))
});

/// Forgets a node. KEYS: fence, node, index, draining mark. ARGV: term, node id. Returns 1
/// if its record was there.
static FORGET_NODE: LazyLock<Script> = LazyLock::new(|| {
    fenced(
        r"
        local n = redis.call('DEL', KEYS[2])
        redis.call('ZREM', KEYS[3], ARGV[2])
        redis.call('DEL', KEYS[4])
        return n",
    )
});

fn decode(key: &str, raw: &str, marked: bool) -> Result<MediaNode, RegistryError> {
    let mut node: MediaNode =
        serde_json::from_str(raw).map_err(|e| RegistryError::Corrupt { key: key.to_owned(), reason: e.to_string() })?;
    node.draining |= marked;
    Ok(node)
}

impl RedisRegistry {
    /// The live records of `ids` with their marks, in that order; ids whose record is gone
    /// (lapsed since the index was read) are skipped.
    async fn nodes_of(&self, ids: &[String]) -> Result<Vec<MediaNode>, RegistryError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: &Keys = &self.keys;
        let node_keys: Vec<String> = ids.iter().map(|id| keys.media_node(id)).collect();
        let marks: Vec<String> = ids.iter().map(|id| keys.media_node_draining(id)).collect();
        let (records, marks): (Vec<Option<String>>, Vec<Option<String>>) = redis::pipe()
            .cmd("MGET")
            .arg(&node_keys)
            .cmd("MGET")
            .arg(&marks)
            .query_async(&mut self.conn())
            .await
            .map_err(error_at(&node_keys[0]))?;
        let mut nodes = Vec::with_capacity(ids.len());
        for ((key, raw), mark) in node_keys.iter().zip(records).zip(marks) {
            if let Some(raw) = raw {
                nodes.push(decode(key, &raw, mark.is_some())?);
            }
        }
        Ok(nodes)
    }
}

#[async_trait]
impl MediaNodes for RedisRegistry {
    async fn put_node(&self, node: &MediaNode, ttl: Duration) -> Result<(), RegistryError> {
        let key = self.keys.media_node(&node.node_id);
        let json = serde_json::to_string(node)
            .map_err(|e| RegistryError::Corrupt { key: key.clone(), reason: e.to_string() })?;
        PUT_NODE
            .key(&key)
            .key(self.keys.media_nodes_index())
            .arg(json)
            .arg(px(ttl))
            .arg(&node.node_id)
            .invoke_async::<i64>(&mut self.conn())
            .await
            .map_err(error_at(&key))?;
        Ok(())
    }

    async fn get_node(&self, node_id: &str) -> Result<Option<MediaNode>, RegistryError> {
        Ok(self.nodes_of(&[node_id.to_owned()]).await?.pop())
    }

    async fn list_nodes(&self) -> Result<Vec<MediaNode>, RegistryError> {
        let index = self.keys.media_nodes_index();
        let mut ids: Vec<String> =
            LIVE_NODE_IDS.key(&index).invoke_async(&mut self.conn()).await.map_err(error_at(&index))?;
        ids.sort();
        self.nodes_of(&ids).await
    }

    async fn set_node_draining(&self, node_id: &str, draining: bool) -> Result<(), RegistryError> {
        let key = self.keys.media_node_draining(node_id);
        let call = if draining {
            self.fenced_call(&SET_VALUE).key(&key).arg("1").invoke_async::<()>(&mut self.conn()).await
        } else {
            self.fenced_call(&DELETE_VALUE).key(&key).invoke_async::<i64>(&mut self.conn()).await.map(drop)
        };
        call.map_err(self.write_error(&key))
    }

    async fn forget_node(&self, node_id: &str) -> Result<bool, RegistryError> {
        let key = self.keys.media_node(node_id);
        let removed: i64 = self
            .fenced_call(&FORGET_NODE)
            .key(&key)
            .key(self.keys.media_nodes_index())
            .key(self.keys.media_node_draining(node_id))
            .arg(node_id)
            .invoke_async(&mut self.conn())
            .await
            .map_err(self.write_error(&key))?;
        Ok(removed > 0)
    }

    async fn put_camera_node(&self, camera_id: &CameraId, node_id: &str) -> Result<(), RegistryError> {
        let key = self.keys.camera_node(camera_id);
        self.fenced_call(&SET_VALUE)
            .key(&key)
            .arg(node_id)
            .invoke_async::<()>(&mut self.conn())
            .await
            .map_err(self.write_error(&key))
    }

    async fn get_camera_node(&self, camera_id: &CameraId) -> Result<Option<String>, RegistryError> {
        let key = self.keys.camera_node(camera_id);
        redis::cmd("GET").arg(&key).query_async(&mut self.conn()).await.map_err(error_at(&key))
    }
}
