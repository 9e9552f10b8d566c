//! An outsider's probes, run the same way against the real all-in-one binary and against the
//! split deployment (Redis, engine, controller, api, signaling as processes): everything but
//! the public routes refuses a caller without valid credentials, forged tokens get nowhere,
//! anonymous health tells nothing, a foreign page cannot open the viewer WebSocket, a join
//! needs a token, a wrong camera secret is refused even from loopback, and password guessing
//! is slowed down. Each probe's message names the property it proves.

use base64::Engine;
use camview_common::testing::PROTECTED_ROUTES as PROTECTED;
use camview_system_tests::all_in_one::AllInOne;
use camview_system_tests::auth::DataDir;
use camview_system_tests::{Stack, StackOptions};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The probes send a few hundred requests from one address: lift the per-address REST limit
/// (the login back-off under test is separate from it).
const RATE: &[(&str, &str)] = &[("API_RATE_LIMIT_PER_SECOND", "1000"), ("API_RATE_LIMIT_BURST", "1000")];

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A token with the claims an admin's would have, unsigned (`alg: none`) or signed with a
/// made-up signature.
fn forged_tokens() -> Vec<(&'static str, String)> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let claims = json!({"iss": "camview", "sub": "admin", "kind": "session", "role": "admin", "grants": [], "ver": 0, "iat": now, "exp": now + 600, "jti": "x"});
    vec![
        ("alg none", format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims))),
        (
            "a made-up signature",
            format!(
                "{}.{}.{}",
                b64(&json!({"alg": "HS256", "typ": "JWT"})),
                b64(&claims),
                b64(&json!("not a signature"))
            ),
        ),
        ("garbage", "garbage".to_owned()),
    ]
}

async fn status_of(
    http: &reqwest::Client,
    api: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let mut req = http.request(Method::from_bytes(method.as_bytes()).unwrap(), format!("{api}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if method != "GET" && method != "DELETE" {
        req = req.json(&json!({}));
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// One WebSocket frame as JSON, within a few seconds.
async fn next_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.expect("a frame within 10 s") {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).expect("JSON frame"),
            Some(Ok(_)) => continue,
            other => panic!("socket ended: {other:?}"),
        }
    }
}

async fn probe(api: &str, signaling_ws: &str, admin_token: &str) {
    let http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap();

    for (method, path) in PROTECTED {
        let (status, body) = status_of(&http, api, method, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} without credentials must be 401: {body}");
        assert_eq!(body["code"], "unauthorized", "{method} {path}: the JSON error body");
        for (what, token) in forged_tokens() {
            let (status, _) = status_of(&http, api, method, path, Some(&token)).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} with {what} must be 401");
        }
    }
    let (status, body) = status_of(&http, api, "GET", "/health", None).await;
    assert!(status.is_success(), "health answers anonymously");
    assert!(
        body.get("active_streams").is_none() && body.get("total_viewers").is_none(),
        "anonymous health tells no counts: {body}"
    );
    let (_, body) = status_of(&http, api, "GET", "/health", Some(admin_token)).await;
    assert!(body.get("active_streams").is_some(), "an admin sees the full health: {body}");

    // A page of another site cannot open the viewer socket (cross-site WebSocket hijacking).
    let mut request = signaling_ws.into_client_request().unwrap();
    request.headers_mut().insert("Origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.status(), 403, "a foreign Origin is refused before the upgrade")
        }
        other => panic!("a foreign Origin must not upgrade: {:?}", other.map(|(_, r)| r.status())),
    }
    // A join without a token is refused, and so is one with a forged token.
    let (mut ws, _) = tokio_tungstenite::connect_async(signaling_ws).await.expect("upgrade without Origin");
    for token in [None, Some(forged_tokens()[0].1.clone())] {
        let mut join = json!({"type": "join", "camera": "cam1", "sdpOffer": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=recvonly\r\n"});
        if let Some(t) = &token {
            join["token"] = json!(t);
        }
        ws.send(Message::Text(join.to_string().into())).await.unwrap();
        let answer = next_json(&mut ws).await;
        assert_eq!(answer["type"], "error", "{answer}");
        assert_eq!(
            answer["code"],
            "unauthorized",
            "a join needs a valid token ({}): {answer}",
            if token.is_some() { "forged" } else { "none" }
        );
    }

    // A wrong camera secret is refused even from loopback, a trusted network.
    let res = http
        .post(format!("{api}/cameras/cam1/keepalive"))
        .bearer_auth("not-the-secret")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a wrong camera secret is refused from anywhere");

    // Guessing passwords is slowed down: 429 with Retry-After within a few attempts.
    let mut limited = None;
    for attempt in 0..12 {
        let res = http
            .post(format!("{api}/auth/login"))
            .json(&json!({"username": "admin", "password": format!("guess-{attempt}")}))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(
                res.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok()),
            );
            break;
        }
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a wrong password is 401");
    }
    let retry_after = limited.expect("a login brute force is answered 429 within 12 attempts");
    assert!(retry_after.is_some_and(|s| s >= 1), "429 carries Retry-After in seconds");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_gets_nothing_from_the_all_in_one_binary_without_credentials() {
    let data = DataDir::new();
    let camview = AllInOne::start(&data, RATE, &[]).await;
    probe(&camview.api_url, &camview.signaling_ws_url, &camview.admin_token).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_gets_nothing_from_the_split_deployment_without_credentials() {
    let stack = Stack::start_with(StackOptions::default().api(RATE)).await;
    probe(&stack.api_url, &stack.signaling_ws_url, &stack.admin_token).await;
}
