//! One viewer join is one trace (docs/observability.md): signaling's `join` span -> the
//! media-controller's `AddViewer` span -> one client span per Kurento JSON-RPC call. The real
//! binaries export over OTLP/HTTP to a receiver in this test that decodes the real protobuf
//! `ExportTraceServiceRequest`. The same receiver decodes `ExportMetricsServiceRequest` to show
//! the catalog's instruments are pushed over OTLP too, not only served on `/metrics`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use camview_system_tests::{free_port, Stack, StackOptions, PATIENCE};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

/// One received span, flattened.
#[derive(Debug, Clone)]
struct ReceivedSpan {
    service: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    kind: i32,
    attributes: HashMap<String, String>,
}

fn text_attributes(attributes: &[KeyValue]) -> HashMap<String, String> {
    attributes
        .iter()
        .filter_map(|kv| {
            let value = match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => s.clone(),
                any_value::Value::IntValue(i) => i.to_string(),
                any_value::Value::BoolValue(b) => b.to_string(),
                other => format!("{other:?}"),
            };
            Some((kv.key.clone(), value))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An OTLP/HTTP receiver on loopback: `POST /v1/traces` decodes and keeps every span,
/// `POST /v1/metrics` decodes and keeps (service.name, metric name) of every metric.
struct Receiver {
    url: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    metrics: Arc<Mutex<Vec<(String, String)>>>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    fn start() -> Receiver {
        let port = free_port();
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
        let spans: Arc<Mutex<Vec<ReceivedSpan>>> = Arc::default();
        let store = spans.clone();
        let metrics: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
        let metric_store = metrics.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = HttpServer::new(move || {
                    let store = store.clone();
                    let metric_store = metric_store.clone();
                    App::new()
                        .app_data(web::PayloadConfig::new(16 * 1024 * 1024))
                        .route(
                            "/v1/traces",
                            web::post().to(move |body: web::Bytes| {
                                let store = store.clone();
                                async move {
                                    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                                        return HttpResponse::BadRequest().body("not an ExportTraceServiceRequest");
                                    };
                                    let mut received = store.lock().unwrap();
                                    for resource_spans in request.resource_spans {
                                        let resource = resource_spans
                                            .resource
                                            .map(|r| text_attributes(&r.attributes))
                                            .unwrap_or_default();
                                        let service = resource.get("service.name").cloned().unwrap_or_default();
                                        for scope in resource_spans.scope_spans {
                                            for span in scope.spans {
                                                received.push(ReceivedSpan {
                                                    service: service.clone(),
                                                    name: span.name.clone(),
                                                    trace_id: hex(&span.trace_id),
                                                    span_id: hex(&span.span_id),
                                                    parent_span_id: hex(&span.parent_span_id),
                                                    kind: span.kind,
                                                    attributes: text_attributes(&span.attributes),
                                                });
                                            }
                                        }
                                    }
                                    HttpResponse::Ok()
                                        .content_type("application/x-protobuf")
                                        .body(ExportTraceServiceResponse::default().encode_to_vec())
                                }
                            }),
                        )
                        .route(
                            "/v1/metrics",
                            web::post().to(move |body: web::Bytes| {
                                let metric_store = metric_store.clone();
                                async move {
                                    let Ok(request) = ExportMetricsServiceRequest::decode(body) else {
                                        return HttpResponse::BadRequest().body("not an ExportMetricsServiceRequest");
                                    };
                                    let mut received = metric_store.lock().unwrap();
                                    for resource_metrics in request.resource_metrics {
                                        let resource = resource_metrics
                                            .resource
                                            .map(|r| text_attributes(&r.attributes))
                                            .unwrap_or_default();
                                        let service = resource.get("service.name").cloned().unwrap_or_default();
                                        for scope in resource_metrics.scope_metrics {
                                            for metric in scope.metrics {
                                                received.push((service.clone(), metric.name));
                                            }
                                        }
                                    }
                                    HttpResponse::Ok()
                                        .content_type("application/x-protobuf")
                                        .body(ExportMetricsServiceResponse::default().encode_to_vec())
                                }
                            }),
                        )
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .expect("listen")
                .run();
                tx.send(server.handle()).expect("the test waits for the handle");
                server.await
            })
        });
        let server = rx.recv_timeout(Duration::from_secs(10)).expect("the receiver starts");
        Receiver { url: format!("http://127.0.0.1:{port}"), spans, metrics, server }
    }

    fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    fn has_metric(&self, service: &str, name: &str) -> bool {
        self.metrics.lock().unwrap().iter().any(|(s, n)| s == service && n == name)
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.server.stop(false));
    }
}

/// What the test checks once the spans are in, or why not yet.
fn one_trace(spans: &[ReceivedSpan], viewer_id: &str) -> Result<(), String> {
    let join = spans
        .iter()
        .find(|s| {
            s.service == "camview-signaling"
                && s.name == "join"
                && s.attributes.get("viewer_id").map(String::as_str) == Some(viewer_id)
        })
        .ok_or("no `join` span from camview-signaling for this viewer")?;
    for attribute in ["camera_id", "viewer_id"] {
        if !join.attributes.contains_key(attribute) {
            return Err(format!("the join span lacks {attribute}: {:?}", join.attributes));
        }
    }
    let trace: Vec<&ReceivedSpan> = spans.iter().filter(|s| s.trace_id == join.trace_id).collect();
    let signaling_ids: Vec<&str> =
        trace.iter().filter(|s| s.service == "camview-signaling").map(|s| s.span_id.as_str()).collect();
    let add_viewer = trace
        .iter()
        .find(|s| s.service == "camview-media-controller" && s.name == "AddViewer")
        .ok_or("no `AddViewer` span from camview-media-controller in the join's trace")?;
    if !signaling_ids.contains(&add_viewer.parent_span_id.as_str()) {
        return Err(format!(
            "AddViewer's parent {} is not a signaling span of the trace {signaling_ids:?}",
            add_viewer.parent_span_id
        ));
    }
    let by_id: HashMap<&str, &ReceivedSpan> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
    let under_add_viewer = |span: &ReceivedSpan| {
        let mut parent = span.parent_span_id.as_str();
        while let Some(p) = by_id.get(parent) {
            if p.span_id == add_viewer.span_id {
                return true;
            }
            parent = p.parent_span_id.as_str();
        }
        false
    };
    let kurento: Vec<&&ReceivedSpan> =
        trace.iter().filter(|s| s.service == "camview-media-controller" && s.name.starts_with("kurento ")).collect();
    for wanted in ["kurento create", "kurento invoke processOffer"] {
        let span = kurento
            .iter()
            .find(|s| s.name == wanted)
            .ok_or_else(|| format!("no `{wanted}` span in the join's trace"))?;
        if span.kind != SpanKind::Client as i32 {
            return Err(format!("`{wanted}` is not a client span (kind {})", span.kind));
        }
        if !under_add_viewer(span) {
            return Err(format!("`{wanted}` is not a descendant of the AddViewer span"));
        }
    }
    Ok(())
}

fn summary(spans: &[ReceivedSpan]) -> String {
    spans
        .iter()
        .map(|s| {
            format!(
                "{} {:?} trace={} span={} parent={} kind={}\n",
                s.service, s.name, s.trace_id, s.span_id, s.parent_span_id, s.kind
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_viewer_join_is_one_trace_from_signaling_through_the_controller_to_kurento_calls() {
    let receiver = Receiver::start();
    let otel: [(&str, &str); 3] = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.url),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ];
    let stack = Stack::start_with(StackOptions::default().signaling(&otel).controller(&otel)).await;
    let camera = "TRACE0CAMERA";
    stack.start_stream(camera).await;
    let mut viewer = stack.viewer().await;
    let viewer_id = match viewer.join(camera, PATIENCE).await {
        Ok(id) => id,
        Err(e) => panic!("the viewer could not join: {e}\n{}", stack.all_output()),
    };

    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut last = Err(String::from("no spans yet"));
    while tokio::time::Instant::now() < deadline {
        last = one_trace(&receiver.spans(), &viewer_id);
        if last.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // polling the receiver for exported spans
    }
    if let Err(why) = last {
        panic!(
            "the join of {viewer_id} is not one trace: {why}\nreceived spans:\n{}\n{}",
            summary(&receiver.spans()),
            stack.all_output()
        );
    }
    viewer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_instruments_are_pushed_over_otlp_by_signaling_and_the_controller() {
    let receiver = Receiver::start();
    let otel: [(&str, &str); 3] = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.url),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ("OTEL_TRACES_EXPORTER", "none"),
    ];
    let stack = Stack::start_with(StackOptions::default().signaling(&otel).controller(&otel)).await;
    let camera = "OTLP0METRICS";
    stack.start_stream(camera).await;
    let mut viewer = stack.viewer().await;
    if let Err(e) = viewer.join(camera, PATIENCE).await {
        panic!("the viewer could not join: {e}\n{}", stack.all_output());
    }
    let wanted = [
        ("camview-signaling", "camview_viewer_joins_total"),
        ("camview-signaling", "camview_viewer_join_seconds"),
        ("camview-media-controller", "camview_kurento_rpc_seconds"),
        ("camview-media-controller", "camview_streams_active"),
    ];
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let missing = loop {
        let missing: Vec<_> = wanted.iter().filter(|(service, name)| !receiver.has_metric(service, name)).collect();
        if missing.is_empty() || tokio::time::Instant::now() >= deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // polling the receiver for exported metrics
    };
    assert!(
        missing.is_empty(),
        "not received over OTLP: {missing:?}\nreceived: {:?}\n{}",
        receiver.metrics.lock().unwrap(),
        stack.all_output()
    );
    viewer.close().await;
}
