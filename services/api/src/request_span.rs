//! One tracing span per HTTP request, with its outcome logged once at the end.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use tracing::Instrument;

use crate::startup::AppState;

/// Middleware: wraps the request in an `http_request` span (method, route, request id)
/// and logs status and latency when it is done, counting it in [`crate::metrics`]. Client
/// addresses are not logged.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = uuid::Uuid::new_v4();
    let span = tracing::info_span!(
        "http_request",
        method = %req.method(),
        path = %req.path(),
        %request_id,
        status = tracing::field::Empty,
    );
    let method = req.method().clone();
    let started = std::time::Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
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
