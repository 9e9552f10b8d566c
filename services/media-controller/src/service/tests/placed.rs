//! With a pool of media nodes: streams go to the registry's nodes and carry their address, a
//! start finding every node full is refused, and a node's reconnect reconciles its streams alone.

use camview_proto::node::{MediaNode, NodeCapacity, NodeKind};

use super::*;
use crate::service::placement::Policy;

fn node(node_id: &str, ip: &str) -> MediaNode {
    MediaNode {
        node_id: node_id.into(),
        rpc_url: format!("ws://{ip}:8888/kurento"),
        external_ip: ip.into(),
        kind: NodeKind::Engine,
        capacity: NodeCapacity { streams: Some(1), ..Default::default() },
        load: Default::default(),
        draining: false,
        updated_at: "2026-12-07T13:00:00.000Z".into(),
    }
}

#[tokio::test]
async fn streams_go_to_nodes_with_room_and_a_node_reconnect_recreates_only_its_lost_streams() {
    let f = fixture_with(64, Some(Policy::default())).await;
    f.registry.put_node(&node("node-a", "198.51.100.1"), Duration::from_secs(60)).await.unwrap();
    f.registry.put_node(&node("node-b", "198.51.100.2"), Duration::from_secs(60)).await.unwrap();
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();

    let mut placed = Vec::new();
    for camera in ["cam1", "cam2"] {
        let Message::StreamStarted(s) = command(&f, &api, start(camera)).await else { panic!("not started") };
        let node_id = s.stream.node_id.clone().expect("the record names its node");
        let ip = if node_id == "node-a" { "198.51.100.1" } else { "198.51.100.2" };
        assert_eq!(s.stream.rtp.as_ref().unwrap().host, ip, "the camera is sent to its node");
        assert!(f.media.calls().contains(&format!("create_stream {camera} node={node_id}")), "{:?}", f.media.calls());
        placed.push(node_id);
    }
    placed.sort();
    assert_eq!(placed, ["node-a", "node-b"], "one stream per node: each holds one");

    let Message::Failed(refused) = command(&f, &api, start("cam3")).await else { panic!("cam3 was started") };
    assert_eq!(refused.code, ErrorCode::NoMediaNode);
    assert_eq!(f.media.calls().iter().filter(|c| c.starts_with("create_stream")).count(), 2);

    // Both nodes lost their objects; only node-a's connection comes back.
    f.media.released.lock().unwrap().extend(["cam1_kurento.MediaPipeline".into(), "cam2_kurento.MediaPipeline".into()]);
    let cam1 = f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap().unwrap();
    let cam1_node = cam1.node_id.clone().unwrap();
    f.controller.on_media_event(MediaEvent::Connected { resumed: false, node_id: Some(cam1_node.clone()) }).await;
    let creates: Vec<String> = f.media.calls().into_iter().filter(|c| c.starts_with("create_stream")).collect();
    assert_eq!(creates.len(), 3, "{creates:?}");
    assert_eq!(creates[2], format!("create_stream cam1 node={cam1_node}"), "recreated on its own node");
}
