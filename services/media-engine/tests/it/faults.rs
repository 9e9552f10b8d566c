//! Fault containment on a real engine (feature `test-support` supplies the magic inputs that
//! panic): a panic in one viewer's handling closes that viewer only, a panic in `processOffer`
//! answers that request only, panicking tasks are restarted, and a client that does not read its
//! events is disconnected without harming others.

use std::sync::atomic::Ordering;

use camview_common::testing::peer::{Codecs, TestPeer};
use camview_common::testing::{wait_until, TestMetrics};
use camview_media_engine::testing::{POISON_OFFER, POISON_READER, POISON_VIEWER};
use camview_media_engine::{Engine, Settings};
use serde_json::json;
use tokio::net::UdpSocket;

use crate::helpers::*;
use crate::media::{join, pipeline_with_camera, run_camera};

async fn engine_with(metrics: &TestMetrics, tweak: impl FnOnce(&mut Settings)) -> Engine {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let mut cfg = Settings::for_tests();
    tweak(&mut cfg);
    Engine::start_on_with_meter(listener, cfg, &metrics.meter()).await.expect("engine starts")
}

/// The engine's ICE ufrag in an SDP answer.
fn ice_ufrag(sdp: &str) -> String {
    sdp.lines().find_map(|l| l.strip_prefix("a=ice-ufrag:")).expect("a=ice-ufrag").trim().to_string()
}

fn push_attr(m: &mut Vec<u8>, ty: u16, val: &[u8]) {
    m.extend_from_slice(&ty.to_be_bytes());
    m.extend_from_slice(&(val.len() as u16).to_be_bytes());
    m.extend_from_slice(val);
    m.resize(m.len().next_multiple_of(4), 0);
}

/// A STUN binding request naming the engine's `ufrag` (so it is routed to that viewer) and
/// carrying `extra` as a SOFTWARE attribute.
pub(crate) fn stun_request(ufrag: &str, extra: &[u8]) -> Vec<u8> {
    let mut attrs = vec![];
    push_attr(&mut attrs, 0x0006, format!("{ufrag}:peer").as_bytes());
    push_attr(&mut attrs, 0x8022, extra);
    let mut m = vec![0x00, 0x01];
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    m.extend_from_slice(&[7; 12]);
    m.extend_from_slice(&attrs);
    m
}

#[tokio::test]
async fn a_panic_while_handling_one_viewers_datagram_closes_that_viewer_with_an_error_and_no_other() {
    let metrics = TestMetrics::new();
    // One worker: both viewers on the same worker thread and the same shared port.
    let engine = engine_with(&metrics, |c| c.workers = 1).await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.gop = 20;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let (stop, camera) = run_camera(cam);
    let mut v1 = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let (web1, answer1) = join(&mut c, &pipe, &rtp, &mut v1).await;
    let mut v2 = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let (web2, _) = join(&mut c, &pipe, &rtp, &mut v2).await;
    c.subscribe(&web1, "Error").await;
    c.subscribe(&web2, "Error").await;
    assert!(v1.drive_until(WAIT, |v| v.packets().len() >= 10).await, "viewer 1 plays");
    assert!(v2.drive_until(WAIT, |v| v.packets().len() >= 10).await, "viewer 2 plays");

    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    attacker.send_to(&stun_request(&ice_ufrag(&answer1), POISON_VIEWER), engine.webrtc_addrs()[0]).await.unwrap();

    let ev = c.event_where("Error", |e| e["object"] == json!(web1)).await;
    assert_eq!(ev["data"]["type"], "UNEXPECTED_ERROR");
    assert_eq!(ev["data"]["errorCode"], 40003);
    assert_eq!(c.invoke(&web1, "getMediaState", json!({})).await, "DISCONNECTED", "the poisoned viewer is closed");
    assert_eq!(engine.faults().panics_at("viewer"), 1);
    assert_eq!(metrics.value("camview_engine_panics_total", &[("place", "viewer")]), Some(1.0));

    let before = v2.packets().len();
    assert!(v2.drive_until(WAIT, |v| v.packets().len() >= before + 30).await, "the other viewer keeps playing");
    assert_eq!(c.invoke(&web2, "getMediaState", json!({})).await, "CONNECTED");
    assert!(!c.saw_event_within("Error", std::time::Duration::ZERO).await, "no Error for the other viewer");
    // The engine still answers, and a new viewer can join on the same worker.
    assert_eq!(c.ok("ping", json!({})).await, "pong");
    let mut v3 = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    join(&mut c, &pipe, &rtp, &mut v3).await;
    assert!(v3.drive_until(WAIT, |v| v.packets().len() >= 10).await, "a new viewer plays");
    assert_eq!(engine.faults().panics_at("viewer"), 1, "nothing else panicked");

    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
}

#[tokio::test]
async fn a_panic_in_process_offer_answers_that_request_with_an_error_and_the_engine_keeps_serving() {
    let metrics = TestMetrics::new();
    let engine = engine_with(&metrics, |_| {}).await;
    let mut c = Client::connect(&engine).await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let poisoned = format!("{}a=x-test:{POISON_OFFER}\r\n", v.offer());
    let e = c.invoke_err(&web, "processOffer", json!({"offer": poisoned})).await;
    assert_eq!((e["code"].as_i64(), e["data"]["type"].as_str()), (Some(40003), Some("UNEXPECTED_ERROR")), "{e}");
    assert_eq!(engine.faults().panics_at("rpc"), 1);
    assert_eq!(metrics.value("camview_engine_panics_total", &[("place", "rpc")]), Some(1.0));

    // The core lock and the endpoint's negotiation lock were held by the panic: both go on.
    assert_eq!(c.ok("ping", json!({})).await, "pong");
    let answer = c.invoke(&web, "processOffer", json!({"offer": v.offer()})).await;
    assert!(answer.as_str().unwrap().contains("m=video"), "the same endpoint negotiates afterwards");
    let mut other = Client::connect(&engine).await;
    let p2 = other.create("MediaPipeline", json!({})).await;
    assert_eq!(other.invoke(&p2, "getChildren", json!({})).await, json!([]));
    assert_eq!(engine.stats().core.connections, 2);
}

#[tokio::test]
async fn a_panicking_webrtc_socket_reader_and_worker_are_restarted_and_counted_and_viewers_keep_playing() {
    let metrics = TestMetrics::new();
    let engine = engine_with(&metrics, |c| c.workers = 1).await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.gop = 20;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let (stop, camera) = run_camera(cam);
    let mut v1 = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    join(&mut c, &pipe, &rtp, &mut v1).await;
    assert!(v1.drive_until(WAIT, |v| v.packets().len() >= 10).await);

    let attacker = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    attacker.send_to(POISON_READER, engine.webrtc_addrs()[0]).await.unwrap();
    wait_until(WAIT, "the reader is restarted", || async { engine.faults().restarts_of("webrtc-reader") == 1 }).await;
    engine.inject_worker_panic(0);
    wait_until(WAIT, "the worker is restarted", || async { engine.faults().restarts_of("worker") == 1 }).await;
    assert_eq!(metrics.value("camview_engine_task_restarts_total", &[("task", "webrtc-reader")]), Some(1.0));
    assert_eq!(metrics.value("camview_engine_task_restarts_total", &[("task", "worker")]), Some(1.0));

    let before = v1.packets().len();
    assert!(v1.drive_until(WAIT, |v| v.packets().len() >= before + 30).await, "the viewer plays on");
    // The restarted reader routes a new viewer's STUN and DTLS: it joins and plays.
    let mut v2 = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    join(&mut c, &pipe, &rtp, &mut v2).await;
    assert!(v2.drive_until(WAIT, |v| v.packets().len() >= 10).await, "a viewer joins after the restarts");
    assert!(engine.faults().panics().is_empty(), "no viewer was closed: {:?}", engine.faults().panics());

    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
}

#[tokio::test]
async fn a_client_that_does_not_read_its_events_is_disconnected_and_others_are_served() {
    let metrics = TestMetrics::new();
    let engine = engine_with(&metrics, |_| {}).await;
    let mut driver = Client::connect(&engine).await;
    let pipe = driver.create("MediaPipeline", json!({})).await;
    let rtp = driver.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let web = driver.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    // Big events (every one carries the tags) fill the slow client's socket buffers soon.
    driver.invoke(&rtp, "setSendTagsInEvents", json!({"sendTagsInEvents": true})).await;
    driver.invoke(&rtp, "addTag", json!({"key": "ballast", "value": "x".repeat(32 * 1024)})).await;

    let mut slow = Client::connect(&engine).await;
    slow.subscribe(&rtp, "ElementConnected").await;
    let mut reader = Client::connect(&engine).await;
    reader.subscribe(&rtp, "ElementConnected").await;
    assert_eq!(engine.stats().core.connections, 3);

    // `slow` never reads again; `reader` reads every event.
    let mut rounds = 0;
    while engine.faults().full_of("connection") == 0 {
        assert!(rounds < 20_000, "the slow client was never disconnected: {:?}", engine.stats());
        driver.invoke(&rtp, "connect", json!({"sink": web, "mediaType": "VIDEO"})).await;
        driver.invoke(&rtp, "disconnect", json!({"sink": web, "mediaType": "VIDEO"})).await;
        reader.event("ElementConnected").await;
        rounds += 1;
    }
    println!("slow consumer disconnected after {rounds} events");
    wait_until(WAIT, "the slow client's connection is dropped", || async { engine.stats().core.connections == 2 })
        .await;
    assert_eq!(engine.faults().full_of("connection"), 1);
    assert_eq!(metrics.value("camview_engine_queue_full_total", &[("queue", "connection")]), Some(1.0));
    // Everyone else is served as before.
    driver.invoke(&rtp, "connect", json!({"sink": web, "mediaType": "VIDEO"})).await;
    reader.event("ElementConnected").await;
    assert_eq!(driver.ok("ping", json!({})).await, "pong");
    drop(slow);
}

#[test]
fn events_beyond_a_full_queue_are_dropped_newest_first_and_counted() {
    use camview_media_engine::events::{EventTx, MediaEvent};
    use camview_media_engine::supervise::Faults;
    let faults = std::sync::Arc::new(Faults::default());
    let (tx, mut rx) = tokio::sync::mpsc::channel(2);
    let events = EventTx::new(tx, faults.clone());
    for flowing in [true, false, true, false] {
        events.emit("obj", MediaEvent::MediaFlowOutStateChanged { flowing });
    }
    assert_eq!(faults.full_of("events"), 2);
    let kept: Vec<MediaEvent> = std::iter::from_fn(|| rx.try_recv().ok()).map(|e| e.event).collect();
    assert_eq!(
        kept,
        [
            MediaEvent::MediaFlowOutStateChanged { flowing: true },
            MediaEvent::MediaFlowOutStateChanged { flowing: false }
        ],
        "the queued events stay, the newest are dropped"
    );
}
