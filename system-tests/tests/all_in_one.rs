//! The all-in-one `camview` binary sets telemetry up once: the API's `/metrics` shows the
//! instruments of every service running in the process, under `service.name` camview.

use camview_common::testing::wait_until;
use camview_system_tests::{AllInOne, DataDir, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_all_in_one_api_metrics_show_the_instruments_of_every_service_in_the_process() {
    let data = DataDir::new();
    let camview = AllInOne::start(&data, &[("RUST_LOG", "warn")], &[]).await;
    let (_socket, _) =
        tokio_tungstenite::connect_async(camview.signaling_ws_url.as_str()).await.expect("a signaling WebSocket");

    let http = reqwest::Client::new();
    let metrics = || async {
        // The admin token goes along in case /metrics needs a login.
        match http.get(format!("{}/metrics", camview.api_url)).bearer_auth(&camview.admin_token).send().await {
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
        assert!(text.contains(series), "no {series} from the {service} in\n{text}\n{}", camview.service.output());
    }
}
