//! A stream pulled from a real RTSP camera (GStreamer's RTSP server from Debian) through the
//! whole media path: `StartStream` with a source as the api sends it, the controller's
//! PlayerEndpoint on the real engine, a viewer decoding the camera's pictures; the source URL
//! stored only under the controller's key, the record and the log showing it redacted. The
//! camera's G.711 reaches a viewer that offers audio and the stream names its codec; AAC is
//! reported not playable and the video plays alone. A stream adopted by a restarted controller
//! is played again when its camera ends its stream and comes back.

use camview_common::testing::rtsp::{CameraAudio, RtspCamera};
use camview_common::testing::wait_until;
use camview_proto::bus::{Message, StartStream, StopStream};
use camview_proto::source::SourceUrl;
use camview_proto::stream::{AudioCodec, Bandwidth, StreamState};
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

/// `StartStream` of `camera` pulled from `url`, through the bus as the api sends it.
async fn start_pulled(s: &Stack, camera: &str, url: &str) -> camview_proto::stream::StreamRecord {
    let start = Message::StartStream(StartStream {
        camera_id: camera.parse().expect("a test camera id"),
        bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
        source: Some(SourceUrl::parse(url).unwrap()),
    });
    match s.api.request(start, PATIENCE).await.expect("a reply to StartStream") {
        Message::StreamStarted(started) => started.stream,
        other => panic!("unexpected reply {other:?}"),
    }
}

#[tokio::test]
async fn after_a_controller_restart_an_adopted_rtsp_stream_whose_camera_ended_and_came_back_plays_again() {
    let Some(mut camera) = RtspCamera::start("admin", PASSWORD) else { return };
    let s = Stack::start().await;
    let first = s.controller().await;
    let started = start_pulled(&s, "cam-adopted", &camera.url()).await;
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-adopted").await == Some(StreamState::Live) })
        .await;
    first.shutdown().await;

    // The new controller adopts the stream's objects; it serves commands once reconciled, so
    // the (idempotent) start's reply says the adoption is done.
    let second = s.controller().await;
    let again = start_pulled(&s, "cam-adopted", &camera.url()).await;
    assert_eq!(again.rtp_endpoint_id, started.rtp_endpoint_id, "the same PlayerEndpoint, adopted");

    // The camera goes away: its connection closes, the player raises EndOfStream and stops
    // (as Kurento's does) until the controller plays it again.
    camera.kill();
    wait_until(PATIENCE, "the stream stalls", || async {
        s.state_of("cam-adopted").await == Some(StreamState::Stalled)
    })
    .await;
    camera.restart();
    wait_until(PATIENCE * 2, "the stream is live again", || async {
        s.state_of("cam-adopted").await == Some(StreamState::Live)
    })
    .await;
    let mut v = Viewer::new(&s, "sig-adopted", "cam-adopted", "v-adopted", true).await;
    v.join(&s).await;
    let watched = v.drive_until(PATIENCE, |v| v.pictures.iter().any(|p| p.idr)).await;
    assert!(watched, "decoded {} pictures after the camera came back", v.pictures.len());
    second.shutdown().await;
}

/// The stream's record once its camera's audio is known.
async fn audio_of(s: &Stack, camera: &str) -> camview_proto::stream::RtpAudio {
    wait_until(PATIENCE, "the camera's audio is known", || async {
        s.stream(camera).await.is_some_and(|r| r.source_audio.is_some())
    })
    .await;
    s.stream(camera).await.and_then(|r| r.audio()).expect("the stream reports its audio")
}

#[tokio::test]
async fn an_rtsp_cameras_pcmu_reaches_a_viewer_that_offers_audio_and_the_stream_names_its_codec() {
    let Some(camera) = RtspCamera::start("admin", PASSWORD) else { return };
    let s = Stack::start().await;
    let controller = s.controller().await;
    let started = start_pulled(&s, "cam-rtsp-pcmu", &camera.url()).await;
    assert_eq!(started.rtp, None);
    wait_until(PATIENCE, "the stream is live", || async {
        s.state_of("cam-rtsp-pcmu").await == Some(StreamState::Live)
    })
    .await;
    let audio = audio_of(&s, "cam-rtsp-pcmu").await;
    assert_eq!((audio.codec, audio.playable, audio.port, audio.note), (AudioCodec::PCMU, true, None, None));

    let mut v = Viewer::new(&s, "sig-rtsp-pcmu", "cam-rtsp-pcmu", "v-rtsp-pcmu", true).await;
    v.peer_mut().also_offer_audio();
    let answer = v.join(&s).await;
    assert!(answer.contains(" PCMU/8000"), "the audio line is answered: {answer}");
    let audio_packets = |v: &Viewer| v.peer().packets().iter().filter(|p| *p.header.payload_type == 0).count();
    let heard = v.drive_until(PATIENCE, |v| audio_packets(v) >= 10 && v.pictures.iter().any(|p| p.idr)).await;
    assert!(heard, "audio packets: {}, pictures: {}", audio_packets(&v), v.pictures.len());
    controller.shutdown().await;
}

#[tokio::test]
async fn an_rtsp_cameras_aac_is_reported_not_playable_and_its_video_plays_alone() {
    let Some(camera) = RtspCamera::start_with_audio("admin", PASSWORD, CameraAudio::Aac) else { return };
    let s = Stack::start().await;
    let controller = s.controller().await;
    start_pulled(&s, "cam-rtsp-aac", &camera.url()).await;
    let audio = audio_of(&s, "cam-rtsp-aac").await;
    assert_eq!((audio.codec, audio.playable, audio.port), (AudioCodec::AAC, false, None));
    assert!(audio.note.as_deref().unwrap_or_default().contains("not playable in browsers"), "{audio:?}");

    let mut v = Viewer::new(&s, "sig-rtsp-aac", "cam-rtsp-aac", "v-rtsp-aac", true).await;
    v.peer_mut().also_offer_audio();
    let answer = v.join(&s).await;
    assert!(answer.contains("m=audio 0 "), "no audio to give: {answer}");
    assert!(v.drive_until(PATIENCE, |v| v.pictures.iter().any(|p| p.idr)).await, "pictures: {}", v.pictures.len());
    controller.shutdown().await;
}
