//! Private OpenTelemetry pipelines for tests: a meter provider whose Prometheus text only this
//! test's instruments fill (tests run in parallel in one process), and an in-memory span
//! exporter behind a thread-local subscriber (tokio tests run on the test's thread).

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt;

/// Instruments read back as Prometheus text, exported the way `camview_common::telemetry` does.
pub struct TestMetrics {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
}

impl TestMetrics {
    pub fn new() -> Self {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_units()
            .without_counter_suffixes()
            .without_target_info()
            .scope_info_enabled(false)
            .build()
            .expect("a fresh registry accepts the exporter");
        Self { provider: SdkMeterProvider::builder().with_reader(exporter).build(), registry }
    }

    pub fn meter(&self) -> Meter {
        self.provider.meter("test")
    }

    pub fn text(&self) -> String {
        use prometheus::Encoder;
        let mut out = Vec::new();
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("encodes");
        String::from_utf8(out).expect("utf-8")
    }

    /// The sample `name` whose labels include `labels`, if present.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        sample(&self.text(), name, labels)
    }
}

/// The value of the first sample `name{...}` in Prometheus `text` carrying every label of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').map_or((series, ""), |(m, r)| (m, r));
        if metric != name {
            return None;
        }
        labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))).then(|| value.parse().ok())?
    })
}

/// Spans finished while the returned guard lives on this thread.
pub struct TestTraces {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

impl TestTraces {
    pub fn install() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder().with_simple_exporter(exporter.clone()).build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        Self { exporter, provider, _guard: guard }
    }

    pub fn spans(&self) -> Vec<SpanData> {
        let _ = self.provider.force_flush();
        self.exporter.get_finished_spans().expect("in-memory spans")
    }

    pub fn named(&self, name: &str) -> Vec<SpanData> {
        self.spans().into_iter().filter(|s| s.name == name).collect()
    }
}

/// The string value of attribute `key` of `span`.
pub fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.as_str().into_owned())
}
