use camview_proto::CameraId;
use camview_proto::ViewerId;
use std::time::Duration;

use camview_common::testing::RedisServer;
use serde_json::json;

use crate::helpers::{assert_error, ok_json, redis_backend, spawn_app, spawn_app_with, spawn_on, Options};
use crate::responder::write_heartbeat;

#[tokio::test]
async fn health_is_healthy_in_the_original_shape_with_a_fresh_heartbeat() {
    let app = spawn_app().await;
    ok_json(app.start("cam1").await).await;
    for v in ["v1", "v2"] {
        app.registry.reserve_viewer_slot(&CameraId::from_static("cam1"), &ViewerId::from_static(v), 10).await.unwrap();
        app.registry
            .put_viewer(&camview_proto::stream::ViewerRecord {
                viewer_id: ViewerId::from_static(v),
                camera_id: CameraId::from_static("cam1"),
                signaling_instance: "sig".into(),
                state: camview_proto::stream::ViewerState::Connected,
                created_at: camview_common::clock::now_rfc3339(),
                endpoint_id: None,
            })
            .await
            .unwrap();
    }
    let health = ok_json(app.get("/health").await).await;
    assert_eq!(health, json!({"status":"healthy","kurento_connected":true,"active_streams":1,"total_viewers":2}));
}

#[tokio::test]
async fn health_is_degraded_with_503_without_a_controller_heartbeat() {
    let app = spawn_app_with(Options { heartbeat: false, ..Default::default() }).await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 503);
    let health: serde_json::Value = response.json().await.unwrap();
    assert_eq!(health["status"], "degraded");
    assert_eq!(health["kurento_connected"], false);
    assert!(health["problems"][0].as_str().unwrap().contains("media-controller"), "{health}");
}

#[tokio::test]
async fn health_is_degraded_when_the_controller_lost_the_media_server() {
    let app = spawn_app_with(Options { heartbeat: false, ..Default::default() }).await;
    write_heartbeat(app.registry.as_ref(), false).await;
    let response = app.get("/health").await;
    assert_eq!(response.status(), 503);
    let health: serde_json::Value = response.json().await.unwrap();
    assert_eq!(health["kurento_connected"], false);
    assert!(health["problems"][0].as_str().unwrap().contains("media server"), "{health}");
    // A new heartbeat heals it.
    write_heartbeat(app.registry.as_ref(), true).await;
    assert_eq!(ok_json(app.get("/health").await).await["status"], "healthy");
}

#[tokio::test]
async fn health_is_degraded_and_routes_answer_503_when_the_registry_is_unreachable() {
    let mut redis = RedisServer::start();
    let app = spawn_on(redis_backend(&redis.url()).await, Options::default()).await;
    assert_eq!(app.get("/health").await.status(), 200);

    redis.stop();
    let began = std::time::Instant::now();
    // The user store is on the same Redis: even the admin's token cannot be checked, so
    // health answers the anonymous shape.
    let response = app.get("/health").await;
    assert_eq!(response.status(), 503);
    let health: serde_json::Value = response.json().await.unwrap();
    assert_eq!(health, json!({"status": "degraded"}));
    assert!(began.elapsed() < Duration::from_secs(5), "health took {:?}", began.elapsed());

    let body = assert_error(app.get("/streams").await, 503, "registry_unavailable").await;
    assert_eq!(body["message"], "the user store is unavailable", "5xx bodies are opaque");
}
