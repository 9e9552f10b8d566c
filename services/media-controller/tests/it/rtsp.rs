//! A stream pulled from a real RTSP camera (GStreamer's RTSP server from Debian) through the
//! whole media path: `StartStream` with a source as the api sends it, the controller's
//! PlayerEndpoint on the real engine, a viewer decoding the camera's pictures; the source URL
//! stored only under the controller's key, the record and the log showing it redacted.

use camview_common::testing::rtsp::RtspCamera;
use camview_common::testing::wait_until;
use camview_proto::bus::{Message, StartStream, StopStream};
use camview_proto::source::SourceUrl;
use camview_proto::stream::{Bandwidth, StreamState};
use camview_proto::CameraId;

use crate::browsers::{Stack, Viewer, PATIENCE};

const PASSWORD: &str = "rtsp-Pw-93kd";

#[tokio::test]
async fn a_stream_started_with_an_rtsp_source_plays_to_a_viewer_and_keeps_its_credentials_to_the_controller() {
    let Some(camera) = RtspCamera::start("admin", PASSWORD) else { return };
    let s = Stack::start().await;
    let _controller = s.controller().await;
    let start = Message::StartStream(StartStream {
        camera_id: CameraId::from_static("cam-rtsp"),
        bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
        source: Some(SourceUrl::parse(&camera.url()).unwrap()),
    });
    let stream = match s.api.request(start, PATIENCE).await.expect("a reply to StartStream") {
        Message::StreamStarted(started) => started.stream,
        other => panic!("unexpected reply {other:?}"),
    };
    let redacted = format!("rtsp://admin:***@127.0.0.1:{}/cam", camera.port());
    assert_eq!(stream.source.as_deref(), Some(redacted.as_str()), "the record shows the source redacted");
    assert_eq!(stream.rtp, None, "nothing for a camera to push to");
    let endpoint = stream.rtp_endpoint_id.clone().unwrap();
    assert!(endpoint.ends_with("_kurento.PlayerEndpoint"), "{endpoint}");
    let stored = s.deps.registry.get_stream_source(&CameraId::from_static("cam-rtsp")).await.unwrap();
    assert_eq!(stored.as_deref(), Some(camera.url().as_str()), "the controller's own key holds the full URL");
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-rtsp").await == Some(StreamState::Live) })
        .await;

    let mut v = Viewer::new(&s, "sig-rtsp", "cam-rtsp", "v-rtsp", true).await;
    let answer = v.join(&s).await;
    assert!(answer.contains("H264/90000"), "{answer}");
    let watched = v.drive_until(PATIENCE, |v| v.pictures.iter().filter(|p| p.idr).count() >= 1).await;
    assert!(watched, "decoded {} pictures from {} packets", v.pictures.len(), v.peer().packets().len());
    assert_eq!((v.pictures[0].width, v.pictures[0].height), (320, 240), "the camera's own pictures");

    let stop = Message::StopStream(StopStream { camera_id: CameraId::from_static("cam-rtsp") });
    assert!(matches!(s.api.request(stop, PATIENCE).await.unwrap(), Message::StreamStopped(_)));
    assert_eq!(
        s.deps.registry.get_stream_source(&CameraId::from_static("cam-rtsp")).await.unwrap(),
        None,
        "deleted with the stream"
    );
    wait_until(PATIENCE, "the pipeline is released", || async { s.pipelines() == 0 }).await;
}
