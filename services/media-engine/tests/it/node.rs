//! The engine's node heartbeat in a real Redis registry: its record appears with the engine's
//! address and capacity, follows a camera and a viewer, and lapses once the engine stops.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use camview_common::clock::parse_rfc3339;
use camview_common::config::Reader;
use camview_common::registry::{MediaNodes, RedisRegistry};
use camview_common::testing::peer::{Codecs, TestPeer};
use camview_common::testing::{random_prefix, wait_until, RedisServer};
use camview_media_engine::node::NodeSettings;
use camview_media_engine::Settings;
use camview_proto::keys::Keys;
use camview_proto::node::{MediaNode, NodeKind};
use serde_json::json;

use crate::helpers::*;
use crate::media::{join, pipeline_with_camera, run_camera};

const PERIOD_MS: &str = "200";

pub(crate) fn node_settings(prefix: &str) -> NodeSettings {
    let vars: HashMap<String, String> = [
        ("REDIS_URL", RedisServer::shared().url()),
        ("REDIS_KEY_PREFIX", prefix.to_owned()),
        ("NODE_ID", "engine-under-test".to_owned()),
        ("NODE_CAPACITY_STREAMS", "10".to_owned()),
        ("NODE_CAPACITY_VIEWERS", "50".to_owned()),
        ("NODE_HEARTBEAT_MS", PERIOD_MS.to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    NodeSettings::from_reader(&Reader::new(&vars), "127.0.0.1".parse().unwrap()).unwrap().expect("REDIS_URL is set")
}

async fn node(registry: &RedisRegistry) -> Option<MediaNode> {
    registry.get_node("engine-under-test").await.expect("the registry answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_heartbeat_reports_its_address_capacity_and_the_load_of_a_camera_and_a_viewer() {
    let prefix = random_prefix();
    let registry = RedisRegistry::connect(&RedisServer::shared().url(), Keys::new(prefix.clone())).await.unwrap();
    let engine = spawn_engine_with(|s: &mut Settings| s.node = Some(node_settings(&prefix))).await;

    wait_until(WAIT, "the engine's first heartbeat", || async { node(&registry).await.is_some() }).await;
    let first = node(&registry).await.unwrap();
    assert_eq!(first.rpc_url, engine.ws_url(), "controllers reach it where it listens");
    assert_eq!(first.external_ip, "127.0.0.1");
    assert_eq!(first.kind, NodeKind::Engine);
    assert_eq!(
        (first.capacity.streams, first.capacity.viewers, first.capacity.bitrate_kbps),
        (Some(10), Some(50), None)
    );
    assert_eq!((first.load.streams, first.load.viewers), (0, 0));

    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let (stop, camera) = run_camera(cam);
    let mut viewer = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    join(&mut c, &pipe, &rtp, &mut viewer).await;
    assert!(viewer.drive_until(WAIT, |v| !v.packets().is_empty()).await, "the viewer plays");

    // The viewer is driven meanwhile, so media keeps flowing through the heartbeat periods.
    let deadline = tokio::time::Instant::now() + WAIT;
    let loaded = loop {
        viewer.drive_until(Duration::from_millis(100), |_| false).await;
        let n = node(&registry).await.expect("the node stays listed");
        if n.load.streams == 1 && n.load.viewers == 1 && n.load.bitrate_kbps > 0 {
            break n;
        }
        assert!(tokio::time::Instant::now() < deadline, "the heartbeat never showed the camera and viewer: {n:?}");
    };
    assert!(loaded.load.cpu_percent >= 0.0 && loaded.load.cpu_percent <= 100.0, "{:?}", loaded.load);
    let at = |n: &MediaNode| parse_rfc3339(&n.updated_at).expect("an RFC 3339 time");
    assert!(at(&loaded) > at(&first), "a later heartbeat: {} then {}", first.updated_at, loaded.updated_at);

    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    c.ok("release", json!({"object": pipe})).await;
    wait_until(WAIT, "the heartbeat shows the released camera and viewer gone", || async {
        node(&registry).await.is_some_and(|n| (n.load.streams, n.load.viewers) == (0, 0))
    })
    .await;

    engine.shutdown();
    wait_until(WAIT, "the stopped engine's record lapses", || async { node(&registry).await.is_none() }).await;
    assert!(registry.list_nodes().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_manager_reports_the_cpu_the_engine_process_uses() {
    let engine = spawn_engine().await;
    // The engine measures its own process, which is this test's: keep one core busy.
    let busy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let spin = busy.clone();
    let burner = std::thread::spawn(move || {
        let mut x = 0u64;
        while spin.load(Ordering::Relaxed) {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    });
    let used_cpu = || async {
        let mut c = Client::connect(&engine).await;
        c.invoke("manager_ServerManager", "getUsedCpu", json!({"interval": 100})).await.as_f64().expect("a number")
    };
    wait_until(WAIT, "getUsedCpu sees the busy core", || async { used_cpu().await > 0.0 }).await;
    busy.store(false, Ordering::Relaxed);
    burner.join().unwrap();
    assert!(used_cpu().await <= 100.0);
}
