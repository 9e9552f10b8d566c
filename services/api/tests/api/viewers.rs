use camview_proto::stream::{ViewerRecord, ViewerState};
use camview_proto::{CameraId, ViewerId};
use serde_json::json;

use crate::helpers::{assert_error, ok_json, spawn_app};

fn viewer(id: &'static str, camera: &'static str) -> ViewerRecord {
    ViewerRecord {
        viewer_id: ViewerId::from_static(id),
        camera_id: CameraId::from_static(camera),
        signaling_instance: "sig-1".into(),
        state: ViewerState::Connected,
        created_at: camview_common::clock::now_rfc3339(),
        endpoint_id: None,
    }
}

#[tokio::test]
async fn viewers_are_listed_overall_and_per_stream_and_counted_in_the_stream() {
    let app = spawn_app().await;
    ok_json(app.start("camA").await).await;
    ok_json(app.start("camB").await).await;
    for (v, cam) in [("v1", "camA"), ("v2", "camA"), ("v3", "camB")] {
        app.registry.reserve_viewer_slot(&CameraId::from_static(cam), &ViewerId::from_static(v), 10).await.unwrap();
        app.registry.put_viewer(&viewer(v, cam)).await.unwrap();
    }

    let all = ok_json(app.get("/viewers").await).await;
    assert_eq!(all["count"], 3);
    let a = ok_json(app.get("/viewers/camA").await).await;
    assert_eq!(a["count"], 2);
    assert!(a["viewers"].as_array().unwrap().iter().all(|v| v["camera_id"] == "camA"));
    assert_eq!(ok_json(app.get("/streams/camA").await).await["viewers"], 2);

    let stopped = ok_json(app.stop("camA").await).await;
    assert_eq!(stopped["viewers_released"], 2);
    assert_eq!(ok_json(app.get("/viewers").await).await["count"], 1);
}

#[tokio::test]
async fn viewers_of_a_started_stream_without_viewers_is_an_empty_list() {
    let app = spawn_app().await;
    ok_json(app.start("quiet").await).await;
    assert_eq!(ok_json(app.get("/viewers/quiet").await).await, json!({"viewers": [], "count": 0}));
    assert_eq!(ok_json(app.get("/viewers").await).await, json!({"viewers": [], "count": 0}));
}

#[tokio::test]
async fn viewers_of_an_unknown_stream_returns_404() {
    let app = spawn_app().await;
    assert_error(app.get("/viewers/nobody").await, 404, "stream_not_found").await;
}
