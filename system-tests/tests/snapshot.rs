//! Snapshots end to end: real Redis, api, media-controller, engine and camera-sim as processes.
//! `GET /streams/{id}/snapshot.jpg` opens a tap (an RtpEndpoint answering the api's
//! receive-only offer), the api decodes the camera's keyframe and answers a JPEG of the
//! camera's picture size; with no request for the idle period the tap's endpoint is released.
//! The all-in-one `camview` binary serves them the same way.

use std::collections::HashMap;

use camview_common::testing::wait_until;
use camview_system_tests::scenario::sum;
use camview_system_tests::snapshot::fetch_snapshot;
use camview_system_tests::{AllInOne, DataDir, Service, Stack, StackOptions, PATIENCE};

const CAMERA: &str = "camsnap";

async fn rtp_endpoints(stack: &Stack) -> Option<f64> {
    let text = stack.metrics(&stack.engine_metrics_url).await;
    sum(&[&text], "camview_engine_media_objects", &[("type", "RtpEndpoint")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_h264_cameras_snapshot_is_a_jpeg_of_its_picture_size_and_an_idle_tap_is_released() {
    let mut stack = Stack::start_with(StackOptions::default().api(&[("SNAPSHOT_IDLE_SECONDS", "5")])).await;
    stack.start_stream(CAMERA).await;
    stack.start_camera(CAMERA);
    wait_until(PATIENCE, "the camera's stream is live", || async { stack.stream(CAMERA).await["state"] == "live" })
        .await;

    let url = format!("{}/streams/{CAMERA}/snapshot.jpg", stack.api_url);
    fetch_snapshot(stack.http(), &url, &stack.admin_token, || stack.all_output()).await;

    // Anonymous callers and unknown streams get the API's usual JSON errors.
    let anonymous = stack.http().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let unknown = format!("{}/streams/nosuchcam/snapshot.jpg", stack.api_url);
    let r = stack.http().get(&unknown).bearer_auth(&stack.admin_token).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // Camera endpoint + tap while snapshots are asked for; the camera endpoint alone once idle.
    assert_eq!(rtp_endpoints(&stack).await, Some(2.0), "the tap is one RtpEndpoint in the camera's pipeline");
    wait_until(PATIENCE, "the idle tap's RtpEndpoint is released", || async {
        rtp_endpoints(&stack).await == Some(1.0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_all_in_one_binary_serves_snapshots_too() {
    let data = DataDir::new();
    let camview = AllInOne::start(&data, &[("RUST_LOG", "warn")], &[]).await;
    camview.start_stream(CAMERA).await;
    let picture = ["--width", "320", "--height", "240", "--fps", "15", "--bitrate-kbps", "300"];
    let mode = ["--api", camview.api_url.as_str(), "--camera", CAMERA, "--keepalive-seconds", "1"];
    let args: Vec<&str> = mode.iter().chain(&picture).chain(&["--keyframe-interval-seconds", "1"]).copied().collect();
    let env = HashMap::from([("RUST_LOG".to_owned(), "warn".to_owned())]);
    let camera = Service::spawn("camera", "camera-sim", &args, &env);
    let path = format!("/streams/{CAMERA}");
    wait_until(PATIENCE, "the all-in-one stream is live", || async {
        camview.call(reqwest::Method::GET, &path, Some(&camview.admin_token)).await.1["state"] == "live"
    })
    .await;
    let url = format!("{}/streams/{CAMERA}/snapshot.jpg", camview.api_url);
    let http = reqwest::Client::new();
    fetch_snapshot(&http, &url, &camview.admin_token, || format!("{}\n{}", camview.service.output(), camera.output()))
        .await;
}
