//! `KURENTO_NODES`: the controller polls a real camview-media-engine through its
//! `ServerManager` (it speaks Kurento's protocol) and writes the node's heartbeat into a real
//! Redis registry, following its pipelines and WebRTC endpoints; the record lapses once the
//! server stops answering.

use std::sync::Arc;
use std::time::Duration;

use camview_common::registry::{MediaNodes, RedisRegistry};
use camview_common::testing::{random_keys, wait_until, RedisServer};
use camview_media_controller::kurento::{ClientConfig, KurentoClient, MediaPipeline, RtpEndpoint, WebRtcEndpoint};
use camview_media_controller::service::node_poller::spawn_node_pollers;
use camview_media_controller::service::nodes::parse_kurento_nodes;
use camview_media_engine::{Engine, Settings as EngineSettings};
use camview_proto::node::{MediaNode, NodeKind};
use tokio::sync::watch;

const PERIOD: Duration = Duration::from_millis(200);
const WAIT: Duration = Duration::from_secs(10);

async fn node(registry: &RedisRegistry) -> Option<MediaNode> {
    registry.get_node("kms-a").await.expect("the registry answers")
}

fn load(n: &Option<MediaNode>) -> Option<(u32, u32)> {
    n.as_ref().map(|n| (n.load.streams, n.load.viewers))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_polled_kurento_node_reports_its_pipelines_and_webrtc_endpoints_and_lapses_when_it_stops() {
    let engine = Engine::start(EngineSettings::for_tests()).await.expect("engine starts");
    let registry =
        Arc::new(RedisRegistry::connect(&RedisServer::shared().url(), random_keys()).await.expect("registry"));
    let nodes = parse_kurento_nodes(&format!("kms-a={}@198.51.100.9;streams=20;viewers=100", engine.ws_url())).unwrap();
    let (stop, stopped) = watch::channel(false);
    let pollers = spawn_node_pollers(&nodes, PERIOD, registry.clone(), &stopped);

    wait_until(WAIT, "the first poll's record", || async { node(&registry).await.is_some() }).await;
    let first = node(&registry).await.unwrap();
    assert_eq!(first.kind, NodeKind::Kurento);
    assert_eq!(first.rpc_url, engine.ws_url());
    assert_eq!(first.external_ip, "198.51.100.9");
    assert_eq!((first.capacity.streams, first.capacity.viewers), (Some(20), Some(100)));
    assert_eq!((first.load.streams, first.load.viewers), (0, 0));
    assert!((0.0..=100.0).contains(&first.load.cpu_percent), "{:?}", first.load);

    let client = KurentoClient::connect(ClientConfig::new(engine.ws_url())).await.expect("client connects");
    let camera = MediaPipeline::create(&client).await.expect("pipeline");
    RtpEndpoint::create(&client, &camera, Default::default()).await.expect("camera endpoint");
    for _ in 0..2 {
        WebRtcEndpoint::create(&client, &camera, Default::default()).await.expect("viewer endpoint");
    }
    let other = MediaPipeline::create(&client).await.expect("second pipeline");
    wait_until(WAIT, "the record shows two pipelines and two viewers", || async {
        load(&node(&registry).await) == Some((2, 2))
    })
    .await;

    other.release().await.expect("release");
    wait_until(WAIT, "the released pipeline is no longer load", || async {
        load(&node(&registry).await) == Some((1, 2))
    })
    .await;

    engine.shutdown();
    wait_until(WAIT, "the record of a server that stopped answering lapses", || async {
        node(&registry).await.is_none()
    })
    .await;

    stop.send(true).unwrap();
    for poller in pollers {
        tokio::time::timeout(WAIT, poller).await.expect("the poller stops").expect("the poller ran");
    }
}
