//! Every malformed request gets its status and JSON error code, and the server keeps serving.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app};

#[tokio::test]
async fn start_returns_400_for_a_malformed_camera_id() {
    let app = spawn_app().await;
    for bad in ["bad!id", "bad%20id", "caf%C3%A9", "a.b", &"x".repeat(65)] {
        assert_error(app.start(bad).await, 400, "invalid_camera_id").await;
    }
    app.assert_still_serving().await;
}

#[tokio::test]
async fn every_camera_route_rejects_a_malformed_camera_id() {
    let app = spawn_app().await;
    assert_error(app.get("/streams/bad!id").await, 400, "invalid_camera_id").await;
    assert_error(app.stop("bad!id").await, 400, "invalid_camera_id").await;
    assert_error(app.get("/viewers/bad!id").await, 400, "invalid_camera_id").await;
    assert_error(app.post("/cameras/bad!id/keepalive").await, 400, "invalid_camera_id").await;
    app.assert_still_serving().await;
}

#[tokio::test]
async fn start_returns_400_for_malformed_json() {
    let app = spawn_app().await;
    for bad in ["{", "{\"max_bandwidth\": }", "nonsense", "{\"a\":1}}"] {
        assert_error(app.post_raw("/streams/cam/start", Some("application/json"), bad).await, 400, "invalid_json")
            .await;
    }
    app.assert_still_serving().await;
}

#[tokio::test]
async fn start_returns_422_for_json_of_the_wrong_shape() {
    let app = spawn_app().await;
    for bad in [
        json!({"max_bandwidth": "lots"}),
        json!({"max_bandwidth": -5}),
        json!({"max_bandwidth": 1.5}),
        json!({"max_bandwith": 3000}),
        json!([3000, 300]),
        json!({"max_bandwidth": 0}),
        json!({"max_bandwidth": 100_001}),
        json!({"max_bandwidth": 500, "min_bandwidth": 600}),
    ] {
        assert_error(app.post_json("/streams/cam/start", &bad).await, 422, "invalid_body").await;
    }
    app.assert_still_serving().await;
}

#[tokio::test]
async fn start_returns_415_for_a_body_that_is_not_json() {
    let app = spawn_app().await;
    assert_error(app.post_raw("/streams/cam/start", Some("text/plain"), "{}").await, 415, "unsupported_media_type")
        .await;
    assert_error(
        app.post_raw("/streams/cam/start", Some("application/x-www-form-urlencoded"), "max_bandwidth=1").await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(app.post_raw("/streams/cam/start", None, "{}").await, 415, "unsupported_media_type").await;
    app.assert_still_serving().await;
}

#[tokio::test]
async fn start_returns_413_for_a_body_over_16_kib() {
    let app = spawn_app().await;
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(17 * 1024));
    assert_error(
        app.post_raw("/streams/cam/start", Some("application/json"), big.clone()).await,
        413,
        "payload_too_large",
    )
    .await;
    assert_error(app.post_raw("/cameras/cam/keepalive", Some("application/json"), big).await, 413, "payload_too_large")
        .await;
    app.assert_still_serving().await;
}

#[tokio::test]
async fn an_unknown_route_returns_404_not_found_json() {
    let app = spawn_app().await;
    assert_error(app.get("/nope").await, 404, "not_found").await;
    assert_error(app.get("/streams/cam/elsewhere").await, 404, "not_found").await;
    assert_error(app.get("/static/missing.js").await, 404, "not_found").await;
    assert_error(app.get("/static/../Cargo.toml").await, 404, "not_found").await;
    app.assert_still_serving().await;
}

#[tokio::test]
async fn a_wrong_method_on_a_known_route_returns_405_json() {
    let app = spawn_app().await;
    assert_error(app.request(Method::DELETE, "/streams").await, 405, "method_not_allowed").await;
    assert_error(app.get("/streams/cam/start").await, 405, "method_not_allowed").await;
    assert_error(app.request(Method::PUT, "/health").await, 405, "method_not_allowed").await;
    assert_error(app.get("/cameras/cam/keepalive").await, 405, "method_not_allowed").await;
    app.assert_still_serving().await;
}
