//! The all-in-one `camview` binary sets telemetry up once: the API's `/metrics` shows the
//! instruments of every service running in the process, under `service.name` camview.

use std::collections::HashMap;

use camview_common::testing::wait_until;
use camview_system_tests::{free_port, Service, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_all_in_one_api_metrics_show_the_instruments_of_every_service_in_the_process() {
    let (api, signaling) = (free_port(), free_port());
    let env: HashMap<String, String> = [
        ("API_SERVER_HOST", "127.0.0.1".to_owned()),
        ("API_SERVER_PORT", api.to_string()),
        ("SIGNALING_SERVER_HOST", "127.0.0.1".to_owned()),
        ("SIGNALING_SERVER_PORT", signaling.to_string()),
        ("KMS_LISTEN_ADDR", format!("127.0.0.1:{}", free_port())),
        ("METRICS_ADDR", format!("127.0.0.1:{}", free_port())),
        ("ENGINE_WEBRTC_PORT", "0".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let camview = Service::spawn("camview", "camview", &[], &env);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{api}");
    wait_until(PATIENCE, "the all-in-one API reports healthy", || {
        let request = http.get(format!("{base}/health")).send();
        async move {
            match request.await {
                Ok(r) => r.text().await.unwrap_or_default().contains("\"healthy\""),
                Err(_) => false,
            }
        }
    })
    .await;
    let (_socket, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{signaling}/")).await.expect("a signaling WebSocket");

    let metrics = || async {
        match http.get(format!("{base}/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    };
    wait_until(PATIENCE, "signaling's open socket shows on the API's /metrics", || async {
        metrics().await.lines().any(|l| l == "camview_signaling_connections 1")
    })
    .await;
    let text = metrics().await;
    for (service, series) in [
        ("api", r#"camview_http_requests_total{method="GET",route="/health",status="200"}"#),
        ("media-controller", "camview_controller_leader 1"),
        ("media-engine", "camview_engine_sessions 1"),
        ("one resource", r#"service_name="camview""#),
    ] {
        assert!(text.contains(series), "no {series} from the {service} in\n{text}\n{}", camview.output());
    }
}
