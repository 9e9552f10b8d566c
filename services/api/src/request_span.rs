//! One tracing span per HTTP request, with its outcome logged once at the end.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use camview_common::telemetry;
use tracing::Instrument;

use crate::startup::AppState;

/// W3C trace context request header.
pub const TRACEPARENT: &str = "traceparent";
/// Response header naming the request's trace id, to quote in a bug report.
pub const TRACE_ID_HEADER: &str = "x-trace-id";

/// Middleware: wraps the request in an `http_request` server span that continues an incoming
/// `traceparent` (a malformed one is ignored: a new trace starts), answers the trace id in
/// `x-trace-id`, logs status and latency when done and counts the request in
/// [`crate::metrics`]. Bus commands sent while handling it carry the span's trace context.
/// Client addresses are not logged.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let span = tracing::info_span!(
        "http_request",
        otel.name = %format!("{} {}", req.method(), req.match_pattern().unwrap_or_else(|| "unmatched".into())),
        otel.kind = "server",
        method = %req.method(),
        path = %req.path(),
        status = tracing::field::Empty,
    );
    let incoming = req.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok());
    telemetry::link_parent(&span, incoming);
    let trace_header = telemetry::traceparent_of(&span)
        .and_then(|tp| tp.split('-').nth(1).and_then(|id| HeaderValue::from_str(id).ok()));
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let mut result = next.call(req).instrument(span.clone()).await;
    if let (Ok(res), Some(value)) = (&mut result, trace_header) {
        res.headers_mut().insert(HeaderName::from_static(TRACE_ID_HEADER), value);
    }
    let took = started.elapsed();
    let elapsed_ms = took.as_secs_f64() * 1000.0;
    let _entered = span.enter();
    match &result {
        Ok(res) => {
            span.record("status", res.status().as_u16());
            if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
                let route = res.request().match_pattern();
                state.metrics.request_finished(method.as_str(), route.as_deref(), res.status().as_u16(), took);
            }
            tracing::info!(status = res.status().as_u16(), elapsed_ms, "request finished");
        }
        Err(e) => tracing::warn!(error = %e, elapsed_ms, "request failed"),
    }
    result
}
