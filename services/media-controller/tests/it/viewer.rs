//! A viewer's whole life through the media-controller: a real browser offer (str0m) sent over
//! the bus, candidates both ways, decoded camera video through the real engine, and leaving.

use camview_common::testing::wait_until;
use camview_proto::bus::Message;
use camview_proto::stream::{StreamState, ViewerState};
use camview_proto::ViewerId;

use crate::browsers::{camera_towards, Stack, Viewer, PATIENCE};

#[tokio::test]
async fn a_viewer_joins_with_a_real_offer_receives_media_and_leaving_releases_its_endpoint() {
    let s = Stack::start().await;
    let controller = s.controller().await;
    let stream = s.start_stream("cam-view").await;
    let camera = camera_towards(&stream).await;
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-view").await == Some(StreamState::Live) })
        .await;
    let stream_objects = s.objects();
    assert_eq!(stream_objects, 2, "a pipeline and its RtpEndpoint");

    let mut v = Viewer::new(&s, "sig-view", "cam-view", "v-view", true).await;
    let answer = v.join(&s).await;
    assert!(answer.contains("H264/90000"), "{answer}");
    let record = s.deps.registry.get_viewer(&ViewerId::from_static("v-view")).await.unwrap().expect("a viewer record");
    assert_eq!((record.signaling_instance.as_str(), record.camera_id.as_str()), ("sig-view", "cam-view"));
    let endpoint = record.endpoint_id.clone().expect("an endpoint id");
    assert!(
        endpoint.starts_with(stream.pipeline_id.as_deref().unwrap()),
        "the endpoint lives in the stream's pipeline: {endpoint}"
    );
    assert_eq!(s.objects(), stream_objects + 1, "one WebRtcEndpoint for the viewer");

    let watched = v.drive_until(PATIENCE, |v| v.pictures.len() >= 10 && v.told_state(ViewerState::Connected)).await;
    assert!(
        watched,
        "the viewer did not watch: connected={} remote candidates={} packets={} pictures={} events={:?}",
        v.peer().connected(),
        v.remote_candidates,
        v.peer().packets().len(),
        v.pictures.len(),
        v.events_seen
    );
    assert!(v.peer().connected() && v.remote_candidates >= 1);
    let first = v.pictures[0];
    assert_eq!((first.width, first.height), (320, 240), "the camera's own pictures, decoded");
    assert!(v.pictures.iter().any(|p| p.idr), "the viewer started from a keyframe");
    assert!(v.pictures.windows(2).any(|w| w[0].luma_hash != w[1].luma_hash), "a moving picture, not a frozen one");
    assert!(
        v.events_seen.iter().any(|m| matches!(m, Message::StreamStateChanged(c) if c.state == StreamState::Live)),
        "the viewer was told the stream is live: {:?}",
        v.events_seen
    );
    let record = s.deps.registry.get_viewer(&ViewerId::from_static("v-view")).await.unwrap().expect("a viewer record");
    assert_eq!(record.state, ViewerState::Connected);
    assert_eq!(s.slots("cam-view").await, 1);

    let left = v.leave().await;
    assert!(matches!(left, Message::Done(_)), "{left:?}");
    assert_eq!(s.objects(), stream_objects, "the viewer's endpoint was released on the engine");
    assert_eq!(s.deps.registry.get_viewer(&ViewerId::from_static("v-view")).await.unwrap(), None);
    assert_eq!(s.slots("cam-view").await, 0, "the slot is free");
    assert_eq!(s.state_of("cam-view").await, Some(StreamState::Live), "the stream stays up without viewers");

    camera.stop().await.expect("camera stops");
    controller.shutdown().await;
}
