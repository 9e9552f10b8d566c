//! Redis key and channel names, all under one configurable prefix (default `camview:`).
//!
//! Services never write a key as a string literal: they ask [`Keys`], so a test can run
//! beside another on one Redis with a random prefix.

use crate::ids::{CameraId, ViewerId};

/// Default prefix of every key and channel.
pub const DEFAULT_PREFIX: &str = "camview:";

/// Builds every Redis name under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

impl Default for Keys {
    fn default() -> Self {
        Self::new(DEFAULT_PREFIX)
    }
}

/// Instance id of the channel every signaling instance subscribes to for revocations.
pub const AUTH_EVENTS_INSTANCE: &str = "auth-events";

impl Keys {
    /// Hash: username -> JSON [`crate::auth::UserRecord`].
    pub fn auth_users(&self) -> String {
        format!("{}auth:users", self.prefix)
    }

    /// Hash: share id -> JSON [`crate::auth::ShareRecord`].
    pub fn auth_shares(&self) -> String {
        format!("{}auth:shares", self.prefix)
    }

    /// Hash: camera id -> JSON [`crate::auth::CameraSecretRecord`].
    pub fn auth_camera_secrets(&self) -> String {
        format!("{}auth:camera_secrets", self.prefix)
    }

    /// String: the generated HS256 key, base64 (set once, `NX`).
    pub fn auth_signing_key(&self) -> String {
        format!("{}auth:signing_key", self.prefix)
    }

    /// String with a TTL: a one-time login code's digest -> username.
    pub fn auth_login_link(&self, code_sha256: &str) -> String {
        format!("{}auth:link:{code_sha256}", self.prefix)
    }

    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Hash of one stream's fields.
    pub fn stream(&self, camera_id: &CameraId) -> String {
        format!("{}stream:{camera_id}", self.prefix)
    }

    /// Set of started camera ids.
    pub fn streams_index(&self) -> String {
        format!("{}streams", self.prefix)
    }

    /// Set of viewer ids holding a slot of a stream (the viewer limit counts its members).
    pub fn stream_viewers(&self, camera_id: &CameraId) -> String {
        format!("{}stream:{camera_id}:viewers", self.prefix)
    }

    /// String: the source URL (credentials included) of a stream pulled from an RTSP camera;
    /// only the media-controller reads it.
    pub fn stream_source(&self, camera_id: &CameraId) -> String {
        format!("{}source:{camera_id}", self.prefix)
    }

    /// Hash of a camera's last keepalive.
    pub fn camera(&self, camera_id: &CameraId) -> String {
        format!("{}camera:{camera_id}", self.prefix)
    }

    /// Hash of one viewer's fields.
    pub fn viewer(&self, viewer_id: &ViewerId) -> String {
        format!("{}viewer:{viewer_id}", self.prefix)
    }

    /// Set of all viewer ids.
    pub fn viewers_index(&self) -> String {
        format!("{}viewers", self.prefix)
    }

    /// Set of viewer ids held by one signaling instance.
    pub fn instance_viewers(&self, instance_id: &str) -> String {
        format!("{}instance:{instance_id}:viewers", self.prefix)
    }

    /// Liveness key of a service instance; it expires when the instance stops refreshing it.
    pub fn instance_alive(&self, instance_id: &str) -> String {
        format!("{}instance:{instance_id}:alive", self.prefix)
    }

    /// Set of instance ids that ever registered liveness (pruned when found dead).
    pub fn instances_index(&self) -> String {
        format!("{}instances", self.prefix)
    }

    /// The media-controller's heartbeat (carries `kurento_connected`), with a TTL.
    pub fn controller_heartbeat(&self) -> String {
        format!("{}controller:heartbeat", self.prefix)
    }

    /// The lease that makes one media-controller active.
    pub fn controller_lease(&self) -> String {
        format!("{}controller:lease", self.prefix)
    }

    /// Media-server session the active controller resumes after a restart.
    /// The fencing counter: incremented each time a controller newly takes the lease.
    pub fn controller_fence(&self) -> String {
        format!("{}controller:fence", self.prefix)
    }

    pub fn controller_session(&self) -> String {
        format!("{}controller:session", self.prefix)
    }

    /// String with a TTL: one media node's JSON [`crate::node::MediaNode`], rewritten by each
    /// heartbeat; it expires when the heartbeat stops.
    pub fn media_node(&self, node_id: &str) -> String {
        format!("{}node:{node_id}", self.prefix)
    }

    /// Sorted set of media node ids, scored by the expiry (unix ms) of their last heartbeat;
    /// members past their score are pruned on read.
    pub fn media_nodes_index(&self) -> String {
        format!("{}nodes", self.prefix)
    }

    /// String without expiry: the media node a camera's stream was last placed on, kept after
    /// the stream stops so a restarted camera returns to it (placement stickiness).
    pub fn camera_node(&self, camera_id: &CameraId) -> String {
        format!("{}camera_node:{camera_id}", self.prefix)
    }

    /// String without expiry: set while the controller has marked the node draining.
    pub fn media_node_draining(&self, node_id: &str) -> String {
        format!("{}node:{node_id}:draining", self.prefix)
    }

    /// Redis Stream of commands to the media-controller.
    pub fn commands_stream(&self) -> String {
        format!("{}commands", self.prefix)
    }

    /// Consumer group of the media-controller on [`Keys::commands_stream`].
    pub fn commands_group(&self) -> String {
        format!("{}media-controller", self.prefix)
    }

    /// Pub/sub channel of one service instance (replies and events).
    pub fn instance_channel(&self, instance_id: &str) -> String {
        format!("{}channel:{instance_id}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_starts_with_the_prefix() {
        let k = Keys::new("t-123:");
        let c = CameraId::from_static("c");
        let names = [
            k.stream(&c),
            k.streams_index(),
            k.stream_viewers(&c),
            k.camera(&c),
            k.viewer(&ViewerId::from_static("v")),
            k.viewers_index(),
            k.instance_viewers("i"),
            k.instance_alive("i"),
            k.instances_index(),
            k.controller_heartbeat(),
            k.controller_lease(),
            k.controller_fence(),
            k.controller_session(),
            k.commands_stream(),
            k.commands_group(),
            k.instance_channel("i"),
            k.media_node("n"),
            k.media_nodes_index(),
            k.media_node_draining("n"),
        ];
        for n in &names {
            assert!(n.starts_with("t-123:"), "{n}");
        }
        let mut unique = names.to_vec();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "two names collide");
    }

    #[test]
    fn default_prefix_is_camview() {
        assert_eq!(Keys::default().stream(&CameraId::from_static("cam1")), "camview:stream:cam1");
    }
}
