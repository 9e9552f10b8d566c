//! `/metrics`: Prometheus text exposition.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::{web, HttpResponse};

use crate::metrics::Gauges;
use crate::routes::health::HEALTH_TIMEOUT;
use crate::startup::AppState;

/// `GET /metrics`: counters of this instance plus stream and viewer gauges from the registry.
#[tracing::instrument(skip_all)]
pub async fn get_metrics(state: web::Data<AppState>) -> HttpResponse {
    let registry = state.registry.as_ref();
    let read = async {
        let streams = registry.list_streams().await.map(|s| s.len() as u64);
        let viewers = registry.list_viewers(None).await.map(|v| v.len() as u64);
        (streams, viewers)
    };
    let gauges = match tokio::time::timeout(HEALTH_TIMEOUT, read).await {
        Ok((streams, viewers)) => {
            if let Err(e) = streams.as_ref().and(viewers.as_ref()) {
                tracing::debug!(error = %e, "registry gauges unavailable");
            }
            Gauges {
                streams: streams.ok(),
                viewers: viewers.ok(),
            }
        }
        Err(_) => Gauges {
            streams: None,
            viewers: None,
        },
    };
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"))
        .body(state.metrics.render(&gauges))
}
