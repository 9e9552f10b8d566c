use camview_proto::CameraId;
use opentelemetry::trace::{SpanId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt;

use super::*;

/// A subscriber with the OTel layer whose finished spans land in the returned exporter.
fn otel_subscriber() -> (impl tracing::Subscriber + Send + Sync, SdkTracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    (subscriber, provider, exporter)
}

#[test]
fn log_format_parses_json_and_pretty_only() {
    assert_eq!("JSON".parse::<LogFormat>().unwrap(), LogFormat::Json);
    assert_eq!("pretty".parse::<LogFormat>().unwrap(), LogFormat::Pretty);
    assert!("xml".parse::<LogFormat>().is_err());
}

#[test]
fn a_traceparent_taken_from_one_span_makes_another_span_its_child_in_the_same_trace() {
    let (subscriber, provider, exporter) = otel_subscriber();
    let traceparent = tracing::subscriber::with_default(subscriber, || {
        let sender = tracing::info_span!("join");
        let traceparent =
            sender.in_scope(current_traceparent).expect("an entered span with the OTel layer has a traceparent");
        assert_eq!(Some(&traceparent), traceparent_of(&sender).as_ref());
        let receiver = tracing::info_span!("AddViewer");
        assert!(link_parent(&receiver, Some(&traceparent)));
        drop(receiver);
        drop(sender);
        traceparent
    });
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let join = spans.iter().find(|s| s.name == "join").expect("join exported");
    let add = spans.iter().find(|s| s.name == "AddViewer").expect("AddViewer exported");
    assert_eq!(add.span_context.trace_id(), join.span_context.trace_id());
    assert_eq!(add.parent_span_id, join.span_context.span_id());
    assert_eq!(traceparent, format!("00-{}-{}-01", join.span_context.trace_id(), join.span_context.span_id()));
}

#[test]
fn a_malformed_or_missing_traceparent_is_ignored_and_the_span_starts_its_own_trace() {
    let (subscriber, provider, exporter) = otel_subscriber();
    tracing::subscriber::with_default(subscriber, || {
        for (i, bad) in [None, Some("garbage"), Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01")]
            .into_iter()
            .enumerate()
        {
            let span = tracing::info_span!("consumer", i);
            assert!(!link_parent(&span, bad), "{bad:?} must not become a parent");
            assert!(traceparent_of(&span).is_some(), "the span still has its own context");
        }
    });
    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 3);
    assert!(spans.iter().all(|s| s.parent_span_id == SpanId::INVALID));
}

#[test]
fn without_an_otel_layer_there_is_no_traceparent() {
    let span = tracing::info_span!("plain");
    assert_eq!(span.in_scope(current_traceparent), None);
}

#[test]
fn envelopes_built_inside_a_span_carry_its_traceparent() {
    let (subscriber, _provider, _exporter) = otel_subscriber();
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("join");
        let env = span.in_scope(|| {
            crate::bus::envelope(
                camview_proto::bus::Message::StopStream(camview_proto::bus::StopStream {
                    camera_id: CameraId::from_static("cam-1"),
                }),
                None,
                None,
            )
        });
        assert_eq!(env.traceparent, traceparent_of(&span));
        assert!(env.traceparent.is_some());
    });
}

#[test]
fn a_counter_made_with_meter_shows_in_prometheus_text_under_its_exact_name() {
    let counter = meter("camview-test").u64_counter("camview_test_things_total").build();
    counter.add(3, &[KeyValue::new("kind", "counted")]);
    let text = prometheus_text();
    assert!(text.contains("# TYPE camview_test_things_total counter"), "{text}");
    assert!(text.contains("camview_test_things_total{kind=\"counted\"} 3"), "{text}");
}

#[test]
fn a_seconds_histogram_keeps_its_name_and_uses_the_seconds_buckets() {
    let h = meter("camview-test")
        .f64_histogram("camview_test_wait_seconds")
        .with_unit("s")
        .with_boundaries(SECONDS_BUCKETS.to_vec())
        .build();
    h.record(0.003, &[KeyValue::new("phase", "answer")]);
    let text = prometheus_text();
    assert!(text.contains("camview_test_wait_seconds_bucket{phase=\"answer\",le=\"0.005\"} 1"), "{text}");
    assert!(text.contains("camview_test_wait_seconds_count{phase=\"answer\"} 1"), "{text}");
}

#[test]
fn shared_error_and_bus_lag_instruments_use_the_catalog_names() {
    record_error("test_only_code");
    let mut env = crate::bus::envelope(
        camview_proto::bus::Message::StopStream(camview_proto::bus::StopStream {
            camera_id: CameraId::from_static("cam-1"),
        }),
        None,
        None,
    );
    env.sent_at = crate::clock::now_rfc3339();
    record_bus_lag(&env);
    env.sent_at = "not a time".into();
    record_bus_lag(&env); // skipped, not counted
    let text = prometheus_text();
    assert!(text.contains("camview_errors_total{code=\"test_only_code\"} 1"), "{text}");
    let kind = env.message.kind();
    assert!(text.contains(&format!("camview_bus_lag_seconds_count{{kind=\"{kind}\"}} 1")), "{text}");
}

#[test]
fn telemetry_config_exports_only_to_a_configured_endpoint_and_names_bad_variables() {
    let cfg = |pairs: &[(&str, &str)]| {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        TelemetryConfig::from_lookup(move |k| map.get(k).cloned())
    };
    let none = cfg(&[]).unwrap();
    assert!(!none.traces_export_enabled() && !none.metrics_export_enabled());

    let base =
        cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"), ("OTEL_METRICS_EXPORTER", "none")]).unwrap();
    assert!(base.traces_export_enabled());
    assert!(!base.metrics_export_enabled());

    let traces_only =
        cfg(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://c/v1/traces"), ("OTEL_SERVICE_NAME", "svc")]).unwrap();
    assert!(traces_only.traces_export_enabled() && !traces_only.metrics_export_enabled());
    assert_eq!(traces_only.service_name.as_deref(), Some("svc"));

    let off = cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), ("OTEL_TRACES_EXPORTER", "NONE")]).unwrap();
    assert!(!off.traces_export_enabled() && off.metrics_export_enabled());

    assert!(!cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "  ")]).unwrap().traces_export_enabled(), "empty counts as unset");

    let err = cfg(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")]).unwrap_err();
    assert!(err.to_string().contains("OTEL_EXPORTER_OTLP_ENDPOINT"), "{err}");
    let err = cfg(&[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://")]).unwrap_err();
    assert!(err.to_string().contains("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"), "{err}");
    let err = cfg(&[("OTEL_TRACES_EXPORTER", "jaeger")]).unwrap_err();
    assert!(err.to_string().contains("OTEL_TRACES_EXPORTER") && err.to_string().contains("jaeger"), "{err}");

    let warned = cfg(&[("OTEL_BSP_SCHEDULE_DELAY", "soon")]).unwrap();
    assert!(warned.warnings.iter().any(|w| w.contains("OTEL_BSP_SCHEDULE_DELAY")), "{:?}", warned.warnings);
}

/// Collects what a layer writes.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn json_log_lines_carry_the_trace_and_span_id_of_the_current_span() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder().with_simple_exporter(exporter).build();
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(json_layer(move || writer.clone()));
    let traceparent = tracing::subscriber::with_default(subscriber, || {
        tracing::info!("outside any span");
        let span = tracing::info_span!("join", camera_id = "cam-1");
        span.in_scope(|| {
            tracing::info!(viewer = "v1", "inside the join");
            current_traceparent().unwrap()
        })
    });
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].get("trace_id").is_none(), "{text}");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(lines[1]["trace_id"], parts[1], "{text}");
    assert_eq!(lines[1]["span_id"], parts[2], "{text}");
    assert_eq!(lines[1]["message"], "inside the join", "{text}");
    assert_eq!(lines[1]["viewer"], "v1", "{text}");
    assert_eq!(lines[1]["span"]["camera_id"], "cam-1", "{text}");
}
