//! Users, grants and camera secrets managed with the `camview user|camera` CLI, checked
//! against the REAL binaries: the all-in-one `camview` (file store in CAMVIEW_DATA_DIR, started
//! with CAMVIEW_ADMIN_PASSWORD) and the split services on Redis (`REDIS_URL`).

use std::time::Duration;

use camview_common::testing::wait_until;
use camview_system_tests::{cli, AllInOne, CliOutput, DataDir, Stack, StackOptions, ViewerError, PATIENCE};
use reqwest::{Method, StatusCode};

const VIEWER_PASSWORD: &str = "viewer-password-1";

/// The secret `camview camera add` printed.
fn secret_of(out: &CliOutput) -> String {
    let line =
        out.stdout.lines().find(|l| l.contains(": secret ")).unwrap_or_else(|| panic!("no secret printed: {out:?}"));
    line.rsplit(' ').next().expect("a last word").to_owned()
}

/// Camera ids of `GET /streams` as `token` sees them.
async fn visible_streams(camview: &AllInOne, token: &str) -> Vec<String> {
    let (status, body) = camview.call(Method::GET, "/streams", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut ids: Vec<String> = body["streams"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["camera_id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_created_with_the_cli_logs_in_and_sees_only_the_camera_granted_to_it() {
    let data = DataDir::new();
    let camview = AllInOne::start(&data, &[], &[]).await;
    let added = camview
        .cli(
            &["user", "add", "alice", "--role", "viewer", "--grant", "camgranted", "--password-stdin"],
            Some(&format!("{VIEWER_PASSWORD}\n")),
        )
        .ok();
    assert!(!added.stdout.contains(VIEWER_PASSWORD), "the password is not echoed: {added:?}");
    camview.start_stream("camgranted").await;
    camview.start_stream("camother").await;
    assert_eq!(
        visible_streams(&camview, &camview.admin_token).await,
        ["camgranted", "camother"],
        "admin sees every stream"
    );

    let alice =
        camview.login("alice", VIEWER_PASSWORD).await.unwrap_or_else(|e| panic!("{e}\n{}", camview.service.output()));
    assert_eq!(visible_streams(&camview, &alice).await, ["camgranted"]);
    let (status, _) = camview.call(Method::GET, "/streams/camgranted", Some(&alice)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = camview.call(Method::GET, "/streams/camother", Some(&alice)).await;
    assert!(status == StatusCode::FORBIDDEN || status == StatusCode::NOT_FOUND, "another camera: {status} {body}");
    let (status, _) = camview.call(Method::POST, "/streams/camgranted/stop", Some(&alice)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a viewer cannot stop streams");

    let listed = camview.cli(&["user", "list"], None).ok();
    let alice_line = listed
        .stdout
        .lines()
        .find(|l| l.starts_with("alice "))
        .unwrap_or_else(|| panic!("alice is listed: {listed:?}"));
    assert!(alice_line.contains("viewer") && alice_line.contains("camgranted"), "{alice_line}");
    assert!(!listed.stdout.contains("argon2"), "no hash in the list: {listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_added_without_a_terminal_or_stdin_password_gets_a_generated_one_printed_once_that_logs_in() {
    let data = DataDir::new();
    let camview = AllInOne::start(&data, &[], &[]).await;
    let added = camview.cli(&["user", "add", "carol", "--grant", "*"], None).ok();
    let line = added
        .stdout
        .lines()
        .find(|l| l.starts_with("password: "))
        .unwrap_or_else(|| panic!("a generated password: {added:?}"));
    let password = line.trim_start_matches("password: ").split(' ').next().expect("the password");
    camview.login("carol", password).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!camview.service.output().contains(password), "the server never logs the password");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keepalive_from_an_untrusted_network_is_401_with_a_wrong_secret_and_200_with_the_one_the_cli_printed() {
    let data = DataDir::new();
    // Loopback is not a trusted camera network here, so the secret decides.
    let camview = AllInOne::start(&data, &[("CAMERA_TRUSTED_NETWORKS", "192.0.2.0/24")], &[]).await;
    let secret = secret_of(&camview.cli(&["camera", "add", "cam1"], None).ok());
    assert_eq!(camview.keepalive("cam1", None).await, StatusCode::UNAUTHORIZED, "no secret");
    assert_eq!(camview.keepalive("cam1", Some("not-the-secret")).await, StatusCode::UNAUTHORIZED, "a wrong secret");
    assert_eq!(camview.keepalive("cam1", Some(&secret)).await, StatusCode::OK, "the printed secret");
    let listed = camview.cli(&["camera", "list"], None).ok();
    assert!(listed.stdout.contains("cam1") && !listed.stdout.contains(&secret), "{listed:?}");
    assert!(!camview.service.output().contains(&secret), "the server never logs a camera secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_grants_and_camera_secrets_survive_a_restart_of_the_all_in_one_binary() {
    let data = DataDir::new();
    let mut camview = AllInOne::start(&data, &[("CAMERA_TRUSTED_NETWORKS", "192.0.2.0/24")], &[]).await;
    camview.cli(&["user", "add", "dave", "--grant", "camkept", "--password-stdin"], Some(VIEWER_PASSWORD)).ok();
    let secret = secret_of(&camview.cli(&["camera", "add", "camkept"], None).ok());

    camview.restart().await;
    camview.start_stream("camkept").await;
    camview.start_stream("camnot").await;
    let dave = camview
        .login("dave", VIEWER_PASSWORD)
        .await
        .unwrap_or_else(|e| panic!("dave after the restart: {e}\n{}", camview.service.output()));
    assert_eq!(visible_streams(&camview, &dave).await, ["camkept"], "the grant survived");
    assert_eq!(camview.keepalive("camkept", Some(&secret)).await, StatusCode::OK, "the secret survived");
    assert_eq!(camview.keepalive("camkept", Some("wrong")).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_changed_or_a_user_deleted_with_the_cli_stops_its_tokens_and_its_logins() {
    let data = DataDir::new();
    let camview = AllInOne::start(&data, &[], &[]).await;
    camview.cli(&["user", "add", "erin", "--grant", "cam1", "--password-stdin"], Some(VIEWER_PASSWORD)).ok();
    let old = camview.login("erin", VIEWER_PASSWORD).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(camview.call(Method::GET, "/auth/me", Some(&old)).await.0, StatusCode::OK);

    camview.cli(&["user", "passwd", "erin", "--password-stdin"], Some("a-new-password\n")).ok();
    assert_eq!(
        camview.call(Method::GET, "/auth/me", Some(&old)).await.0,
        StatusCode::UNAUTHORIZED,
        "the old session ended"
    );
    assert!(camview.login("erin", VIEWER_PASSWORD).await.is_err(), "the old password is refused");
    let new = camview.login("erin", "a-new-password").await.unwrap_or_else(|e| panic!("{e}"));

    camview.cli(&["user", "delete", "erin"], None).ok();
    assert_eq!(
        camview.call(Method::GET, "/auth/me", Some(&new)).await.0,
        StatusCode::UNAUTHORIZED,
        "a deleted user's session ended"
    );
    assert!(camview.login("erin", "a-new-password").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_prints_a_one_time_login_link_for_admin_that_works_once() {
    let data = DataDir::new();
    let camview = AllInOne::start(&data, &[], &["--demo"]).await;
    let mut code = String::new();
    wait_until(PATIENCE, "the demo prints its login link", || {
        let output = camview.service.output();
        let found =
            output.split("/login#code=").nth(1).and_then(|rest| rest.split_whitespace().next()).map(str::to_owned);
        let done = found.is_some();
        if let Some(found) = found {
            code = found;
        }
        async move { done }
    })
    .await;
    assert!(camview.service.output().contains("/viewer?camera=demo"), "{}", camview.service.output());
    let http = reqwest::Client::new();
    let redeem = || http.post(format!("{}/auth/link", camview.api_url)).json(&serde_json::json!({"code": code})).send();
    let first = redeem().await.expect("POST /auth/link");
    assert_eq!(first.status(), StatusCode::OK);
    let token: serde_json::Value = first.json().await.expect("a token response");
    let token = token["token"].as_str().expect("a token").to_owned();
    let (status, me) = camview.call(Method::GET, "/auth/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert!(me.to_string().contains("admin"), "{me}");
    assert_eq!(redeem().await.expect("POST /auth/link").status(), StatusCode::UNAUTHORIZED, "the link works once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_validation_errors_exit_2_and_failures_exit_1_without_touching_the_store() {
    let data = DataDir::new();
    let env = data.env();
    let cases: [(&[&str], Option<&str>, i32); 7] = [
        (&["user", "add", "bad name", "--password-stdin"], Some(VIEWER_PASSWORD), 2),
        (&["user", "add", "frank", "--grant", "../etc", "--password-stdin"], Some(VIEWER_PASSWORD), 2),
        (&["user", "add", "frank", "--password-stdin"], Some("short"), 2),
        (&["user", "add", "frank", "--role", "root"], None, 2),
        (&["camera", "add", "cam/1"], None, 2),
        (&["user", "passwd", "nobody", "--password-stdin"], Some(VIEWER_PASSWORD), 1),
        (&["camera", "remove", "nosecret"], None, 1),
    ];
    for (args, stdin, code) in cases {
        let out = cli(&env, args, stdin);
        assert_eq!(out.code, Some(code), "camview {args:?}: {out:?}");
        assert!(!out.stderr.trim().is_empty(), "camview {args:?} says why: {out:?}");
    }
    let listed = cli(&env, &["user", "list"], None).ok();
    assert_eq!(listed.stdout.lines().count(), 1, "only the header: nothing was created: {listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_split_mode_a_user_and_a_camera_secret_added_with_the_cli_and_redis_url_work_on_the_api_and_still_do_after_the_api_restarts(
) {
    // Loopback is not a trusted camera network here, so the secret decides.
    let mut stack =
        Stack::start_with(StackOptions::default().api(&[("CAMERA_TRUSTED_NETWORKS", "192.0.2.0/24")])).await;
    cli(&stack.cli_env(), &["user", "add", "grace", "--grant", "camsplit", "--password-stdin"], Some(VIEWER_PASSWORD))
        .ok();
    let secret = secret_of(&cli(&stack.cli_env(), &["camera", "add", "camsplit"], None).ok());
    for moment in ["before", "after"] {
        stack
            .login("grace", VIEWER_PASSWORD)
            .await
            .unwrap_or_else(|e| panic!("{moment} the api restart: {e}\n{}", stack.all_output()));
        assert_eq!(
            split_keepalive(&stack, Some(&secret)).await,
            StatusCode::OK,
            "{moment} the api restart: the secret the CLI printed"
        );
        assert_eq!(
            split_keepalive(&stack, Some("wrong")).await,
            StatusCode::UNAUTHORIZED,
            "{moment} the api restart: a wrong secret"
        );
        if moment == "before" {
            stack.restart("api").await;
        }
    }
}

/// A keepalive of `camsplit` to the split API.
async fn split_keepalive(stack: &Stack, secret: Option<&str>) -> StatusCode {
    let mut request = stack
        .http()
        .post(format!("{}/cameras/camsplit/keepalive", stack.api_url))
        .json(&camview_proto::rest::KeepaliveRequest::default());
    if let Some(secret) = secret {
        request = request.bearer_auth(secret);
    }
    request.send().await.expect("POST keepalive").status()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_split_mode_a_grant_revoked_with_the_cli_ends_the_users_live_viewer_within_2_seconds() {
    let mut stack = Stack::start().await;
    cli(&stack.cli_env(), &["user", "add", "heidi", "--grant", "camlive", "--password-stdin"], Some(VIEWER_PASSWORD))
        .ok();
    let token = stack.login("heidi", VIEWER_PASSWORD).await.unwrap_or_else(|e| panic!("{e}\n{}", stack.all_output()));
    stack.start_stream("camlive").await;
    stack.start_camera("camlive");
    let mut viewer = stack.viewer_as(&token).await;
    viewer.join("camlive", PATIENCE).await.unwrap_or_else(|e| panic!("join: {e}\n{}", stack.all_output()));

    cli(&stack.cli_env(), &["user", "revoke", "heidi", "camlive"], None).ok();
    let ended = viewer.drive_until(Duration::from_secs(2), "the viewer is ended", |_| false).await;
    match ended {
        Err(ViewerError::Refused { code, message }) => assert_eq!(code, "unauthorized", "{message}"),
        other => {
            panic!("the viewer was not told within 2 s that its access was revoked: {other:?}\n{}", stack.all_output())
        }
    }
}

/// The engine's count of datagrams dropped on camera sockets for coming from another address
/// than the latched camera's.
async fn foreign_packets(stack: &Stack) -> f64 {
    camview_system_tests::scenario::sum(
        &[&stack.metrics(&stack.engine_metrics_url).await],
        "camview_engine_rtp_foreign_packets_total",
        &[],
    )
    .unwrap_or(0.0)
}

async fn rtp_port(stack: &Stack, camera: &str) -> u16 {
    let body = stack.stream(camera).await;
    body["rtp"]["port"].as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or_else(|| panic!("no rtp port in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_camera_whose_keepalive_comes_from_a_new_address_is_relatched_there_its_viewer_plays_on_and_the_old_address_is_shut_out(
) {
    let mut stack = Stack::start().await;
    stack.start_stream("cammove").await;
    stack.start_camera_at("cammove", "127.0.0.1");
    let mut viewer = stack.viewer().await;
    viewer.join("cammove", PATIENCE).await.unwrap_or_else(|e| panic!("join: {e}\n{}", stack.all_output()));
    viewer
        .wait_for_media(20, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("media from the first address: {e}\n{}", stack.all_output()));
    let first_port = rtp_port(&stack, "cammove").await;

    // The camera moves: it stops at 127.0.0.1 and comes back at 127.0.0.2 (RTP and keepalive).
    assert!(stack.service("camera").stop(Duration::from_secs(5)).await, "the first camera stops");
    let before = viewer.peer().packets().len();
    stack.start_camera_at("cammove", "127.0.0.2");
    // Without a re-latch its packets would be dropped at the old latch: the viewer would starve.
    viewer
        .wait_for_media(before + 60, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("media from the new address: {e}\n{}", stack.all_output()));
    let new_port = rtp_port(&stack, "cammove").await;
    assert_ne!(new_port, first_port, "the re-latched stream has a new RTP port");

    // The old address is now the stranger: its datagrams to the new port are counted and dropped.
    let foreign_before = foreign_packets(&stack).await;
    let old = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for _ in 0..20 {
        old.send_to(&[0x80, 96, 0, 1, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 0x65], ("127.0.0.1", new_port))
            .await
            .unwrap();
    }
    wait_until(PATIENCE, "the engine counts the old address's packets as foreign", || async {
        foreign_packets(&stack).await >= foreign_before + 20.0
    })
    .await;
}
