//! Traces and metrics of the controller against the real engine and Redis: command spans under
//! the sender's trace, one CLIENT span per Kurento request, the catalog's instruments and the
//! `/metrics` + `/healthz` endpoint.

use camview_common::bus::envelope;
use camview_common::testing::wait_until;
use camview_media_controller::kurento::{ClientConfig, KurentoClient, MediaPipeline, RtpEndpoint};
use camview_media_controller::metrics::RpcMetrics;
use camview_media_controller::startup::Application;
use camview_media_engine::{Engine, Settings as EngineSettings};
use camview_proto::bus::{Message, StartStream, StopStream};
use camview_proto::stream::Bandwidth;
use camview_proto::CameraId;
use opentelemetry::trace::{SpanKind, Status};
use tracing::Instrument;

use crate::browsers::{Stack, Viewer, PATIENCE};
use crate::telemetry::{attribute, sample, TestMetrics, TestTraces};

#[tokio::test]
async fn each_kurento_request_is_a_client_span_under_the_callers_span_and_is_measured() {
    let traces = TestTraces::install();
    let metrics = TestMetrics::new();
    let engine = Engine::start(EngineSettings::for_tests()).await.expect("engine starts");
    let client =
        KurentoClient::start_with_metrics(ClientConfig::new(engine.ws_url()), RpcMetrics::new(&metrics.meter()));
    client.wait_connected(PATIENCE).await.expect("connected");

    let command = tracing::info_span!("AddViewer");
    let failure = async {
        let pipeline = MediaPipeline::create(&client).await.expect("pipeline");
        let rtp = RtpEndpoint::create(&client, &pipeline, Default::default()).await.expect("rtp endpoint");
        rtp.process_offer("not an SDP offer").await.expect_err("a malformed offer is refused")
    }
    .instrument(command.clone())
    .await;
    drop(command);

    let parent = traces.named("AddViewer").pop().expect("the caller's span");
    let create = traces.named("kurento create");
    assert_eq!(create.len(), 2, "pipeline and endpoint");
    for span in &create {
        assert_eq!(span.span_kind, SpanKind::Client);
        assert_eq!(span.parent_span_id, parent.span_context.span_id(), "a child of the caller's span");
        assert_eq!(span.span_context.trace_id(), parent.span_context.trace_id());
        assert_eq!(attribute(span, "rpc.system").as_deref(), Some("jsonrpc"));
        assert_eq!(attribute(span, "rpc.method").as_deref(), Some("create"));
    }
    let types: Vec<_> = create.iter().filter_map(|s| attribute(s, "kurento.type")).collect();
    assert!(types.contains(&"MediaPipeline".to_owned()) && types.contains(&"RtpEndpoint".to_owned()), "{types:?}");

    let offer = traces.named("kurento invoke processOffer").pop().expect("the processOffer span");
    assert_eq!(offer.parent_span_id, parent.span_context.span_id());
    assert_eq!(attribute(&offer, "rpc.method").as_deref(), Some("invoke"));
    assert_eq!(attribute(&offer, "kurento.operation").as_deref(), Some("processOffer"));
    assert_eq!(attribute(&offer, "kurento.type").as_deref(), Some("RtpEndpoint"));
    let code = failure.code_label();
    assert_eq!(attribute(&offer, "error.code").as_deref(), Some(code.as_ref()));
    assert!(matches!(offer.status, Status::Error { .. }), "{:?}", offer.status);

    assert_eq!(
        metrics.value("camview_kurento_rpc_seconds_count", &[("method", "create"), ("operation", "MediaPipeline")]),
        Some(1.0)
    );
    assert_eq!(
        metrics.value("camview_kurento_rpc_seconds_count", &[("method", "invoke"), ("operation", "processOffer")]),
        Some(1.0)
    );
    assert_eq!(
        metrics.value("camview_kurento_rpc_errors_total", &[("method", "invoke"), ("code", code.as_ref())]),
        Some(1.0)
    );
    client.shutdown();
    engine.shutdown();
}

#[tokio::test]
async fn a_command_runs_in_a_span_named_after_it_under_the_senders_trace_and_its_reply_continues_that_trace() {
    let traces = TestTraces::install();
    let s = Stack::start().await;
    let controller = s.controller().await;
    let mut replies = s.deps.bus.subscribe("api-traced").await.expect("subscribe");
    let sender_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let mut env = envelope(
        Message::StartStream(StartStream {
            camera_id: CameraId::from_static("cam-traced"),
            bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
            source: None,
        }),
        Some("api-traced".into()),
        None,
    );
    env.traceparent = Some(format!("00-{sender_trace}-00f067aa0ba902b7-01"));
    s.deps.bus.push_command(&env).await.expect("pushed");
    let reply = tokio::time::timeout(PATIENCE, replies.recv()).await.expect("a reply in time").expect("a reply");
    assert!(matches!(reply.message, Message::StreamStarted(_)), "{reply:?}");

    // The span ends once the command's bookkeeping after the reply is done.
    wait_until(PATIENCE, "the command span ends", || async { !traces.named("StartStream").is_empty() }).await;
    let command = traces.named("StartStream").pop().expect("the command span");
    assert_eq!(command.span_context.trace_id().to_string(), sender_trace);
    assert_eq!(command.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert_eq!(attribute(&command, "camera_id").as_deref(), Some("cam-traced"));
    let reply_parent = reply.traceparent.expect("the reply carries a traceparent");
    assert_eq!(
        reply_parent,
        format!("00-{sender_trace}-{}-01", command.span_context.span_id()),
        "the reply continues the command's span"
    );
    let offer = traces.named("kurento invoke processOffer").pop().expect("the camera offer went to the engine");
    assert_eq!(offer.parent_span_id, command.span_context.span_id());
    controller.shutdown().await;
}

/// Gauges follow the registry right after each command's reply: wait for the value.
async fn gauge_reaches(metrics: &TestMetrics, name: &str, labels: &[(&str, &str)], want: Option<f64>) {
    let what = format!("{name}{labels:?} is {want:?}");
    wait_until(PATIENCE, &what, || async { metrics.value(name, labels) == want }).await;
}

#[tokio::test]
async fn stream_and_viewer_gauges_follow_the_leader_a_standby_reports_none_and_takes_them_over_on_failover() {
    let s = Stack::start().await;
    let (leader_metrics, standby_metrics) = (TestMetrics::new(), TestMetrics::new());
    let leader = s.controller_with_meter(&leader_metrics.meter()).await;
    s.start_stream("cam-gauges").await;
    let standby = s.controller_with_meter(&standby_metrics.meter()).await;
    let stream = [("camera_id", "cam-gauges")];
    gauge_reaches(&leader_metrics, "camview_streams_active", &[], Some(1.0)).await;
    assert_eq!(leader_metrics.value("camview_controller_leader", &[]), Some(1.0));
    assert_eq!(leader_metrics.value("camview_stream_starts_total", &[("outcome", "ok")]), Some(1.0));
    assert_eq!(leader_metrics.value("camview_stream_viewers", &stream), Some(0.0));
    wait_until(PATIENCE, "the standby reports itself", || async {
        standby_metrics.value("camview_controller_leader", &[]).is_some()
    })
    .await;
    assert_eq!(standby_metrics.value("camview_controller_leader", &[]), Some(0.0));
    assert_eq!(standby_metrics.value("camview_streams_active", &[]), Some(0.0), "a standby manages no stream");

    s.start_stream("cam-gauges").await;
    assert_eq!(leader_metrics.value("camview_stream_starts_total", &[("outcome", "already_started")]), Some(1.0));
    let mut viewers = Vec::new();
    for id in ["v-g1", "v-g2"] {
        let mut v = Viewer::new(&s, &format!("sig-{id}"), "cam-gauges", id, true).await;
        v.join(&s).await;
        viewers.push(v);
    }
    gauge_reaches(&leader_metrics, "camview_stream_viewers", &stream, Some(2.0)).await;
    assert!(
        leader_metrics
            .value("camview_kurento_rpc_seconds_count", &[("method", "invoke"), ("operation", "processOffer")])
            >= Some(3.0)
    );
    viewers[0].leave().await;
    gauge_reaches(&leader_metrics, "camview_stream_viewers", &stream, Some(1.0)).await;

    let stop = s
        .api
        .request(Message::StopStream(StopStream { camera_id: CameraId::from_static("cam-gauges") }), PATIENCE)
        .await
        .unwrap();
    assert!(matches!(stop, Message::StreamStopped(_)), "{stop:?}");
    gauge_reaches(&leader_metrics, "camview_streams_active", &[], Some(0.0)).await;
    gauge_reaches(&leader_metrics, "camview_stream_viewers", &stream, None).await;
    assert_eq!(leader_metrics.value("camview_stream_stops_total", &[("outcome", "ok")]), Some(1.0));
    let again = s
        .api
        .request(Message::StopStream(StopStream { camera_id: CameraId::from_static("cam-gauges") }), PATIENCE)
        .await
        .unwrap();
    assert!(matches!(again, Message::Failed(_)), "{again:?}");
    assert_eq!(leader_metrics.value("camview_stream_stops_total", &[("outcome", "stream_not_found")]), Some(1.0));

    // Failover: the standby takes the lease and reports the streams it now manages.
    s.start_stream("cam-failover").await;
    leader.abort();
    gauge_reaches(&standby_metrics, "camview_controller_leader", &[], Some(1.0)).await;
    gauge_reaches(&standby_metrics, "camview_streams_active", &[], Some(1.0)).await;
    gauge_reaches(&standby_metrics, "camview_stream_viewers", &[("camera_id", "cam-failover")], Some(0.0)).await;
    standby.shutdown().await;
    assert_eq!(
        standby_metrics.value("camview_controller_leader", &[]),
        Some(0.0),
        "a stopped controller gave the lease up"
    );
    assert_eq!(standby_metrics.value("camview_streams_active", &[]), Some(0.0));
}

#[tokio::test]
async fn the_metrics_endpoint_serves_prometheus_text_and_healthz_follows_the_media_server_connection() {
    let mut s = Stack::start().await;
    let meter = camview_common::telemetry::meter(camview_media_controller::metrics::SCOPE);
    let app = Application::build(s.controller_settings(), s.dependencies(&meter).await).await.expect("controller");
    let base = format!("http://127.0.0.1:{}", app.port().expect("METRICS_ADDR is set"));
    let http = reqwest::Client::new();
    let healthz = |want: u16| {
        let (http, url) = (http.clone(), format!("{base}/healthz"));
        move || {
            let (http, url) = (http.clone(), url.clone());
            async move { http.get(url).send().await.is_ok_and(|r| r.status().as_u16() == want) }
        }
    };
    wait_until(PATIENCE, "healthz is 200 once connected", healthz(200)).await;

    s.start_stream("cam-scrape").await;
    let text = http.get(format!("{base}/metrics")).send().await.expect("scrape").text().await.expect("body");
    assert!(sample(&text, "camview_kurento_rpc_seconds_count", &[("method", "create")]) >= Some(1.0), "{text}");
    assert!(sample(&text, "camview_stream_starts_total", &[("outcome", "ok")]) >= Some(1.0), "{text}");

    // Without its media server the controller is unhealthy, and healthy again once it is back.
    s.engine().shutdown();
    wait_until(PATIENCE, "healthz is 503 without the media server", healthz(503)).await;
    s.restart_engine().await;
    wait_until(PATIENCE, "healthz is 200 again with the media server back", healthz(200)).await;
    let handle = app.handle();
    let run = tokio::spawn(app.run_until_stopped());
    handle.shutdown().await;
    run.await.expect("run task").expect("stopped cleanly");
    assert!(http.get(format!("{base}/healthz")).send().await.is_err(), "the ops server stops with the controller");
}
