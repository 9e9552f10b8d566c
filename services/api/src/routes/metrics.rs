//! `/metrics`: Prometheus text of every instrument in this process.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::HttpResponse;
use camview_common::telemetry::{prometheus_text, PROMETHEUS_CONTENT_TYPE};

/// `GET /metrics`.
pub async fn get_metrics() -> HttpResponse {
    HttpResponse::Ok().insert_header((CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)).body(prometheus_text())
}
