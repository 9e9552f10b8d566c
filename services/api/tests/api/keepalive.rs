use camview_proto::bus::Message;
use camview_proto::CameraId;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{ok_json, spawn_app, spawn_app_with, Options};
use crate::responder::RTP_HOST;

#[tokio::test]
async fn keepalive_answers_null_rtp_for_a_camera_without_a_stream() {
    let app = spawn_app().await;
    let answer = ok_json(app.post("/cameras/cam9/keepalive").await).await;
    assert_eq!(answer, json!({"rtp": null, "keepalive_interval_seconds": 5}));
}

#[tokio::test]
async fn keepalives_for_unknown_camera_ids_store_nothing_so_statuses_stay_bounded() {
    let app = spawn_app().await;
    for i in 0..20 {
        ok_json(app.post(&format!("/cameras/flood{i}/keepalive")).await).await;
    }
    for i in 0..20 {
        assert!(
            app.registry.get_camera_status(&CameraId::parse(&format!("flood{i}")).unwrap()).await.unwrap().is_none(),
            "flood{i} left a status behind"
        );
    }
    // A known camera (started stream) is remembered.
    ok_json(app.start("known").await).await;
    ok_json(app.post("/cameras/known/keepalive").await).await;
    assert!(app.registry.get_camera_status(&CameraId::from_static("known")).await.unwrap().is_some());
}

#[tokio::test]
async fn keepalive_returns_the_target_after_start_and_null_after_stop() {
    let app = spawn_app().await;
    let stream = ok_json(app.post_json("/streams/cam1/start", &json!({"max_bandwidth": 2000})).await).await;

    let answer = ok_json(app.post_json("/cameras/cam1/keepalive", &json!({"stats": {"sending": false}})).await).await;
    assert_eq!(
        answer["rtp"],
        json!({"host": RTP_HOST, "port": stream["rtp"]["port"], "codec": "H264", "payload_type": 96, "max_bandwidth": 2000})
    );
    assert_eq!(answer["keepalive_interval_seconds"], 5);

    ok_json(app.stop("cam1").await).await;
    let answer = ok_json(app.post("/cameras/cam1/keepalive").await).await;
    assert_eq!(answer["rtp"], json!(null));
}

#[tokio::test]
async fn keepalive_stats_show_in_the_stream() {
    let app = spawn_app().await;
    ok_json(app.start("cam2").await).await;
    let stats = json!({"sending": true, "packets_sent": 1200, "bytes_sent": 1_500_000, "frames_sent": 300, "bitrate_kbps": 1850.5, "target": "192.0.2.10:40000"});
    ok_json(app.post_json("/cameras/cam2/keepalive", &json!({ "stats": stats })).await).await;

    let stream = ok_json(app.get("/streams/cam2").await).await;
    assert_eq!(stream["camera"]["stats"], stats);
    let last_seen = stream["camera"]["last_seen"].as_str().expect("last_seen");
    assert!(camview_common::clock::parse_rfc3339(last_seen).is_some(), "{last_seen}");
    let list = ok_json(app.get("/streams").await).await;
    assert_eq!(list["streams"][0]["camera"]["stats"], stats);
}

#[tokio::test]
async fn keepalive_interval_comes_from_the_configuration() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        env: vec![("CAMERA_KEEPALIVE_SECONDS", "9".into())],
        ..Default::default()
    })
    .await;
    let answer = ok_json(app.post("/cameras/cam/keepalive").await).await;
    assert_eq!(answer["keepalive_interval_seconds"], 9);
}

#[tokio::test]
async fn a_camera_status_is_forgotten_after_camera_status_ttl_seconds_without_keepalive() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        env: vec![("CAMERA_KEEPALIVE_SECONDS", "1".into()), ("CAMERA_STATUS_TTL_SECONDS", "2".into())],
        ..Default::default()
    })
    .await;
    ok_json(app.start("cam3").await).await;
    ok_json(app.post("/cameras/cam3/keepalive").await).await;
    let stream = ok_json(app.get("/streams/cam3").await).await;
    assert!(stream["camera"]["last_seen"].is_string(), "{stream}");

    camview_common::testing::wait_until(std::time::Duration::from_secs(10), "the camera status expires", || async {
        let stream = ok_json(app.get("/streams/cam3").await).await;
        stream["camera"].is_null()
    })
    .await;
}

#[tokio::test]
async fn a_keepalive_from_a_new_camera_address_asks_the_controller_once_and_answers_the_relatched_port() {
    let app =
        spawn_app_with(Options { env: vec![("TRUSTED_PROXIES", "127.0.0.1".into())], ..Default::default() }).await;
    let started = ok_json(app.start("camx").await).await;
    let from =
        |ip: &'static str| app.anon(Method::POST, "/cameras/camx/keepalive").header("x-forwarded-for", ip).send();
    let seen_commands = || {
        app.responder
            .as_ref()
            .unwrap()
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| matches!(e.message, Message::CameraSeen(_)))
            .count()
    };

    let first: Value = from("192.168.1.20").await.unwrap().json().await.unwrap();
    assert_eq!(first["rtp"]["port"], started["rtp"]["port"], "the first address is recorded, the port kept");
    let again: Value = from("192.168.1.20").await.unwrap().json().await.unwrap();
    assert_eq!(again["rtp"]["port"], started["rtp"]["port"]);
    assert_eq!(seen_commands(), 1, "a keepalive from the known address does not bother the controller");

    let moved: Value = from("192.168.1.21").await.unwrap().json().await.unwrap();
    assert_ne!(moved["rtp"]["port"], started["rtp"]["port"], "the moved camera is told its new port at once");
    assert_eq!(seen_commands(), 2);
    let stream = ok_json(app.get("/streams/camx").await).await;
    assert_eq!(stream["rtp"]["port"], moved["rtp"]["port"]);
    assert!(stream.get("camera_source").is_none(), "the camera's address stays internal: {stream}");
}
