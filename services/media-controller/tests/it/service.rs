//! The media-controller service end to end: a real Redis, the real camview-media-engine
//! over its WebSocket, real RTP from camera-sim, commands sent over the real bus the way
//! the API and signaling send them.

use camview_common::bus::BusClient;
use camview_common::registry::SlotReservation;
use camview_common::testing::wait_until;
use camview_proto::bus::{Message, StopStream};
use camview_proto::error::ErrorCode;
use camview_proto::stream::{StreamState, ViewerRecord, ViewerState};
use camview_proto::{CameraId, ViewerId};

use crate::browsers::{camera_towards, target, Stack, Viewer, PATIENCE};

async fn stack() -> Stack {
    Stack::start().await
}

#[tokio::test]
async fn a_started_stream_goes_live_with_camera_media_and_stop_releases_its_pipeline() {
    let s = stack().await;
    let controller = s.controller().await;
    let stream = s.start_stream("cam-live").await;
    let rtp = stream.rtp.clone().unwrap();
    assert_eq!(rtp.host, "127.0.0.1", "the RTP target uses EXTERNAL_IP");
    assert_eq!((rtp.payload_type, stream.state), (96, StreamState::WaitingForMedia));
    assert_eq!(s.deps.registry.get_stream(&CameraId::from_static("cam-live")).await.unwrap().as_ref(), Some(&stream));
    assert_eq!(s.pipelines(), 1);

    let again = s.start_stream("cam-live").await;
    assert_eq!(again.rtp, stream.rtp, "start is idempotent");
    assert_eq!(s.pipelines(), 1);

    let camera = camera_towards(&stream).await;
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-live").await == Some(StreamState::Live) })
        .await;

    let stop = s
        .api
        .request(Message::StopStream(StopStream { camera_id: CameraId::from_static("cam-live") }), PATIENCE)
        .await
        .unwrap();
    assert!(matches!(stop, Message::StreamStopped(_)), "{stop:?}");
    assert_eq!(s.state_of("cam-live").await, None);
    assert_eq!(s.pipelines(), 0, "the engine released the pipeline");
    let unknown = s
        .api
        .request(Message::StopStream(StopStream { camera_id: CameraId::from_static("cam-live") }), PATIENCE)
        .await
        .unwrap();
    assert!(matches!(unknown, Message::Failed(ref e) if e.code == ErrorCode::StreamNotFound), "{unknown:?}");
    camera.stop().await.expect("camera stops");
    controller.shutdown().await;
}

#[tokio::test]
async fn a_start_beyond_max_streams_is_refused_with_too_many_streams_and_restarts_stay_idempotent() {
    let s = stack().await;
    let mut settings = s.controller_settings();
    settings.max_streams = 2;
    let controller =
        s.controller_with(&settings, &camview_common::telemetry::meter(camview_media_controller::metrics::SCOPE)).await;
    let first = s.start_stream("cam-max-1").await;
    s.start_stream("cam-max-2").await;

    let refused = s.request_start("cam-max-3").await;
    match &refused {
        Message::Failed(e) => {
            assert_eq!(e.code, ErrorCode::TooManyStreams);
            assert_eq!(e.code.http_status(), 409);
            assert!(e.message.contains('2'), "the message names the limit: {}", e.message);
        }
        other => panic!("a third stream was not refused: {other:?}"),
    }
    assert_eq!(s.state_of("cam-max-3").await, None, "nothing registered for the refused camera");
    assert_eq!(s.pipelines(), 2, "nothing created on the media server for it");

    let again = s.start_stream("cam-max-1").await;
    assert_eq!(again, first, "restarting a started stream at the limit returns it unchanged");

    let stop = s
        .api
        .request(Message::StopStream(StopStream { camera_id: CameraId::from_static("cam-max-2") }), PATIENCE)
        .await
        .unwrap();
    assert!(matches!(stop, Message::StreamStopped(_)), "{stop:?}");
    let third = s.start_stream("cam-max-3").await;
    assert_eq!(third.state, StreamState::WaitingForMedia, "a stop frees a place");
    controller.shutdown().await;
}

#[tokio::test]
async fn a_camera_pause_makes_the_stream_stalled_and_media_brings_it_back_live() {
    let s = stack().await;
    let controller = s.controller().await;
    let stream = s.start_stream("cam-stall").await;
    let camera = camera_towards(&stream).await;
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-stall").await == Some(StreamState::Live) })
        .await;
    camera.set_target(None);
    wait_until(PATIENCE, "the stream is stalled", || async {
        s.state_of("cam-stall").await == Some(StreamState::Stalled)
    })
    .await;
    camera.set_target(Some(target(&stream)));
    wait_until(PATIENCE, "the stream is live again", || async {
        s.state_of("cam-stall").await == Some(StreamState::Live)
    })
    .await;
    camera.stop().await.expect("camera stops");
    controller.shutdown().await;
}

#[tokio::test]
async fn a_crashed_controller_is_replaced_and_the_live_stream_survives_on_the_engine() {
    let s = stack().await;
    let first = s.controller().await;
    let stream = s.start_stream("cam-crash").await;
    let camera = camera_towards(&stream).await;
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-crash").await == Some(StreamState::Live) })
        .await;
    first.abort();

    // The new process adopts the pipeline instead of recreating it: same port, one pipeline.
    let second = s.controller().await;
    let again = s.start_stream("cam-crash").await;
    assert_eq!(again.rtp, stream.rtp);
    assert_eq!(s.pipelines(), 1);
    let stop = s
        .api
        .request(Message::StopStream(StopStream { camera_id: CameraId::from_static("cam-crash") }), PATIENCE)
        .await
        .unwrap();
    assert!(matches!(stop, Message::StreamStopped(_)), "{stop:?}");
    assert_eq!(s.pipelines(), 0);
    camera.stop().await.expect("camera stops");
    second.shutdown().await;
}

#[tokio::test]
async fn a_crashed_controller_is_replaced_without_disturbing_a_watching_viewer() {
    let s = stack().await;
    let first = s.controller().await;
    let stream = s.start_stream("cam-watch").await;
    let camera = camera_towards(&stream).await;
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-watch").await == Some(StreamState::Live) })
        .await;
    let mut v = Viewer::new(&s, "sig-watch", "cam-watch", "v-watch", true).await;
    v.join(&s).await;
    assert!(v.drive_until(PATIENCE, |v| v.pictures.len() >= 5).await, "the viewer watches before the crash");
    first.abort();

    let second = s.controller().await;
    let before = v.pictures.len();
    assert!(
        v.drive_until(PATIENCE, |v| v.pictures.len() >= before + 10).await,
        "the viewer keeps watching through the failover"
    );
    assert!(!v.told_to_renegotiate(), "a surviving endpoint needs no renegotiation");
    // The new controller adopted the endpoint: it can release it.
    let objects = s.objects();
    let left = v.leave().await;
    assert!(matches!(left, Message::Done(_)), "{left:?}");
    assert_eq!(s.objects(), objects - 1, "the new controller released the old controller's endpoint");
    camera.stop().await.expect("camera stops");
    second.shutdown().await;
}

#[tokio::test]
async fn a_standby_controller_takes_over_when_the_active_one_dies() {
    let s = stack().await;
    let active = s.controller().await;
    s.start_stream("cam-a").await;
    let standby = s.controller().await;
    active.abort();
    // Answered by the standby once the dead controller's lease lapsed.
    let stream = s.start_stream("cam-b").await;
    assert_eq!(stream.state, StreamState::WaitingForMedia);
    assert_eq!(s.pipelines(), 2);
    standby.shutdown().await;
}

#[tokio::test]
async fn streams_lost_with_the_media_server_are_recreated_and_viewers_asked_to_renegotiate() {
    let s = stack().await;
    let controller = s.controller().await;
    let stream = s.start_stream("cam-lost").await;
    let (sig, mut sig_events) = BusClient::start(s.deps.bus.clone(), "sig-lost").await.unwrap();
    assert_eq!(
        s.deps
            .registry
            .reserve_viewer_slot(&CameraId::from_static("cam-lost"), &ViewerId::from_static("v-lost"), 10)
            .await
            .unwrap(),
        SlotReservation::Reserved
    );
    let viewer = ViewerRecord {
        viewer_id: ViewerId::from_static("v-lost"),
        camera_id: CameraId::from_static("cam-lost"),
        signaling_instance: sig.instance_id().into(),
        state: ViewerState::Connected,
        created_at: camview_common::clock::now_rfc3339(),
        endpoint_id: Some(format!("{}/gone_kurento.WebRtcEndpoint", stream.pipeline_id.clone().unwrap())),
    };
    s.deps.registry.put_viewer(&viewer).await.unwrap();

    // The media server loses every object (as after a restart).
    let pipeline = stream.pipeline_id.clone().unwrap();
    let kill = camview_media_controller::kurento::KurentoClient::connect(
        camview_media_controller::kurento::ClientConfig::new(s.engine().ws_url()),
    )
    .await
    .unwrap();
    kill.release(&pipeline).await.unwrap();
    kill.shutdown();
    // Reconciliation runs when the controller (re)gains its connection or lease; a restart of
    // the controller process triggers it here.
    controller.abort();
    let controller = s.controller().await;

    let renegotiate = tokio::time::timeout(PATIENCE, async {
        loop {
            if let Some(env) = sig_events.recv().await {
                if let Message::Renegotiate(r) = env.message {
                    return r;
                }
            }
        }
    })
    .await
    .expect("the viewer is asked to renegotiate");
    assert_eq!(renegotiate.viewer_id, "v-lost");
    let recreated = s
        .deps
        .registry
        .get_stream(&CameraId::from_static("cam-lost"))
        .await
        .unwrap()
        .expect("the stream is still registered");
    assert_ne!(recreated.pipeline_id, stream.pipeline_id, "a new pipeline was created");
    assert_eq!(s.pipelines(), 1);
    controller.shutdown().await;
}

/// A controller that dies between creating media objects and recording them leaves them on
/// the engine; the next one to take the lease releases exactly those (and never another
/// application's pipeline on the same server).
#[tokio::test]
async fn a_controller_taking_over_releases_the_objects_a_dead_one_left_unrecorded() {
    use camview_media_controller::kurento::{ClientConfig, KurentoClient, MediaPipeline, WebRtcEndpoint};
    use camview_media_controller::service::kurento_media::OWNER_TAG;

    let s = stack().await;
    let first = s.controller().await;
    let stream = s.start_stream("cam-orphans").await;
    let recorded = s.objects();
    // What a dying controller left: a viewer endpoint in the stream's pipeline never recorded,
    // and a whole pipeline of ours whose stream was never recorded. Plus a pipeline of another
    // application, which is no business of ours.
    let raw = KurentoClient::connect(ClientConfig::new(s.engine().ws_url())).await.expect("client");
    let pipeline = MediaPipeline::attach(&raw, stream.pipeline_id.clone().unwrap());
    WebRtcEndpoint::create(&raw, &pipeline, Default::default()).await.expect("stray endpoint");
    let lost = MediaPipeline::create(&raw).await.expect("lost pipeline");
    lost.add_tag(OWNER_TAG, &s.prefix).await.expect("tag");
    let foreign = MediaPipeline::create(&raw).await.expect("foreign pipeline");
    assert_eq!(s.objects(), recorded + 3);
    first.abort();

    let second = s.controller().await;
    wait_until(PATIENCE, "the orphans are released", || async { s.objects() == recorded + 1 }).await;
    assert!(foreign.get_children().await.is_ok(), "the other application's pipeline is left alone");
    assert_eq!(s.stream("cam-orphans").await.unwrap().pipeline_id, stream.pipeline_id, "the stream is kept");
    second.shutdown().await;
}
