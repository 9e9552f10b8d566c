//! One tracing span per HTTP request, with its outcome logged once at the end.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use tracing::Instrument;

use crate::startup::AppState;
use crate::trace_context::TraceContext;

/// W3C trace context request header.
pub const TRACEPARENT: &str = "traceparent";
/// Response header naming the request's trace id, to quote in a bug report.
pub const TRACE_ID_HEADER: &str = "x-trace-id";

/// Middleware: wraps the request in an `http_request` span (method, path, trace id from an
/// incoming `traceparent` or fresh), stores the [`TraceContext`] in the request extensions,
/// answers the trace id in `x-trace-id`, and logs status and latency when it is done, counting it in [`crate::metrics`]. Client
/// addresses are not logged.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let incoming = req.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok());
    let trace = TraceContext::from_header(incoming);
    let span = tracing::info_span!(
        "http_request",
        method = %req.method(),
        path = %req.path(),
        trace_id = %trace.trace_id(),
        status = tracing::field::Empty,
    );
    let trace_header = HeaderValue::from_str(trace.trace_id());
    req.extensions_mut().insert(trace);
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let mut result = next.call(req).instrument(span.clone()).await;
    if let (Ok(res), Ok(value)) = (&mut result, trace_header) {
        res.headers_mut()
            .insert(HeaderName::from_static(TRACE_ID_HEADER), value);
    }
    let took = started.elapsed();
    let elapsed_ms = took.as_secs_f64() * 1000.0;
    let _entered = span.enter();
    match &result {
        Ok(res) => {
            span.record("status", res.status().as_u16());
            if let Some(state) = res.request().app_data::<web::Data<AppState>>() {
                let route = res.request().match_pattern();
                state.metrics.request_finished(
                    method.as_str(),
                    route.as_deref(),
                    res.status().as_u16(),
                    took,
                );
            }
            tracing::info!(
                status = res.status().as_u16(),
                elapsed_ms,
                "request finished"
            );
        }
        Err(e) => tracing::warn!(error = %e, elapsed_ms, "request failed"),
    }
    result
}
