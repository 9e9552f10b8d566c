//! Placement on a pool of media nodes (`MEDIA_NODES=registry`), end to end: three real engines
//! on their own loopback addresses (127.0.0.2-4) heartbeat into the real test Redis, and a
//! controller places streams on them. Streams spread; each record names its node and sends the
//! camera to that node's address; a viewer's endpoint is on its stream's node and plays; a
//! restarted camera returns to its node even when another has more headroom; full nodes take
//! nothing and, when all are full, a start is refused with `no_media_node`. When a node dies,
//! its streams move to live nodes and their viewers play again after renegotiating.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use camview_common::config::RedisConfig;
use camview_common::testing::wait_until;
use camview_media_controller::config::Settings;
use camview_media_engine::node::NodeSettings;
use camview_media_engine::{Engine, Settings as EngineSettings};
use camview_proto::bus::{Message, StopStream};
use camview_proto::error::ErrorCode;
use camview_proto::node::NodeCapacity;
use camview_proto::stream::StreamRecord;

use crate::browsers::{camera_towards, failure, target, Stack, Viewer, PATIENCE};

/// Streams and viewers each node may carry.
const STREAMS: u32 = 4;
const VIEWERS: u32 = 3;

struct Node {
    id: String,
    ip: String,
    engine: Engine,
}

async fn node(stack: &Stack, id: &str, last_octet: u8) -> Node {
    let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet));
    let mut settings = EngineSettings::for_tests();
    settings.ws_addr = SocketAddr::new(ip, 0);
    settings.external_ip = ip;
    settings.rtp_bind_ip = ip;
    settings.webrtc_ips = vec![ip];
    settings.node = Some(NodeSettings {
        redis: RedisConfig { url: stack.redis_url().into(), prefix: stack.prefix.clone(), tls: None },
        node_id: id.into(),
        rpc_url: None,
        capacity: NodeCapacity {
            streams: Some(STREAMS),
            viewers: Some(VIEWERS),
            bitrate_kbps: None,
            cpu_percent: None,
        },
        period: Duration::from_millis(200),
    });
    let engine = Engine::start(settings).await.expect("engine starts");
    Node { id: id.into(), ip: ip.to_string(), engine }
}

/// A stack without its own engine, and three nodes on 127.0.0.2-4 whose heartbeats are in.
async fn three_nodes() -> (Stack, Vec<Node>) {
    let stack = Stack::without_engine().await;
    let nodes = vec![node(&stack, "node-a", 2).await, node(&stack, "node-b", 3).await, node(&stack, "node-c", 4).await];
    wait_until(PATIENCE, "three node heartbeats", || async {
        stack.deps.registry.list_nodes().await.expect("registry").len() == 3
    })
    .await;
    (stack, nodes)
}

fn pool_settings(stack: &Stack) -> Settings {
    pool_settings_with(stack, &[])
}

fn pool_settings_with(stack: &Stack, extra: &[(&str, &str)]) -> Settings {
    let base = [
        ("MEDIA_NODES", "registry"),
        ("MEDIA_NODES_REFRESH_MS", "200"),
        ("STREAM_STALL_SECONDS", "1"),
        ("CONTROLLER_LEASE_TTL_SECONDS", "2"),
        ("REDIS_URL", stack.redis_url()),
        ("REDIS_KEY_PREFIX", stack.prefix.as_str()),
        ("METRICS_ADDR", "127.0.0.1:0"),
    ];
    let all: std::collections::HashMap<String, String> =
        base.iter().chain(extra).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    Settings::from_source(&all).expect("settings")
}

/// The node a started stream's record names, checked against where its camera is sent.
fn placed<'a>(nodes: &'a [Node], stream: &StreamRecord) -> &'a Node {
    let id = stream.node_id.as_deref().expect("the record names its node");
    let node = nodes.iter().find(|n| n.id == id).expect("one of the nodes");
    assert_eq!(stream.rtp.as_ref().expect("an RTP target").host, node.ip, "the camera is sent to its node");
    node
}

/// Pipelines per node, as the engines themselves count them.
fn pipelines(nodes: &[Node]) -> BTreeMap<String, usize> {
    nodes.iter().map(|n| (n.id.clone(), n.engine.stats().core.pipelines)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_spread_over_three_nodes_stick_to_their_node_and_stop_at_full_capacity() {
    let (stack, nodes) = three_nodes().await;
    let controller = stack.controller_with(&pool_settings(&stack), &camview_common::telemetry::meter("pool")).await;

    // Six streams spread evenly: each placement counts the streams already placed.
    let mut on = BTreeMap::<String, Vec<String>>::new();
    for i in 1..=6 {
        let camera = format!("cam-{i}");
        let stream = stack.start_stream(&camera).await;
        on.entry(placed(&nodes, &stream).id.clone()).or_default().push(camera);
    }
    let even: BTreeMap<String, usize> = nodes.iter().map(|n| (n.id.clone(), 2)).collect();
    assert_eq!(on.iter().map(|(n, c)| (n.clone(), c.len())).collect::<BTreeMap<_, _>>(), even, "{on:?}");
    assert_eq!(pipelines(&nodes), even, "each engine holds the pipelines of its streams");

    // A viewer of a stream on node B gets its endpoint there and plays.
    let b = &nodes[1];
    let (watched, restarted) = (on[&b.id][0].clone(), on[&b.id][1].clone());
    let stream = stack.stream(&watched).await.expect("started");
    let _camera = camera_towards(&stream).await;
    let mut viewer = Viewer::new(&stack, "sig-pool-1", &watched, "viewer-1", true).await;
    let answer = viewer.join(&stack).await;
    let objects_before = b.engine.stats().core.objects;
    assert!(
        viewer.drive_until(PATIENCE, |v| v.peer().connected() && v.pictures.len() >= 3).await,
        "the viewer plays from node B"
    );
    let candidates: Vec<String> = viewer
        .events_seen
        .iter()
        .filter_map(|m| match m {
            Message::ViewerIceCandidate(c) => Some(c.candidate.candidate.clone()),
            _ => None,
        })
        .chain(answer.lines().filter(|l| l.starts_with("a=candidate")).map(str::to_owned))
        .collect();
    assert!(!candidates.is_empty() && candidates.iter().all(|c| c.contains(&format!(" {} ", b.ip))), "{candidates:?}");
    let mut second = Viewer::new(&stack, "sig-pool-2", &watched, "viewer-2", true).await;
    second.join(&stack).await;
    assert_eq!(b.engine.stats().core.objects, objects_before + 1, "the second viewer's endpoint is on node B too");

    // Node B now carries 2 of 3 viewers: with one stream stopped it has less headroom than the
    // others (1/3 left against 1/2), yet the restarted camera returns to it.
    let stop = Message::StopStream(StopStream { camera_id: restarted.parse().unwrap() });
    assert!(matches!(stack.api.request(stop, PATIENCE).await.unwrap(), Message::StreamStopped(_)));
    assert_eq!(b.engine.stats().core.pipelines, 1);
    let again = stack.start_stream(&restarted).await;
    assert_eq!(placed(&nodes, &again).id, b.id, "a restarted camera returns to its node");
    assert_eq!(pipelines(&nodes), even);

    // Six more fill every node to its capacity, never beyond it; the next start is refused.
    for i in 7..=12 {
        let stream = stack.start_stream(&format!("cam-{i}")).await;
        placed(&nodes, &stream);
        assert!(pipelines(&nodes).values().all(|n| *n <= STREAMS as usize), "{:?}", pipelines(&nodes));
    }
    let full: BTreeMap<String, usize> = nodes.iter().map(|n| (n.id.clone(), STREAMS as usize)).collect();
    assert_eq!(pipelines(&nodes), full);
    let refused = failure(stack.request_start("cam-13").await);
    assert_eq!(refused.code, ErrorCode::NoMediaNode, "{refused:?}");
    assert!(stack.stream("cam-13").await.is_none());
    assert_eq!(pipelines(&nodes), full, "a refused start leaves nothing behind");

    controller.shutdown().await;
    for n in nodes {
        n.engine.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_nodes_streams_move_to_live_nodes_and_their_viewers_play_again() {
    let (stack, mut nodes) = three_nodes().await;
    // The controller acts on lapsed records only once the registry has answered for the
    // liveness grace (SIGNALING_LIVENESS_TTL_SECONDS, 10 s by default): 1 s here, so the figure
    // below is a running controller's, not one just started.
    let settings = pool_settings_with(&stack, &[("SIGNALING_LIVENESS_TTL_SECONDS", "1")]);
    let controller = stack.controller_with(&settings, &camview_common::telemetry::meter("failover")).await;
    let mut on = BTreeMap::<String, String>::new();
    for i in 1..=3 {
        let camera = format!("cam-{i}");
        let stream = stack.start_stream(&camera).await;
        on.insert(placed(&nodes, &stream).id.clone(), camera);
    }
    assert_eq!(on.len(), 3, "one stream per node: {on:?}");

    // A viewer plays camera B from node B.
    let watched = on["node-b"].clone();
    let before = stack.stream(&watched).await.expect("started");
    let camera = camera_towards(&before).await;
    let mut viewer = Viewer::new(&stack, "sig-failover", &watched, "viewer-failover", true).await;
    viewer.join(&stack).await;
    assert!(viewer.drive_until(PATIENCE, |v| v.peer().connected() && v.pictures.len() >= 3).await, "plays from B");

    // Node B dies: its engine stops and so does its heartbeat.
    let dead = nodes.remove(1);
    dead.engine.shutdown();
    let died = std::time::Instant::now();
    assert!(
        viewer.drive_until(Duration::from_secs(30), |v| v.told_to_renegotiate()).await,
        "the viewer of the lost node's stream is asked to renegotiate"
    );
    let after = stack.stream(&watched).await.expect("the stream still exists");
    let new_node = placed(&nodes, &after);
    assert_ne!(new_node.id, dead.id, "the stream moved to a live node");
    for other in nodes.iter().map(|n| &on[&n.id]) {
        let s = stack.stream(other).await.expect("started");
        assert_ne!(s.node_id.as_deref(), Some(dead.id.as_str()), "no stream is left on the lost node");
    }
    assert_eq!(stack.slots(&watched).await, 0, "the viewer's slot is freed for its new offer");

    // The camera follows its new target (its next keepalive says it), the browser re-offers,
    // and it plays from the new node.
    camera.set_target(Some(target(&after)));
    viewer.reset_peer_connection().await;
    viewer.join(&stack).await;
    assert!(
        viewer.drive_until(PATIENCE, |v| v.peer().connected() && v.pictures.len() >= 3).await,
        "the viewer plays again, from {}",
        new_node.id
    );
    // A figure, not an assertion (docs/placement.md, "Failover"): the record's TTL (3 heartbeats
    // of 200 ms here) + up to one sweep (3 s) + re-creation + renegotiation + ICE and pictures.
    println!("failover: node death to the viewer playing again: {} ms", died.elapsed().as_millis());

    controller.shutdown().await;
    for n in nodes {
        n.engine.shutdown();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_popular_stream_relays_to_other_nodes_whose_viewers_play_and_the_limit_holds_across_them() {
    let (stack, nodes) = three_nodes().await;
    let settings = pool_settings_with(&stack, &[("RELAY_AFTER_VIEWERS", "1"), ("MAX_VIEWERS_PER_STREAM", "3")]);
    let controller = stack.controller_with(&settings, &camview_common::telemetry::meter("relay")).await;
    let stream = stack.start_stream("cam-hot").await;
    let origin = placed(&nodes, &stream).id.clone();
    let _camera = camera_towards(&stream).await;

    // One viewer per node: the first on the stream's own node, the next two on relays.
    let mut viewers = Vec::new();
    let mut homes = Vec::new();
    for i in 1..=3 {
        let mut viewer = Viewer::new(&stack, &format!("sig-relay-{i}"), "cam-hot", &format!("viewer-{i}"), true).await;
        let before: Vec<usize> = nodes.iter().map(|n| n.engine.stats().core.objects).collect();
        viewer.join(&stack).await;
        // Its endpoint is on the node whose objects grew (a new relay adds a pipeline and an
        // RtpEndpoint there too, and a sink on the stream's own node).
        let grew: Vec<&Node> =
            nodes.iter().zip(&before).filter(|(n, b)| n.engine.stats().core.objects > **b).map(|(n, _)| n).collect();
        let home = grew.iter().find(|n| n.id != origin || grew.len() == 1).expect("a node took the viewer");
        homes.push(home.id.clone());
        viewers.push(viewer);
    }
    assert_eq!(homes[0], origin, "the first viewer is on the stream's own node");
    let distinct: std::collections::BTreeSet<&String> = homes.iter().collect();
    assert_eq!(distinct.len(), 3, "each further viewer on a relay of its own node: {homes:?}");
    let record = stack.stream("cam-hot").await.expect("started");
    assert_eq!(record.relays.len(), 2, "{:?}", record.relays);
    for viewer in &mut viewers {
        let id = viewer.viewer_id.clone();
        assert!(
            viewer.drive_until(PATIENCE, |v| v.peer().connected() && v.pictures.len() >= 3).await,
            "{id} plays ({} packets)",
            viewer.peer().packets().len()
        );
    }

    // The stream's limit (3) holds across the nodes: a fourth viewer is refused.
    let mut fourth = Viewer::new(&stack, "sig-relay-4", "cam-hot", "viewer-4", true).await;
    assert_eq!(failure(fourth.add(&stack).await).code, ErrorCode::StreamFull);
    assert_eq!(stack.slots("cam-hot").await, 3);

    // The viewer of the second relay leaves: that relay is torn down, the other stays.
    let gone = homes[2].clone();
    assert!(matches!(viewers[2].leave().await, Message::Done(_)));
    let pipelines_of = |id: &str| nodes.iter().find(|n| n.id == id).expect("a node").engine.stats().core.pipelines;
    assert_eq!(pipelines_of(&gone), 0, "the idle relay's pipeline is released");
    assert_eq!(pipelines_of(&homes[1]), 1, "the used relay stays");
    assert_eq!(stack.stream("cam-hot").await.expect("started").relays.len(), 1);

    // A stop takes every relay with it.
    let stop = Message::StopStream(StopStream { camera_id: "cam-hot".parse().unwrap() });
    assert!(matches!(stack.api.request(stop, PATIENCE).await.unwrap(), Message::StreamStopped(_)));
    assert!(pipelines(&nodes).values().all(|n| *n == 0), "{:?}", pipelines(&nodes));

    controller.shutdown().await;
    for n in nodes {
        n.engine.shutdown();
    }
}
