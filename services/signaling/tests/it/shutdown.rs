//! Graceful shutdown: viewers are told, their slots released, the server stops in time.

use std::time::Duration;

use camview_proto::bus::{Message, RemoveReason};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::Deployment;
use crate::responder::Responder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_tells_viewers_and_releases_their_slots() {
    let d = Deployment::new().await;
    let responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let other = d.spawn_app(&[]).await;
    let mut a = app.connect().await;
    let mut b = app.connect().await;
    let mut elsewhere = other.connect().await;
    for c in [&mut a, &mut b, &mut elsewhere] {
        c.join_ok("cam1").await;
        c.expect("ice").await;
    }
    assert_eq!(d.viewer_count("cam1").await, 3);

    let started = tokio::time::Instant::now();
    app.handle.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown took {:?}", started.elapsed());
    tokio::time::timeout(Duration::from_secs(5), app.server)
        .await
        .expect("server stops")
        .expect("join")
        .expect("serve");

    for c in [&mut a, &mut b] {
        c.expect_error("shutting_down").await;
        assert_eq!(c.expect_close().await, Some(CloseCode::Away));
    }
    assert_eq!(d.viewer_count("cam1").await, 1, "only the viewer on the other instance remains");
    let reasons: Vec<_> = responder
        .commands()
        .into_iter()
        .filter_map(|m| match m {
            Message::RemoveViewer(r) => Some(r.reason),
            _ => None,
        })
        .collect();
    assert_eq!(reasons, [RemoveReason::ShuttingDown, RemoveReason::ShuttingDown]);
    assert!(
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/", app.port)).await.is_err(),
        "no longer accepting"
    );
    elsewhere.send(serde_json::json!({"type": "dance"})).await;
    elsewhere.expect_error("unknown_message_type").await; // the other instance is untouched
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_without_a_controller_is_prompt_and_leaves_the_release_queued_for_the_next_one() {
    let d = Deployment::new().await;
    let responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[("SIGNALING_SHUTDOWN_GRACE_MS", "2000")]).await;
    let mut c = app.connect().await;
    c.join_ok("cam1").await;
    c.expect("ice").await;
    responder.pause().await;
    let started = tokio::time::Instant::now();
    app.handle.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(4), "shutdown took {:?}", started.elapsed());
    c.expect_error("shutting_down").await;
    assert_eq!(d.viewer_count("cam1").await, 1, "only the controller frees slots");
    responder.resume();
    d.wait_viewer_count("cam1", 0).await; // the queued RemoveViewer, run by the controller
    assert!(responder.count("RemoveViewer") >= 1, "the controller was told");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_join_still_leaves_no_slot_behind() {
    let d = Deployment::new().await;
    let responder = Responder::start(&d);
    responder.go_silent(); // a hung controller: AddViewer is read, never answered
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[("BUS_REQUEST_TIMEOUT_MS", "500")]).await;
    let mut c = app.connect().await;
    c.join("cam1").await;
    let seen = |kind: &'static str| {
        let responder = responder.clone();
        move || {
            let responder = responder.clone();
            async move { responder.count(kind) >= 1 }
        }
    };
    camview_common::testing::wait_until(crate::helpers::WAIT, "the AddViewer is read", seen("AddViewer")).await;
    responder.answer_again();
    app.handle.shutdown().await;
    c.expect_error("shutting_down").await;
    // Whatever the controller did for the unanswered join, it is told to undo it.
    camview_common::testing::wait_until(crate::helpers::WAIT, "the undoing RemoveViewer", seen("RemoveViewer")).await;
    d.wait_viewer_count("cam1", 0).await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_shuts_down_gracefully_on_sigterm() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_camview-signaling"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SIGNALING_SERVER_HOST", "127.0.0.1")
        .env("SIGNALING_SERVER_PORT", "0")
        .env("REDIS_URL", &d.url)
        .env("REDIS_KEY_PREFIX", d.keys.prefix())
        .env("LOG_FORMAT", "json")
        .env("SIGNALING_WORKERS", "1")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the binary");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let port = tokio::time::timeout(crate::helpers::WAIT, async {
        while let Some(line) = lines.next_line().await.expect("read log") {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(port) = v["port"].as_u64() {
                return port as u16;
            }
        }
        panic!("the binary exited before listening");
    })
    .await
    .expect("the binary listens in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let mut viewer = crate::helpers::Client::connect(port, "/").await.with_token(&d.token);
    viewer.join_ok("cam1").await;
    viewer.expect("ice").await;
    assert_eq!(d.viewer_count("cam1").await, 1);
    let pid = child.id().expect("pid").to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("run kill");
    assert!(status.success());
    viewer.expect_error("shutting_down").await;
    let exit = tokio::time::timeout(Duration::from_secs(6), child.wait())
        .await
        .expect("exits within the grace period")
        .expect("wait");
    assert!(exit.success(), "{exit:?}");
    assert_eq!(d.viewer_count("cam1").await, 0);
}
