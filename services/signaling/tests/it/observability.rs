//! `/healthz` and `/metrics`.

use camview_proto::bus::{Message, ViewerStateChanged};
use camview_proto::stream::ViewerState;
use camview_proto::ViewerId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Deployment, WAIT};
use crate::responder::{candidate_for, Responder};

/// A plain HTTP/1.0 GET; returns the status line and the body.
pub async fn get(port: u16, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.expect("write");
    let mut raw = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut raw)).await.expect("response in time").expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("headers end");
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// The value of one series in Prometheus text, 0 when absent.
fn series(text: &str, name_and_labels: &str) -> f64 {
    camview_common::testing::series(text, name_and_labels).unwrap_or(0.0)
}

// Tests of this binary share one process registry and run in parallel: counters are compared
// before and after and must grow at least by this test's own joins; gauges must at least
// count this test's open sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_show_the_instance_its_sockets_its_joins_and_its_errors() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
    let (_, before) = get(app.port, "/metrics").await;
    let mut c = app.connect().await;
    c.join_ok("cam1").await;
    let mut other = app.connect().await;
    other.join("nosuch").await;
    other.expect_error("stream_not_found").await;

    let (status, body) = get(app.port, "/healthz").await;
    assert!(status.contains("200"), "{status}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["instance"], app.instance_id());
    assert_eq!(health["connections"], 2);

    let (status, text) = get(app.port, "/metrics").await;
    assert!(status.contains("200"), "{status}");
    for (name, least) in [
        (r#"camview_viewer_joins_total{outcome="ok"}"#, 1.0),
        (r#"camview_viewer_joins_total{outcome="stream_not_found"}"#, 1.0),
        (r#"camview_viewer_join_seconds_count{phase="answer"}"#, 1.0),
        (r#"camview_errors_total{code="stream_not_found"}"#, 1.0),
        (r#"camview_bus_lag_seconds_count{kind="ViewerAdded"}"#, 1.0),
    ] {
        let grew = series(&text, name) - series(&before, name);
        assert!(grew >= least, "{name} grew by {grew}, expected at least {least}\n{text}");
    }
    assert!(series(&text, "camview_signaling_connections") >= 2.0, "{text}");
    assert!(series(&text, "camview_viewers_active") >= 1.0, "{text}");
}

/// The trace id of a `traceparent`.
fn trace_id(traceparent: &str) -> &str {
    traceparent.split('-').nth(1).expect("a W3C traceparent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_about_one_viewer_continue_the_trace_of_its_join_and_its_connection_is_timed() {
    let d = Deployment::new().await;
    let responder = Responder::start(&d);
    d.start_stream("traced").await;
    let app = d.spawn_app(&[]).await;
    let (_, before) = get(app.port, "/metrics").await;
    let mut c = app.connect().await;
    let viewer_id = c.join_ok("traced").await;
    c.ice(&candidate_for("browser")).await;
    d.publish(
        app.instance_id(),
        Message::ViewerStateChanged(ViewerStateChanged {
            viewer_id: viewer_id.parse::<ViewerId>().unwrap(),
            state: ViewerState::Connected,
        }),
    )
    .await;
    let media = r#"camview_viewer_join_seconds_count{phase="media"}"#;
    camview_common::testing::wait_until(WAIT, "the media phase is timed", || {
        let port = app.port;
        let before = series(&before, media);
        async move { series(&get(port, "/metrics").await.1, media) > before }
    })
    .await;
    c.send(serde_json::json!({"type": "leave"})).await;
    camview_common::testing::wait_until(WAIT, "the responder saw RemoveViewer", || {
        let seen = responder.count("RemoveViewer") > 0;
        async move { seen }
    })
    .await;

    let envelopes = responder.seen.lock().unwrap().envelopes.clone();
    let about_viewer = |kind: &str| {
        envelopes
            .iter()
            .find(|e| {
                e.message.kind() == kind
                    && match &e.message {
                        Message::AddViewer(m) => m.viewer_id == viewer_id,
                        Message::AddIceCandidate(m) => m.viewer_id == viewer_id,
                        Message::RemoveViewer(m) => m.viewer_id == viewer_id,
                        _ => false,
                    }
            })
            .and_then(|e| e.traceparent.clone())
            .unwrap_or_else(|| panic!("no {kind} with a traceparent for {viewer_id}"))
    };
    let (add, ice, remove) = (about_viewer("AddViewer"), about_viewer("AddIceCandidate"), about_viewer("RemoveViewer"));
    assert_eq!(trace_id(&ice), trace_id(&add), "{add} / {ice}");
    assert_eq!(trace_id(&remove), trace_id(&add), "{add} / {remove}");
    assert_ne!(ice, add, "the candidate is sent from its own span");
    assert_ne!(remove, add, "the release is its own span");
}
