//! Telemetry shared by every binary, so all services behave alike (docs/observability.md):
//! logs (pretty, or JSON with `LOG_FORMAT=json` carrying the current span's `trace_id` and
//! `span_id`), OpenTelemetry traces bridged from `tracing` spans, W3C trace context for bus
//! envelopes, and one process-wide meter provider whose instruments show up in Prometheus text
//! ([`prometheus_text`]) and, when an OTLP endpoint is configured, are pushed over OTLP/HTTP.
//!
//! Invariants:
//! - Instruments always come from the process' SDK meter provider ([`meter`]), never from a
//!   no-op global, so an instrument created before [`init`] (tests, libraries) still records.
//! - An instrument's name is exactly the Prometheus name of the catalog (the exporter adds no
//!   `_total` or unit suffix); instruments several services share live here ([`errors_total`],
//!   [`record_bus_lag`]) so the all-in-one binary defines each name once.
//! - A tracer provider is always installed by [`init`], even without an exporter, so spans have
//!   real ids for log correlation and for the bus' `traceparent`; only export needs an endpoint.

mod config;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use config::{ExporterChoice, TelemetryConfig, TelemetryError};

/// `LOG_FORMAT`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "pretty" | "text" => Ok(LogFormat::Pretty),
            "json" => Ok(LogFormat::Json),
            _ => Err("expected json or pretty".into()),
        }
    }
}

/// Histogram buckets (seconds) for latencies from sub-millisecond bus hops to multi-second joins;
/// the SDK's default buckets are meant for milliseconds.
pub const SECONDS_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Instrumentation scope of the instruments defined in this crate.
const SCOPE: &str = "camview";

/// Flushes spans and metrics when dropped (for example at the end of `main`); [`TelemetryGuard::shutdown`]
/// also stops the exporters. Dropping it early only flushes: telemetry keeps working.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    tracer: Option<SdkTracerProvider>,
    metrics: bool,
}

impl TelemetryGuard {
    /// Exports what is buffered and stops the exporters; later spans are no longer exported.
    pub fn shutdown(mut self) {
        if let Some(tracer) = self.tracer.take() {
            if let Err(e) = tracer.shutdown() {
                eprintln!("telemetry: shutting down the tracer provider: {e}");
            }
        }
        if std::mem::take(&mut self.metrics) {
            if let Err(e) = process_metrics().provider.shutdown() {
                eprintln!("telemetry: shutting down the meter provider: {e}");
            }
        }
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(tracer) = &self.tracer {
            let _ = tracer.force_flush(); // best effort at exit; errors were already reported by the SDK
        }
        if self.metrics {
            let _ = process_metrics().provider.force_flush();
        }
    }
}

/// Like [`try_init`], for binaries: an invalid configuration ends the process with exit code 2
/// and a message naming the variable.
pub fn init(service_name: &str, format: LogFormat) -> TelemetryGuard {
    match try_init(service_name, format) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("{service_name}: telemetry configuration error: {e}");
            std::process::exit(2);
        }
    }
}

/// Reads the OTel variables and installs logging, tracing and metrics for this process.
/// Only the first call in a process installs anything; later calls return an inert guard.
pub fn try_init(service_name: &str, format: LogFormat) -> Result<TelemetryGuard, TelemetryError> {
    let config = TelemetryConfig::from_lookup(|k| std::env::var(k).ok())?;
    Ok(init_with(service_name, format, &config, false))
}

/// For test processes that check trace propagation: tracing with the OTel layer (nothing is
/// exported) and the W3C propagator, logs through the test harness' capture. Idempotent.
pub fn init_for_tests() {
    drop(init_with("camview-test", LogFormat::Pretty, &TelemetryConfig::default(), true));
}

fn init_with(service_name: &str, format: LogFormat, config: &TelemetryConfig, test_writer: bool) -> TelemetryGuard {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    if INSTALLED.set(()).is_err() {
        return TelemetryGuard::default();
    }
    let service_name = config.service_name.clone().unwrap_or_else(|| service_name.to_owned());
    let resource = resource(&service_name);
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());

    // Metrics first, so the provider carries this resource and, when asked, the OTLP reader.
    let mut metrics_problem = None;
    let otlp_reader = if config.metrics_export_enabled() {
        match opentelemetry_otlp::MetricExporter::builder().with_http().build() {
            Ok(exporter) => Some(PeriodicReader::builder(exporter).build()),
            Err(e) => {
                metrics_problem = Some(format!("OTLP metric exporter not started: {e}"));
                None
            }
        }
    } else {
        None
    };
    let metrics_installed_here = PROCESS_METRICS.set(ProcessMetrics::build(resource.clone(), otlp_reader)).is_ok();
    opentelemetry::global::set_meter_provider(process_metrics().provider.clone());

    let mut tracer_builder = SdkTracerProvider::builder().with_resource(resource);
    let mut traces_problem = None;
    if config.traces_export_enabled() {
        match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
            Ok(exporter) => tracer_builder = tracer_builder.with_batch_exporter(exporter),
            Err(e) => traces_problem = Some(format!("OTLP span exporter not started: {e}")),
        }
    }
    let tracer_provider = tracer_builder.build();
    opentelemetry::global::set_tracer_provider(tracer_provider.clone());
    let otel_layer = tracing_opentelemetry::layer().with_tracer(tracer_provider.tracer(SCOPE));

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt_layer = match format {
        LogFormat::Pretty if test_writer => tracing_subscriber::fmt::layer().with_test_writer().boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().with_target(true).boxed(),
        LogFormat::Json => json_layer(std::io::stdout).boxed(),
    };
    let installed = tracing_subscriber::registry().with(filter).with(otel_layer).with(fmt_layer).try_init().is_ok();
    if installed {
        tracing::info!(
            service.name = %service_name,
            ?format,
            traces_exported = config.traces_export_enabled() && traces_problem.is_none(),
            metrics_exported = config.metrics_export_enabled() && metrics_problem.is_none(),
            "telemetry initialised"
        );
    }
    for problem in config.warnings.iter().chain(&traces_problem).chain(&metrics_problem) {
        tracing::warn!("{problem}");
    }
    if !metrics_installed_here {
        tracing::warn!("instruments were created before telemetry::init; metrics keep the default resource and are not pushed over OTLP");
    }
    TelemetryGuard { tracer: Some(tracer_provider), metrics: true }
}

/// JSON lines in tracing-subscriber's flattened shape, plus top-level `trace_id` and `span_id`.
fn json_layer<S, W>(make_writer: W) -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    let dispatch = DispatchSlot::default();
    let mut layer = json_subscriber::JsonLayer::new(make_writer);
    layer.with_timer("timestamp", tracing_subscriber::fmt::time::SystemTime);
    layer.with_level("level");
    layer.with_target("target");
    layer.with_flattened_event();
    layer.with_current_span("span");
    let (for_trace, for_span) = (dispatch.clone(), dispatch.clone());
    layer.add_from_span("trace_id", move |span| for_trace.ids(&span.id()).map(|(trace, _)| trace));
    layer.add_from_span("span_id", move |span| for_span.ids(&span.id()).map(|(_, span)| span));
    dispatch.and_then(layer)
}

/// The subscriber's own dispatcher, kept to read a span's OTel ids while an event is being
/// formatted (`tracing::dispatcher::get_default` yields no dispatcher inside a dispatch).
#[derive(Clone, Default)]
struct DispatchSlot(std::sync::Arc<OnceLock<tracing::dispatcher::WeakDispatch>>);

impl<S: tracing::Subscriber> Layer<S> for DispatchSlot {
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.0.set(subscriber.downgrade()); // one subscriber per layer
    }
}

impl DispatchSlot {
    /// The OTel trace and span ids of the tracing span `id`.
    fn ids(&self, id: &tracing::Id) -> Option<(String, String)> {
        let dispatch = self.0.get()?.upgrade()?;
        let cx = tracing_opentelemetry::get_otel_context(id, &dispatch)?;
        let span = cx.span();
        let sc = span.span_context();
        sc.is_valid().then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
    }
}

fn resource(service_name: &str) -> Resource {
    Resource::builder()
        .with_service_name(service_name.to_owned())
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
        ])
        .build()
}

/// The process' meter provider and the Prometheus registry its exporter fills.
struct ProcessMetrics {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
}

static PROCESS_METRICS: OnceLock<ProcessMetrics> = OnceLock::new();

/// A Prometheus reader and the fresh registry it fills. Names pass through unchanged (no unit or
/// `_total` suffix), which is what keeps instrument names equal to the catalog's.
pub(crate) fn prometheus_reader() -> (opentelemetry_prometheus::PrometheusExporter, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    let reader = opentelemetry_prometheus::exporter()
        .with_registry(registry.clone())
        .without_units()
        .without_counter_suffixes()
        .scope_info_enabled(false)
        .build()
        .expect("a fresh registry accepts the exporter's collector"); // invariant: registered once per new registry
    (reader, registry)
}

/// `registry` in the Prometheus text exposition format (0.0.4).
pub(crate) fn encode_text(registry: &prometheus::Registry) -> String {
    use prometheus::Encoder;
    let mut out = Vec::new();
    if let Err(e) = prometheus::TextEncoder::new().encode(&registry.gather(), &mut out) {
        tracing::warn!(error = %e, "encoding Prometheus text failed");
    }
    String::from_utf8(out).unwrap_or_default()
}

impl ProcessMetrics {
    fn build(resource: Resource, otlp: Option<PeriodicReader<opentelemetry_otlp::MetricExporter>>) -> Self {
        let (prometheus_reader, registry) = prometheus_reader();
        let mut builder = SdkMeterProvider::builder().with_resource(resource).with_reader(prometheus_reader);
        if let Some(reader) = otlp {
            builder = builder.with_reader(reader);
        }
        ProcessMetrics { provider: builder.build(), registry }
    }
}

fn process_metrics() -> &'static ProcessMetrics {
    PROCESS_METRICS.get_or_init(|| ProcessMetrics::build(Resource::builder().build(), None))
}

/// A meter of the process' provider (created on first use, with the Prometheus reader).
pub fn meter(scope: &'static str) -> Meter {
    process_metrics().provider.meter(scope)
}

/// This process' metrics in the Prometheus text exposition format (0.0.4).
pub fn prometheus_text() -> String {
    encode_text(&process_metrics().registry)
}

/// Content type of [`prometheus_text`].
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `camview_errors_total{code}`: errors answered to a client, bus peer or Kurento client.
/// Count where an error becomes a reply, once per reply.
pub fn errors_total() -> &'static Counter<u64> {
    static C: OnceLock<Counter<u64>> = OnceLock::new();
    C.get_or_init(|| {
        meter(SCOPE)
            .u64_counter("camview_errors_total")
            .with_description("errors answered to a client, bus peer or Kurento client, by error code")
            .build()
    })
}

/// Counts one error reply with `code` on [`errors_total`].
pub fn record_error(code: &str) {
    errors_total().add(1, &[KeyValue::new("code", code.to_owned())]);
}

/// `camview_bus_lag_seconds{kind}`.
fn bus_lag() -> &'static Histogram<f64> {
    static H: OnceLock<Histogram<f64>> = OnceLock::new();
    H.get_or_init(|| {
        meter(SCOPE)
            .f64_histogram("camview_bus_lag_seconds")
            .with_unit("s")
            .with_description("receive time minus the envelope's sent_at, by message kind")
            .with_boundaries(SECONDS_BUCKETS.to_vec())
            .build()
    })
}

/// Records `camview_bus_lag_seconds{kind}` for an envelope being consumed now. [`crate::BusClient`]
/// already does this for everything on an instance channel; call it for commands popped from
/// the command queue. Clock skew
/// between hosts can make the lag negative; it is then counted as 0. Unparsable `sent_at`
/// values are skipped.
pub fn record_bus_lag(envelope: &camview_proto::bus::Envelope) {
    let Some(sent) = crate::clock::parse_rfc3339(&envelope.sent_at) else { return };
    let lag = (time::OffsetDateTime::now_utc() - sent).as_seconds_f64().max(0.0);
    bus_lag().record(lag, &[KeyValue::new("kind", envelope.message.kind().to_string())]);
}

/// The W3C `traceparent` of the current tracing span's OTel context, if it has a valid one
/// (only when [`init`] installed the OTel layer, or a test installed its own).
pub fn current_traceparent() -> Option<String> {
    traceparent_of(&tracing::Span::current())
}

/// The W3C `traceparent` of `span`'s OTel context.
pub fn traceparent_of(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `traceparent` (e.g. an envelope's or an HTTP header's) the OTel parent of `span`.
/// Call it right after creating the span, before entering it or logging in it: the OTel span
/// is started then and its parent can no longer change. Missing or malformed values are
/// ignored (the span starts a new trace). Returns whether a parent was set.
pub fn link_parent(span: &tracing::Span, traceparent: Option<&str>) -> bool {
    let Some(traceparent) = traceparent else { return false };
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    if !cx.span().span_context().is_valid() {
        tracing::debug!(traceparent, "ignoring a malformed traceparent");
        return false;
    }
    match span.set_parent(cx) {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = %e, "cannot set the span's OTel parent");
            false
        }
    }
}

/// Used by the metrics server and tests: how long a graceful stop may take.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests;
