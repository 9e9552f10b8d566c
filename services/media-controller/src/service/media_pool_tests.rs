//! The pool against two real in-process engines registered as nodes: each call lands on the
//! node of the stream or object it is about, events name their node, the inventory is the union.

use std::sync::Arc;
use std::time::Duration;

use camview_common::registry::memory::MemoryRegistry;
use camview_common::testing::peer::{Codecs, TestPeer};
use camview_common::MediaNodes;
use camview_media_engine::{Engine, Settings as EngineSettings};
use camview_proto::node::{MediaNode, NodeKind};
use camview_proto::stream::{Bandwidth, Codec};

use super::*;
use crate::service::sdp;

const WAIT: Duration = Duration::from_secs(10);

struct Nodes {
    a: Engine,
    b: Engine,
    pool: Arc<MediaPool>,
}

fn record(node_id: &str, engine: &Engine) -> MediaNode {
    MediaNode {
        node_id: node_id.into(),
        rpc_url: engine.ws_url(),
        external_ip: "127.0.0.1".into(),
        kind: NodeKind::Engine,
        capacity: Default::default(),
        load: Default::default(),
        draining: false,
        updated_at: "2026-12-07T13:00:00.000Z".into(),
    }
}

async fn two_nodes() -> Nodes {
    let a = Engine::start(EngineSettings::for_tests()).await.expect("engine a starts");
    let b = Engine::start(EngineSettings::for_tests()).await.expect("engine b starts");
    let registry = Arc::new(MemoryRegistry::new());
    registry.put_node(&record("node-a", &a), Duration::from_secs(60)).await.unwrap();
    registry.put_node(&record("node-b", &b), Duration::from_secs(60)).await.unwrap();
    let pool = MediaPool::new(registry, ClientConfig::new("ws://unused"), None, "camview-test:");
    Nodes { a, b, pool }
}

fn spec(camera: &str, node_id: Option<&str>) -> StreamSpec {
    StreamSpec {
        camera_id: camera.parse().unwrap(),
        bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
        offer: sdp::camera_offer(camera, Codec::H264, 96),
        source: None,
        node_id: node_id.map(str::to_owned),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_viewers_and_releases_go_to_the_node_of_their_stream() {
    let n = two_nodes().await;
    let mut events = n.pool.events();
    let on_a = n.pool.create_stream(&spec("cam-a", Some("node-a"))).await.expect("stream on a");
    let on_b = n.pool.create_stream(&spec("cam-b", Some("node-b"))).await.expect("stream on b");
    assert_eq!((on_a.node_id.as_deref(), on_b.node_id.as_deref()), (Some("node-a"), Some("node-b")));
    assert_eq!((n.a.stats().core.pipelines, n.b.stats().core.pipelines), (1, 1));

    let before = (n.a.stats().core.objects, n.b.stats().core.objects);
    let mut peer = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    // A stream as the controller rebuilds it from its record: ids and node, no answer.
    let recorded = MediaStream { answer: String::new(), ..on_b.clone() };
    let viewer = n.pool.create_viewer(&recorded, &peer.offer(), &IceSettings::default()).await.expect("viewer");
    assert!(viewer.endpoint_id.starts_with(&on_b.pipeline_id), "{}", viewer.endpoint_id);
    assert_eq!((n.a.stats().core.objects, n.b.stats().core.objects), (before.0, before.1 + 1), "the viewer is on b");
    n.pool.gather_candidates(&viewer.endpoint_id).await.expect("routed by the endpoint's pipeline");
    n.pool.release(&viewer.endpoint_id).await.expect("viewer released");
    assert_eq!(n.b.stats().core.objects, before.1);

    n.pool.release(&on_a.pipeline_id).await.expect("pipeline released");
    assert_eq!((n.a.stats().core.pipelines, n.b.stats().core.pipelines), (0, 1));
    n.pool.release(&on_a.pipeline_id).await.expect("releasing what the pool no longer knows is a no-op");

    let connected = |node: &str| MediaEvent::Connected { resumed: false, node_id: Some(node.to_owned()) };
    let mut seen = Vec::new();
    while !(seen.contains(&connected("node-a")) && seen.contains(&connected("node-b"))) {
        seen.push(tokio::time::timeout(WAIT, events.recv()).await.expect("events in time").expect("an event"));
    }
    assert!(n.pool.is_connected());
    n.pool.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_is_the_union_of_the_nodes_and_adoption_follows_the_stream_node() {
    let n = two_nodes().await;
    let on_a = n.pool.create_stream(&spec("cam-a", Some("node-a"))).await.expect("stream on a");
    let on_b = n.pool.create_stream(&spec("cam-b", Some("node-b"))).await.expect("stream on b");
    let mut listed: Vec<String> = n.pool.inventory().await.unwrap().into_iter().map(|p| p.pipeline_id).collect();
    listed.sort();
    let mut expected = vec![on_a.pipeline_id.clone(), on_b.pipeline_id.clone()];
    expected.sort();
    assert_eq!(listed, expected);

    // A second pool (a restarted controller) knows nothing but what the records say.
    let registry = Arc::new(MemoryRegistry::new());
    registry.put_node(&record("node-a", &n.a), Duration::from_secs(60)).await.unwrap();
    registry.put_node(&record("node-b", &n.b), Duration::from_secs(60)).await.unwrap();
    let fresh = MediaPool::new(registry, ClientConfig::new("ws://unused"), None, "camview-test:");
    let recorded = MediaStream { answer: String::new(), ..on_b.clone() };
    assert!(fresh.adopt_stream(&recorded).await.unwrap(), "found on its node");
    let on_an_unregistered_node = MediaStream { node_id: Some("node-a".into()), ..recorded.clone() };
    let other =
        MediaPool::new(Arc::new(MemoryRegistry::new()), ClientConfig::new("ws://unused"), None, "camview-test:");
    assert!(
        matches!(other.adopt_stream(&on_an_unregistered_node).await, Err(MediaError::Unavailable(_))),
        "a node without a heartbeat cannot be reached"
    );
    let no_node = MediaStream { node_id: None, ..recorded };
    assert!(!other.adopt_stream(&no_node).await.unwrap(), "a stream of no node is recreated");
    fresh.release(&on_b.pipeline_id).await.expect("released through the adopting pool");
    assert_eq!(n.b.stats().core.pipelines, 0);
    assert!(matches!(n.pool.create_stream(&spec("cam-c", None)).await, Err(MediaError::Unavailable(_))));
    assert!(matches!(n.pool.create_stream(&spec("cam-c", Some("node-z"))).await, Err(MediaError::Unavailable(_))));
    n.pool.shutdown();
    fresh.shutdown();
}
