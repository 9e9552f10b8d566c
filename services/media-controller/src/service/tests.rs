//! Controller behaviour against the in-process bus and registry and a recording media
//! server (the real media server is exercised by the integration tests).

use camview_proto::{CameraId, ViewerId};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use camview_common::bus::memory::MemoryBus;
use camview_common::bus::{envelope, Bus, BusClient};
use camview_common::registry::memory::MemoryRegistry;
use camview_common::registry::{Registry, SlotReservation};
use camview_common::testing::wait_until;
use camview_proto::bus::{
    AddIceCandidate, AddViewer, CameraSeen, Message, RemoveReason, RemoveViewer, StartStream, StopStream,
};
use camview_proto::error::ErrorCode;
use camview_proto::stream::{Bandwidth, Codec, IceCandidate, StreamState, ViewerState};
use tokio::sync::broadcast;

use super::controller::{Controller, ControllerSettings};

mod fencing;
mod ice_states;
mod orphans;
mod placed;
mod rtsp_source;
mod taps;
use super::media::*;

/// Records calls and hands out ids like Kurento's; `fail_viewers` makes viewer creation fail.
#[derive(Default)]
struct RecordingMedia {
    calls: Mutex<Vec<String>>,
    released: Mutex<Vec<String>>,
    /// What `is_camera_flowing` answers.
    camera_flowing: Mutex<bool>,
    fail_viewers: Mutex<bool>,
    /// What `inventory` answers: set by a test as the server's state.
    inventory: Mutex<Vec<PipelineInventory>>,
    events: Mutex<Option<broadcast::Sender<MediaEvent>>>,
}

impl RecordingMedia {
    fn new() -> Arc<Self> {
        let (tx, _) = broadcast::channel(64);
        let m = Self::default();
        *m.events.lock().unwrap() = Some(tx);
        Arc::new(m)
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn released(&self) -> Vec<String> {
        self.released.lock().unwrap().clone()
    }
}

#[async_trait]
impl MediaServer for RecordingMedia {
    async fn create_stream(&self, spec: &StreamSpec) -> Result<MediaStream, MediaError> {
        let source = spec.source.as_ref().map(|s| format!(" source={}", s.expose())).unwrap_or_default();
        let node = spec.node_id.as_ref().map(|n| format!(" node={n}")).unwrap_or_default();
        self.calls.lock().unwrap().push(format!("create_stream {}{source}{node}", spec.camera_id));
        // A media call takes time: other commands run meanwhile.
        tokio::task::yield_now().await;
        let p = format!("{}_kurento.MediaPipeline", spec.camera_id);
        Ok(MediaStream {
            rtp_endpoint_id: format!("{p}/rtp_kurento.RtpEndpoint"),
            pipeline_id: p,
            answer: "v=0\r\nm=video 40012 RTP/AVPF 96\r\n".into(),
            node_id: spec.node_id.clone(),
        })
    }
    async fn play(&self, element_id: &str) -> Result<(), MediaError> {
        self.calls.lock().unwrap().push(format!("play {element_id}"));
        Ok(())
    }
    async fn is_camera_flowing(&self, _element_id: &str) -> Result<bool, MediaError> {
        Ok(*self.camera_flowing.lock().unwrap())
    }
    async fn create_viewer(
        &self,
        stream: &MediaStream,
        offer: &str,
        _ice: &IceSettings,
    ) -> Result<MediaViewer, MediaError> {
        if *self.fail_viewers.lock().unwrap() {
            return Err(MediaError::Rejected { code: 40205, message: "no H264 in offer".into() });
        }
        if offer == "offer without H265" {
            // The engine's refusal.
            let message = "codec_unsupported: the browser offer has no H265 payload type".into();
            return Err(MediaError::Rejected { code: 40205, message });
        }
        let n = self.calls.lock().unwrap().len();
        self.calls.lock().unwrap().push(format!("create_viewer {offer}"));
        // Kurento's refusal: the video line rejected with port 0.
        let answer = match offer {
            "offer Kurento rejects" => "v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\n".to_owned(),
            _ => format!("answer to {offer}"),
        };
        Ok(MediaViewer { endpoint_id: format!("{}/w{n}_kurento.WebRtcEndpoint", stream.pipeline_id), answer })
    }
    async fn replace_camera_endpoint(
        &self,
        stream: &MediaStream,
        spec: &StreamSpec,
        viewers: &[String],
    ) -> Result<MediaStream, MediaError> {
        let n = self.calls.lock().unwrap().len();
        self.calls.lock().unwrap().push(format!(
            "replace_camera_endpoint {} under [{}]",
            spec.camera_id,
            viewers.join(",")
        ));
        self.released.lock().unwrap().push(stream.rtp_endpoint_id.clone());
        let answer = format!("v=0\r\nm=video {} RTP/AVPF 96\r\n", 41000 + n);
        Ok(MediaStream {
            pipeline_id: stream.pipeline_id.clone(),
            rtp_endpoint_id: format!("{}/rtp{n}_kurento.RtpEndpoint", stream.pipeline_id),
            answer,
            node_id: stream.node_id.clone(),
        })
    }
    async fn gather_candidates(&self, endpoint_id: &str) -> Result<(), MediaError> {
        self.calls.lock().unwrap().push(format!("gather {endpoint_id}"));
        Ok(())
    }
    async fn add_ice_candidate(&self, endpoint_id: &str, c: &IceCandidate) -> Result<(), MediaError> {
        self.calls.lock().unwrap().push(format!("ice {endpoint_id} {}", c.candidate));
        Ok(())
    }
    async fn release(&self, object_id: &str) -> Result<(), MediaError> {
        self.released.lock().unwrap().push(object_id.to_owned());
        Ok(())
    }
    async fn adopt_stream(&self, stream: &MediaStream) -> Result<bool, MediaError> {
        Ok(!self.released.lock().unwrap().iter().any(|r| stream.pipeline_id.starts_with(r.as_str())))
    }
    async fn adopt_viewer(&self, endpoint_id: &str) -> Result<bool, MediaError> {
        Ok(!self.released.lock().unwrap().iter().any(|r| endpoint_id.starts_with(r.as_str())))
    }
    async fn inventory(&self) -> Result<Vec<PipelineInventory>, MediaError> {
        Ok(self.inventory.lock().unwrap().clone())
    }
    fn events(&self) -> broadcast::Receiver<MediaEvent> {
        self.events.lock().unwrap().as_ref().unwrap().subscribe()
    }
    fn is_connected(&self) -> bool {
        true
    }
}

struct Fixture {
    controller: Arc<Controller>,
    registry: Arc<dyn Registry>,
    bus: Arc<dyn Bus>,
    media: Arc<RecordingMedia>,
}

async fn fixture() -> Fixture {
    fixture_with_max_streams(64).await
}

/// A controller that holds the lease (as its lease task would have it).
async fn fixture_with_max_streams(max_streams: u32) -> Fixture {
    fixture_with(max_streams, None).await
}

/// [`fixture_with_max_streams`] placing streams on the registry's nodes with `placement`.
async fn fixture_with(max_streams: u32, placement: Option<super::placement::Policy>) -> Fixture {
    let registry: Arc<dyn Registry> = Arc::new(MemoryRegistry::new());
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new());
    let media = RecordingMedia::new();
    let settings = ControllerSettings {
        external_ip: "192.0.2.10".into(),
        codec: Codec::H264,
        payload_type: 96,
        audio: None,
        ice: IceSettings::default(),
        stall_after: Duration::from_millis(50),
        max_streams,
        max_viewers_per_stream: 2,
        placement,
        relay_after: None,
    };
    let controller = Controller::new(
        registry.clone(),
        bus.clone(),
        media.clone(),
        settings,
        crate::metrics::ControllerMetrics::noop(),
    );
    let term = registry.acquire_lease("mc-test", Duration::from_secs(3600)).await.unwrap().expect("a free lease");
    controller.enter_term(term, std::time::Instant::now() + Duration::from_secs(3600));
    Fixture { controller, registry, bus, media }
}

/// Runs one command through the controller and returns its reply.
async fn command(f: &Fixture, client: &BusClient, message: Message) -> Message {
    let mut env = envelope(message, Some(client.instance_id().to_owned()), None);
    env.reply_to = Some(client.instance_id().to_owned());
    let c = f.controller.clone();
    let handled = env.clone();
    let (reply, _) = tokio::join!(client.request_envelope(env, Duration::from_secs(2)), async move {
        // The request pushes the command; the controller handles the same envelope.
        tokio::task::yield_now().await;
        c.handle(&handled).await
    });
    reply.expect("a reply")
}

fn start(camera: &str) -> Message {
    Message::StartStream(StartStream {
        camera_id: camera.parse().expect("a test camera id"),
        bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
        source: None,
    })
}

#[tokio::test]
async fn start_registers_the_stream_with_the_external_ip_and_the_answer_port() {
    let f = fixture().await;
    let (client, _events) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let Message::StreamStarted(s) = command(&f, &client, start("cam1")).await else { panic!("not started") };
    assert!(s.created);
    let rtp = s.stream.rtp.clone().unwrap();
    assert_eq!((rtp.host.as_str(), rtp.port, rtp.payload_type), ("192.0.2.10", 40012, 96));
    assert_eq!(s.stream.state, StreamState::WaitingForMedia);
    assert_eq!(f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap(), Some(s.stream));
}

#[tokio::test]
async fn starting_a_started_stream_returns_it_unchanged() {
    let f = fixture().await;
    let (client, _events) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let Message::StreamStarted(first) = command(&f, &client, start("cam1")).await else { panic!() };
    let Message::StreamStarted(again) = command(&f, &client, start("cam1")).await else { panic!() };
    assert!(!again.created);
    assert_eq!(again.stream, first.stream);
    assert_eq!(f.media.calls().iter().filter(|c| c.starts_with("create_stream")).count(), 1);
}

#[tokio::test]
async fn starts_of_different_cameras_in_parallel_never_overshoot_max_streams() {
    let f = fixture_with_max_streams(2).await;
    let starts = (0..6).map(|i| {
        let c = f.controller.clone();
        let env = envelope(start(&format!("cam{i}")), None, None);
        tokio::spawn(async move { c.handle(&env).await })
    });
    for s in starts.collect::<Vec<_>>() {
        s.await.unwrap();
    }
    assert_eq!(f.registry.list_streams().await.unwrap().len(), 2);
    assert_eq!(
        f.media.calls().iter().filter(|c| c.starts_with("create_stream")).count(),
        2,
        "refused starts touch no media"
    );
    let (client, _events) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let reply = command(&f, &client, start("cam-late")).await;
    assert!(matches!(reply, Message::Failed(ref e) if e.code == ErrorCode::TooManyStreams), "{reply:?}");
}

#[tokio::test]
async fn stopping_an_unknown_stream_fails_with_stream_not_found() {
    let f = fixture().await;
    let (client, _events) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let reply =
        command(&f, &client, Message::StopStream(StopStream { camera_id: CameraId::from_static("nope") })).await;
    assert!(matches!(reply, Message::Failed(ref e) if e.code == ErrorCode::StreamNotFound), "{reply:?}");
}

#[tokio::test]
async fn a_viewer_gets_an_answer_then_candidates_are_gathered_and_stop_tells_it_the_stream_ended() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let (sig, mut sig_events) = BusClient::start(f.bus.clone(), "sig-1").await.unwrap();
    command(&f, &api, start("cam1")).await;
    assert_eq!(
        f.registry.reserve_viewer_slot(&CameraId::from_static("cam1"), &ViewerId::from_static("v1"), 10).await.unwrap(),
        SlotReservation::Reserved
    );
    let add = Message::AddViewer(AddViewer {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: CameraId::from_static("cam1"),
        sdp_offer: "offer-1".into(),
        signaling_instance: "sig-1".into(),
    });
    let Message::ViewerAdded(added) = command(&f, &sig, add).await else { panic!("no answer") };
    assert_eq!(added.sdp_answer, "answer to offer-1");
    let calls = f.media.calls();
    let create = calls.iter().position(|c| c == "create_viewer offer-1").unwrap();
    let gather = calls.iter().position(|c| c.starts_with("gather ")).expect("candidates gathered");
    assert!(gather > create);
    let viewer = f.registry.get_viewer(&ViewerId::from_static("v1")).await.unwrap().unwrap();
    assert_eq!(viewer.state, ViewerState::Negotiating);

    let cand = IceCandidate {
        candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    };
    let reply = command(
        &f,
        &sig,
        Message::AddIceCandidate(AddIceCandidate {
            viewer_id: ViewerId::from_static("v1"),
            camera_id: Some(CameraId::from_static("cam1")),
            candidate: cand,
        }),
    )
    .await;
    assert!(matches!(reply, Message::Done(_)));

    let Message::StreamStopped(stopped) =
        command(&f, &api, Message::StopStream(StopStream { camera_id: CameraId::from_static("cam1") })).await
    else {
        panic!()
    };
    assert_eq!(stopped.viewers_released, 1);
    let ended = loop {
        let env = tokio::time::timeout(Duration::from_secs(2), sig_events.recv()).await.unwrap().unwrap();
        if let Message::StreamEnded(e) = env.message {
            break e;
        }
    };
    assert_eq!(ended.viewer_id, "v1");
    assert_eq!(f.registry.viewer_count(&CameraId::from_static("cam1")).await.unwrap(), 0);
    assert!(f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap().is_none());
    assert!(f.media.released.lock().unwrap().iter().any(|r| r == "cam1_kurento.MediaPipeline"));
}

#[tokio::test]
async fn a_failed_viewer_frees_its_slot_and_gets_a_media_server_error() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    command(&f, &api, start("cam1")).await;
    f.registry.reserve_viewer_slot(&CameraId::from_static("cam1"), &ViewerId::from_static("v1"), 10).await.unwrap();
    *f.media.fail_viewers.lock().unwrap() = true;
    let add = Message::AddViewer(AddViewer {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: CameraId::from_static("cam1"),
        sdp_offer: "o".into(),
        signaling_instance: "sig-1".into(),
    });
    let reply = command(&f, &api, add).await;
    assert!(matches!(reply, Message::Failed(ref e) if e.code == ErrorCode::MediaServerError), "{reply:?}");
    assert_eq!(f.registry.viewer_count(&CameraId::from_static("cam1")).await.unwrap(), 0);
}

#[tokio::test]
async fn a_browser_without_the_cameras_codec_gets_codec_unsupported_from_the_engine_or_kurento() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    command(&f, &api, start("cam1")).await;
    for (viewer, offer) in [("v1", "offer without H265"), ("v2", "offer Kurento rejects")] {
        let add = Message::AddViewer(AddViewer {
            viewer_id: viewer.parse().expect("a test viewer id"),
            camera_id: CameraId::from_static("cam1"),
            sdp_offer: offer.into(),
            signaling_instance: "sig-1".into(),
        });
        let reply = command(&f, &api, add).await;
        let Message::Failed(e) = reply else { panic!("{viewer}: {reply:?}") };
        assert_eq!(e.code, ErrorCode::CodecUnsupported, "{viewer}: {e:?}");
        assert!(e.message.starts_with("this browser cannot play the camera's video"), "{e:?}");
    }
    assert_eq!(f.registry.viewer_count(&CameraId::from_static("cam1")).await.unwrap(), 0, "both slots are free again");
    assert!(f.media.released().iter().any(|r| r.ends_with("_kurento.WebRtcEndpoint")), "the rejected endpoint went");
}

#[tokio::test]
async fn media_flow_makes_the_stream_live_and_silence_makes_it_stalled() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let Message::StreamStarted(s) = command(&f, &api, start("cam1")).await else { panic!() };
    let rtp = s.stream.rtp_endpoint_id.unwrap();
    f.controller
        .on_media_event(MediaEvent::MediaFlow { element_id: rtp.clone(), direction: FlowDirection::In, flowing: true })
        .await;
    assert_eq!(f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap().unwrap().state, StreamState::Live);
    f.controller
        .on_media_event(MediaEvent::MediaFlow { element_id: rtp.clone(), direction: FlowDirection::In, flowing: false })
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap().unwrap().state != StreamState::Stalled {
        assert!(tokio::time::Instant::now() < deadline, "never stalled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    f.controller
        .on_media_event(MediaEvent::MediaFlow { element_id: rtp, direction: FlowDirection::In, flowing: true })
        .await;
    assert_eq!(f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap().unwrap().state, StreamState::Live);
}

#[tokio::test]
async fn viewers_of_a_dead_signaling_instance_are_released() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let (sig, _) = BusClient::start(f.bus.clone(), "sig-dead").await.unwrap();
    command(&f, &api, start("cam1")).await;
    f.registry.refresh_liveness("sig-dead", Duration::from_millis(20)).await.unwrap();
    f.registry.reserve_viewer_slot(&CameraId::from_static("cam1"), &ViewerId::from_static("v1"), 10).await.unwrap();
    let add = Message::AddViewer(AddViewer {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: CameraId::from_static("cam1"),
        sdp_offer: "o".into(),
        signaling_instance: "sig-dead".into(),
    });
    command(&f, &sig, add).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while f.registry.is_alive("sig-dead").await.unwrap() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(f.controller.sweep_dead_instances().await.unwrap(), 1);
    assert_eq!(f.registry.viewer_count(&CameraId::from_static("cam1")).await.unwrap(), 0);
    assert!(f.registry.known_instances().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_lost_media_session_recreates_streams_and_asks_viewers_to_renegotiate() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let (sig, mut sig_events) = BusClient::start(f.bus.clone(), "sig-1").await.unwrap();
    command(&f, &api, start("cam1")).await;
    f.registry.reserve_viewer_slot(&CameraId::from_static("cam1"), &ViewerId::from_static("v1"), 10).await.unwrap();
    let add = Message::AddViewer(AddViewer {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: CameraId::from_static("cam1"),
        sdp_offer: "o".into(),
        signaling_instance: "sig-1".into(),
    });
    command(&f, &sig, add).await;
    // The server lost the session: the pipeline is gone.
    f.media.released.lock().unwrap().push("cam1_kurento.MediaPipeline".into());
    f.controller.on_media_event(MediaEvent::Connected { resumed: false, node_id: None }).await;
    assert_eq!(f.media.calls().iter().filter(|c| c.starts_with("create_stream")).count(), 2);
    let renegotiate = loop {
        let env = tokio::time::timeout(Duration::from_secs(2), sig_events.recv()).await.unwrap().unwrap();
        if let Message::Renegotiate(r) = env.message {
            break r;
        }
    };
    assert_eq!(renegotiate.viewer_id, "v1");
    assert!(f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap().is_some());
    let _ = f
        .controller
        .release_viewer(&CameraId::from_static("cam1"), &ViewerId::from_static("gone"), RemoveReason::Left)
        .await;
}

#[tokio::test]
async fn remove_viewer_releases_the_endpoint_and_the_slot() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    command(&f, &api, start("cam1")).await;
    f.registry.reserve_viewer_slot(&CameraId::from_static("cam1"), &ViewerId::from_static("v1"), 10).await.unwrap();
    let add = Message::AddViewer(AddViewer {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: CameraId::from_static("cam1"),
        sdp_offer: "o".into(),
        signaling_instance: "api-1".into(),
    });
    command(&f, &api, add).await;
    let endpoint = f.registry.get_viewer(&ViewerId::from_static("v1")).await.unwrap().unwrap().endpoint_id.unwrap();
    let reply = command(
        &f,
        &api,
        Message::RemoveViewer(RemoveViewer {
            viewer_id: ViewerId::from_static("v1"),
            camera_id: CameraId::from_static("cam1"),
            reason: RemoveReason::Left,
        }),
    )
    .await;
    assert!(matches!(reply, Message::Done(_)));
    assert!(f.media.released.lock().unwrap().contains(&endpoint));
    assert_eq!(f.registry.viewer_count(&CameraId::from_static("cam1")).await.unwrap(), 0);
}

fn seen(camera: &str, source: &str) -> Message {
    Message::CameraSeen(CameraSeen { camera_id: camera.parse().expect("a test camera id"), source: source.into() })
}

#[tokio::test]
async fn the_first_keepalive_address_is_recorded_and_the_same_address_again_changes_nothing() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let Message::StreamStarted(started) = command(&f, &api, start("cam1")).await else { panic!("not started") };
    let Message::CameraSourceSet(first) = command(&f, &api, seen("cam1", "192.0.2.7")).await else {
        panic!("no reply")
    };
    assert!(!first.relatched);
    assert_eq!(first.stream.camera_source.as_deref(), Some("192.0.2.7"));
    assert_eq!(first.stream.rtp, started.stream.rtp, "recording the first address keeps the port");
    let Message::CameraSourceSet(again) = command(&f, &api, seen("cam1", "192.0.2.7")).await else {
        panic!("no reply")
    };
    assert!(!again.relatched);
    assert!(!f.media.calls().iter().any(|c| c.starts_with("replace_camera_endpoint")));
    assert_eq!(
        f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap().unwrap().camera_source.as_deref(),
        Some("192.0.2.7")
    );
}

#[tokio::test]
async fn a_keepalive_from_a_new_address_once_media_stopped_gives_the_stream_a_new_camera_endpoint_under_its_viewers_and_a_new_port(
) {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let (sig, mut sig_events) = BusClient::start(f.bus.clone(), "sig-1").await.unwrap();
    let Message::StreamStarted(started) = command(&f, &api, start("cam1")).await else { panic!("not started") };
    f.registry.reserve_viewer_slot(&CameraId::from_static("cam1"), &ViewerId::from_static("v1"), 10).await.unwrap();
    let add = Message::AddViewer(AddViewer {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: CameraId::from_static("cam1"),
        sdp_offer: "offer-1".into(),
        signaling_instance: "sig-1".into(),
    });
    command(&f, &sig, add).await;
    let endpoint = f.registry.get_viewer(&ViewerId::from_static("v1")).await.unwrap().unwrap().endpoint_id.unwrap();
    command(&f, &api, seen("cam1", "192.0.2.7")).await;
    let rtp_id = started.stream.rtp_endpoint_id.clone().unwrap();

    // While media flows from the latched source, a keepalive from elsewhere changes nothing.
    f.controller
        .on_media_event(MediaEvent::MediaFlow {
            element_id: rtp_id.clone(),
            direction: FlowDirection::In,
            flowing: true,
        })
        .await;
    let Message::CameraSourceSet(live) = command(&f, &api, seen("cam1", "198.51.100.9")).await else {
        panic!("no reply")
    };
    assert!(!live.relatched);
    assert_eq!(live.stream.camera_source.as_deref(), Some("192.0.2.7"), "not recorded: the next keepalive asks again");
    assert!(!f.media.calls().iter().any(|c| c.starts_with("replace_camera_endpoint")));

    // The camera's media stops at the old latch: the stream stalls, and the new address wins.
    f.controller
        .on_media_event(MediaEvent::MediaFlow { element_id: rtp_id, direction: FlowDirection::In, flowing: false })
        .await;
    wait_until(Duration::from_secs(2), "the stream stalls", || async {
        f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap().unwrap().state == StreamState::Stalled
    })
    .await;
    let Message::CameraSourceSet(moved) = command(&f, &api, seen("cam1", "198.51.100.9")).await else {
        panic!("no reply")
    };
    assert!(moved.relatched);
    let old_rtp = started.stream.rtp_endpoint_id.clone().unwrap();
    assert_ne!(moved.stream.rtp_endpoint_id.as_deref(), Some(old_rtp.as_str()));
    assert_ne!(
        moved.stream.rtp.as_ref().unwrap().port,
        started.stream.rtp.as_ref().unwrap().port,
        "the camera is told a new port"
    );
    assert_eq!(moved.stream.state, StreamState::WaitingForMedia);
    assert_eq!(moved.stream.camera_source.as_deref(), Some("198.51.100.9"));
    assert_eq!(f.registry.get_stream(&CameraId::from_static("cam1")).await.unwrap(), Some(moved.stream.clone()));
    assert!(
        f.media.calls().contains(&format!("replace_camera_endpoint cam1 under [{endpoint}]")),
        "{:?}",
        f.media.calls()
    );
    assert!(f.media.released.lock().unwrap().contains(&old_rtp));
    // The viewer keeps its endpoint and slot, and hears that media must come again.
    assert_eq!(f.registry.get_viewer(&ViewerId::from_static("v1")).await.unwrap().unwrap().endpoint_id, Some(endpoint));
    let state = loop {
        let env = tokio::time::timeout(Duration::from_secs(2), sig_events.recv()).await.unwrap().unwrap();
        if let Message::StreamStateChanged(s) = env.message {
            break s;
        }
    };
    assert_eq!((state.viewer_id.as_str(), state.state), ("v1", StreamState::WaitingForMedia));
}

#[tokio::test]
async fn a_keepalive_address_for_a_stream_that_is_not_started_is_stream_not_found() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let Message::Failed(e) = command(&f, &api, seen("nope", "192.0.2.7")).await else { panic!("not refused") };
    assert_eq!(e.code, ErrorCode::StreamNotFound);
}

#[tokio::test]
async fn a_command_read_after_its_senders_deadline_is_dropped_unexecuted() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let mut env = envelope(start("late"), Some(api.instance_id().to_owned()), None);
    env.expires_at = Some("2026-01-01T00:00:00.000Z".into()); // long past
    let c = f.controller.clone();
    let handled = env.clone();
    let (reply, _) = tokio::join!(api.request_envelope(env, Duration::from_millis(300)), async move {
        tokio::task::yield_now().await;
        c.handle(&handled).await
    });
    assert!(reply.is_err(), "no reply to an expired command: {reply:?}");
    assert!(
        f.registry.get_stream(&CameraId::from_static("late")).await.unwrap().is_none(),
        "the expired start did not happen"
    );
    assert!(f.media.calls().is_empty());

    // The same command within its deadline runs.
    assert!(matches!(command(&f, &api, start("late")).await, Message::StreamStarted(_)));
}

#[test]
fn viewer_commands_run_in_their_viewers_lane_and_stream_commands_alone_on_the_camera() {
    use super::lanes::LaneKey;
    let cand = IceCandidate {
        candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host".into(),
        sdp_mid: None,
        sdp_m_line_index: Some(0),
    };
    let ice = Message::AddIceCandidate(AddIceCandidate {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: Some(CameraId::from_static("cam1")),
        candidate: cand,
    });
    assert_eq!(Controller::lane_of(&ice), LaneKey::Viewer { camera: "cam1", viewer: "v1" });
    let add = Message::AddViewer(AddViewer {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: CameraId::from_static("cam1"),
        sdp_offer: "o".into(),
        signaling_instance: "s".into(),
    });
    assert_eq!(Controller::lane_of(&add), LaneKey::Viewer { camera: "cam1", viewer: "v1" });
    assert_eq!(Controller::lane_of(&start("cam2")), LaneKey::Camera("cam2"));
    assert_eq!(Controller::lane_of(&seen("cam3", "192.0.2.1")), LaneKey::Camera("cam3"));
}

#[tokio::test]
async fn dead_instances_are_judged_only_once_the_registry_answered_for_the_grace_after_an_outage() {
    let f = fixture().await;
    assert!(!f.controller.bus_reachable_for(Duration::ZERO), "never reached yet");
    f.controller.set_bus_reachable(true);
    assert!(f.controller.bus_reachable_for(Duration::ZERO));
    assert!(!f.controller.bus_reachable_for(Duration::from_secs(60)), "instances had no time to refresh");
    f.controller.set_bus_reachable(false);
    assert!(!f.controller.bus_reachable_for(Duration::ZERO), "an outage restarts the grace");
}

#[tokio::test]
async fn a_viewer_still_joining_when_the_controller_reconciles_keeps_its_slot_and_gets_its_answer() {
    let f = fixture().await;
    let (api, _) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let (sig, mut sig_events) = BusClient::start(f.bus.clone(), "sig-1").await.unwrap();
    command(&f, &api, start("cam1")).await;
    // Signaling reserved the slot and recorded the viewer; its AddViewer waits in the queue
    // while the controller takes the lease and reconciles.
    f.registry.reserve_viewer_slot(&CameraId::from_static("cam1"), &ViewerId::from_static("v1"), 10).await.unwrap();
    let joining = camview_proto::stream::ViewerRecord {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: CameraId::from_static("cam1"),
        signaling_instance: "sig-1".into(),
        state: ViewerState::Joining,
        created_at: camview_common::clock::now_rfc3339(),
        endpoint_id: None,
    };
    f.registry.put_viewer(&joining).await.unwrap();
    f.controller.reconcile().await.unwrap();
    assert_eq!(
        f.registry.viewer_count(&CameraId::from_static("cam1")).await.unwrap(),
        1,
        "the slot of the join in flight is kept"
    );

    let add = Message::AddViewer(AddViewer {
        viewer_id: ViewerId::from_static("v1"),
        camera_id: CameraId::from_static("cam1"),
        sdp_offer: "o".into(),
        signaling_instance: "sig-1".into(),
    });
    assert!(matches!(command(&f, &sig, add).await, Message::ViewerAdded(_)));
    // Events reach the instance in order: a renegotiate from the reconciliation would come first.
    let first = tokio::time::timeout(Duration::from_secs(2), sig_events.recv()).await.unwrap().unwrap();
    assert!(matches!(first.message, Message::StreamStateChanged(_)), "{:?}", first.message);
}
