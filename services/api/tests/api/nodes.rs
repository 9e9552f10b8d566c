//! `GET /nodes`: the live media nodes from the registry (written with `put_node` as the engine's
//! heartbeat does), admin only, without their JSON-RPC URLs.

use std::time::Duration;

use camview_proto::node::{MediaNode, NodeCapacity, NodeKind, NodeLoad};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ok_json, spawn_app};

fn node(id: &str, streams: u32, viewers: u32) -> MediaNode {
    MediaNode {
        node_id: id.into(),
        rpc_url: format!("ws://10.0.0.9:8888/kurento-{id}"),
        external_ip: "203.0.113.7".into(),
        kind: NodeKind::Engine,
        capacity: NodeCapacity { streams: Some(50), viewers: None, bitrate_kbps: None, cpu_percent: Some(80.0) },
        load: NodeLoad { streams, viewers, bitrate_kbps: 1500, cpu_percent: 7.5 },
        draining: false,
        updated_at: camview_common::clock::now_rfc3339(),
    }
}

#[tokio::test]
async fn nodes_lists_every_live_node_with_its_load_sorted_by_id() {
    let app = spawn_app().await;
    assert_eq!(ok_json(app.get("/nodes").await).await, json!({"nodes": [], "count": 0}));

    let ttl = Duration::from_secs(30);
    app.registry.put_node(&node("engine-b", 2, 9), ttl).await.unwrap();
    app.registry.put_node(&node("engine-a", 1, 3), ttl).await.unwrap();
    let body = ok_json(app.get("/nodes").await).await;
    assert_eq!(body["count"], 2);
    let nodes = body["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["node_id"], "engine-a");
    assert_eq!(nodes[1]["node_id"], "engine-b");
    assert_eq!(nodes[1]["kind"], "engine");
    assert_eq!(nodes[1]["external_ip"], "203.0.113.7");
    assert_eq!(nodes[1]["load"], json!({"streams": 2, "viewers": 9, "bitrate_kbps": 1500, "cpu_percent": 7.5}));
    assert_eq!(nodes[1]["capacity"], json!({"streams": 50, "cpu_percent": 80.0}));
    assert_eq!(nodes[1]["draining"], false);
}

#[tokio::test]
async fn nodes_never_shows_the_json_rpc_url() {
    let app = spawn_app().await;
    app.registry.put_node(&node("engine-a", 0, 0), Duration::from_secs(30)).await.unwrap();
    let text = app.get("/nodes").await.text().await.unwrap();
    assert!(text.contains("engine-a"), "{text}");
    assert!(!text.contains("rpc_url") && !text.contains("ws://"), "{text}");
}

#[tokio::test]
async fn a_node_whose_heartbeat_lapsed_is_no_longer_listed() {
    let app = spawn_app().await;
    app.registry.put_node(&node("engine-live", 0, 0), Duration::from_secs(30)).await.unwrap();
    app.registry.put_node(&node("engine-dying", 0, 0), Duration::from_millis(300)).await.unwrap();
    assert_eq!(ok_json(app.get("/nodes").await).await["count"], 2);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let body = ok_json(app.get("/nodes").await).await;
        if body["count"] == 1 {
            assert_eq!(body["nodes"][0]["node_id"], "engine-live");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the lapsed node is still listed: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn nodes_is_refused_to_strangers_and_to_viewers() {
    let app = spawn_app().await;
    app.registry.put_node(&node("engine-a", 0, 0), Duration::from_secs(30)).await.unwrap();
    let anon = app.anon(Method::GET, "/nodes").send().await.unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let viewer = app.viewer("watcher", &["*"]).await;
    let refused = app.as_user(&viewer, Method::GET, "/nodes").send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
}
