//! Snapshots end to end: real Redis, api, media-controller, engine and camera-sim as processes.
//! `GET /streams/{id}/snapshot.jpg` opens a tap (an RtpEndpoint answering the api's
//! receive-only offer), the api decodes the camera's keyframe and answers a JPEG of the
//! camera's picture size; with no request for the idle period the tap's endpoint is released.
//! The all-in-one `camview` binary serves them the same way.

use std::collections::HashMap;

use camview_common::testing::wait_until;
use camview_system_tests::scenario::sum;
use camview_system_tests::{AllInOne, DataDir, Service, Stack, StackOptions, PATIENCE};

const CAMERA: &str = "camsnap";

/// Width and height from a JPEG's baseline/progressive SOF segment.
fn jpeg_size(jpeg: &[u8]) -> Option<(u16, u16)> {
    let mut i = 2;
    while i + 9 < jpeg.len() && jpeg[i] == 0xff {
        let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
        if (0xc0..=0xc2).contains(&jpeg[i + 1]) {
            return Some((
                u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]),
                u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]),
            ));
        }
        i += 2 + len;
    }
    None
}

/// GETs `url` until it answers a JPEG (a 503 before the first keyframe must say so with
/// `snapshot_unavailable` and `Retry-After`), and checks it is one of the camera's size.
async fn fetch_snapshot(http: &reqwest::Client, url: &str, token: &str, output: impl Fn() -> String) -> Vec<u8> {
    let started = std::time::Instant::now();
    let mut unavailable = 0;
    let jpeg = loop {
        let r = http.get(url).bearer_auth(token).send().await.expect("GET snapshot.jpg");
        match r.status().as_u16() {
            200 => {
                assert_eq!(r.headers()["content-type"], "image/jpeg");
                assert_eq!(r.headers()["x-snapshot-size"], "320x240");
                break r.bytes().await.unwrap().to_vec();
            }
            503 => {
                assert!(r.headers().contains_key("retry-after"), "503 without Retry-After");
                let body: serde_json::Value = r.json().await.unwrap();
                assert_eq!(body["code"], "snapshot_unavailable", "{body}");
                unavailable += 1;
                assert!(started.elapsed() < PATIENCE, "no snapshot within {PATIENCE:?}\n{}", output());
            }
            status => panic!("snapshot answered {status}: {}\n{}", r.text().await.unwrap(), output()),
        }
    };
    println!("first snapshot after {:?} ({unavailable} times 503), {} bytes", started.elapsed(), jpeg.len());
    assert_eq!(&jpeg[..2], &[0xff, 0xd8], "starts like a JPEG");
    assert_eq!(&jpeg[jpeg.len() - 2..], &[0xff, 0xd9], "ends like a JPEG");
    assert_eq!(jpeg_size(&jpeg), Some((320, 240)), "the camera's picture size");
    jpeg
}

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
