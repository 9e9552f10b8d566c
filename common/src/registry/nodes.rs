//! The media nodes role: each node's record refreshed by its heartbeat, and the controller's
//! draining marks.
//!
//! Invariants every implementation keeps (checked by the contract suite):
//! - a node is listed and got only while its last heartbeat is younger than that heartbeat's
//!   TTL; a stale index entry is pruned when the nodes are listed (no scan anywhere);
//! - a draining mark is kept apart from the heartbeat, so the node's next heartbeat does not undo
//!   it; it holds until it is cleared or the node is forgotten, also across a lapse of the
//!   heartbeat (a node that comes back stays drained until the controller says otherwise);
//! - a listed or got node is draining when its own record says so or when it is marked.
//!
//! Fencing: heartbeats ([`MediaNodes::put_node`]) are never fenced: engines write them and hold
//! no lease, and a Kurento poll by any controller writes the same facts. Draining marks and
//! forgetting are the active controller's decisions, so they are fenced like every other write
//! of the controller.

use std::time::Duration;

use async_trait::async_trait;
use camview_proto::node::MediaNode;
use camview_proto::CameraId;

use super::RegistryError;

/// Media nodes and their load, for placement.
#[async_trait]
pub trait MediaNodes: Send + Sync + 'static {
    /// Writes a node's heartbeat: its record replaces the previous one and lives for `ttl`.
    /// Not fenced.
    async fn put_node(&self, node: &MediaNode, ttl: Duration) -> Result<(), RegistryError>;
    /// A node whose heartbeat is live, draining mark applied.
    async fn get_node(&self, node_id: &str) -> Result<Option<MediaNode>, RegistryError>;
    /// Every node whose heartbeat is live, sorted by id, draining marks applied; prunes the
    /// index entries of nodes whose heartbeat lapsed.
    async fn list_nodes(&self) -> Result<Vec<MediaNode>, RegistryError>;
    /// Marks a node draining (it takes nothing new), or clears the mark. Fenced.
    async fn set_node_draining(&self, node_id: &str, draining: bool) -> Result<(), RegistryError>;
    /// Removes a node's record, index entry and draining mark; true if its heartbeat was live.
    /// Fenced.
    async fn forget_node(&self, node_id: &str) -> Result<bool, RegistryError>;
    /// Records the node a camera's stream was placed on; it outlives the stream, so a camera
    /// that starts again returns to its node (placement stickiness). Fenced.
    async fn put_camera_node(&self, camera_id: &CameraId, node_id: &str) -> Result<(), RegistryError>;
    /// The node a camera's stream was last placed on, if any.
    async fn get_camera_node(&self, camera_id: &CameraId) -> Result<Option<String>, RegistryError>;
}
