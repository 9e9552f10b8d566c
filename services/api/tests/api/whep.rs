//! WHEP (`/whep/...`) against the real app, a real Redis and the stand-in controller: status
//! codes, content types, access, the viewer limit, trickle, delete, failure and liveness.

use camview_proto::{CameraId, ViewerId};
use std::time::Duration;

use camview_common::bus::envelope;
use camview_proto::bus::{Message, RemoveReason, ViewerStateChanged};
use camview_proto::stream::ViewerState;
use reqwest::{Method, Response};

use crate::helpers::{assert_error, spawn_app, spawn_app_with, Options, TestApp};
use crate::responder::{server_candidate, WHEP_VIEWER_LIMIT};

const OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
    m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=ice-ufrag:cli1\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n\
    a=mid:0\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n";

fn fragment(ufrag: &str) -> String {
    format!(
        "a=ice-ufrag:{ufrag}\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n\
         a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0\r\na=end-of-candidates\r\n"
    )
}

async fn offer(app: &TestApp, token: &str, camera: &str) -> Response {
    app.as_user(token, Method::POST, &format!("/whep/{camera}"))
        .header("content-type", "application/sdp")
        .body(OFFER)
        .send()
        .await
        .unwrap()
}

/// A started stream `camera` and a viewer granted only it.
async fn setup(camera: &str, viewer: &str) -> (TestApp, String) {
    let app = spawn_app().await;
    assert_eq!(app.start(camera).await.status(), 200);
    let token = app.viewer(viewer, &[camera]).await;
    (app, token)
}

/// The commands the stand-in controller got of `kind`, as JSON payloads.
fn seen(app: &TestApp, kind: &str) -> Vec<serde_json::Value> {
    let seen = app.responder.as_ref().unwrap().seen.lock().unwrap();
    seen.iter()
        .filter(|e| e.message.kind() == kind)
        .map(|e| serde_json::to_value(&e.message).unwrap()["payload"].clone())
        .collect()
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_offer_gets_201_with_the_sdp_answer_its_server_candidates_a_location_and_an_etag() {
    let (app, token) = setup("wcam1", "wann").await;
    let response = offer(&app, &token, "wcam1").await;
    assert_eq!(response.status(), 201);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/sdp");
    let location = headers["location"].to_str().unwrap().to_owned();
    let session = location.strip_prefix("/whep/wcam1/").expect("Location under the camera's resource");
    assert_eq!(session.len(), 36, "{location}");
    let etag = headers["etag"].to_str().unwrap();
    // The test app's STUN_SERVERS, as RFC 9725 Link headers.
    assert_eq!(headers["link"], "<stun:stun.test:3478>; rel=\"ice-server\"");
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "{etag}");
    let answer = response.text().await.unwrap();
    assert!(answer.starts_with("v=0\r\n") && answer.contains("a=ice-ufrag:srv1"), "{answer}");
    assert!(answer.contains(&format!("a={}\r\n", server_candidate().candidate)), "{answer}");
    // The controller saw the same AddViewer the signaling service sends, replying to this api.
    let added = seen(&app, "AddViewer");
    assert_eq!(added.len(), 1);
    assert_eq!(added[0]["viewer_id"], session);
    assert_eq!(added[0]["camera_id"], "wcam1");
    assert!(added[0]["signaling_instance"].as_str().unwrap().starts_with("api-"), "{}", added[0]);
    assert_eq!(app.registry.viewer_count(&CameraId::from_static("wcam1")).await.unwrap(), 1);
}

#[tokio::test]
async fn offers_are_refused_with_the_status_and_code_of_each_fault() {
    let (app, token) = setup("wcam2", "wbob").await;
    let anonymous = app.anon(Method::POST, "/whep/wcam2").header("content-type", "application/sdp").body(OFFER);
    assert_error(anonymous.send().await.unwrap(), 401, "unauthorized").await;
    let other = app.viewer("wcarl", &["elsewhere"]).await;
    assert_error(offer(&app, &other, "wcam2").await, 403, "forbidden").await;
    let admin = app.admin_token().to_owned();
    assert_error(offer(&app, &admin, "wnostream").await, 404, "stream_not_found").await;
    let as_json = app.as_user(&token, Method::POST, "/whep/wcam2").json(&serde_json::json!({"sdp": OFFER}));
    let body = assert_error(as_json.send().await.unwrap(), 415, "unsupported_media_type").await;
    assert!(body["message"].as_str().unwrap().contains("application/sdp"), "{body}");
    let bad = app.as_user(&token, Method::POST, "/whep/wcam2").header("content-type", "application/sdp").body("hello");
    assert_error(bad.send().await.unwrap(), 400, "invalid_sdp").await;
    let huge = format!("{OFFER}{}", "a=x\r\n".repeat(20_000));
    let huge = app.as_user(&token, Method::POST, "/whep/wcam2").header("content-type", "application/sdp").body(huge);
    assert_error(huge.send().await.unwrap(), 413, "payload_too_large").await;
    assert_error(offer(&app, &token, "bad%20id").await, 400, "invalid_camera_id").await;
    assert_eq!(
        app.registry.viewer_count(&CameraId::from_static("wcam2")).await.unwrap(),
        0,
        "no refused offer holds a slot"
    );
}

#[tokio::test]
async fn the_viewer_limit_is_the_controllers_and_answers_409_stream_full() {
    let (app, token) = setup("wcam3", "wdan").await;
    let metric = |text: &str, series: &str| camview_common::testing::series(text, series).unwrap_or(0.0);
    let (ok, full) =
        (r#"camview_whep_joins_total{outcome="ok"}"#, r#"camview_whep_joins_total{outcome="stream_full"}"#);
    let before = app.get("/metrics").await.text().await.unwrap();
    for _ in 0..WHEP_VIEWER_LIMIT {
        assert_eq!(offer(&app, &token, "wcam3").await.status(), 201);
    }
    assert_error(offer(&app, &token, "wcam3").await, 409, "stream_full").await;
    assert_eq!(app.registry.viewer_count(&CameraId::from_static("wcam3")).await.unwrap(), u64::from(WHEP_VIEWER_LIMIT));
    // Tests share the process's metrics: each expects at least its own increments.
    let after = app.get("/metrics").await.text().await.unwrap();
    assert!(metric(&after, ok) - metric(&before, ok) >= f64::from(WHEP_VIEWER_LIMIT), "{after}");
    assert!(metric(&after, full) - metric(&before, full) >= 1.0, "{after}");
    assert!(metric(&after, "camview_whep_sessions_active") >= f64::from(WHEP_VIEWER_LIMIT), "{after}");
}

#[tokio::test]
async fn a_patch_forwards_the_players_candidates_and_delete_frees_the_slot() {
    let (app, token) = setup("wcam4", "weve").await;
    let response = offer(&app, &token, "wcam4").await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let session = location.rsplit('/').next().unwrap().to_owned();
    let patch = |ct: &str, if_match: Option<&str>, body: String| {
        let mut req = app.as_user(&token, Method::PATCH, &location).header("content-type", ct).body(body);
        if let Some(tag) = if_match {
            req = req.header("if-match", tag);
        }
        req.send()
    };
    let ok = patch("application/trickle-ice-sdpfrag", Some(&etag), fragment("cli1")).await.unwrap();
    assert_eq!(ok.status(), 204);
    let without_if_match = patch("application/trickle-ice-sdpfrag", None, fragment("cli1")).await.unwrap();
    assert_eq!(without_if_match.status(), 204);
    eventually("two AddIceCandidate commands", async || seen(&app, "AddIceCandidate").len() == 2).await;
    let forwarded = &seen(&app, "AddIceCandidate")[0];
    assert_eq!(forwarded["viewer_id"], session.as_str());
    assert_eq!(forwarded["camera_id"], "wcam4");
    assert_eq!(forwarded["candidate"]["sdpMid"], "0");
    assert!(forwarded["candidate"]["candidate"].as_str().unwrap().starts_with("candidate:1387637174 "));

    let stale = patch("application/trickle-ice-sdpfrag", Some("\"other\""), fragment("cli1")).await.unwrap();
    assert_error(stale, 412, "precondition_failed").await;
    let restart = patch("application/trickle-ice-sdpfrag", Some("*"), fragment("cli2")).await.unwrap();
    assert_error(restart, 422, "invalid_body").await;
    let new_ufrag = patch("application/trickle-ice-sdpfrag", None, fragment("cli2")).await.unwrap();
    assert_error(new_ufrag, 422, "invalid_body").await;
    let wrong_type = patch("application/sdp", None, fragment("cli1")).await.unwrap();
    assert_error(wrong_type, 415, "unsupported_media_type").await;
    let garbage = patch("application/trickle-ice-sdpfrag", None, "a=candidate:x\r\n".into()).await.unwrap();
    assert_error(garbage, 400, "invalid_candidate").await;
    let someone = app.viewer("wfay", &["wcam4"]).await;
    let foreign = app.as_user(&someone, Method::DELETE, &location).send().await.unwrap();
    assert_error(foreign, 403, "forbidden").await;

    assert_eq!(app.registry.viewer_count(&CameraId::from_static("wcam4")).await.unwrap(), 1);
    let deleted = app.as_user(&token, Method::DELETE, &location).send().await.unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(app.registry.viewer_count(&CameraId::from_static("wcam4")).await.unwrap(), 0, "DELETE freed the slot");
    let removed = seen(&app, "RemoveViewer");
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["reason"], serde_json::to_value(RemoveReason::Left).unwrap());
    let again = app.as_user(&token, Method::DELETE, &location).send().await.unwrap();
    assert_error(again, 404, "viewer_not_found").await;
    let late = patch("application/trickle-ice-sdpfrag", None, fragment("cli1")).await.unwrap();
    assert_error(late, 404, "viewer_not_found").await;
}

#[tokio::test]
async fn a_viewer_the_controller_reports_failed_is_released_and_its_session_ends() {
    let (app, token) = setup("wcam5", "wgus").await;
    let response = offer(&app, &token, "wcam5").await;
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let session = ViewerId::parse(location.rsplit('/').next().unwrap()).expect("the session id is a viewer id");
    let instance = seen(&app, "AddViewer")[0]["signaling_instance"].as_str().unwrap().to_owned();
    // The api instance is alive as a signaling instance is, so its viewers die with it.
    assert!(app.registry.is_alive(&instance).await.unwrap(), "{instance} refreshes its liveness key");
    assert!(app.registry.known_instances().await.unwrap().contains(&instance));
    let failed =
        Message::ViewerStateChanged(ViewerStateChanged { viewer_id: session.clone(), state: ViewerState::Failed });
    app.bus.publish(&instance, &envelope(failed, None, None)).await.unwrap();
    eventually("the failed viewer's release", async || {
        app.registry.viewer_count(&CameraId::from_static("wcam5")).await.unwrap() == 0
    })
    .await;
    let removed = seen(&app, "RemoveViewer");
    assert_eq!(removed[0]["viewer_id"], session.as_str());
    assert_eq!(removed[0]["reason"], serde_json::to_value(RemoveReason::Failed).unwrap());
    let gone = app.as_user(&token, Method::DELETE, &location).send().await.unwrap();
    assert_error(gone, 404, "viewer_not_found").await;
}

#[tokio::test]
async fn options_names_the_offer_type_without_credentials() {
    let app = spawn_app().await;
    let response = app.anon(Method::OPTIONS, "/whep/wcam6").send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["accept-post"], "application/sdp");
}

#[tokio::test]
async fn a_session_ends_when_its_owner_loses_the_camera() {
    let (app, token) = setup("wcam7", "whal").await;
    let response = offer(&app, &token, "wcam7").await;
    assert_eq!(response.status(), 201);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let session = location.rsplit('/').next().unwrap().to_owned();
    let regranted = app
        .as_admin(Method::PUT, "/users/whal/grants")
        .json(&serde_json::json!({"grants": ["elsewhere"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(regranted.status(), 200);
    eventually("the revoked session's release", async || {
        app.registry.viewer_count(&CameraId::from_static("wcam7")).await.unwrap() == 0
    })
    .await;
    assert_eq!(seen(&app, "RemoveViewer")[0]["viewer_id"], session.as_str());
    let gone = app.as_admin(Method::DELETE, &location).send().await.unwrap();
    assert_error(gone, 404, "viewer_not_found").await;
}

#[tokio::test]
async fn a_player_on_a_listed_origin_may_post_patch_and_read_location_etag_and_links_and_others_may_not() {
    let options =
        Options { env: vec![("CORS_ALLOWED_ORIGINS", "https://player.example".to_owned())], ..Default::default() };
    let app = spawn_app_with(options).await;
    assert_eq!(app.start("wcam8").await.status(), 200);
    let token = app.viewer("wivy", &["wcam8"]).await;
    let preflight = |origin: &'static str, method: &'static str, path: &'static str| {
        app.anon(Method::OPTIONS, path)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", method)
            .header("Access-Control-Request-Headers", "authorization, content-type, if-match")
            .send()
    };
    for (method, path) in [("POST", "/whep/wcam8"), ("PATCH", "/whep/wcam8/abc"), ("DELETE", "/whep/wcam8/abc")] {
        let allowed = preflight("https://player.example", method, path).await.unwrap();
        assert_eq!(allowed.headers()["access-control-allow-origin"], "https://player.example", "{method} {path}");
        let methods = allowed.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
        assert!(methods.contains(method), "{method} {path}: {methods}");
        let foreign = preflight("https://evil.example", method, path).await.unwrap();
        assert!(foreign.headers().get("access-control-allow-origin").is_none(), "{method} {path}");
    }
    let response = app
        .as_user(&token, Method::POST, "/whep/wcam8")
        .header("Origin", "https://player.example")
        .header("content-type", "application/sdp")
        .body(OFFER)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let exposed = response.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    for header in ["location", "etag", "link"] {
        assert!(exposed.contains(header), "{header} in {exposed}");
    }
}

#[tokio::test]
async fn a_session_that_never_connects_ends_and_frees_its_slot_even_when_its_player_hung_up_during_the_join() {
    let options = Options { env: vec![("WHEP_CONNECT_TIMEOUT_SECONDS", "1".to_owned())], ..Default::default() };
    let app = spawn_app_with(options).await;
    assert_eq!(app.start("wcam9").await.status(), 200);
    let token = app.viewer("wjim", &["wcam9"]).await;
    // The answer waits for the server's candidates (a quarter second after the last one):
    // this player gives up before, and the stand-in controller never reports it connected.
    let hung_up = app
        .as_user(&token, Method::POST, "/whep/wcam9")
        .header("content-type", "application/sdp")
        .body(OFFER)
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(hung_up.is_err(), "the player gave up: {hung_up:?}");
    eventually("the abandoned viewer's release", async || {
        !seen(&app, "RemoveViewer").is_empty()
            && app.registry.viewer_count(&CameraId::from_static("wcam9")).await.unwrap() == 0
    })
    .await;
    assert_eq!(seen(&app, "AddViewer").len(), 1);
    let reasons: Vec<_> = seen(&app, "RemoveViewer").into_iter().map(|r| r["reason"].clone()).collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
}
