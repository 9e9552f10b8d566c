//! What is checked before an upgrade: the page's `Origin` (cross-site WebSocket hijacking)
//! and the upgrade rate per client address; and who may read `/metrics`.

use serde_json::Value;

use crate::helpers::Deployment;
use crate::observability::get;

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("JSON error body ({e}): {body}"));
    v["code"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_origin_gets_403_forbidden_and_no_socket() {
    let d = Deployment::new().await;
    let app = d.spawn_app(&[]).await;
    for origin in ["https://evil.example", "null", "http://127.0.0.1.evil.example:8080"] {
        let (status, _, body) = app.raw_upgrade(&[("Origin", origin)]).await;
        assert_eq!(status, 403, "{origin}");
        assert_eq!(error_code(&body), "forbidden", "{origin}");
    }
    assert_eq!(app.handle.connection_count(), 0, "nothing was upgraded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_host_on_another_port_a_listed_origin_and_no_origin_upgrade() {
    let d = Deployment::new().await;
    let app = d
        .spawn_app(&[
            ("SIGNALING_ALLOWED_ORIGINS", "https://cams.example.com"),
            ("PUBLIC_API_URL", "https://api.example.com:8443/"),
        ])
        .await;
    for headers in [
        vec![("Origin", "http://127.0.0.1:8080")],
        vec![("Origin", "https://cams.example.com")],
        vec![("Origin", "https://api.example.com:8443")],
        vec![],
    ] {
        let (status, head, _) = app.raw_upgrade(&headers).await;
        assert_eq!(status, 101, "{headers:?}: {head}");
    }
    let (status, _, _) = app.raw_upgrade(&[("Origin", "https://api.example.com")]).await;
    assert_eq!(status, 403, "the port of a listed origin counts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgrade_flood_from_one_address_gets_429_with_retry_after_and_others_still_connect() {
    let d = Deployment::new().await;
    let app = d
        .spawn_app(&[
            ("SIGNALING_UPGRADE_RATE_PER_SECOND", "1"),
            ("SIGNALING_UPGRADE_BURST", "3"),
            ("TRUSTED_PROXIES", "127.0.0.1/32"),
        ])
        .await;
    let flood = [("X-Forwarded-For", "203.0.113.7")];
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(app.raw_upgrade(&flood).await);
    }
    let ok = statuses.iter().filter(|(s, _, _)| *s == 101).count();
    assert!(
        (3..=4).contains(&ok),
        "the burst, perhaps one refill: {:?}",
        statuses.iter().map(|s| s.0).collect::<Vec<_>>()
    );
    let (status, head, body) = statuses.last().unwrap();
    assert_eq!(*status, 429);
    assert_eq!(error_code(body), "rate_limited");
    let retry_after = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("retry-after:").map(|v| v.trim().to_owned()))
        .expect("Retry-After header");
    assert!(retry_after.parse::<u64>().unwrap() >= 1, "{retry_after}");
    let (status, _, _) = app.raw_upgrade(&[("X-Forwarded-For", "198.51.100.9")]).await;
    assert_eq!(status, 101, "another client address is not limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_peer_cannot_dodge_the_upgrade_limit_with_x_forwarded_for() {
    let d = Deployment::new().await;
    let app = d.spawn_app(&[("SIGNALING_UPGRADE_RATE_PER_SECOND", "1"), ("SIGNALING_UPGRADE_BURST", "2")]).await;
    let mut last = 0;
    for i in 0..4 {
        let forwarded = format!("198.51.100.{i}");
        last = app.raw_upgrade(&[("X-Forwarded-For", &forwarded)]).await.0;
    }
    assert_eq!(last, 429, "without TRUSTED_PROXIES the peer address is the key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_to_allowed_networks_only_and_healthz_stays_public() {
    let d = Deployment::new().await;
    let open = d.spawn_app(&[]).await;
    let (status, _) = get(open.port, "/metrics").await;
    assert!(status.contains(" 200 "), "loopback is allowed by default: {status}");
    let closed = d.spawn_app(&[("METRICS_ALLOWED_NETWORKS", "10.0.0.0/8")]).await;
    let (status, body) = get(closed.port, "/metrics").await;
    assert!(status.contains(" 403 "), "{status}");
    assert_eq!(error_code(&body), "forbidden");
    assert!(!body.contains("camview_"), "{body}");
    let (status, body) = get(closed.port, "/healthz").await;
    assert!(status.contains(" 200 "), "{status}");
    let health: Value = serde_json::from_str(&body).unwrap();
    let mut keys: Vec<_> = health.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["connections", "instance", "status"], "no more than before");
}
