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
    tokio::time::timeout(Duration::from_secs(5), app.server).await.expect("server stops").expect("join").expect("serve");

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
    assert!(tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/", app.port)).await.is_err(), "no longer accepting");
    elsewhere.send(serde_json::json!({"type": "dance"})).await;
    elsewhere.expect_error("unknown_message_type").await; // the other instance is untouched
}
