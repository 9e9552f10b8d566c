//! Every join is authenticated: tokens in `join` or in the upgrade's cookie, per-camera
//! grants, shares, and the forged tokens an attacker would try.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use camview_common::auth::{Claims, TokenKeys, TokenKind, COOKIE_NAME};
use camview_proto::auth::Role;

use crate::helpers::{Client, Deployment};
use crate::responder::Responder;

/// Claims of a session token of `user`, expiring `exp_from_now` seconds from now.
fn claims(user: &str, exp_from_now: i64) -> Claims {
    let now = jsonwebtoken::get_current_timestamp();
    Claims {
        iss: "camview".into(),
        sub: user.into(),
        kind: TokenKind::Session,
        role: Role::Viewer,
        grants: vec!["*".into()],
        ver: 0,
        iat: now,
        exp: now.saturating_add_signed(exp_from_now),
        jti: "test".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_without_a_token_is_unauthorized_and_takes_no_slot() {
    let d = Deployment::new().await;
    let responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let mut c = app.connect_anonymous().await;
    c.join("cam1").await;
    c.expect_error("unauthorized").await;
    c.join_with("cam1", Some("")).await;
    c.expect_error("unauthorized").await;
    assert_eq!(d.viewer_count("cam1").await, 0);
    assert_eq!(responder.count("AddViewer"), 0);
    // The socket stays usable: the same socket joins once it has a token.
    c.join_with("cam1", Some(&d.token)).await;
    c.expect("answer").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_for_another_camera_is_forbidden_and_a_granted_one_joins() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    d.start_stream("cam2").await;
    let app = d.spawn_app(&[]).await;
    let token = d.user_token("bob", &["cam2"]).await;
    let mut c = app.connect_as(&token).await;
    c.join("cam1").await;
    c.expect_error("forbidden").await;
    assert_eq!(d.viewer_count("cam1").await, 0);
    c.join_ok("cam2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_token_watches_its_camera_and_no_other() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    d.start_stream("cam2").await;
    let app = d.spawn_app(&[]).await;
    let (_, token) = d.share_token("cam2").await;
    let mut c = app.connect_as(&token).await;
    c.join("cam1").await;
    c.expect_error("forbidden").await;
    c.join_ok("cam2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_signed_with_another_key_expired_or_with_alg_none_are_unauthorized() {
    let d = Deployment::new().await;
    let responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let real_key = d.store.signing_key().await.unwrap();
    let other_key = TokenKeys::from_secret(b"another-deployment-key-0123456789abcdef").sign(&claims("viewer", 600));
    let expired = TokenKeys::from_secret(&real_key).sign(&claims("viewer", -3600));
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims("viewer", 600)).unwrap());
    let alg_none = format!("{header}.{body}.");
    let unknown_user = TokenKeys::from_secret(&real_key).sign(&claims("nobody", 600));
    let mut c = app.connect_anonymous().await;
    for (what, token) in [
        ("another key", other_key),
        ("expired", expired),
        ("alg none", alg_none),
        ("unknown user", unknown_user),
        ("garbage", "not.a.jwt".to_owned()),
    ] {
        c.join_with("cam1", Some(&token)).await;
        let v = c.expect_error("unauthorized").await;
        assert!(!v["message"].as_str().unwrap().contains(&token), "{what}: the token is not echoed");
    }
    // The same claims signed with the deployment's key are accepted: the refusals above
    // are about the key, the expiry and the algorithm, not the claims.
    let good = TokenKeys::from_secret(&real_key).sign(&claims("viewer", 600));
    c.join_with("cam1", Some(&good)).await;
    c.expect("answer").await;
    assert_eq!(responder.count("AddViewer"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cookie_sent_on_the_upgrade_authenticates_a_join_without_a_token() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let cookie = format!("other=1; {COOKIE_NAME}={}", d.token);
    let mut c = Client::connect_with_headers(app.port, &[("Cookie", &cookie)]).await;
    c.join_ok("cam1").await;
    let forged = format!("{COOKIE_NAME}={}x", d.token);
    let mut f = Client::connect_with_headers(app.port, &[("Cookie", &forged)]).await;
    f.join("cam1").await;
    f.expect_error("unauthorized").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_join_wins_over_the_cookie() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let cam2_only = d.user_token("carol", &["cam2"]).await;
    let cookie = format!("{COOKIE_NAME}={}", d.token);
    let mut c = Client::connect_with_headers(app.port, &[("Cookie", &cookie)]).await;
    c.join_with("cam1", Some(&cam2_only)).await;
    c.expect_error("forbidden").await;
}
