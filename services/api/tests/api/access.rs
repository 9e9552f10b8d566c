//! The positive paths of access control: logging in, what each role sees, share links,
//! user management, and that all of it survives a restart.

use std::sync::Arc;

use camview_common::auth::{AuthSettings, Authenticator};
use camview_common::testing::{random_prefix, RedisServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::helpers::{assert_error, ok_json, redis_backend_at, spawn_app, spawn_app_with, spawn_on, Options};

#[tokio::test]
async fn login_answers_the_token_and_sets_it_in_a_strict_http_only_cookie() {
    let app = spawn_app().await;
    let response = app
        .anon(Method::POST, "/auth/login")
        .json(&json!({"username": "admin", "password": "admin-test-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert!(camview_common::clock::parse_rfc3339(body["expires_at"].as_str().unwrap()).is_some(), "{body}");
    assert!(cookie.starts_with(&format!("camview_token={token};")), "{cookie}");
    for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http in tests: {cookie}");
    let me = ok_json(app.with_cookie(token, Method::GET, "/auth/me").send().await.unwrap()).await;
    assert_eq!(me["kind"], "user");
    assert_eq!(me["username"], "admin");
    assert_eq!(me["role"], "admin");
    let page = app.with_cookie(token, Method::GET, "/viewer?camera=cam1").send().await.unwrap();
    assert_eq!(page.status(), 200, "the cookie opens the pages");
}

#[tokio::test]
async fn the_cookie_is_secure_when_the_public_url_is_https() {
    let app =
        spawn_app_with(Options { env: vec![("PUBLIC_API_URL", "https://cams.example/".into())], ..Default::default() })
            .await;
    let response = app
        .anon(Method::POST, "/auth/login")
        .json(&json!({"username": "admin", "password": "admin-test-password"}))
        .send()
        .await
        .unwrap();
    assert!(response.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
}

#[tokio::test]
async fn logout_clears_the_cookie_and_refresh_issues_a_new_token() {
    let app = spawn_app().await;
    let refreshed = app.with_cookie(&app.admin, Method::POST, "/auth/refresh").send().await.unwrap();
    assert!(refreshed.headers()["set-cookie"].to_str().unwrap().starts_with("camview_token=ey"));
    let fresh = ok_json(refreshed).await["token"].as_str().unwrap().to_owned();
    assert_eq!(app.as_user(&fresh, Method::GET, "/auth/me").send().await.unwrap().status(), 200);
    let out = app.with_cookie(&fresh, Method::POST, "/auth/logout").send().await.unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let cleared = out.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.starts_with("camview_token=;") && cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn a_viewer_sees_only_its_granted_streams() {
    let app = spawn_app().await;
    for cam in ["camA", "camB", "camC"] {
        ok_json(app.start(cam).await).await;
    }
    let viewer = app.viewer("ann", &["camA", "camC"]).await;
    let list = ok_json(app.as_user(&viewer, Method::GET, "/streams").send().await.unwrap()).await;
    let ids: Vec<&str> = list["streams"].as_array().unwrap().iter().map(|s| s["camera_id"].as_str().unwrap()).collect();
    assert_eq!(list["count"], 2);
    assert!(ids.contains(&"camA") && ids.contains(&"camC"), "{ids:?}");
    let me = ok_json(app.as_user(&viewer, Method::GET, "/auth/me").send().await.unwrap()).await;
    assert_eq!(me["grants"], json!(["camA", "camC"]));
    assert_eq!(app.as_user(&viewer, Method::GET, "/ice-servers").send().await.unwrap().status(), 200);

    // New grants apply to the same token at once.
    let updated =
        app.as_admin(Method::PUT, "/users/ann/grants").json(&json!({"grants": ["camB"]})).send().await.unwrap();
    assert_eq!(ok_json(updated).await["grants"], json!(["camB"]));
    let list = ok_json(app.as_user(&viewer, Method::GET, "/streams").send().await.unwrap()).await;
    assert_eq!(list["streams"][0]["camera_id"], "camB");
    assert_eq!(list["count"], 1);
    let all = app.as_admin(Method::PUT, "/users/ann/grants").json(&json!({"grants": ["*"]})).send().await.unwrap();
    assert_eq!(all.status(), 200);
    assert_eq!(ok_json(app.as_user(&viewer, Method::GET, "/streams").send().await.unwrap()).await["count"], 3);
}

#[tokio::test]
async fn a_share_token_plays_its_camera_and_opens_a_cookie_session() {
    let app = spawn_app().await;
    ok_json(app.start("cam1").await).await;
    ok_json(app.start("cam2").await).await;
    let created = app
        .as_admin(Method::POST, "/cameras/cam1/shares")
        .json(&json!({"expires_in_seconds": 3600}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let token = created["token"].as_str().unwrap();
    let host = app.address.trim_start_matches("http://");
    assert_eq!(created["url"], format!("http://{host}/share#token={token}"));
    assert_eq!(created["share"]["camera_id"], "cam1");
    assert_eq!(created["share"]["created_by"], "admin");
    assert_eq!(created["share"]["revoked"], false);

    assert_eq!(app.as_user(token, Method::GET, "/streams/cam1").send().await.unwrap().status(), 200);
    assert_error(app.as_user(token, Method::GET, "/streams/cam2").send().await.unwrap(), 403, "forbidden").await;

    let exchanged = app.anon(Method::POST, "/auth/share").json(&json!({"token": token})).send().await.unwrap();
    assert!(exchanged.headers()["set-cookie"].to_str().unwrap().contains("HttpOnly"));
    let session = ok_json(exchanged).await["token"].as_str().unwrap().to_owned();
    let me = ok_json(app.with_cookie(&session, Method::GET, "/auth/me").send().await.unwrap()).await;
    assert_eq!(me["kind"], "share");
    assert_eq!(me["id"], created["share"]["id"]);
    assert_eq!(me["grants"], json!(["cam1"]));
    assert_eq!(app.with_cookie(&session, Method::GET, "/viewer?camera=cam1").send().await.unwrap().status(), 200);

    let listed = ok_json(app.get("/cameras/cam1/shares").await).await;
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["shares"][0]["id"], created["share"]["id"]);
    assert!(listed.to_string().find(token).is_none(), "the list never shows the link token");
}

#[tokio::test]
async fn share_links_use_public_api_url_and_refuse_odd_lifetimes() {
    let app =
        spawn_app_with(Options { env: vec![("PUBLIC_API_URL", "https://cams.example/".into())], ..Default::default() })
            .await;
    let created: Value = app.as_admin(Method::POST, "/cameras/cam1/shares").send().await.unwrap().json().await.unwrap();
    assert!(created["url"].as_str().unwrap().starts_with("https://cams.example/share#token=ey"), "{created}");
    for bad in [json!({"expires_in_seconds": 10}), json!({"expires_in_seconds": 31 * 86_400}), json!({"expires": 1})] {
        let response = app.as_admin(Method::POST, "/cameras/cam1/shares").json(&bad).send().await.unwrap();
        assert_error(response, 422, "invalid_body").await;
    }
}

#[tokio::test]
async fn users_are_created_validated_and_listed_without_their_hashes() {
    let app = spawn_app().await;
    app.viewer("ann", &["cam1"]).await;
    let again = app
        .as_admin(Method::POST, "/users")
        .json(&json!({"username": "ann", "password": "another-password", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_error(again, 409, "user_exists").await;
    for bad in [
        json!({"username": "bad name", "password": "long-enough-pw", "role": "viewer"}),
        json!({"username": "short", "password": "short", "role": "viewer"}),
        json!({"username": "x", "password": "long-enough-pw", "role": "root"}),
        json!({"username": "x", "password": "long-enough-pw", "role": "viewer", "grants": ["../etc"]}),
    ] {
        assert_error(app.as_admin(Method::POST, "/users").json(&bad).send().await.unwrap(), 422, "invalid_body").await;
    }
    let list = ok_json(app.get("/users").await).await;
    assert_eq!(list["count"], 2);
    assert_eq!(list["users"][0]["username"], "admin");
    assert_eq!(
        list["users"][1],
        json!({"username": "ann", "role": "viewer", "grants": ["cam1"], "created_at": list["users"][1]["created_at"]})
    );
    assert!(!list.to_string().contains("argon2"));
    let missing = app.as_admin(Method::PUT, "/users/nobody/grants").json(&json!({"grants": []})).send().await.unwrap();
    assert_error(missing, 404, "user_not_found").await;
}

#[tokio::test]
async fn an_admin_resets_a_password_and_the_user_logs_in_with_it() {
    let app = spawn_app().await;
    let old = app.viewer("bob", &["*"]).await;
    let reset = app
        .as_admin(Method::PUT, "/users/bob/password")
        .json(&json!({"password": "set-by-the-admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_error(app.as_user(&old, Method::GET, "/auth/me").send().await.unwrap(), 401, "unauthorized").await;
    app.login("bob", "set-by-the-admin").await;
    let short =
        app.as_admin(Method::PUT, "/users/bob/password").json(&json!({"password": "short"})).send().await.unwrap();
    assert_error(short, 422, "invalid_body").await;
}

#[tokio::test]
async fn a_one_time_login_link_works_once() {
    let app = spawn_app().await;
    let auth = Authenticator::start(
        app.store.clone(),
        &AuthSettings::from_reader(&camview_common::config::Reader::new(
            &std::collections::HashMap::<String, String>::new(),
        ))
        .unwrap(),
    )
    .await
    .unwrap();
    let code = auth.create_login_code("admin").await.unwrap();
    let first = app.anon(Method::POST, "/auth/link").json(&json!({"code": code})).send().await.unwrap();
    assert!(first.headers()["set-cookie"].to_str().unwrap().starts_with("camview_token=ey"));
    let token = ok_json(first).await["token"].as_str().unwrap().to_owned();
    assert_eq!(app.as_user(&token, Method::GET, "/users").send().await.unwrap().status(), 200);
    let again = app.anon(Method::POST, "/auth/link").json(&json!({"code": code})).send().await.unwrap();
    assert_error(again, 401, "unauthorized").await;
}

#[tokio::test]
async fn users_grants_shares_and_camera_secrets_survive_a_restart() {
    let url = RedisServer::shared().url();
    let prefix = random_prefix();
    let first = spawn_on(redis_backend_at(&url, &prefix).await, Options::default()).await;
    let viewer = first.viewer("ann", &["cam1"]).await;
    let share: Value = first.as_admin(Method::POST, "/cameras/cam1/shares").send().await.unwrap().json().await.unwrap();
    let secret = ok_json(first.post("/cameras/cam1/secret").await).await["secret"].as_str().unwrap().to_owned();
    ok_json(first.start("cam1").await).await;

    // A second app on the same Redis prefix: another instance, or the same after a restart.
    let second = spawn_on(
        redis_backend_at(&url, &prefix).await,
        Options { env: vec![("TRUSTED_PROXIES", "127.0.0.1".into())], ..Default::default() },
    )
    .await;
    assert_eq!(
        second.as_user(&viewer, Method::GET, "/streams/cam1").send().await.unwrap().status(),
        200,
        "the old token is still valid"
    );
    let token = second.login("ann", "password-of-ann").await;
    let me = ok_json(second.as_user(&token, Method::GET, "/auth/me").send().await.unwrap()).await;
    assert_eq!(me["grants"], json!(["cam1"]));
    let share_token = share["token"].as_str().unwrap();
    assert_eq!(second.as_user(share_token, Method::GET, "/streams/cam1").send().await.unwrap().status(), 200);
    assert_eq!(ok_json(second.get("/cameras/cam1/shares").await).await["count"], 1);
    let keepalive = second
        .as_user(&secret, Method::POST, "/cameras/cam1/keepalive")
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(keepalive.status(), 200, "the camera secret survived");
}

#[tokio::test]
async fn the_in_process_store_keeps_users_in_the_data_directory() {
    let dir = std::env::temp_dir().join(format!("camview-api-data-{}", uuid::Uuid::new_v4()));
    let open = || {
        Arc::new(camview_common::auth::FileAuthStore::open(&dir).unwrap()) as Arc<dyn camview_common::auth::AuthStore>
    };
    let backend = |store| crate::helpers::TestBackend {
        bus: Arc::new(camview_common::bus::memory::MemoryBus::new()),
        registry: Arc::new(camview_common::registry::memory::MemoryRegistry::new()),
        store,
    };
    let first = spawn_on(backend(open()), Options::default()).await;
    first.viewer("ann", &["cam1"]).await;
    drop(first);
    let second = spawn_on(backend(open()), Options::default()).await;
    second.login("ann", "password-of-ann").await;
}

#[tokio::test]
async fn every_change_that_takes_access_away_is_published_on_the_bus() {
    use camview_proto::auth::Subject;
    use camview_proto::bus::Message;

    let app = spawn_app().await;
    let mut events = app.bus.subscribe(camview_proto::keys::AUTH_EVENTS_INSTANCE).await.unwrap();
    async fn next(events: &mut camview_common::bus::Subscription) -> Subject {
        let envelope = tokio::time::timeout(std::time::Duration::from_secs(2), events.recv())
            .await
            .expect("a revocation within 2 s")
            .expect("open");
        match envelope.message {
            Message::AccessRevoked(r) => r.subject,
            other => panic!("unexpected {}", other.kind()),
        }
    }
    let ann = || Subject::User { username: "ann".into() };
    app.viewer("ann", &["cam1"]).await;
    app.as_admin(Method::PUT, "/users/ann/grants").json(&json!({"grants": []})).send().await.unwrap();
    assert_eq!(next(&mut events).await, ann(), "grants changed");
    app.as_admin(Method::PUT, "/users/ann/password")
        .json(&json!({"password": "another-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(next(&mut events).await, ann(), "password changed");
    app.as_admin(Method::DELETE, "/users/ann").send().await.unwrap();
    assert_eq!(next(&mut events).await, ann(), "user deleted");
    let share: Value = app.as_admin(Method::POST, "/cameras/cam1/shares").send().await.unwrap().json().await.unwrap();
    let id = share["share"]["id"].as_str().unwrap();
    app.as_admin(Method::DELETE, &format!("/shares/{id}")).send().await.unwrap();
    assert_eq!(next(&mut events).await, Subject::Share { id: id.into() }, "share revoked");
}
