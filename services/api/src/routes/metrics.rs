//! `/metrics`: Prometheus text of every instrument in this process.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpRequest, HttpResponse};
use camview_common::telemetry::{prometheus_text, PROMETHEUS_CONTENT_TYPE};

use crate::error::ApiError;
use crate::security::{client_ip, MaybeAuthenticated};
use crate::startup::AppState;

/// `GET /metrics`: for clients in `METRICS_ALLOWED_NETWORKS`, or with an admin's token.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String))
)]
pub async fn get_metrics(
    state: web::Data<AppState>,
    req: HttpRequest,
    who: MaybeAuthenticated,
) -> Result<HttpResponse, ApiError> {
    let admin = who.0.is_some_and(|p| p.is_admin());
    if !admin && !state.security.metrics_allowed_networks.contains(client_ip(&req, &state)) {
        return Err(ApiError::Forbidden("metrics are served to METRICS_ALLOWED_NETWORKS or an admin".into()));
    }
    Ok(HttpResponse::Ok().insert_header((CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)).body(prometheus_text()))
}
