//! ICE servers, the viewer pages and CORS.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{ok_json, spawn_app, spawn_app_with, Options};

#[tokio::test]
async fn ice_servers_lists_the_stun_servers_as_one_entry() {
    let app = spawn_app().await;
    let body = ok_json(app.get("/ice-servers").await).await;
    assert_eq!(body, json!({"iceServers": [{"urls": ["stun:stun.test:3478"]}]}));
}

#[tokio::test]
async fn ice_servers_adds_ephemeral_turn_credentials_when_turn_is_configured() {
    let app = spawn_app_with(Options {
        env: vec![
            ("TURN_URLS", "turn:turn.test:3478?transport=udp,turns:turn.test:5349".into()),
            ("TURN_SECRET", "north-sea-secret".into()),
            ("TURN_CREDENTIAL_TTL_SECONDS", "3600".into()),
        ],
        ..Default::default()
    })
    .await;
    let response = app.get("/ice-servers").await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body = ok_json(response).await;
    let turn = &body["iceServers"][1];
    assert_eq!(turn["urls"], json!(["turn:turn.test:3478?transport=udp", "turns:turn.test:5349"]));
    let username = turn["username"].as_str().unwrap();
    let (expiry, user) = username.split_once(':').unwrap();
    assert_eq!(user, "camview");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let expiry: i64 = expiry.parse().unwrap();
    assert!((expiry - now - 3600).abs() < 60, "expiry {expiry}, now {now}");
    let (_, expected) = camview_api::ice::turn_credentials("north-sea-secret", expiry);
    assert_eq!(turn["credential"], expected);
}

#[tokio::test]
async fn the_pages_are_served_from_the_embedded_static_folder() {
    let app = spawn_app().await;
    for path in ["/", "/viewer", "/viewer?camera=cam1", "/static/viewer.html", "/static/index.html", "/login", "/share"]
    {
        let response = app.page(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        assert!(response.text().await.unwrap().contains("camview"), "{path}");
    }
}

#[tokio::test]
async fn static_dir_overrides_the_embedded_pages() {
    let dir = std::env::temp_dir().join(format!("camview-static-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("viewer.html"), "<p>from disk</p>").unwrap();
    std::fs::write(dir.join("js/app.js"), "console.log(1)").unwrap();
    let app =
        spawn_app_with(Options { env: vec![("STATIC_DIR", dir.display().to_string())], ..Default::default() }).await;
    assert_eq!(app.page("/viewer").await.text().await.unwrap(), "<p>from disk</p>");
    let js = app.get("/static/js/app.js").await;
    assert_eq!(js.headers()["content-type"], "text/javascript");
    assert_eq!(app.page("/").await.status(), 404, "index.html is not in the override folder");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn cors_answers_listed_origins_with_credentials_and_never_a_wildcard() {
    let app = spawn_app_with(Options {
        env: vec![("CORS_ALLOWED_ORIGINS", "http://viewer.example:8080".into())],
        ..Default::default()
    })
    .await;
    let response =
        app.as_admin(Method::GET, "/streams").header("Origin", "http://viewer.example:8080").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "http://viewer.example:8080");
    assert_eq!(response.headers()["access-control-allow-credentials"], "true");

    let preflight = app
        .anon(Method::OPTIONS, "/streams/cam/start")
        .header("Origin", "http://viewer.example:8080")
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "content-type, authorization")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    let methods = preflight.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    assert!(methods.contains("POST") && methods.contains("GET"), "{methods}");

    let foreign =
        app.as_admin(Method::GET, "/streams").header("Origin", "http://elsewhere.example").send().await.unwrap();
    assert!(foreign.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn without_an_allow_list_no_cors_header_is_sent() {
    let app = spawn_app().await;
    let response =
        app.as_admin(Method::GET, "/streams").header("Origin", "http://viewer.example:8080").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().keys().all(|k| !k.as_str().starts_with("access-control-")), "{:?}", response.headers());
}

/// The value of one series in Prometheus text, 0 when absent.
fn series(text: &str, name_and_labels: &str) -> f64 {
    camview_common::testing::series(text, name_and_labels).unwrap_or(0.0)
}

async fn metrics_text(app: &crate::helpers::TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    response.text().await.unwrap()
}

// Tests of this binary share one process registry and run in parallel: they compare series
// before and after, and expect at least their own increments.
#[tokio::test]
async fn metrics_count_requests_by_route_errors_by_code_and_controller_outcomes() {
    let app = spawn_app().await;
    let watched = [
        r#"camview_http_requests_total{method="GET",route="/streams/{camera_id}",status="200"}"#,
        r#"camview_http_requests_total{method="GET",route="/streams/{camera_id}",status="404"}"#,
        r#"camview_http_request_duration_seconds_count{method="GET",route="/streams/{camera_id}"}"#,
        r#"camview_controller_requests_total{command="StartStream",outcome="ok"}"#,
        r#"camview_errors_total{code="stream_not_found"}"#,
        r#"camview_bus_lag_seconds_count{kind="StreamStarted"}"#,
    ];
    let before = metrics_text(&app).await;
    ok_json(app.start("cam1").await).await;
    app.get("/streams/cam1").await;
    app.get("/streams/cam2").await;
    let text = metrics_text(&app).await;
    for (name, least) in watched.iter().zip([1.0, 1.0, 2.0, 1.0, 1.0, 1.0]) {
        let grew = series(&text, name) - series(&before, name);
        assert!(grew >= least, "{name} grew by {grew}, expected at least {least}\n{text}");
    }
    assert!(!text.contains("cam1"), "camera ids never become labels");
}
