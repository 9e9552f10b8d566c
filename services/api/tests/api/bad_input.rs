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

/// Random requests against every route shape a client can reach: any method, camera ids and
/// path segments from the odd to the hostile, bodies of any text or of JSON near the real
/// shapes, as an anonymous caller and as the admin. Not one answer is a 5xx (the responder
/// plays the controller, so nothing is legitimately unavailable), every error is a JSON body
/// with a `code`, and the server still serves afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_random_request_gets_a_5xx_or_an_error_without_a_json_code() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let app = spawn_app().await;
    let segment = prop_oneof![
        Just("cam1".to_owned()),
        "[A-Za-z0-9_-]{1,70}",
        "[ -~]{0,20}".prop_map(|s| urlencoding(&s)),
        Just("..".to_owned()),
        Just("%00".to_owned()),
    ];
    let route = (segment.clone(), segment).prop_flat_map(|(a, b)| {
        prop_oneof![
            Just(format!("/streams/{a}/start")),
            Just(format!("/streams/{a}/stop")),
            Just(format!("/streams/{a}")),
            Just(format!("/viewers/{a}")),
            Just(format!("/cameras/{a}/keepalive")),
            Just(format!("/cameras/{a}/shares")),
            Just(format!("/cameras/{a}/secret")),
            Just(format!("/users/{a}/password")),
            Just(format!("/users/{a}/grants")),
            Just(format!("/shares/{b}")),
            Just("/auth/login".to_owned()),
            Just("/auth/link".to_owned()),
            Just("/auth/share".to_owned()),
            Just("/users".to_owned()),
        ]
    });
    let json_value = prop_oneof![
        Just(json!(null)),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,30}".prop_map(|s| json!(s)),
        Just(json!([])),
        Just(json!({})),
        Just(json!(u64::MAX)),
        Just(json!(-1)),
    ];
    let field = prop_oneof![
        Just("username"),
        Just("password"),
        Just("code"),
        Just("token"),
        Just("role"),
        Just("grants"),
        Just("max_bandwidth"),
        Just("min_bandwidth"),
        Just("stats"),
        Just("ttl_seconds"),
        Just("camera")
    ];
    let body = prop_oneof![
        Just(None),
        any::<String>().prop_map(Some),
        prop::collection::vec((field, json_value), 0..5).prop_map(|fields| {
            let mut v = json!({});
            for (k, val) in fields {
                v[k] = val;
            }
            Some(v.to_string())
        }),
    ];
    let method = prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::DELETE),
        Just(Method::PATCH)
    ];
    let case = (method, route, body, any::<bool>());
    let mut runner = TestRunner::deterministic();
    for _ in 0..300 {
        let (method, path, body, as_admin) = case.new_tree(&mut runner).expect("a case").current();
        let mut request =
            if as_admin { app.as_user(&app.admin, method.clone(), &path) } else { app.anon(method.clone(), &path) };
        if let Some(body) = &body {
            request = request.header("content-type", "application/json").body(body.clone());
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.as_u16() < 500, "{method} {path} {body:?} (admin: {as_admin}) answered {status}: {text}");
        if status.is_client_error() {
            let v: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {path}: {status} without a JSON body: {text}"));
            assert!(v["code"].is_string(), "{method} {path}: {status} without a code: {text}");
        }
    }
    app.assert_still_serving().await;
}

/// Percent-encodes everything but unreserved characters, so any text can be a path segment.
fn urlencoding(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
