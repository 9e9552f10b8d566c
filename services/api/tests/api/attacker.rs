//! The attacker's suite: what an outsider (or a viewer reaching too far) tries, each test
//! named for the property it proves.

use base64::Engine;
use camview_common::auth::{Claims, TokenKeys, TokenKind};
use camview_common::testing::PROTECTED_ROUTES as PROTECTED;
use camview_proto::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, ok_json, spawn_app, spawn_app_with, Options, TestApp};

/// Admin-only routes a viewer must be refused.
const ADMIN_ONLY: &[(&str, &str)] = &[
    ("POST", "/streams/cam1/start"),
    ("POST", "/streams/cam1/stop"),
    ("GET", "/viewers"),
    ("GET", "/viewers/cam1"),
    ("GET", "/users"),
    ("POST", "/users"),
    ("DELETE", "/users/admin"),
    ("PUT", "/users/admin/grants"),
    ("POST", "/cameras/cam1/shares"),
    ("GET", "/cameras/cam1/shares"),
    ("DELETE", "/shares/abc"),
    ("POST", "/cameras/cam1/secret"),
    ("DELETE", "/cameras/cam1/secret"),
];

fn method(m: &str) -> Method {
    m.parse().expect("a method")
}

/// Each protected route answers 401 `unauthorized` to `token` (None: no credentials).
async fn assert_all_refused(app: &TestApp, token: Option<&str>, why: &str) {
    for (m, path) in PROTECTED {
        let req = match token {
            Some(t) => app.as_user(t, method(m), path),
            None => app.anon(method(m), path),
        };
        let response = req.send().await.unwrap();
        assert_eq!(response.status(), 401, "{m} {path} {why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["code"], "unauthorized", "{m} {path} {why}: {body}");
    }
}

/// A token signed with `key` for `sub`, expiring `exp_from_now` seconds from now.
fn forge(key: &[u8], sub: &str, role: Role, exp_from_now: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    TokenKeys::from_secret(key).sign(&Claims {
        iss: "camview".into(),
        sub: sub.into(),
        kind: TokenKind::Session,
        role,
        grants: vec!["*".into()],
        ver: 0,
        iat: (now - 7200) as u64,
        exp: (now + exp_from_now) as u64,
        jti: "forged".into(),
    })
}

#[tokio::test]
async fn every_protected_route_answers_401_without_credentials() {
    let app = spawn_app().await;
    assert_all_refused(&app, None, "without credentials").await;
}

#[tokio::test]
async fn an_expired_token_is_refused_everywhere() {
    let app = spawn_app().await;
    let key = app.store.signing_key().await.unwrap();
    let expired = forge(&key, "admin", Role::Admin, -3600);
    assert_all_refused(&app, Some(&expired), "with an expired token").await;
    assert!(
        app.as_user(&forge(&key, "admin", Role::Admin, 3600), Method::GET, "/users")
            .send()
            .await
            .unwrap()
            .status()
            .is_success(),
        "the same token unexpired works: the forge is right"
    );
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let app = spawn_app().await;
    let other = forge(b"an-attackers-own-key-of-at-least-32-bytes", "admin", Role::Admin, 3600);
    assert_all_refused(&app, Some(&other), "signed with another key").await;
}

#[tokio::test]
async fn a_token_with_alg_none_is_refused() {
    let app = spawn_app().await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({"iss": "camview", "sub": "admin", "kind": "session", "role": "admin", "grants": ["*"], "ver": 0, "iat": now, "exp": now + 3600, "jti": "x"});
    for token in [
        format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims)),
        format!("{}.{}", b64(&json!({"alg": "none"})), b64(&claims)),
    ] {
        assert_all_refused(&app, Some(&token), "with alg none").await;
    }
}

#[tokio::test]
async fn a_forged_cookie_opens_neither_the_api_nor_the_pages() {
    let app = spawn_app().await;
    let me = app.with_cookie("eyJhbGciOiJIUzI1NiJ9.e30.forged", Method::GET, "/auth/me").send().await.unwrap();
    assert_error(me, 401, "unauthorized").await;
    let page = app.with_cookie("forged", Method::GET, "/viewer?camera=cam1").send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FOUND);
    assert_eq!(page.headers()["location"], "/login?next=%2Fviewer%3Fcamera%3Dcam1");
}

#[tokio::test]
async fn the_pages_redirect_to_the_login_page_without_a_session() {
    let app = spawn_app().await;
    for (path, next) in [("/", "%2F"), ("/viewer?camera=cam1", "%2Fviewer%3Fcamera%3Dcam1")] {
        let response = app.anon(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FOUND, "{path}");
        assert_eq!(response.headers()["location"], format!("/login?next={next}"), "{path}");
    }
    for public in ["/login", "/share", "/config.js", "/static/viewer-core.js"] {
        assert_eq!(app.anon(Method::GET, public).send().await.unwrap().status(), 200, "{public} is public");
    }
}

#[tokio::test]
async fn a_viewer_token_is_refused_for_another_camera_and_for_admin_routes() {
    let app = spawn_app().await;
    ok_json(app.start("camA").await).await;
    ok_json(app.start("camB").await).await;
    let viewer = app.viewer("ann", &["camA"]).await;
    assert_eq!(app.as_user(&viewer, Method::GET, "/streams/camA").send().await.unwrap().status(), 200);
    assert_error(app.as_user(&viewer, Method::GET, "/streams/camB").send().await.unwrap(), 403, "forbidden").await;
    assert_error(app.as_user(&viewer, Method::GET, "/streams/never-started").send().await.unwrap(), 403, "forbidden")
        .await;
    for (m, path) in ADMIN_ONLY {
        let response = app.as_user(&viewer, method(m), path).send().await.unwrap();
        assert_eq!(response.status(), 403, "{m} {path}");
    }
    assert_eq!(ok_json(app.get("/streams").await).await["count"], 2, "nothing was stopped");
}

#[tokio::test]
async fn a_revoked_share_stops_working_at_once() {
    let app = spawn_app().await;
    ok_json(app.start("cam1").await).await;
    let created = app.as_admin(Method::POST, "/cameras/cam1/shares").send().await.unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let token = created["token"].as_str().unwrap();
    assert_eq!(app.as_user(token, Method::GET, "/streams/cam1").send().await.unwrap().status(), 200);
    let id = created["share"]["id"].as_str().unwrap();
    assert_eq!(app.as_admin(Method::DELETE, &format!("/shares/{id}")).send().await.unwrap().status(), 204);
    assert_error(app.as_user(token, Method::GET, "/streams/cam1").send().await.unwrap(), 401, "unauthorized").await;
    let exchange = app.anon(Method::POST, "/auth/share").json(&json!({"token": token})).send().await.unwrap();
    assert_error(exchange, 401, "unauthorized").await;
    assert_error(app.as_admin(Method::DELETE, "/shares/no-such-share").send().await.unwrap(), 404, "share_not_found")
        .await;
}

#[tokio::test]
async fn a_deleted_users_token_stops_working() {
    let app = spawn_app().await;
    let token = app.viewer("bob", &["*"]).await;
    assert_eq!(app.as_user(&token, Method::GET, "/auth/me").send().await.unwrap().status(), 200);
    assert_eq!(app.as_admin(Method::DELETE, "/users/bob").send().await.unwrap().status(), 204);
    assert_error(app.as_user(&token, Method::GET, "/streams").send().await.unwrap(), 401, "unauthorized").await;
    assert_error(app.as_admin(Method::DELETE, "/users/bob").send().await.unwrap(), 404, "user_not_found").await;
    assert_error(app.as_admin(Method::DELETE, "/users/admin").send().await.unwrap(), 403, "forbidden").await;
}

#[tokio::test]
async fn a_password_change_ends_the_old_token() {
    let app = spawn_app().await;
    let old = app.viewer("cid", &["*"]).await;
    let other = app.viewer("dee", &["*"]).await;
    let refused = app
        .as_user(&other, Method::PUT, "/users/cid/password")
        .json(&json!({"password": "taken-over-now"}))
        .send()
        .await
        .unwrap();
    assert_error(refused, 403, "forbidden").await;
    let changed = app
        .as_user(&old, Method::PUT, "/users/cid/password")
        .json(&json!({"password": "a-brand-new-password"}))
        .send()
        .await
        .unwrap();
    let fresh = ok_json(changed).await["token"].as_str().unwrap().to_owned();
    assert_error(app.as_user(&old, Method::GET, "/auth/me").send().await.unwrap(), 401, "unauthorized").await;
    assert_eq!(app.as_user(&fresh, Method::GET, "/auth/me").send().await.unwrap().status(), 200);
    app.login("cid", "a-brand-new-password").await;
}

#[tokio::test]
async fn a_login_brute_force_is_answered_429_with_retry_after() {
    let app = spawn_app().await;
    let attempt = |password: &'static str| {
        app.anon(Method::POST, "/auth/login").json(&json!({"username": "admin", "password": password})).send()
    };
    for _ in 0..5 {
        assert_error(attempt("guess-guess").await.unwrap(), 401, "unauthorized").await;
    }
    // The sixth failure starts the back-off; from then on even the right password waits.
    assert_error(attempt("guess-guess").await.unwrap(), 401, "unauthorized").await;
    let limited = attempt("admin-test-password").await.unwrap();
    let retry: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_error(limited, 429, "too_many_requests").await;
}

#[tokio::test]
async fn oversized_and_malformed_auth_bodies_are_refused() {
    let app = spawn_app().await;
    let big = format!("{{\"username\": \"admin\", \"password\": \"{}\"}}", "x".repeat(17 * 1024));
    let post = |path: &'static str, body: String| {
        app.anon(Method::POST, path).header("content-type", "application/json").body(body).send()
    };
    for path in ["/auth/login", "/auth/link", "/auth/share"] {
        assert_error(post(path, big.clone()).await.unwrap(), 413, "payload_too_large").await;
        assert_error(post(path, "{".into()).await.unwrap(), 400, "invalid_json").await;
        assert_error(post(path, "[]".into()).await.unwrap(), 422, "invalid_body").await;
        assert_error(post(path, "".into()).await.unwrap(), 422, "invalid_body").await;
    }
    assert_error(
        post("/auth/login", r#"{"username": "admin", "password": "x", "role": "admin"}"#.into()).await.unwrap(),
        422,
        "invalid_body",
    )
    .await;
    assert_error(post("/auth/login", r#"{"username": 1, "password": []}"#.into()).await.unwrap(), 422, "invalid_body")
        .await;
    let form = app
        .anon(Method::POST, "/auth/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("username=admin&password=x")
        .send()
        .await
        .unwrap();
    assert_error(form, 415, "unsupported_media_type").await;
    let users =
        app.as_admin(Method::POST, "/users").header("content-type", "application/json").body(big).send().await.unwrap();
    assert_error(users, 413, "payload_too_large").await;
}

#[tokio::test]
async fn a_keepalive_with_a_wrong_secret_is_refused_even_from_a_trusted_network() {
    let app = spawn_app().await;
    let wrong = app.as_user("not-the-secret", Method::POST, "/cameras/cam1/keepalive").send().await.unwrap();
    assert_error(wrong, 401, "unauthorized").await;
    let secret = ok_json(app.post("/cameras/cam1/secret").await).await["secret"].as_str().unwrap().to_owned();
    let wrong = app.as_user("not-the-secret", Method::POST, "/cameras/cam1/keepalive").send().await.unwrap();
    assert_error(wrong, 401, "unauthorized").await;
    let other_camera = app.as_user(&secret, Method::POST, "/cameras/cam2/keepalive").send().await.unwrap();
    assert_error(other_camera, 401, "unauthorized").await;
    assert_eq!(app.as_user(&secret, Method::POST, "/cameras/cam1/keepalive").send().await.unwrap().status(), 200);
}

/// An app behind a trusted proxy on loopback, so `X-Forwarded-For` sets the client address.
async fn behind_proxy(extra: Vec<(&'static str, String)>) -> TestApp {
    let mut env = vec![("TRUSTED_PROXIES", "127.0.0.1".to_owned())];
    env.extend(extra);
    spawn_app_with(Options { env, ..Default::default() }).await
}

const OUTSIDER: &str = "203.0.113.50";

#[tokio::test]
async fn a_keepalive_without_a_secret_from_an_untrusted_address_is_refused() {
    let app = behind_proxy(vec![]).await;
    let outside =
        app.anon(Method::POST, "/cameras/cam1/keepalive").header("x-forwarded-for", OUTSIDER).send().await.unwrap();
    assert_error(outside, 401, "unauthorized").await;
    let lan = app
        .anon(Method::POST, "/cameras/cam1/keepalive")
        .header("x-forwarded-for", "192.168.1.20")
        .send()
        .await
        .unwrap();
    assert_eq!(lan.status(), 200, "a LAN camera without a secret keeps working");
    let secret = ok_json(app.post("/cameras/cam1/secret").await).await["secret"].as_str().unwrap().to_owned();
    let with_secret = app
        .as_user(&secret, Method::POST, "/cameras/cam1/keepalive")
        .header("x-forwarded-for", OUTSIDER)
        .send()
        .await
        .unwrap();
    assert_eq!(with_secret.status(), 200, "the secret works from anywhere");
    assert_eq!(app.as_admin(Method::DELETE, "/cameras/cam1/secret").send().await.unwrap().status(), 204);
    let revoked = app
        .as_user(&secret, Method::POST, "/cameras/cam1/keepalive")
        .header("x-forwarded-for", OUTSIDER)
        .send()
        .await
        .unwrap();
    assert_error(revoked, 401, "unauthorized").await;
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_an_untrusted_peer() {
    // Without TRUSTED_PROXIES the peer (loopback) is the client, whatever the header says.
    let app = spawn_app().await;
    let response = app.anon(Method::GET, "/metrics").header("x-forwarded-for", OUTSIDER).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn metrics_from_an_untrusted_address_are_refused_unless_admin() {
    let app = behind_proxy(vec![]).await;
    let outside = app.anon(Method::GET, "/metrics").header("x-forwarded-for", OUTSIDER).send().await.unwrap();
    assert_error(outside, 403, "forbidden").await;
    let admin = app.as_admin(Method::GET, "/metrics").header("x-forwarded-for", OUTSIDER).send().await.unwrap();
    assert_eq!(admin.status(), 200);
    let lan = app.anon(Method::GET, "/metrics").header("x-forwarded-for", "10.1.2.3").send().await.unwrap();
    assert_eq!(lan.status(), 200);
}

#[tokio::test]
async fn a_cors_preflight_from_a_foreign_origin_gets_no_allow_origin() {
    for env in [vec![], vec![("CORS_ALLOWED_ORIGINS", "https://cams.example".to_owned())]] {
        let app = spawn_app_with(Options { env, ..Default::default() }).await;
        let preflight = app
            .anon(Method::OPTIONS, "/auth/login")
            .header("Origin", "https://evil.example")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "content-type")
            .send()
            .await
            .unwrap();
        assert!(preflight.headers().get("access-control-allow-origin").is_none(), "{:?}", preflight.headers());
        assert!(preflight.headers().get("access-control-allow-credentials").is_none());
    }
}

#[tokio::test]
async fn a_cookie_request_from_a_foreign_origin_is_refused() {
    let app = spawn_app().await;
    let foreign = app
        .with_cookie(&app.admin, Method::POST, "/streams/cam1/start")
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_error(foreign, 403, "forbidden").await;
    let login = app
        .anon(Method::POST, "/auth/login")
        .header("Origin", "https://evil.example")
        .json(&json!({"username": "admin", "password": "admin-test-password"}))
        .send()
        .await
        .unwrap();
    assert_error(login, 403, "forbidden").await;
    let own = app
        .with_cookie(&app.admin, Method::POST, "/streams/cam1/start")
        .header("Origin", &app.address)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200, "the page's own origin may");
    let bearer = app
        .as_admin(Method::POST, "/streams/cam2/start")
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200, "a bearer token cannot be sent by another site: no cookie, no check");
}

#[tokio::test]
async fn health_without_a_token_shows_only_the_status() {
    let app = spawn_app().await;
    ok_json(app.start("cam1").await).await;
    let anonymous = ok_json(app.anon(Method::GET, "/health").send().await.unwrap()).await;
    assert_eq!(anonymous, json!({"status": "healthy"}));
    let viewer = app.viewer("eve", &["*"]).await;
    let as_viewer = ok_json(app.as_user(&viewer, Method::GET, "/health").send().await.unwrap()).await;
    assert_eq!(as_viewer, json!({"status": "healthy"}), "only an admin sees counts");
    let as_admin = ok_json(app.get("/health").await).await;
    assert_eq!(as_admin["active_streams"], 1);
}

#[tokio::test]
async fn requests_over_the_rate_limit_get_429_with_retry_after() {
    let app = spawn_app_with(Options {
        env: vec![("API_RATE_LIMIT_PER_SECOND", "1".into()), ("API_RATE_LIMIT_BURST", "5".into())],
        ..Default::default()
    })
    .await;
    // spawn_app logged in once; the burst covers a few more.
    let mut limited = None;
    for _ in 0..10 {
        let response = app.anon(Method::GET, "/health").send().await.unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("a 429 within 10 requests");
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_error(limited, 429, "rate_limited").await;
}
