//! A stream started with an RTSP source: the URL reaches the media server whole, is stored
//! under the controller's own key, and the record holds it redacted; a recreation after the
//! media server lost the stream opens the same source again; a stop forgets it.

use camview_proto::CameraId;
use std::time::Duration;

use camview_common::bus::BusClient;
use camview_common::testing::wait_until;
use camview_proto::bus::{Message, StartStream, StopStream};
use camview_proto::source::SourceUrl;
use camview_proto::stream::{Bandwidth, StreamState};

use super::super::media::MediaEvent;
use super::{command, fixture};

const URL: &str = "rtsp://admin:s3cret@192.0.2.9:554/live";

fn start_pulled(camera: &str) -> Message {
    Message::StartStream(StartStream {
        camera_id: camera.parse().expect("a test camera id"),
        bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
        source: Some(SourceUrl::parse(URL).unwrap()),
    })
}

#[tokio::test]
async fn a_pulled_stream_keeps_its_url_to_the_controller_and_reopens_it_after_the_media_server_lost_it() {
    let f = fixture().await;
    let (api, _events) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let Message::StreamStarted(s) = command(&f, &api, start_pulled("cam1")).await else { panic!("not started") };
    assert_eq!(s.stream.source.as_deref(), Some("rtsp://admin:***@192.0.2.9:554/live"));
    assert_eq!(s.stream.rtp, None, "no RTP target for a pulled camera");
    assert_eq!(f.registry.get_stream_source(&CameraId::from_static("cam1")).await.unwrap().as_deref(), Some(URL));
    assert_eq!(f.media.calls(), [format!("create_stream cam1 source={URL}")]);

    f.media.released.lock().unwrap().push("cam1_kurento.MediaPipeline".into());
    f.controller.on_media_event(MediaEvent::Connected { resumed: false, node_id: None }).await;
    let creates: Vec<String> = f.media.calls().into_iter().filter(|c| c.starts_with("create_stream")).collect();
    assert_eq!(creates, [format!("create_stream cam1 source={URL}"), format!("create_stream cam1 source={URL}")]);
    let record = f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap().unwrap();
    assert_eq!(record.source, s.stream.source, "still a pulled stream, still redacted");

    let stopped = command(&f, &api, Message::StopStream(StopStream { camera_id: CameraId::from_static("cam1") })).await;
    assert!(matches!(stopped, Message::StreamStopped(_)), "{stopped:?}");
    assert_eq!(f.registry.get_stream_source(&CameraId::from_static("cam1")).await.unwrap(), None);
}

#[tokio::test]
async fn a_pulled_camera_already_flowing_when_its_stream_is_registered_is_live_at_once() {
    let f = fixture().await;
    *f.media.camera_flowing.lock().unwrap() = true;
    let (api, _events) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let Message::StreamStarted(s) = command(&f, &api, start_pulled("cam1")).await else { panic!("not started") };
    assert_eq!(s.stream.state, StreamState::Live, "its first flow event came before the record");
    assert_eq!(f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap().unwrap().state, StreamState::Live);
}

#[tokio::test]
async fn a_pulled_streams_player_that_failed_or_ended_is_played_again_once_and_a_pushed_camera_never() {
    let f = fixture().await;
    let (api, _events) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let Message::StreamStarted(pulled) = command(&f, &api, start_pulled("cam1")).await else { panic!("not started") };
    let Message::StreamStarted(pushed) = command(&f, &api, super::start("cam2")).await else { panic!("not started") };
    let player = pulled.stream.rtp_endpoint_id.clone().unwrap();
    let error = |object_id: &str| MediaEvent::Error { object_id: object_id.into(), description: "EOS".into() };
    f.controller.on_media_event(error(pushed.stream.rtp_endpoint_id.as_deref().unwrap())).await;
    f.controller.on_media_event(error(&player)).await;
    f.controller.on_media_event(MediaEvent::SourceEnded { element_id: player.clone() }).await;
    let plays = || f.media.calls().into_iter().filter(|c| c.starts_with("play ")).collect::<Vec<_>>();
    wait_until(Duration::from_secs(10), "the player is played again", || async { !plays().is_empty() }).await;
    assert_eq!(plays(), [format!("play {player}")], "one call for both events, none for the pushed camera");
    wait_until(Duration::from_secs(10), "the ended source turns the stream stalled", || async {
        f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap().unwrap().state == StreamState::Stalled
    })
    .await;
}
