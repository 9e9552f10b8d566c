//! The ops server against real TCP.

use std::time::Duration;

use camview_common::telemetry::meter;
use camview_http::serve_ops;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut out))
        .await
        .expect("reply in time")
        .unwrap();
    out
}

#[tokio::test]
async fn the_metrics_server_serves_prometheus_text_and_health_until_shut_down() {
    let counter = meter("camview-test").u64_counter("camview_test_served_total").build();
    counter.add(1, &[]);
    let healthy = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = healthy.clone();
    let server = serve_ops(std::net::TcpListener::bind("127.0.0.1:0").unwrap(), move || {
        flag.load(std::sync::atomic::Ordering::SeqCst)
    })
    .unwrap();
    let addr = server.local_addr();

    let metrics = http_get(addr, "/metrics").await;
    assert!(metrics.starts_with("HTTP/1.0 200") || metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{metrics}");
    assert!(metrics.contains("camview_test_served_total 1"), "{metrics}");

    let health = http_get(addr, "/healthz").await;
    assert!(health.contains(" 200 ") && health.contains(r#"{"status":"ok"}"#), "{health}");
    healthy.store(false, std::sync::atomic::Ordering::SeqCst);
    let health = http_get(addr, "/healthz").await;
    assert!(health.contains(" 503 ") && health.contains(r#"{"status":"unavailable"}"#), "{health}");

    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "the port is closed after shutdown");
}
