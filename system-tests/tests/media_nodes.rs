//! Media nodes in the real split stack (issue 16): three engine processes on 127.0.0.2-4
//! heartbeat into Redis, and the controller places streams on them (`MEDIA_NODES=registry`).
//! Streams spread, each says its node and address; the viewer limit holds; killing a node moves
//! its stream to a live node, the camera follows its next keepalive, and the viewers play again
//! after renegotiating; a popular stream relays to a second engine whose viewer plays. The time
//! is printed, never asserted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use camview_system_tests::{Stack, StackOptions, Viewer, ViewerError, PATIENCE};

/// The node a stream's view names, checked against the address its camera is sent to.
async fn node_of(stack: &Stack, camera: &str) -> String {
    let view = stack.stream(camera).await;
    let node = view["node_id"].as_str().unwrap_or_else(|| panic!("no node in {view}")).to_owned();
    let n: u8 = node.trim_start_matches("node-").parse().expect("node-<n>");
    assert_eq!(view["rtp"]["host"], format!("127.0.0.{}", n + 1), "the camera is sent to its node: {view}");
    node
}

async fn joined(stack: &Stack, camera: &str) -> Viewer {
    let mut viewer = stack.viewer().await;
    viewer.join(camera, PATIENCE).await.unwrap_or_else(|e| panic!("join: {e}\n{}", stack.all_output()));
    viewer
}

fn refused_as_full(result: Result<String, ViewerError>) -> bool {
    matches!(result, Err(ViewerError::Refused { code, .. }) if code == "stream_full")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_spread_over_three_engine_processes_and_a_killed_nodes_viewers_play_again_on_another() {
    let options = StackOptions::default()
        .media_nodes(3)
        .all(&[("SIGNALING_LIVENESS_TTL_SECONDS", "3")])
        .controller(&[("MAX_VIEWERS_PER_STREAM", "2")]);
    let mut stack = Stack::start_with(options).await;
    stack.eventually("GET /nodes lists the three engines", || async { stack.nodes().await.len() == 3 }).await;

    let mut placed = BTreeMap::new();
    for camera in ["cam-a", "cam-b", "cam-c"] {
        stack.start_stream(camera).await;
        placed.insert(camera, node_of(&stack, camera).await);
    }
    assert_eq!(placed.values().collect::<BTreeSet<_>>().len(), 3, "one stream per node: {placed:?}");

    // Two viewers play cam-b from its node; a third is refused (MAX_VIEWERS_PER_STREAM).
    let camera = "cam-b";
    let lost = placed[camera].clone();
    stack.start_camera(camera);
    let mut first = joined(&stack, camera).await;
    first.wait_for_media(20, PATIENCE).await.unwrap_or_else(|e| panic!("media: {e}\n{}", stack.all_output()));
    let mut second = joined(&stack, camera).await;
    let mut third = stack.viewer().await;
    assert!(refused_as_full(third.join(camera, PATIENCE).await), "the viewer limit holds");

    // Its node dies: the stream moves, both viewers are asked to renegotiate and play again.
    let killed = Instant::now();
    stack.service(&format!("media-{lost}")).kill();
    for viewer in [&mut first, &mut second] {
        viewer
            .drive_until(PATIENCE, "renegotiate", Viewer::asked_to_renegotiate)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", stack.all_output()));
    }
    let moved = node_of(&stack, camera).await;
    assert_ne!(moved, lost, "the stream left its lost node");
    for viewer in [&mut first, &mut second] {
        viewer.rejoin(camera, PATIENCE).await.unwrap_or_else(|e| panic!("rejoin: {e}\n{}", stack.all_output()));
    }
    // Both driven at once, as two browsers run side by side.
    let (a, b) = tokio::join!(first.wait_for_media(20, PATIENCE), second.wait_for_media(20, PATIENCE));
    for played in [a, b] {
        played.unwrap_or_else(|e| panic!("media from {moved}: {e}\n{}", stack.all_output()));
    }
    eprintln!("every viewer played again {:?} after its node was killed ({lost} -> {moved})", killed.elapsed());

    // The limit still holds on the new node, and the other streams never moved.
    assert!(refused_as_full(third.join(camera, PATIENCE).await), "the viewer limit holds after the move");
    assert_eq!(stack.viewer_count(camera).await, 2, "two viewers, no slot leaked\n{}", stack.all_output());
    for other in ["cam-a", "cam-c"] {
        assert_eq!(node_of(&stack, other).await, placed[other], "{other} stayed on its live node");
    }
    stack.eventually("GET /nodes lists the two live engines", || async { stack.nodes().await.len() == 2 }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_popular_stream_relays_to_a_second_engine_process_and_viewers_on_both_play() {
    let options = StackOptions::default()
        .media_nodes(3)
        .controller(&[("RELAY_AFTER_VIEWERS", "1"), ("MAX_VIEWERS_PER_STREAM", "2")]);
    let mut stack = Stack::start_with(options).await;
    stack.eventually("GET /nodes lists the three engines", || async { stack.nodes().await.len() == 3 }).await;
    let camera = "cam-hot";
    stack.start_stream(camera).await;
    let origin = node_of(&stack, camera).await;
    stack.start_camera(camera);

    let mut first = joined(&stack, camera).await;
    let mut second = joined(&stack, camera).await;
    let (a, b) = tokio::join!(first.wait_for_media(20, PATIENCE), second.wait_for_media(20, PATIENCE));
    for played in [a, b] {
        played.unwrap_or_else(|e| panic!("media: {e}\n{}", stack.all_output()));
    }
    // The nodes' own heartbeats: one viewer on the stream's node, one on another (the relay).
    let viewers_per_node = || async {
        let nodes = stack.nodes().await;
        let on: BTreeMap<String, u64> = nodes
            .iter()
            .map(|n| (n["node_id"].as_str().unwrap_or_default().to_owned(), n["load"]["viewers"].as_u64().unwrap_or(0)))
            .filter(|(_, v)| *v > 0)
            .collect();
        on.len() == 2 && on.get(&origin) == Some(&1) && on.values().sum::<u64>() == 2
    };
    stack.eventually("one viewer on the stream's node and one on a relay node", viewers_per_node).await;
    let mut third = stack.viewer().await;
    assert!(refused_as_full(third.join(camera, PATIENCE).await), "the viewer limit holds across nodes");
    assert_eq!(stack.viewer_count(camera).await, 2, "{}", stack.all_output());
}
