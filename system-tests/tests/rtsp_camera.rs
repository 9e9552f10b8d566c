//! The whole system with an RTSP camera (GStreamer's RTSP server from Debian): started through
//! the REST API with its URL, played through the controller's PlayerEndpoint on the engine to a
//! viewer joining over signaling, its G.711 audio named by `GET /streams/{id}`, and its
//! snapshot served; the password never appears in an answer or a log line.

use camview_common::testing::rtsp::RtspCamera;
use camview_system_tests::snapshot::fetch_snapshot;
use camview_system_tests::{AllInOne, DataDir, Viewer, PATIENCE};
use serde_json::{json, Value};

const PASSWORD: &str = "sys-Rtsp-77qa";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rtsp_camera_started_through_the_api_plays_to_a_viewer_and_its_password_shows_nowhere() {
    let Some(camera) = RtspCamera::start("admin", PASSWORD) else { return };
    let data = DataDir::new();
    // Debug logging everywhere: no layer may print the source URL whole.
    let camview = AllInOne::start(&data, &[("RUST_LOG", "debug")], &[]).await;
    let http = reqwest::Client::new();
    let start = http
        .post(format!("{}/streams/cam-rtsp/start", camview.api_url))
        .bearer_auth(&camview.admin_token)
        .json(&json!({"source": camera.url()}))
        .send()
        .await
        .expect("POST start");
    assert_eq!(start.status(), 200);
    let started: Value = start.json().await.unwrap();
    let redacted = format!("rtsp://admin:***@127.0.0.1:{}/cam", camera.port());
    assert_eq!(started["source"], json!(redacted), "{started}");
    assert_eq!(started["rtp"], Value::Null);

    let mut v = Viewer::connect_with_token(&camview.signaling_ws_url, Some(camview.admin_token.clone()))
        .await
        .expect("a signaling WebSocket");
    v.join("cam-rtsp", PATIENCE).await.expect("the viewer joins");
    v.wait_for_media(30, PATIENCE).await.unwrap_or_else(|e| panic!("no media: {e}\n{}", camview.service.output()));
    let (_, list) = camview.call(reqwest::Method::GET, "/streams", Some(&camview.admin_token)).await;
    assert_eq!(list["streams"][0]["source"], json!(redacted));
    assert_eq!(list["streams"][0]["state"], "live", "{list}");
    // The camera's G.711, as its DESCRIBE named it, once it played.
    let stream =
        || async { camview.call(reqwest::Method::GET, "/streams/cam-rtsp", Some(&camview.admin_token)).await.1 };
    camview_common::testing::wait_until(PATIENCE, "the stream names its audio", || async {
        !stream().await["audio"].is_null()
    })
    .await;
    let audio = stream().await["audio"].clone();
    assert_eq!(audio, json!({"codec": "PCMU", "payload_type": 0, "playable": true}), "{audio}");

    // Snapshots of an RTSP camera: the tap is fed from the PlayerEndpoint's stream.
    let url = format!("{}/streams/cam-rtsp/snapshot.jpg", camview.api_url);
    fetch_snapshot(&http, &url, &camview.admin_token, || camview.service.output()).await;

    let output = camview.service.output();
    assert!(output.contains("rtsp://admin:***@127.0.0.1"), "the redacted source is logged");
    let leaks: Vec<&str> = output.lines().filter(|l| l.contains(PASSWORD)).collect();
    assert!(leaks.is_empty(), "log lines with the camera's password: {leaks:#?}");
}
