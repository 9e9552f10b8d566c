//! CORS for the listed origins only, and the cross-site request check for cookie sessions.
//!
//! Invariants: with no `CORS_ALLOWED_ORIGINS` no CORS header is ever sent (same-origin
//! only); `Access-Control-Allow-Origin` is never `*`. An unsafe request that rides on the
//! session cookie (no bearer header) and names a foreign `Origin` is refused with 403, so
//! another site cannot act with a visitor's cookie even where SameSite is not honoured.

use actix_cors::Cors;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::ORIGIN;
use actix_web::http::Method;
use actix_web::middleware::{Condition, Next};
use actix_web::{web, ResponseError};

use crate::error::ApiError;
use crate::startup::AppState;

/// CORS for `origins` (each `scheme://host[:port]`), with credentials; none when empty.
pub fn cors(origins: &[String]) -> Condition<Cors> {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers(["authorization", "content-type", "if-match", crate::request_span::TRACEPARENT])
        // WHEP players read the session's Location and ETag.
        .expose_headers([
            crate::request_span::TRACE_ID_HEADER,
            "retry-after",
            "location",
            "etag",
            "link",
            "accept-post",
        ])
        .supports_credentials()
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    Condition::new(!origins.is_empty(), cors)
}

/// Whether `origin` may send unsafe requests with the cookie: the request's own origin, the
/// published API origin, or a listed one.
fn origin_allowed(
    origin: &str,
    own_scheme: &str,
    own_host: &str,
    public_origin: Option<&str>,
    listed: &[String],
) -> bool {
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    let host = own_host.to_ascii_lowercase();
    // Behind a TLS-terminating proxy without X-Forwarded-Proto the request looks like http.
    if origin == format!("{own_scheme}://{host}") || (own_scheme == "http" && origin == format!("https://{host}")) {
        return true;
    }
    public_origin == Some(origin.as_str()) || listed.contains(&origin)
}

/// Middleware: 403 `forbidden` for an unsafe request authenticated by the cookie whose
/// `Origin` is foreign. Login requests are checked too (login CSRF).
pub async fn cross_site_check(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let by_cookie = super::bearer_token(req.request()).is_none()
        && (super::cookie_token(req.request()).is_some() || req.path().starts_with("/auth/"));
    let origin = req.headers().get(ORIGIN).map(|v| v.to_str().unwrap_or("<not text>").to_owned());
    if let (true, true, Some(origin), Some(state)) =
        (unsafe_method, by_cookie, origin, req.app_data::<web::Data<AppState>>().cloned())
    {
        let info = req.connection_info().clone();
        if !origin_allowed(
            &origin,
            info.scheme(),
            info.host(),
            state.public_api_origin.as_deref(),
            &state.security.cors_allowed_origins,
        ) {
            let response = ApiError::Forbidden(
                "cross-site request refused: this origin may not act with the session cookie".into(),
            )
            .error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_own_published_or_listed_origins_may_use_the_cookie() {
        let listed = vec!["https://app.example".to_owned()];
        let allowed =
            |origin| origin_allowed(origin, "http", "cams.example:8080", Some("https://cams.example"), &listed);
        assert!(allowed("http://cams.example:8080"), "own origin");
        assert!(allowed("HTTPS://cams.example:8080"), "own host behind a TLS proxy");
        assert!(allowed("https://cams.example"), "PUBLIC_API_URL's origin");
        assert!(allowed("https://app.example"), "listed");
        for foreign in [
            "https://evil.example",
            "null",
            "http://cams.example",
            "http://cams.example:8080.evil.example",
            "<not text>",
        ] {
            assert!(!allowed(foreign), "{foreign}");
        }
    }
}
