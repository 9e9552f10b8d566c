//! `GET /config.js`: the server's defaults for the viewer pages from `PUBLIC_API_URL` and
//! `PUBLIC_SIGNALING_URL`, and the pages that load it.

use std::collections::HashMap;

use camview_api::Settings;

use crate::helpers::{spawn_app, spawn_app_with, Options, TestApp};

/// The line the server writes for `PUBLIC_API_URL=/` and `PUBLIC_SIGNALING_URL=/ws`;
/// e2e/tests/viewer-logic.test.js runs this same line against `deriveConfig`.
const ONE_HOST_LINE: &str =
    r#"window.CAMVIEW_CONFIG = Object.assign({"apiUrl":"/","signalingUrl":"/ws"}, window.CAMVIEW_CONFIG || {});"#;

/// Asserts the headers of a `/config.js` answer and returns its body.
async fn config_js(app: &TestApp) -> String {
    let response = app.get("/config.js").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(response.headers()["cache-control"], "no-cache");
    response.text().await.expect("read /config.js")
}

/// The JSON object the script merges under the page's config.
fn defaults(body: &str) -> serde_json::Value {
    let start = body.find("Object.assign(").expect("an Object.assign call") + "Object.assign(".len();
    let end = body.find(", window.CAMVIEW_CONFIG || {});").expect("the page config as the second argument");
    serde_json::from_str(&body[start..end]).expect("the defaults are JSON")
}

#[tokio::test]
async fn config_js_without_public_urls_answers_200_with_a_no_op_assignment() {
    let app = spawn_app().await;
    let body = config_js(&app).await;
    assert!(body.contains("window.CAMVIEW_CONFIG = Object.assign({}, window.CAMVIEW_CONFIG || {});"), "{body}");
}

#[tokio::test]
async fn config_js_puts_public_urls_under_the_page_config() {
    let app = spawn_app_with(Options {
        env: vec![("PUBLIC_API_URL", "/".into()), ("PUBLIC_SIGNALING_URL", "/ws".into())],
        ..Default::default()
    })
    .await;
    let body = config_js(&app).await;
    assert!(body.lines().any(|l| l == ONE_HOST_LINE), "{body}");
}

#[tokio::test]
async fn config_js_serves_an_absolute_signaling_url_alone() {
    let app = spawn_app_with(Options {
        env: vec![("PUBLIC_SIGNALING_URL", "wss://sig.example:443/ws".into())],
        ..Default::default()
    })
    .await;
    let body = config_js(&app).await;
    assert_eq!(defaults(&body), serde_json::json!({"signalingUrl": "wss://sig.example:443/ws"}));
}

#[tokio::test]
async fn config_js_escapes_what_could_end_the_script_and_keeps_the_value() {
    let value = "wss://cams.example/ws?x=</script><script>alert(1)</script><!--&y='\"";
    let app = spawn_app_with(Options { env: vec![("PUBLIC_SIGNALING_URL", value.into())], ..Default::default() }).await;
    let body = config_js(&app).await;
    let code = body.lines().find(|l| l.starts_with("window.CAMVIEW_CONFIG")).expect("the assignment");
    for bad in ["<", ">", "&"] {
        assert!(!code.contains(bad), "{bad} in {code}");
    }
    assert_eq!(defaults(&body), serde_json::json!({ "signalingUrl": value }));
}

#[test]
fn bad_public_urls_are_refused_at_start_naming_the_variable() {
    for (name, value) in [
        ("PUBLIC_API_URL", "cams.example"),
        ("PUBLIC_API_URL", "wss://cams.example/"),
        ("PUBLIC_API_URL", "/api?x=1"),
        ("PUBLIC_API_URL", "https://"),
        ("PUBLIC_SIGNALING_URL", "ws"),
        ("PUBLIC_SIGNALING_URL", "//other.example/ws"),
        ("PUBLIC_SIGNALING_URL", "ftp://cams.example/ws"),
        ("PUBLIC_SIGNALING_URL", "wss://cams.example:99999/ws"),
        ("PUBLIC_SIGNALING_URL", "wss://user:secret@cams.example/ws"),
        ("PUBLIC_SIGNALING_URL", "/ws#frag"),
        ("PUBLIC_SIGNALING_URL", "/w s"),
        ("PUBLIC_SIGNALING_URL", "/ws\u{2028}x"),
    ] {
        let env = HashMap::from([(name.to_owned(), value.to_owned())]);
        let err = Settings::from_source(&env).expect_err(value);
        assert_eq!(err.name, name, "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[tokio::test]
async fn every_page_loads_config_js_before_its_own_scripts() {
    let app = spawn_app().await;
    for path in ["/", "/viewer", "/static/grid.html"] {
        let html = app.page(path).await.text().await.expect("read page");
        let config = html
            .find(r#"<script src="/config.js"></script>"#)
            .unwrap_or_else(|| panic!("{path} does not load /config.js"));
        let core = html
            .find(r#"<script src="/static/viewer-core.js"></script>"#)
            .unwrap_or_else(|| panic!("{path} does not load viewer-core.js"));
        assert!(config < core, "{path} loads /config.js after its scripts");
    }
}
