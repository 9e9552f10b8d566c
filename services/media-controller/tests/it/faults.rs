//! Faults around viewers: the media server restarting under a live stream, the media server
//! refusing one viewer, and a signaling instance dying with its viewers.

use camview_proto::ViewerId;
use std::time::Duration;

use camview_common::testing::wait_until;
use camview_proto::error::ErrorCode;
use camview_proto::stream::{StreamState, ViewerState};

use crate::browsers::{camera_towards, failure, target, Stack, Viewer, PATIENCE};

#[tokio::test]
async fn an_engine_restart_recreates_the_stream_and_asks_the_viewer_to_renegotiate() {
    let mut s = Stack::start().await;
    let controller = s.controller().await;
    let before = s.start_stream("cam-restart").await;
    let camera = camera_towards(&before).await;
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-restart").await == Some(StreamState::Live) })
        .await;
    let mut v = Viewer::new(&s, "sig-restart", "cam-restart", "v-restart", true).await;
    v.join(&s).await;
    assert!(v.drive_until(PATIENCE, |v| v.pictures.len() >= 3).await, "the viewer watches before the restart");

    s.restart_engine().await;

    // The controller reconnects, finds its session gone and rebuilds from the registry.
    assert!(v.drive_until(PATIENCE, Viewer::told_to_renegotiate).await, "no Renegotiate; events: {:?}", v.events_seen);
    let after = s.stream("cam-restart").await.expect("the stream is still registered");
    assert_ne!(after.pipeline_id, before.pipeline_id, "a new pipeline on the new engine");
    if after.rtp.as_ref().map(|r| r.port) != before.rtp.as_ref().map(|r| r.port) {
        // (The new engine picks a random port; on the rare draw of the old one, media flows at once.)
        assert_eq!(after.state, StreamState::WaitingForMedia, "no media until the camera learns the new port");
    }
    assert_eq!(after.created_at, before.created_at, "the same stream, recreated");
    assert_eq!(s.engine().stats().core.pipelines, 1);
    assert_eq!(
        s.deps.registry.get_viewer(&ViewerId::from_static("v-restart")).await.unwrap(),
        None,
        "the lost endpoint's viewer record is gone"
    );
    assert_eq!(s.slots("cam-restart").await, 0, "its slot is free for the new offer");

    // The camera learns the new port (its next keepalive, here set directly).
    camera.set_target(Some(target(&after)));
    wait_until(PATIENCE, "the stream is live again", || async {
        s.state_of("cam-restart").await == Some(StreamState::Live)
    })
    .await;

    // The browser renegotiates with a new offer and watches again.
    v.reset_peer_connection().await;
    v.join(&s).await;
    assert!(
        v.drive_until(PATIENCE, |v| v.pictures.len() >= 3).await,
        "the renegotiated viewer receives media: {} packets",
        v.peer().packets().len()
    );
    assert_eq!(s.objects(), 3, "pipeline, RtpEndpoint and the new WebRtcEndpoint");

    camera.stop().await.expect("camera stops");
    controller.shutdown().await;
}

#[tokio::test]
async fn a_viewer_refused_for_its_codecs_does_not_touch_the_others() {
    let s = Stack::start().await;
    let controller = s.controller().await;
    let stream = s.start_stream("cam-mixed").await;
    let camera = camera_towards(&stream).await;
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-mixed").await == Some(StreamState::Live) })
        .await;
    let mut good = Viewer::new(&s, "sig-good", "cam-mixed", "v-good", true).await;
    good.join(&s).await;
    assert!(
        good.drive_until(PATIENCE, |v| v.pictures.len() >= 3 && v.told_state(ViewerState::Connected)).await,
        "the first viewer watches"
    );
    let objects = s.objects();

    // A browser that cannot decode H.264 offers VP8 only; the engine refuses the offer, and the
    // browser is told `codec_unsupported` (what the viewer page explains in words).
    let mut vp8 = Viewer::new(&s, "sig-vp8", "cam-mixed", "v-vp8", false).await;
    let error = failure(vp8.add(&s).await);
    assert_eq!(error.code, ErrorCode::CodecUnsupported, "{error:?}");
    assert!(error.message.contains("H264"), "the reason reaches the caller: {}", error.message);
    assert_eq!(s.deps.registry.get_viewer(&ViewerId::from_static("v-vp8")).await.unwrap(), None);
    assert_eq!(s.slots("cam-mixed").await, 1, "the failed viewer's slot was freed, the other one kept");
    assert_eq!(s.objects(), objects, "the refused endpoint was released");

    let seen = good.pictures.len();
    assert!(good.drive_until(PATIENCE, |v| v.pictures.len() >= seen + 10).await, "the first viewer keeps receiving");
    let record = s
        .deps
        .registry
        .get_viewer(&ViewerId::from_static("v-good"))
        .await
        .unwrap()
        .expect("the first viewer is still registered");
    assert_eq!(record.state, ViewerState::Connected);
    assert!(!good.told_state(ViewerState::Failed));

    camera.stop().await.expect("camera stops");
    controller.shutdown().await;
}

#[tokio::test]
async fn viewers_of_a_signaling_instance_whose_liveness_expired_are_released() {
    let s = Stack::start().await;
    let controller = s.controller().await;
    s.start_stream("cam-orphan").await;
    let stream_objects = s.objects();
    let mut alive = Viewer::new(&s, "sig-alive", "cam-orphan", "v-alive", true).await;
    alive.join(&s).await;
    let mut orphan = Viewer::new(&s, "sig-dying", "cam-orphan", "v-orphan", true).await;
    orphan.join(&s).await;
    assert_eq!(s.objects(), stream_objects + 2);
    s.deps.registry.refresh_liveness("sig-alive", Duration::from_secs(60)).await.unwrap();
    // The instance stops refreshing its liveness after this: it died.
    s.deps.registry.refresh_liveness("sig-dying", Duration::from_secs(1)).await.unwrap();

    wait_until(PATIENCE, "the dead instance's viewer is released", || async {
        s.deps.registry.get_viewer(&ViewerId::from_static("v-orphan")).await.unwrap().is_none()
    })
    .await;
    assert_eq!(s.objects(), stream_objects + 1, "its endpoint is gone from the engine, the live instance's one is not");
    assert_eq!(s.slots("cam-orphan").await, 1, "its slot is free");
    assert!(
        s.deps.registry.get_viewer(&ViewerId::from_static("v-alive")).await.unwrap().is_some(),
        "the live instance keeps its viewer"
    );
    wait_until(PATIENCE, "the dead instance is forgotten", || async {
        !s.deps.registry.known_instances().await.unwrap().iter().any(|i| i == "sig-dying")
    })
    .await;

    controller.shutdown().await;
}
