//! The engine's metrics: packets and bytes of real RTP in and out, sessions and media objects
//! read from a private meter provider (tests share the process), and errors and health through
//! the served `/metrics` and `/healthz`.

use std::sync::atomic::Ordering;

use camview_common::testing::peer::{Codecs, TestPeer};
use camview_common::testing::{random_prefix, sample, wait_until, TestMetrics};
use camview_media_engine::startup::{Application, Dependencies};
use camview_media_engine::{Engine, Settings};
use serde_json::json;

use crate::helpers::*;
use crate::media::{join, pipeline_with_camera, run_camera};

async fn engine_with(metrics: &TestMetrics) -> Engine {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    Engine::start_on_with_meter(listener, Settings::for_tests(), &metrics.meter()).await.expect("engine starts")
}

#[tokio::test]
async fn rtp_packets_and_bytes_are_counted_in_from_the_camera_and_out_to_the_viewer_with_sessions_and_objects() {
    let metrics = TestMetrics::new();
    let engine = engine_with(&metrics).await;
    assert_eq!(metrics.value("camview_engine_sessions", &[]), Some(0.0));
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.gop = 20;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let (stop, camera) = run_camera(cam);
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    join(&mut c, &pipe, &rtp, &mut v).await;
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 30).await, "received {} packets", v.packets().len());

    let received_in = metrics.value("camview_engine_packets_total", &[("direction", "in")]).expect("packets in");
    let sent_out = metrics.value("camview_engine_packets_total", &[("direction", "out")]).expect("packets out");
    assert!(received_in >= 30.0, "{received_in} packets in");
    assert!(sent_out >= v.packets().len() as f64, "{sent_out} packets out, the viewer got {}", v.packets().len());
    assert!(metrics.value("camview_engine_bytes_total", &[("direction", "in")]) > Some(0.0));
    assert!(metrics.value("camview_engine_bytes_total", &[("direction", "out")]) > Some(0.0));
    assert_eq!(metrics.value("camview_engine_sessions", &[]), Some(1.0));
    for class in ["MediaPipeline", "RtpEndpoint", "WebRtcEndpoint"] {
        assert_eq!(metrics.value("camview_engine_media_objects", &[("type", class)]), Some(1.0), "{class}");
    }

    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    c.ok("release", json!({"object": pipe})).await;
    for class in ["MediaPipeline", "RtpEndpoint", "WebRtcEndpoint"] {
        assert_eq!(metrics.value("camview_engine_media_objects", &[("type", class)]), Some(0.0), "{class} released");
    }
    c.close().await;
    wait_until(WAIT, "the closed session is no longer counted", || async {
        metrics.value("camview_engine_sessions", &[]) == Some(0.0)
    })
    .await;
}

#[tokio::test]
async fn error_replies_are_counted_by_kurento_type_on_metrics_and_healthz_follows_the_engine() {
    let app = Application::build(Settings::for_tests(), Dependencies::default()).await.expect("engine starts");
    let base = format!("http://{}", app.ops_addr().expect("METRICS_ADDR is set"));
    let http = reqwest::Client::new();
    let scrape =
        || async { http.get(format!("{base}/metrics")).send().await.expect("scrape").text().await.expect("body") };
    let not_found = &[("code", "MEDIA_OBJECT_NOT_FOUND")];
    let before = sample(&scrape().await, "camview_errors_total", not_found).unwrap_or(0.0);

    let mut c = Client::connect(app.engine()).await;
    c.invoke_err("nope_kurento.MediaPipeline", "getName", json!({})).await;
    let after = sample(&scrape().await, "camview_errors_total", not_found).expect("errors_total for the error reply");
    assert!(after > before, "{before} -> {after}");

    let healthz = || async { http.get(format!("{base}/healthz")).send().await.expect("healthz").status().as_u16() };
    assert_eq!(healthz().await, 200);
    app.engine().shutdown();
    assert_eq!(healthz().await, 503, "a stopped engine is unhealthy");
    let handle = app.handle();
    let run = tokio::spawn(app.run_until_stopped());
    handle.shutdown().await;
    run.await.expect("run task").expect("stopped cleanly");
    assert!(http.get(format!("{base}/healthz")).send().await.is_err(), "the ops server stops with the application");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_media_node_labels_every_sample_with_its_node_id_and_reports_its_load() {
    let metrics = TestMetrics::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let settings = Settings { node: Some(crate::node::node_settings(&random_prefix())), ..Settings::for_tests() };
    let engine = Engine::start_on_with_meter(listener, settings, &metrics.meter()).await.expect("engine starts");
    let node = [("node", "engine-under-test")];
    assert_eq!(metrics.value("camview_engine_streams", &node), Some(0.0));
    assert_eq!(metrics.value("camview_engine_viewers", &node), Some(0.0));

    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let (stop, camera) = run_camera(cam);
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    join(&mut c, &pipe, &rtp, &mut v).await;
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 10).await, "received {} packets", v.packets().len());

    assert_eq!(metrics.value("camview_engine_streams", &node), Some(1.0));
    assert_eq!(metrics.value("camview_engine_viewers", &node), Some(1.0));
    let out = [("direction", "out"), ("node", "engine-under-test")];
    assert!(metrics.value("camview_engine_bytes_total", &out) > Some(0.0), "forwarded bytes by node");
    assert_eq!(metrics.value("camview_engine_sessions", &node), Some(1.0));
    let cpu = metrics.value("camview_engine_cpu_percent", &node).expect("the CPU gauge by node");
    assert!((0.0..=100.0).contains(&cpu), "{cpu}");
    let text = metrics.text();
    let unlabelled: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("camview_engine_") && !l.contains("node=\"engine-under-test\""))
        .collect();
    assert!(unlabelled.is_empty(), "engine samples without the node label: {unlabelled:?}");

    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    c.ok("release", json!({"object": pipe})).await;
    assert_eq!(metrics.value("camview_engine_streams", &node), Some(0.0));
    assert_eq!(metrics.value("camview_engine_viewers", &node), Some(0.0));
}
