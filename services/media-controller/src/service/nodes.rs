//! Media nodes from the controller's side, sans-IO: the Kurento servers listed in
//! `KURENTO_NODES`, the record a poll of one of them makes, and the conversion of any node
//! record (engine or Kurento) into what [`placement`](super::placement) reads.

use camview_common::config::ConfigError;
use camview_proto::node::{MediaNode, NodeCapacity, NodeKind, NodeLoad};

use super::placement::{Capacity, Load, Node};

/// Name of the setting, for errors.
pub const KURENTO_NODES: &str = "KURENTO_NODES";

/// One Kurento server the controller polls for its load and registers as a node.
#[derive(Debug, Clone, PartialEq)]
pub struct KurentoNode {
    pub node_id: String,
    pub rpc_url: String,
    pub external_ip: String,
    pub capacity: NodeCapacity,
}

/// Parses `KURENTO_NODES`: comma separated
/// `ID=ws://HOST:PORT/PATH@EXTERNAL_IP[;streams=N][;viewers=N][;bitrate=KBPS][;cpu=PERCENT]`.
pub fn parse_kurento_nodes(value: &str) -> Result<Vec<KurentoNode>, ConfigError> {
    let mut nodes: Vec<KurentoNode> = Vec::new();
    for entry in value.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let node = parse_entry(entry).map_err(|reason| ConfigError::new(KURENTO_NODES, entry, reason))?;
        if nodes.iter().any(|n| n.node_id == node.node_id) {
            return Err(ConfigError::new(KURENTO_NODES, entry, format!("node id {} is listed twice", node.node_id)));
        }
        nodes.push(node);
    }
    Ok(nodes)
}

fn parse_entry(entry: &str) -> Result<KurentoNode, String> {
    const SHAPE: &str =
        "expected id=ws://host:port/path@external_ip[;streams=N][;viewers=N][;bitrate=KBPS][;cpu=PERCENT]";
    let mut parts = entry.split(';');
    let head = parts.next().unwrap_or_default();
    let (node_id, rest) = head.split_once('=').ok_or(SHAPE)?;
    let (rpc_url, external_ip) = rest.rsplit_once('@').ok_or(SHAPE)?;
    let node_id = node_id.trim();
    if node_id.is_empty()
        || node_id.len() > 128
        || !node_id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!("node id {node_id:?}: 1 to 128 letters, digits, '-', '_' or '.'"));
    }
    let authority = rpc_url.strip_prefix("ws://").or_else(|| rpc_url.strip_prefix("wss://"));
    if authority.is_none_or(|a| a.is_empty() || a.starts_with('/') || a.contains(char::is_whitespace)) {
        return Err(format!("{rpc_url:?} is not a ws:// or wss:// URL"));
    }
    if external_ip.is_empty() || external_ip.contains(|c: char| c.is_whitespace() || c == '/') {
        return Err(format!("{external_ip:?} is not an address"));
    }
    let mut capacity = NodeCapacity::default();
    for limit in parts {
        let (key, value) = limit.split_once('=').ok_or(SHAPE)?;
        let bad = || format!("{key}={value}: expected a number above 0");
        match key.trim() {
            "streams" => capacity.streams = Some(value.trim().parse().ok().filter(|n| *n > 0).ok_or_else(bad)?),
            "viewers" => capacity.viewers = Some(value.trim().parse().ok().filter(|n| *n > 0).ok_or_else(bad)?),
            "bitrate" => capacity.bitrate_kbps = Some(value.trim().parse().ok().filter(|n| *n > 0).ok_or_else(bad)?),
            "cpu" => {
                capacity.cpu_percent =
                    Some(value.trim().parse().ok().filter(|p: &f64| *p > 0.0 && *p <= 100.0).ok_or_else(bad)?)
            }
            other => return Err(format!("unknown limit {other:?}; {SHAPE}")),
        }
    }
    Ok(KurentoNode { node_id: node_id.into(), rpc_url: rpc_url.into(), external_ip: external_ip.into(), capacity })
}

/// What one poll of a Kurento server's `ServerManager` found.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct KurentoPoll {
    /// `getPipelines`: camview runs one pipeline per camera.
    pub pipelines: u32,
    /// WebRtcEndpoints among the pipelines' children.
    pub webrtc_endpoints: u32,
    /// `getUsedCpu`, percent.
    pub cpu_percent: f32,
}

/// The record a successful poll writes. Kurento does not report what it forwards: the bit rate
/// is 0, so a Kurento node is best declared without a bit-rate limit.
pub fn kurento_record(node: &KurentoNode, poll: KurentoPoll, at: String) -> MediaNode {
    MediaNode {
        node_id: node.node_id.clone(),
        rpc_url: node.rpc_url.clone(),
        external_ip: node.external_ip.clone(),
        kind: NodeKind::Kurento,
        capacity: node.capacity,
        load: NodeLoad {
            streams: poll.pipelines,
            viewers: poll.webrtc_endpoints,
            bitrate_kbps: 0,
            cpu_percent: f64::from(poll.cpu_percent).clamp(0.0, 100.0),
        },
        draining: false,
        updated_at: at,
    }
}

/// A node record as the placement policy reads it: undeclared limits become 0 (no limit), and
/// the CPU in use becomes a share of the CPU the node may use (all of it when undeclared).
pub fn placement_node(node: &MediaNode) -> Node {
    let c = &node.capacity;
    let cpu_cap = c.cpu_percent.filter(|p| *p > 0.0).unwrap_or(100.0);
    Node {
        id: node.node_id.clone(),
        capacity: Capacity {
            streams: c.streams.unwrap_or(0),
            viewers: c.viewers.unwrap_or(0),
            bitrate_kbps: c.bitrate_kbps.unwrap_or(0),
        },
        load: Load {
            streams: node.load.streams,
            viewers: node.load.viewers,
            bitrate_kbps: node.load.bitrate_kbps,
            cpu: node.load.cpu_percent.max(0.0) / cpu_cap,
        },
        draining: node.draining,
    }
}

#[cfg(test)]
#[path = "nodes_tests.rs"]
mod tests;
