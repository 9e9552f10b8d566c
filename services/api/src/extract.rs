//! Request extractors that fail with [`ApiError`], so every rejection has the JSON error body.
//!
//! Invariants: a body is never buffered past [`BODY_LIMIT`]; an empty body is "no body"
//! whatever its content type; a non-empty body must be declared as JSON.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::domain::CameraId;
use crate::error::ApiError;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The declared content type (if any) and a future of the body, refused with
/// `payload_too_large` as soon as it declares or sends more than `limit` bytes (never buffered
/// past it).
pub(crate) fn limited_body(
    req: &HttpRequest,
    payload: &mut Payload,
    limit: usize,
) -> (Option<String>, impl Future<Output = Result<Vec<u8>, ApiError>> + 'static) {
    let content_type = req.headers().get(CONTENT_TYPE).map(|v| v.to_str().unwrap_or("<not text>").to_owned());
    let declared_length =
        req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let mut payload = payload.take();
    let body = async move {
        if declared_length.is_some_and(|n| n > limit as u64) {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        let mut body = Vec::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| ApiError::Payload(e.to_string()))?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    (content_type, body)
}

/// An optional JSON body: `None` when the request has no body.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (content_type, body) = limited_body(req, payload, BODY_LIMIT);
        Box::pin(async move {
            let body = body.await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(None));
            }
            match content_type {
                Some(ct) if is_json(&ct) => {}
                Some(ct) => return Err(ApiError::UnsupportedMediaType(ct)),
                None => return Err(ApiError::UnsupportedMediaType(String::new())),
            }
            parse_json(&body).map(|v| OptionalJson(Some(v)))
        })
    }
}

/// A required JSON body: like [`OptionalJson`], but no body is `invalid_body` (422).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let optional = OptionalJson::<T>::from_request(req, payload);
        Box::pin(async move {
            match optional.await? {
                OptionalJson(Some(v)) => Ok(Json(v)),
                OptionalJson(None) => Err(ApiError::InvalidBody("a JSON body is required".into())),
            }
        })
    }
}

/// Two extractors run one after the other: `AuthThen(Admin, Json<T>)` checks who is asking
/// before the body is read, so a caller without the right learns nothing from body errors.
/// (Actix polls a handler's extractors together: the first to fail answers.)
#[derive(Debug)]
pub struct AuthThen<A, B>(pub A, pub B);

impl<A, B> FromRequest for AuthThen<A, B>
where
    A: FromRequest<Error = ApiError> + 'static,
    B: FromRequest<Error = ApiError> + 'static,
{
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let a = A::from_request(&req, &mut Payload::None).await?;
            let b = B::from_request(&req, &mut payload).await?;
            Ok(AuthThen(a, b))
        })
    }
}

/// `application/json`, `application/*+json`, with or without parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Syntax errors are `invalid_json` (400); JSON of the wrong shape, including anything
/// but an object at the top level, is `invalid_body` (422).
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    if !value.is_object() {
        return Err(ApiError::InvalidBody("expected a JSON object".into()));
    }
    serde_json::from_value(value).map_err(|e| ApiError::InvalidBody(e.to_string()))
}

/// The `{camera_id}` path segment, validated.
#[derive(Debug)]
pub struct CameraPath(pub CameraId);

impl FromRequest for CameraPath {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let raw = req.match_info().get("camera_id").unwrap_or("");
        std::future::ready(
            CameraId::parse(raw)
                .map(CameraPath)
                .map_err(|reason| ApiError::InvalidCameraId { id: truncate(raw), reason }),
        )
    }
}

/// Keeps error messages short when a client sends a huge id.
fn truncate(raw: &str) -> String {
    raw.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use camview_proto::rest::StartStreamRequest;

    async fn extract(content_type: Option<&str>, body: Vec<u8>) -> Result<OptionalJson<StartStreamRequest>, ApiError> {
        let mut req = actix_web::test::TestRequest::post();
        if let Some(ct) = content_type {
            req = req.insert_header((CONTENT_TYPE, ct));
        }
        // set_payload adds no content-length: this exercises the streaming limit.
        let (req, mut payload) = req.set_payload(body).to_http_parts();
        OptionalJson::<StartStreamRequest>::from_request(&req, &mut payload).await
    }

    #[actix_web::test]
    async fn a_body_over_the_limit_is_refused_while_streaming() {
        let big = vec![b' '; BODY_LIMIT + 1];
        assert!(matches!(extract(Some("application/json"), big).await, Err(ApiError::PayloadTooLarge { .. })));
        let at_limit = vec![b' '; BODY_LIMIT];
        assert!(matches!(extract(Some("application/json"), at_limit).await, Ok(OptionalJson(None))));
    }

    #[actix_web::test]
    async fn a_blank_body_is_no_body_whatever_its_content_type() {
        assert!(matches!(extract(Some("text/plain"), b" \n".to_vec()).await, Ok(OptionalJson(None))));
        assert!(matches!(extract(None, vec![]).await, Ok(OptionalJson(None))));
        let parsed = extract(Some("application/json"), br#"{"max_bandwidth": 10}"#.to_vec()).await;
        assert!(matches!(
            parsed,
            Ok(OptionalJson(Some(StartStreamRequest { max_bandwidth: Some(10), min_bandwidth: None, source: None })))
        ));
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json("application/x-www-form-urlencoded"));
    }

    #[test]
    fn syntax_errors_and_shape_errors_get_different_codes() {
        assert!(matches!(parse_json::<StartStreamRequest>(b"{"), Err(ApiError::InvalidJson(_))));
        assert!(matches!(
            parse_json::<StartStreamRequest>(b"{\"max_bandwidth\": \"lots\"}"),
            Err(ApiError::InvalidBody(_))
        ));
        assert!(matches!(parse_json::<StartStreamRequest>(b"{\"max_bandwidth\": -1}"), Err(ApiError::InvalidBody(_))));
        assert!(matches!(parse_json::<StartStreamRequest>(b"[1]"), Err(ApiError::InvalidBody(_))));
        assert!(matches!(parse_json::<StartStreamRequest>(b"{\"speed\": 1}"), Err(ApiError::InvalidBody(_))));
    }
}
