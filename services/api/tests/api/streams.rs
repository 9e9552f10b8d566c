use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{assert_error, ok_json, spawn_app, spawn_app_with, Options};
use crate::responder::RTP_HOST;

const CAMERA: &str = "56C1CADCF1FA4C6CAEBA3E2FD85EFEBF";

#[tokio::test]
async fn the_original_curl_flow_starts_lists_and_stops_a_stream() {
    let app = spawn_app().await;

    let started = ok_json(app.start(CAMERA).await).await;
    assert_eq!(started["camera_id"], CAMERA);
    assert_eq!(started["state"], "waiting_for_media");
    assert_eq!(started["rtp"]["host"], RTP_HOST);
    assert_eq!(started["rtp"]["codec"], "H264");
    assert_eq!(started["max_bandwidth"], 3000);
    assert_eq!(started["min_bandwidth"], 300);
    assert_eq!(started["viewers"], 0);

    let list = ok_json(app.get("/streams").await).await;
    assert_eq!(list["count"], 1);
    assert_eq!(list["streams"][0]["camera_id"], CAMERA);

    let one = ok_json(app.get(&format!("/streams/{CAMERA}")).await).await;
    assert_eq!(one, started);

    let stopped = ok_json(app.stop(CAMERA).await).await;
    assert_eq!(stopped, json!({"camera_id": CAMERA, "stopped": true, "viewers_released": 0}));

    let list = ok_json(app.get("/streams").await).await;
    assert_eq!(list, json!({"streams": [], "count": 0}));
    assert_error(app.get(&format!("/streams/{CAMERA}")).await, 404, "stream_not_found").await;
}

#[tokio::test]
async fn start_is_idempotent_and_returns_the_stream_unchanged() {
    let app = spawn_app().await;
    let first = ok_json(app.start("cam1").await).await;
    let second = ok_json(app.post_json("/streams/cam1/start", &json!({"max_bandwidth": 1000})).await).await;
    assert_eq!(first, second);
    assert_eq!(ok_json(app.get("/streams").await).await["count"], 1);
}

#[tokio::test]
async fn start_passes_the_requested_bandwidth_to_the_controller() {
    let app = spawn_app().await;
    let started =
        ok_json(app.post_json("/streams/cam2/start", &json!({"max_bandwidth": 1500, "min_bandwidth": 500})).await)
            .await;
    assert_eq!(started["max_bandwidth"], 1500);
    assert_eq!(started["min_bandwidth"], 500);
}

#[tokio::test]
async fn start_accepts_an_empty_body_with_or_without_a_content_type() {
    let app = spawn_app().await;
    assert_eq!(app.post_raw("/streams/a/start", Some("application/json"), "").await.status(), 200);
    assert_eq!(app.post_raw("/streams/b/start", None, "").await.status(), 200);
    assert_eq!(app.post_raw("/streams/c/start", Some("application/x-www-form-urlencoded"), "").await.status(), 200);
    assert_eq!(app.post_json("/streams/d/start", &json!({})).await.status(), 200);
}

#[tokio::test]
async fn stop_of_an_unknown_stream_returns_404() {
    let app = spawn_app().await;
    let body = assert_error(app.stop("never-started").await, 404, "stream_not_found").await;
    assert!(body["message"].as_str().unwrap().contains("never-started"), "{body}");
}

#[tokio::test]
async fn stop_maps_the_controllers_stream_not_found_to_404() {
    let app = spawn_app().await;
    // In the registry, but unknown to the controller (the responder disowns "ghost-" ids).
    app.registry.put_stream(&crate::responder::sample_stream("ghost-1")).await.unwrap();
    assert_error(app.stop("ghost-1").await, 404, "stream_not_found").await;
}

#[tokio::test]
async fn start_returns_503_within_the_timeout_when_no_controller_answers() {
    let app = spawn_app_with(Options { responder: false, bus_timeout_ms: 300, ..Default::default() }).await;
    let began = Instant::now();
    let body = assert_error(app.start(CAMERA).await, 503, "controller_unavailable").await;
    let took = began.elapsed();
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(body["message"], "the media-controller did not answer within 300 ms");
    app.assert_still_serving().await;
}

#[tokio::test]
async fn stop_returns_503_within_the_timeout_when_no_controller_answers() {
    let app = spawn_app_with(Options { responder: false, bus_timeout_ms: 300, ..Default::default() }).await;
    // Put a stream in the registry by hand so the stop reaches the bus.
    let record = crate::responder::sample_stream("orphan");
    app.registry.put_stream(&record).await.unwrap();
    let began = Instant::now();
    assert_error(app.stop("orphan").await, 503, "controller_unavailable").await;
    assert!(began.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn get_stream_of_an_unknown_camera_returns_404() {
    let app = spawn_app().await;
    assert_error(app.get("/streams/nobody").await, 404, "stream_not_found").await;
}

#[tokio::test]
async fn start_carries_the_callers_trace_into_the_bus_command() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/streams/traced/start", app.address))
        .bearer_auth(app.admin_token())
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-trace-id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    ok_json(response).await;
    let seen = app.responder.as_ref().unwrap().seen.lock().unwrap().clone();
    let traceparent = seen.last().and_then(|e| e.traceparent.clone()).expect("a traceparent on the command");
    assert!(traceparent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"), "{traceparent}");
    assert_ne!(traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a new span id");
}

#[tokio::test]
async fn start_with_an_rtsp_source_sends_it_whole_to_the_controller_and_shows_it_only_redacted() {
    let app = spawn_app().await;
    let url = "rtsp://admin:hunter2@192.0.2.7:554/Streaming/101";
    let redacted = "rtsp://admin:***@192.0.2.7:554/Streaming/101";
    let response = app.post_json("/streams/cam-rtsp/start", &json!({"source": url})).await;
    let started = ok_json(response).await;
    assert_eq!(started["source"], redacted);
    let seen = app.responder.as_ref().unwrap().seen.lock().unwrap().clone();
    let sent = seen.iter().find_map(|e| match &e.message {
        camview_proto::bus::Message::StartStream(s) => s.source.clone(),
        _ => None,
    });
    assert_eq!(sent.expect("a source in the command").expose(), url, "the controller gets the full URL");
    let one = ok_json(app.get("/streams/cam-rtsp").await).await;
    let list = ok_json(app.get("/streams").await).await;
    assert_eq!((&one["source"], &list["streams"][0]["source"]), (&json!(redacted), &json!(redacted)));
    for body in [started.to_string(), one.to_string(), list.to_string()] {
        assert!(!body.contains("hunter2"), "a view shows the password: {body}");
    }
    let plain = ok_json(app.start("cam-pushed").await).await;
    assert!(plain.get("source").is_none(), "a pushed camera has no source: {plain}");
}

#[tokio::test]
async fn start_refuses_a_source_that_is_not_an_rtsp_url_with_a_clear_400_and_asks_nothing() {
    let app = spawn_app().await;
    for bad in ["http://cam/x", "file:///etc/passwd", "rtsp://", "rtsp://u:p@/x", "rtsp://cam/a b"] {
        let body =
            assert_error(app.post_json("/streams/cam-bad/start", &json!({"source": bad})).await, 400, "invalid_source")
                .await;
        assert!(body["message"].as_str().unwrap().starts_with("invalid source: "), "{body}");
        assert!(!body["message"].as_str().unwrap().contains("u:p"), "{body}");
    }
    assert_error(app.post_json("/streams/cam-bad/start", &json!({"source": 7})).await, 422, "invalid_body").await;
    assert!(app.responder.as_ref().unwrap().seen.lock().unwrap().is_empty(), "no command reached the controller");
}
