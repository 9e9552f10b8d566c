//! `/healthz` and `/metrics`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Deployment, WAIT};
use crate::responder::Responder;

/// A plain HTTP/1.0 GET; returns the status line and the body.
async fn get(port: u16, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut raw = String::new();
    tokio::time::timeout(WAIT, s.read_to_string(&mut raw))
        .await
        .expect("response in time")
        .expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("headers end");
    (
        head.lines().next().unwrap_or_default().to_owned(),
        body.to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_show_the_instance_its_sockets_and_its_joins() {
    let d = Deployment::new().await;
    let _responder = Responder::start(&d);
    d.start_stream("cam1").await;
    let app = d.spawn_app(&[]).await;
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
    let instance = app.instance_id();
    for line in [
        format!("camview_signaling_connections{{instance=\"{instance}\"}} 2"),
        format!("camview_viewers_active{{instance=\"{instance}\"}} 1"),
        format!("camview_signaling_joins_total{{instance=\"{instance}\",outcome=\"answered\"}} 1"),
        format!("camview_signaling_joins_total{{instance=\"{instance}\",outcome=\"stream_not_found\"}} 1"),
        format!("camview_viewer_join_seconds_count{{instance=\"{instance}\"}} 2"),
    ] {
        assert!(text.contains(&line), "missing {line} in\n{text}");
    }
}
