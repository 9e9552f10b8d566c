//! A scripted session against the real binaries, checked through every service's `/metrics`:
//! a camera stream started through the API, three viewers joining through signaling, one
//! leaving, a browser the media server refuses, a socket over signaling's limit, then stop.
//! Afterwards every metric the Grafana dashboards query must be exposed by some service.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use camview_common::testing::peer::{Codecs, TestPeer};
use camview_system_tests::scenario::{dashboard_metrics, families, family_of, sum};
use camview_system_tests::{Stack, StackOptions, Viewer, PATIENCE};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

const CAMERA: &str = "metricscam1";
/// Viewers 1-3 and the refused browser hold sockets; the fifth socket is over the limit.
const SIGNALING_LIMIT: &str = "4";

/// The four services' scraped texts, in one place.
struct Scrape {
    api: String,
    signaling: String,
    controller: String,
    engine: String,
}

impl Scrape {
    async fn of(stack: &Stack) -> Scrape {
        Scrape {
            api: stack.metrics(&stack.api_url).await,
            signaling: stack.metrics(&stack.signaling_url).await,
            controller: stack.metrics(&stack.controller_metrics_url).await,
            engine: stack.metrics(&stack.engine_metrics_url).await,
        }
    }

    fn all(&self) -> [&str; 4] {
        [&self.api, &self.signaling, &self.controller, &self.engine]
    }

    /// Adds the metric families of this scrape to `seen`.
    fn remember(&self, seen: &mut BTreeMap<String, String>) {
        seen.extend(self.all().iter().flat_map(|t| families(t)));
    }
}

/// Polls every service's `/metrics` until `check` holds for `what`, or fails showing the texts.
async fn until(stack: &Stack, what: &str, check: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let scrape = Scrape::of(stack).await;
        if check(&scrape) {
            return scrape;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}\n--- api\n{}\n--- signaling\n{}\n--- controller\n{}\n--- engine\n{}",
            scrape.api,
            scrape.signaling,
            scrape.controller,
            scrape.engine
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await; // scrape interval while polling
    }
}

/// A browser offering VP8 only, which the media server cannot feed from an H.264 camera.
async fn vp8_only_offer() -> String {
    TestPeer::bind(Codecs::Vp8).await.expect("a loopback UDP socket").offer()
}

#[tokio::test]
async fn a_scripted_session_shows_in_every_services_metrics_and_the_dashboards_query_only_exposed_metrics() {
    let mut stack =
        Stack::start_with(StackOptions::default().signaling(&[("SIGNALING_MAX_CONNECTIONS", SIGNALING_LIMIT)])).await;
    let cam = [("camera_id", CAMERA)];
    // Metric families seen in any scrape of the session (a stream's series end with it).
    let mut seen = BTreeMap::new();

    // Start through the API; the camera follows its keepalive answer and sends RTP.
    stack.start_stream(CAMERA).await;
    stack.start_camera(CAMERA);
    let s = until(&stack, "camera RTP reaches the engine", |s| {
        sum(&[&s.engine], "camview_engine_packets_total", &[("direction", "in")]) > Some(0.0)
    })
    .await;
    s.remember(&mut seen);
    assert_eq!(sum(&[&s.controller], "camview_streams_active", &[]), Some(1.0));
    assert_eq!(sum(&[&s.controller], "camview_stream_starts_total", &[]), Some(1.0));
    assert_eq!(sum(&[&s.controller], "camview_stream_starts_total", &[("outcome", "ok")]), Some(1.0));
    assert_eq!(sum(&[&s.controller], "camview_controller_leader", &[]), Some(1.0));
    assert!(sum(&[&s.engine], "camview_engine_bytes_total", &[("direction", "in")]) > Some(0.0));
    assert!(
        sum(&[&s.api], "camview_http_requests_total", &[("method", "POST"), ("route", "/streams/{camera_id}/start")])
            >= Some(1.0),
        "{}",
        s.api
    );

    // Three viewers join; the first one watches.
    let mut viewers: Vec<Viewer> = Vec::new();
    for _ in 0..3 {
        let mut v = stack.viewer().await;
        v.join(CAMERA, PATIENCE).await.unwrap_or_else(|e| panic!("join: {e}\n{}", stack.all_output()));
        viewers.push(v);
    }
    viewers[0].wait_for_media(5, PATIENCE).await.unwrap_or_else(|e| panic!("media: {e}\n{}", stack.all_output()));
    let s = until(&stack, "three viewers are counted", |s| {
        sum(&[&s.controller], "camview_stream_viewers", &cam) == Some(3.0)
            && sum(&[&s.engine], "camview_engine_packets_total", &[("direction", "out")]) > Some(0.0)
    })
    .await;
    s.remember(&mut seen);
    assert_eq!(
        sum(&[&s.signaling], "camview_viewer_joins_total", &[("outcome", "ok")]),
        Some(3.0),
        "summed over signaling instances"
    );
    assert!(
        sum(
            &[&s.controller],
            "camview_kurento_rpc_seconds_count",
            &[("method", "invoke"), ("operation", "processOffer")]
        ) >= Some(3.0)
    );
    assert!(sum(&[&s.engine], "camview_engine_bytes_total", &[("direction", "out")]) > Some(0.0));
    assert_eq!(sum(&[&s.engine], "camview_engine_media_objects", &[("type", "WebRtcEndpoint")]), Some(3.0));
    let errors = sum(&s.all(), "camview_errors_total", &[]);
    assert!(errors.is_none() || errors == Some(0.0), "no errors in a clean session: {errors:?}");

    // One leaves.
    viewers[2].leave().await.expect("leave");
    until(&stack, "the leaver is no longer counted", |s| {
        sum(&[&s.controller], "camview_stream_viewers", &cam) == Some(2.0)
    })
    .await
    .remember(&mut seen);

    // A browser that offers VP8 only is refused by the media server (`codec_unsupported`, which
    // reaches the browser), and that shows as errors.
    let (mut refused, _) =
        tokio_tungstenite::connect_async(stack.signaling_ws_url.as_str()).await.expect("a fourth socket");
    let join = serde_json::json!({"type": "join", "camera": CAMERA, "sdpOffer": vp8_only_offer().await, "token": stack.admin_token});
    refused.send(WsMessage::text(join.to_string())).await.expect("join sent");
    let error = tokio::time::timeout(PATIENCE, async {
        while let Some(Ok(frame)) = refused.next().await {
            let Ok(frame) = serde_json::from_str::<serde_json::Value>(frame.to_text().unwrap_or_default()) else {
                continue;
            };
            if frame["type"] == "error" {
                return frame;
            }
        }
        panic!("the socket closed without an error frame");
    })
    .await
    .expect("an error frame in time");
    assert_eq!(error["code"], "codec_unsupported", "{error}");
    // The fifth socket is over signaling's limit.
    if let Ok((mut over, _)) = tokio_tungstenite::connect_async(stack.signaling_ws_url.as_str()).await {
        let _ = tokio::time::timeout(PATIENCE, over.next()).await; // refused sockets are closed at once
    }
    let s = until(&stack, "the refusals are counted", |s| {
        sum(&[&s.controller], "camview_kurento_rpc_errors_total", &[("method", "invoke")]) >= Some(1.0)
            && sum(&[&s.signaling], "camview_signaling_rejected_connections_total", &[]) >= Some(1.0)
    })
    .await;
    s.remember(&mut seen);
    assert!(
        sum(&[&s.controller], "camview_errors_total", &[("code", "codec_unsupported")]) >= Some(1.0),
        "{}",
        s.controller
    );
    assert!(sum(&[&s.engine], "camview_errors_total", &[]) >= Some(1.0), "{}", s.engine);

    // Stop through the API.
    let stopped = stack.stop_stream(CAMERA).await;
    assert!(stopped.is_success(), "POST /streams/{CAMERA}/stop: {stopped}");
    let s =
        until(&stack, "the stream is stopped", |s| sum(&[&s.controller], "camview_streams_active", &[]) == Some(0.0))
            .await;
    s.remember(&mut seen);
    assert_eq!(sum(&[&s.controller], "camview_stream_stops_total", &[]), Some(1.0));
    assert_eq!(sum(&[&s.controller], "camview_stream_stops_total", &[("outcome", "ok")]), Some(1.0));
    assert!(matches!(sum(&[&s.controller], "camview_stream_viewers", &cam), None | Some(0.0)), "{}", s.controller);
    assert_eq!(sum(&[&s.engine], "camview_engine_media_objects", &[("type", "MediaPipeline")]), Some(0.0));

    // Every metric a dashboard queries was exposed by some service during this session.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/dashboards");
    let dashboards = dashboard_metrics(&dir).unwrap_or_else(|e| panic!("the Grafana dashboards must exist: {e}"));
    let exposed = seen;
    let missing: Vec<String> = dashboards
        .iter()
        .flat_map(|(file, tokens)| tokens.iter().map(move |t| (file, t)))
        .filter(|(_, token)| !exposed.contains_key(&family_of(token, &exposed)))
        .map(|(file, token)| format!("{file}: {token}"))
        .collect();
    assert!(
        missing.is_empty(),
        "dashboards query metrics no service exposes:\n{}\nexposed: {:?}",
        missing.join("\n"),
        exposed.keys()
    );

    for v in viewers {
        v.close().await;
    }
    let _ = refused.close(None).await;
}
