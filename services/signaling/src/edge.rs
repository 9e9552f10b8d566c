//! HTTP-level checks before anything is upgraded or served: the upgrade rate per client
//! address, the `Origin` of the upgrade, and who may read `/metrics`.
//!
//! Invariants: a refused request gets the JSON error body (`{"code","message"}`) of the
//! REST API and is never upgraded; the client address comes from `X-Forwarded-For` only
//! when the peer is in `TRUSTED_PROXIES`; no log line carries a token or a cookie, and
//! client addresses are logged at debug level only.

use std::net::IpAddr;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use camview_common::auth::limit::retry_after_secs;
use camview_http::request::request_client_ip;
use camview_proto::error::ErrorBody;
use camview_proto::ErrorCode;

use crate::config::Settings;
use crate::hub::Hub;
use crate::metrics::Rejection;

/// The client's address ([`request_client_ip`] behind `TRUSTED_PROXIES`).
fn client_address(req: &HttpRequest, settings: &Settings) -> IpAddr {
    request_client_ip(req, &settings.auth.trusted_proxies)
}

/// The JSON error reply of the REST API.
pub fn error_reply(code: ErrorCode, message: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(code.http_status())
        .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
    HttpResponse::build(status).json(ErrorBody::new(code, message))
}

/// `None` lets an upgrade proceed; otherwise the 429 (with `Retry-After`) or 403 reply.
pub fn upgrade_refusal(req: &HttpRequest, hub: &Hub) -> Option<HttpResponse> {
    let client = client_address(req, &hub.settings);
    if let Err(wait) = hub.take_upgrade(client) {
        hub.metrics.connection_rejected(Rejection::RateLimited);
        // Debug only: a flood must not flood the log too (the refusals are counted).
        tracing::debug!(%client, "upgrade refused: over the upgrade rate");
        let mut reply =
            error_reply(ErrorCode::RateLimited, "too many WebSocket upgrades from this address: retry later");
        reply.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(retry_after_secs(wait)));
        return Some(reply);
    }
    let origin = req.headers().get(header::ORIGIN).map(|v| v.to_str().unwrap_or("<not text>"));
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok());
    if !hub.settings.origins.allows(origin, host) {
        hub.metrics.connection_rejected(Rejection::Origin);
        let shown: String = origin.unwrap_or_default().chars().take(128).collect();
        tracing::debug!(%client, "upgrade refused: foreign origin");
        tracing::warn!(origin = %shown, "a WebSocket upgrade from a foreign Origin was refused (SIGNALING_ALLOWED_ORIGINS)");
        return Some(error_reply(ErrorCode::Forbidden, "this page's origin may not open viewer sockets"));
    }
    None
}

/// `/metrics` is for the monitoring network only (`METRICS_ALLOWED_NETWORKS`): `None`
/// lets the request through, otherwise the 403 reply.
pub fn metrics_refusal(req: &HttpRequest, settings: &Settings) -> Option<HttpResponse> {
    let client = client_address(req, settings);
    if settings.metrics_allowed_networks.contains(client) {
        None
    } else {
        tracing::debug!(%client, "metrics refused: not in METRICS_ALLOWED_NETWORKS");
        Some(error_reply(ErrorCode::Forbidden, "metrics are served to METRICS_ALLOWED_NETWORKS only"))
    }
}
