//! Message rate limit, connection limit, idle timeout.

use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::helpers::{Client, Deployment};
use crate::responder::Responder;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_messages_is_rate_limited_then_closed_with_1008() {
    let d = Deployment::new().await;
    let app = d
        .spawn_app(&[
            ("SIGNALING_RATE_LIMIT_PER_SECOND", "1"),
            ("SIGNALING_RATE_LIMIT_BURST", "5"),
            ("SIGNALING_RATE_LIMIT_CLOSE_AFTER", "20"),
        ])
        .await;
    let mut polite = app.connect().await;
    let mut c = app.connect().await;
    for _ in 0..5 {
        c.send(json!({"type": "dance"})).await;
        c.expect_error("unknown_message_type").await;
    }
    c.send(json!({"type": "dance"})).await;
    c.expect_error("rate_limited").await;
    for _ in 0..40 {
        c.send(json!({"type": "dance"})).await;
    }
    assert_eq!(c.expect_close().await, Some(CloseCode::Policy));
    polite.send(json!({"type": "dance"})).await;
    polite.expect_error("unknown_message_type").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_refused_with_too_many_connections_and_1013() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[("SIGNALING_MAX_CONNECTIONS", "2")]).await;
    let mut a = app.connect().await;
    let b = app.connect().await;
    let mut refused = app.connect().await;
    refused.expect_error("too_many_connections").await;
    assert_eq!(refused.expect_close().await, Some(CloseCode::Again));
    a.join_ok("cam1").await;
    b.close().await;
    let mut again = Client::connect(app.port, "/").await;
    // the slot of `b` comes back once its loop ended; retry until admitted
    let mut admitted = false;
    for _ in 0..50 {
        again.send(json!({"type": "dance"})).await;
        let v = again.recv().await;
        if v["code"] == "unknown_message_type" {
            admitted = true;
            break;
        }
        assert_eq!(v["code"], "too_many_connections");
        again.expect_close().await;
        camview_common::testing::wait_until(crate::helpers::WAIT, "a connection slot frees", || {
            let n = app.handle.connection_count();
            async move { n < 2 }
        })
        .await;
        again = Client::connect(app.port, "/").await;
    }
    assert!(admitted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_answers_pings_is_closed_after_the_idle_timeout() {
    let d = Deployment::new().await;
    let app = d.spawn_app(&[("SIGNALING_PING_INTERVAL_MS", "100"), ("SIGNALING_IDLE_TIMEOUT_MS", "400")]).await;
    let mut live = app.connect().await;
    let mut silent = app.connect().await;
    // A tungstenite client only answers pings while it reads: `silent` reads nothing,
    // `live` talks and reads every 50 ms until the server has dropped `silent`.
    let deadline = tokio::time::Instant::now() + crate::helpers::WAIT;
    let mut pace = tokio::time::interval(std::time::Duration::from_millis(50));
    while app.handle.connection_count() > 1 {
        assert!(tokio::time::Instant::now() < deadline, "the silent socket was not dropped");
        pace.tick().await;
        live.send(json!({"type": "dance"})).await;
        live.expect_error("unknown_message_type").await;
    }
    assert_eq!(silent.expect_close().await, Some(CloseCode::Away));
    live.send(json!({"type": "dance"})).await;
    live.expect_error("unknown_message_type").await;
}
