//! Snapshot taps: opened only on a started stream; `CloseTap` releases only a tap, never the
//! camera's or a viewer's endpoint or anything outside that camera's pipeline.

use camview_common::bus::BusClient;
use camview_proto::bus::Message;
use camview_proto::error::ErrorCode;
use camview_proto::snapshot::{CloseTap, OpenTap};
use camview_proto::stream::{ViewerRecord, ViewerState};
use camview_proto::{CameraId, ViewerId};

use super::{command, fixture, start};

fn open(camera: &str) -> Message {
    Message::OpenTap(OpenTap {
        camera_id: camera.parse().expect("a test camera id"),
        tap_id: "t1".into(),
        sdp_offer: "v=0\r\n".into(),
    })
}

fn close(camera: &str, endpoint: &str) -> Message {
    Message::CloseTap(CloseTap {
        camera_id: camera.parse().expect("a test camera id"),
        tap_id: "t1".into(),
        endpoint_id: endpoint.into(),
    })
}

#[tokio::test]
async fn a_tap_of_a_stream_that_is_not_started_is_stream_not_found_and_a_refusing_media_server_a_media_error() {
    let f = fixture().await;
    let (client, _events) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let Message::Failed(body) = command(&f, &client, open("cam1")).await else { panic!("opened without a stream") };
    assert_eq!(body.code, ErrorCode::StreamNotFound);
    command(&f, &client, start("cam1")).await;
    // The recording media server keeps the trait's default: no taps.
    let Message::Failed(body) = command(&f, &client, open("cam1")).await else { panic!("opened") };
    assert_eq!(body.code, ErrorCode::MediaServerError, "{}", body.message);
}

#[tokio::test]
async fn close_tap_releases_only_a_tap_inside_that_cameras_pipeline() {
    let f = fixture().await;
    let (client, _events) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let Message::StreamStarted(one) = command(&f, &client, start("cam1")).await else { panic!("not started") };
    let Message::StreamStarted(two) = command(&f, &client, start("cam2")).await else { panic!("not started") };
    let (pipeline, camera) = (one.stream.pipeline_id.unwrap(), one.stream.rtp_endpoint_id.unwrap());
    let watched = format!("{pipeline}/w1_kurento.WebRtcEndpoint");
    let viewer = ViewerRecord {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: CameraId::from_static("cam1"),
        signaling_instance: "sig-1".into(),
        state: ViewerState::Connected,
        created_at: "t".into(),
        endpoint_id: Some(watched.clone()),
    };
    f.registry.reserve_viewer(&viewer, 10).await.unwrap();
    f.registry.put_viewer(&viewer).await.unwrap();
    let other_camera = format!("{}/tap_kurento.RtpEndpoint", two.stream.pipeline_id.unwrap());
    let look_alike = format!("{pipeline}x/tap_kurento.RtpEndpoint");
    for refused in [&camera, &watched, &other_camera, &look_alike, &pipeline, &format!("{pipeline}/")] {
        assert!(matches!(command(&f, &client, close("cam1", refused)).await, Message::Done(_)));
    }
    assert_eq!(f.media.released(), Vec::<String>::new(), "nothing but a tap is released");
    let tap = format!("{pipeline}/tap_kurento.RtpEndpoint");
    assert!(matches!(command(&f, &client, close("cam1", &tap)).await, Message::Done(_)));
    assert_eq!(f.media.released(), vec![tap]);
}
