//! Placing a new stream on a media node (`MEDIA_NODES=registry`; docs/placement.md,
//! "Placement in the controller").
//!
//! The nodes are read from their heartbeats, and the policy ([`place`]) picks one. A heartbeat
//! is up to one period old, so a burst of starts would all see the same load: the load the
//! policy reads is, per node, the larger of what the heartbeat says and what the registry
//! holds (streams placed on it, those being placed, and their viewers). The camera's previous
//! node (kept in the registry after its stream stops) makes it sticky.

use std::collections::HashMap;

use camview_proto::node::MediaNode;
use camview_proto::stream::StreamRecord;
use camview_proto::CameraId;

use super::{CommandError, Controller};
use crate::service::nodes::placement_node;
use crate::service::placement::{place, Node, Policy};

impl Controller {
    /// The node for a new stream of `camera_id` (None with a single media server), given the
    /// registry's `streams` and the streams being created; `previous` overrides the camera's
    /// recorded node. `NoMediaNode` when every node is full, draining or gone.
    pub(super) async fn place_stream(
        &self,
        camera_id: &CameraId,
        previous: Option<String>,
        streams: &[StreamRecord],
        creating: &HashMap<CameraId, Option<String>>,
    ) -> Result<Option<MediaNode>, CommandError> {
        let Some(policy) = &self.settings.placement else { return Ok(None) };
        let records = self.registry.list_nodes().await?;
        let previous = match previous {
            Some(node) => Some(node),
            None => self.registry.get_camera_node(camera_id).await?,
        };
        let viewers = self.registry.list_viewers(None).await?;
        let mut streams_on: HashMap<&str, u32> = HashMap::new();
        let mut node_of_camera: HashMap<&CameraId, &str> = HashMap::new();
        for s in streams {
            if let Some(node) = s.node_id.as_deref() {
                *streams_on.entry(node).or_default() += 1;
                node_of_camera.insert(&s.camera_id, node);
            }
        }
        for node in creating.iter().filter(|(c, _)| *c != camera_id).filter_map(|(_, n)| n.as_deref()) {
            *streams_on.entry(node).or_default() += 1;
        }
        let mut viewers_on: HashMap<&str, u32> = HashMap::new();
        for v in &viewers {
            if let Some(node) = node_of_camera.get(&v.camera_id) {
                *viewers_on.entry(node).or_default() += 1;
            }
        }
        let nodes: Vec<_> = records
            .iter()
            .map(|record| {
                let mut node = placement_node(record);
                let id = record.node_id.as_str();
                node.load.streams = node.load.streams.max(streams_on.get(id).copied().unwrap_or(0));
                node.load.viewers = node.load.viewers.max(viewers_on.get(id).copied().unwrap_or(0));
                node
            })
            .collect();
        chosen(policy, &records, &nodes, camera_id, previous.as_deref(), "stream").map(Some)
    }

    /// The node for a new relay of `stream`: the policy's choice among the live nodes that
    /// carry neither the stream nor one of its relays.
    pub(super) async fn place_relay(&self, stream: &StreamRecord) -> Result<MediaNode, CommandError> {
        let Some(policy) = &self.settings.placement else { return Err(CommandError::NoMediaNode) };
        let taken: Vec<&str> =
            stream.node_id.as_deref().into_iter().chain(stream.relays.iter().map(|r| r.node_id.as_str())).collect();
        let records: Vec<MediaNode> =
            self.registry.list_nodes().await?.into_iter().filter(|n| !taken.contains(&n.node_id.as_str())).collect();
        let nodes: Vec<_> = records.iter().map(placement_node).collect();
        chosen(policy, &records, &nodes, &stream.camera_id, None, "relay")
    }

    /// The node for a registered stream whose objects were lost: its own node while it can
    /// take it, else another (placed under the admission lock like a new stream).
    pub(super) async fn place_again(&self, stream: &StreamRecord) -> Result<Option<MediaNode>, CommandError> {
        if self.settings.placement.is_none() {
            return Ok(None);
        }
        let _admission = self.admission.lock().await;
        let creating = self.creating.lock().expect("creating set poisoned").clone();
        let others: Vec<StreamRecord> =
            self.registry.list_streams().await?.into_iter().filter(|s| s.camera_id != stream.camera_id).collect();
        self.place_stream(&stream.camera_id, stream.node_id.clone(), &others, &creating).await
    }
}

/// The policy's choice for `camera_id` among `nodes` (the placement view of `records`, in the
/// same order), logged; `NoMediaNode` when none is eligible. `what` names what is placed.
fn chosen(
    policy: &Policy,
    records: &[MediaNode],
    nodes: &[Node],
    camera_id: &CameraId,
    previous: Option<&str>,
    what: &str,
) -> Result<MediaNode, CommandError> {
    match place(policy, nodes, camera_id.as_str(), previous) {
        Some(placed) => {
            let node = records[placed.index].clone();
            tracing::info!(%camera_id, node_id = %node.node_id, reason = ?placed.reason, what, "placed");
            Ok(node)
        }
        None => {
            tracing::warn!(%camera_id, nodes = records.len(), what, "no media node can take it");
            Err(CommandError::NoMediaNode)
        }
    }
}
