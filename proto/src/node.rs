//! Media nodes as the registry knows them: one [`MediaNode`] record per camview-media-engine
//! or Kurento server, rewritten by its heartbeat (the engine writes its own, the
//! media-controller polls the Kurento servers it is configured with) and gone when the
//! heartbeat stops for longer than its TTL.
//!
//! A capacity left unset means "no limit declared" for that resource; the load is what the node
//! carried at `updated_at`.

use serde::{Deserialize, Serialize};

/// What serves the node's JSON-RPC URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum NodeKind {
    /// camview-media-engine: publishes its own heartbeat.
    Engine,
    /// A Kurento Media Server listed in the controller's `KURENTO_NODES`: polled by the controller.
    Kurento,
}

/// What a node may carry, as configured for it; `None` declares no limit for that resource.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct NodeCapacity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub streams: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub viewers: Option<u32>,
    /// Forwarded bit rate, kbit/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<u64>,
    /// CPU share the node may use, in percent of all its cores (100 = every core busy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
}

/// What a node carried at its last heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct NodeLoad {
    /// Camera sources (RtpEndpoints fed by a camera, PlayerEndpoints; Kurento: pipelines).
    pub streams: u32,
    /// WebRTC endpoints (browsers).
    pub viewers: u32,
    /// Media forwarded to viewers and sinks over the last heartbeat period, kbit/s (Kurento: 0,
    /// as its `ServerManager` does not report it).
    pub bitrate_kbps: u64,
    /// CPU in use, percent of all the node's cores (0 to 100).
    pub cpu_percent: f64,
}

/// One media node's record, as its last heartbeat wrote it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaNode {
    /// Unique per node (`NODE_ID` of an engine, the id given in `KURENTO_NODES`).
    pub node_id: String,
    /// Kurento JSON-RPC URL the controller drives it at, e.g. `ws://10.0.0.5:8888/kurento`.
    pub rpc_url: String,
    /// The address cameras send RTP to and browsers reach (the node's `EXTERNAL_IP`).
    pub external_ip: String,
    pub kind: NodeKind,
    #[serde(default)]
    pub capacity: NodeCapacity,
    #[serde(default)]
    pub load: NodeLoad,
    /// Leaving: takes no new stream.
    #[serde(default)]
    pub draining: bool,
    /// RFC 3339, when the heartbeat was written.
    pub updated_at: String,
}

/// A media node as operators see it (`GET /nodes`): the record without its JSON-RPC URL, which is
/// a control endpoint (whoever reaches it drives every pipeline) and stays inside the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct NodeView {
    pub node_id: String,
    pub kind: NodeKind,
    /// The address cameras send RTP to and browsers reach.
    pub external_ip: String,
    pub capacity: NodeCapacity,
    pub load: NodeLoad,
    /// Leaving: takes no new stream (its own record or the controller's mark).
    pub draining: bool,
    /// RFC 3339, when its last heartbeat was written.
    pub updated_at: String,
}

impl From<&MediaNode> for NodeView {
    fn from(n: &MediaNode) -> Self {
        Self {
            node_id: n.node_id.clone(),
            kind: n.kind,
            external_ip: n.external_ip.clone(),
            capacity: n.capacity,
            load: n.load,
            draining: n.draining,
            updated_at: n.updated_at.clone(),
        }
    }
}

/// `GET /nodes`: the live media nodes, sorted by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct NodeList {
    pub nodes: Vec<NodeView>,
    pub count: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roundtrip;

    pub(crate) fn sample() -> MediaNode {
        MediaNode {
            node_id: "engine-a".into(),
            rpc_url: "ws://10.0.0.5:8888/kurento".into(),
            external_ip: "203.0.113.5".into(),
            kind: NodeKind::Engine,
            capacity: NodeCapacity {
                streams: Some(200),
                viewers: Some(4000),
                bitrate_kbps: None,
                cpu_percent: Some(80.0),
            },
            load: NodeLoad { streams: 3, viewers: 12, bitrate_kbps: 9000, cpu_percent: 12.5 },
            draining: false,
            updated_at: "2026-12-07T13:00:00.000Z".into(),
        }
    }

    #[test]
    fn a_node_record_round_trips() {
        roundtrip(&sample());
        roundtrip(&MediaNode {
            kind: NodeKind::Kurento,
            draining: true,
            capacity: NodeCapacity::default(),
            ..sample()
        });
    }

    #[test]
    fn an_undeclared_capacity_is_left_out_of_the_json() {
        let json = serde_json::to_value(MediaNode { capacity: NodeCapacity::default(), ..sample() }).unwrap();
        assert_eq!(json["capacity"], serde_json::json!({}));
        assert_eq!(json["kind"], "engine");
    }

    #[test]
    fn the_operators_view_of_a_node_leaves_out_its_rpc_url() {
        let view = NodeView::from(&sample());
        roundtrip(&NodeList { nodes: vec![view.clone()], count: 1 });
        let json = serde_json::to_value(&view).unwrap();
        assert!(json.get("rpc_url").is_none(), "{json}");
        assert_eq!(json["node_id"], "engine-a");
        assert_eq!(json["load"]["viewers"], 12);
        assert_eq!(json["capacity"]["streams"], 200);
    }
}
