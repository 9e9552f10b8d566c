//! Media node cases: heartbeats with a TTL, the live list, draining marks, forgetting, fencing.

use std::time::Duration;

use camview_common::registry::{Fence, RegistryError};
use camview_common::testing::wait_until;
use camview_proto::node::{MediaNode, NodeCapacity, NodeKind, NodeLoad};

use crate::backend::Backend;

const SHORT_TTL: Duration = Duration::from_millis(300);
const EXPIRY_DEADLINE: Duration = Duration::from_secs(5);
const LONG_TTL: Duration = Duration::from_secs(60);

pub fn node(node_id: &str, streams: u32) -> MediaNode {
    MediaNode {
        node_id: node_id.into(),
        rpc_url: format!("ws://{node_id}.example:8888/kurento"),
        external_ip: "192.0.2.20".into(),
        kind: NodeKind::Engine,
        capacity: NodeCapacity { streams: Some(100), viewers: Some(2000), bitrate_kbps: None, cpu_percent: None },
        load: NodeLoad { streams, viewers: streams * 3, bitrate_kbps: 2500 * u64::from(streams), cpu_percent: 7.5 },
        draining: false,
        updated_at: "2026-12-07T13:00:00.000Z".into(),
    }
}

fn ids(nodes: &[MediaNode]) -> Vec<&str> {
    nodes.iter().map(|n| n.node_id.as_str()).collect()
}

pub async fn node_heartbeats_are_got_and_listed_sorted_by_id_and_the_newest_replaces_the_last(b: &impl Backend) {
    let r = b.registry().await;
    assert_eq!(r.get_node("node-a").await.unwrap(), None);
    assert!(r.list_nodes().await.unwrap().is_empty());
    for id in ["node-c", "node-a", "node-b"] {
        r.put_node(&node(id, 1), LONG_TTL).await.unwrap();
    }
    assert_eq!(ids(&r.list_nodes().await.unwrap()), ["node-a", "node-b", "node-c"]);
    r.put_node(&node("node-b", 7), LONG_TTL).await.unwrap();
    assert_eq!(r.get_node("node-b").await.unwrap(), Some(node("node-b", 7)));
    assert_eq!(r.list_nodes().await.unwrap()[1], node("node-b", 7));
}

pub async fn a_node_disappears_once_its_heartbeat_lapses_and_comes_back_with_the_next(b: &impl Backend) {
    let r = b.registry().await;
    r.put_node(&node("node-live", 1), LONG_TTL).await.unwrap();
    r.put_node(&node("node-dies", 1), SHORT_TTL).await.unwrap();
    assert_eq!(ids(&r.list_nodes().await.unwrap()), ["node-dies", "node-live"]);
    wait_until(EXPIRY_DEADLINE, "node-dies' heartbeat lapses", || async {
        r.get_node("node-dies").await.unwrap().is_none()
    })
    .await;
    assert_eq!(ids(&r.list_nodes().await.unwrap()), ["node-live"]);
    r.put_node(&node("node-dies", 2), LONG_TTL).await.unwrap();
    assert_eq!(ids(&r.list_nodes().await.unwrap()), ["node-dies", "node-live"]);
}

pub async fn a_draining_mark_outlives_the_next_heartbeat_until_cleared(b: &impl Backend) {
    let r = b.registry().await;
    r.put_node(&node("node-a", 1), LONG_TTL).await.unwrap();
    r.set_node_draining("node-a", true).await.unwrap();
    r.put_node(&node("node-a", 2), LONG_TTL).await.unwrap();
    assert!(r.get_node("node-a").await.unwrap().unwrap().draining, "the heartbeat does not undo the mark");
    assert!(r.list_nodes().await.unwrap()[0].draining);
    r.set_node_draining("node-a", false).await.unwrap();
    assert!(!r.get_node("node-a").await.unwrap().unwrap().draining);
    let leaving = MediaNode { draining: true, ..node("node-a", 2) };
    r.put_node(&leaving, LONG_TTL).await.unwrap();
    assert!(r.get_node("node-a").await.unwrap().unwrap().draining, "a node may say itself that it is leaving");
}

pub async fn forgetting_a_node_removes_its_record_and_its_draining_mark(b: &impl Backend) {
    let r = b.registry().await;
    r.put_node(&node("node-a", 1), LONG_TTL).await.unwrap();
    r.put_node(&node("node-b", 1), LONG_TTL).await.unwrap();
    r.set_node_draining("node-a", true).await.unwrap();
    assert!(r.forget_node("node-a").await.unwrap());
    assert!(!r.forget_node("node-a").await.unwrap());
    assert_eq!(ids(&r.list_nodes().await.unwrap()), ["node-b"]);
    r.put_node(&node("node-a", 1), LONG_TTL).await.unwrap();
    assert!(!r.get_node("node-a").await.unwrap().unwrap().draining, "the mark went with the node");
}

pub async fn node_heartbeats_are_not_fenced_but_draining_marks_and_forgetting_are(b: &impl Backend) {
    let r = b.registry().await;
    let view = r.fenced(Fence::new());
    view.put_node(&node("node-a", 1), LONG_TTL).await.expect("engines hold no lease and still write heartbeats");
    assert!(matches!(view.set_node_draining("node-a", true).await, Err(RegistryError::Fenced { term: 0 })));
    assert!(matches!(view.forget_node("node-a").await, Err(RegistryError::Fenced { term: 0 })));
    assert_eq!(r.get_node("node-a").await.unwrap(), Some(node("node-a", 1)), "refused writes changed nothing");
    let fence = Fence::new();
    let view = r.fenced(fence.clone());
    fence.enter(r.acquire_lease("mc-1", LONG_TTL).await.unwrap().expect("taken"));
    view.set_node_draining("node-a", true).await.unwrap();
    assert!(r.get_node("node-a").await.unwrap().unwrap().draining);
}

pub async fn a_cameras_node_is_kept_after_its_stream_and_its_write_is_fenced(b: &impl Backend) {
    let r = b.registry().await;
    let camera: camview_proto::CameraId = "cam-sticky".parse().unwrap();
    assert_eq!(r.get_camera_node(&camera).await.unwrap(), None);
    let view = r.fenced(Fence::new());
    assert!(matches!(view.put_camera_node(&camera, "node-a").await, Err(RegistryError::Fenced { term: 0 })));
    assert_eq!(r.get_camera_node(&camera).await.unwrap(), None, "a refused write changed nothing");
    let fence = Fence::new();
    let view = r.fenced(fence.clone());
    fence.enter(r.acquire_lease("mc-1", LONG_TTL).await.unwrap().expect("taken"));
    view.put_camera_node(&camera, "node-a").await.unwrap();
    assert_eq!(r.get_camera_node(&camera).await.unwrap().as_deref(), Some("node-a"));
    view.put_camera_node(&camera, "node-b").await.unwrap();
    assert_eq!(r.get_camera_node(&camera).await.unwrap().as_deref(), Some("node-b"), "the last placement wins");
}
