//! Snapshots end to end: real Redis, api, media-controller, engine and camera-sim as processes.
//! `GET /streams/{id}/snapshot.jpg` opens a tap (an RtpEndpoint answering the api's
//! receive-only offer), the api decodes the camera's keyframe and answers a JPEG of the
//! camera's picture size; with no request for the idle period the tap's endpoint is released.

use camview_common::testing::wait_until;
use camview_system_tests::scenario::sum;
use camview_system_tests::{Stack, StackOptions, PATIENCE};

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
    let started = std::time::Instant::now();
    let (mut jpeg, mut unavailable) = (None, 0);
    while jpeg.is_none() {
        let r = stack.http().get(&url).bearer_auth(&stack.admin_token).send().await.expect("GET snapshot.jpg");
        match r.status().as_u16() {
            200 => {
                assert_eq!(r.headers()["content-type"], "image/jpeg");
                assert_eq!(r.headers()["x-snapshot-size"], "320x240");
                jpeg = Some(r.bytes().await.unwrap().to_vec());
            }
            503 => {
                // No keyframe yet: said so with a JSON error and when to come back.
                assert!(r.headers().contains_key("retry-after"), "503 without Retry-After");
                let body: serde_json::Value = r.json().await.unwrap();
                assert_eq!(body["code"], "snapshot_unavailable", "{body}");
                unavailable += 1;
                assert!(started.elapsed() < PATIENCE, "no snapshot within {PATIENCE:?}\n{}", stack.all_output());
            }
            status => panic!("snapshot answered {status}: {}\n{}", r.text().await.unwrap(), stack.all_output()),
        }
    }
    let jpeg = jpeg.expect("set above");
    println!("first snapshot after {:?} ({unavailable} times 503), {} bytes", started.elapsed(), jpeg.len());
    assert_eq!(&jpeg[..2], &[0xff, 0xd8], "starts like a JPEG");
    assert_eq!(&jpeg[jpeg.len() - 2..], &[0xff, 0xd9], "ends like a JPEG");
    assert_eq!(jpeg_size(&jpeg), Some((320, 240)), "the camera's picture size");

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
