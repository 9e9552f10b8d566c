//! After a takeover, media objects of ours that no registry record names are released; every
//! object a record names is kept.

use camview_common::bus::BusClient;
use camview_proto::bus::Message;
use camview_proto::stream::{ViewerRecord, ViewerState};
use camview_proto::{CameraId, ViewerId};

use super::super::media::PipelineInventory;
use super::{command, fixture, start};

#[tokio::test]
async fn objects_no_record_names_are_released_and_every_named_one_is_kept() {
    let f = fixture().await;
    let (client, _events) = BusClient::start(f.bus.clone(), "api-1").await.unwrap();
    let Message::StreamStarted(started) = command(&f, &client, start("cam1")).await else { panic!("not started") };
    let pipeline = started.stream.pipeline_id.clone().unwrap();
    let camera = started.stream.rtp_endpoint_id.clone().unwrap();
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
    // Left by a controller that died mid-command: a viewer endpoint never recorded, a camera
    // endpoint replaced by a re-latch, and a whole pipeline of a stream never recorded.
    let stray = format!("{pipeline}/w9_kurento.WebRtcEndpoint");
    let old_camera = format!("{pipeline}/rtp0_kurento.RtpEndpoint");
    let unnamed = "lost_kurento.MediaPipeline".to_owned();
    *f.media.inventory.lock().unwrap() = vec![
        PipelineInventory {
            pipeline_id: pipeline.clone(),
            elements: vec![camera.clone(), watched.clone(), stray.clone(), old_camera.clone()],
        },
        PipelineInventory { pipeline_id: unnamed.clone(), elements: vec!["lost/rtp_kurento.RtpEndpoint".into()] },
    ];

    assert_eq!(f.controller.release_orphans().await.unwrap(), 3);
    let released = f.media.released();
    for orphan in [&stray, &old_camera, &unnamed] {
        assert!(released.contains(orphan), "{orphan} released: {released:?}");
    }
    for named in [&pipeline, &camera, &watched] {
        assert!(!released.contains(named), "{named} kept: {released:?}");
    }
}
