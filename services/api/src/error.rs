//! The one error type of the handlers, mapped once to the proto error table.
//!
//! Invariant: every error answer is an [`ErrorBody`] whose status comes from
//! [`ErrorCode::http_status`]; 5xx bodies carry a fixed message and the cause is logged.

use camview_proto::CameraId;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use camview_common::auth::limit::retry_after_secs;
use camview_common::auth::{AuthError, AuthStoreError};
use camview_common::{BusError, RegistryError};
use camview_proto::{ErrorBody, ErrorCode};

use crate::domain::{BandwidthError, IdError};

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid camera id {id:?}: {reason}")]
    InvalidCameraId { id: String, reason: IdError },
    #[error("malformed JSON: {0}")]
    InvalidJson(String),
    #[error("invalid request body: {0}")]
    InvalidBody(String),
    #[error(transparent)]
    InvalidBandwidth(#[from] BandwidthError),
    #[error("invalid source: {0}")]
    InvalidSource(#[from] camview_proto::source::SourceUrlError),
    #[error("unsupported content type {0:?}: send application/json")]
    UnsupportedMediaType(String),
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("no started stream for camera {0}")]
    StreamNotFound(CameraId),
    #[error("no such route")]
    NotFound,
    #[error("method not allowed on this route")]
    MethodNotAllowed,
    #[error("the media-controller did not answer within {} ms", after.as_millis())]
    ControllerTimeout { after: Duration },
    #[error("the bus to the media-controller failed")]
    Bus(#[source] BusError),
    #[error("the registry failed")]
    Registry(#[from] RegistryError),
    #[error("the media-controller refused the command")]
    Controller(ErrorBody),
    #[error("unexpected reply {0} from the media-controller")]
    UnexpectedReply(&'static str),
    #[error("reading the request body failed: {0}")]
    Payload(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the auth store failed")]
    AuthStore(#[from] AuthStoreError),
    #[error("user {0:?} already exists")]
    UserExists(String),
    #[error("no user {0:?}")]
    UserNotFound(String),
    #[error("no share {0:?}")]
    ShareNotFound(String),
    #[error("too many requests from this address: retry in {} s", retry_after_secs(*retry_after))]
    RateLimited { retry_after: Duration },
    #[error("too many failed attempts: retry in {} s", retry_after_secs(*retry_after))]
    TooManyRequests { retry_after: Duration },
    #[error("no keyframe of this camera has arrived yet: retry in {} s", retry_after_secs(*retry_after))]
    SnapshotUnavailable { retry_after: Duration },
    #[error("snapshots are made of H.264 keyframes; this camera sends {0}")]
    SnapshotUnsupportedCodec(String),
    #[error("making the snapshot failed")]
    Snapshot(#[source] crate::snapshot::SnapshotError),
    #[error("unsupported content type {got:?}: send {want}")]
    WrongContentType { got: String, want: &'static str },
    #[error("invalid SDP: {0}")]
    InvalidSdp(&'static str),
    #[error("invalid ICE candidate: {0}")]
    InvalidCandidate(&'static str),
    #[error("no WHEP session {0:?} for this camera")]
    WhepSessionNotFound(String),
    #[error("If-Match names another ICE session of this WHEP session")]
    PreconditionFailed,
    #[error("ICE restarts are not supported: DELETE this session and POST a new offer")]
    IceRestartUnsupported,
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unauthenticated(m) => ApiError::Unauthorized(m),
            AuthError::Forbidden(m) => ApiError::Forbidden(m),
            AuthError::Store(s) => ApiError::AuthStore(s),
        }
    }
}

impl From<BusError> for ApiError {
    fn from(e: BusError) -> Self {
        match e {
            BusError::Timeout { after, .. } => ApiError::ControllerTimeout { after },
            other => ApiError::Bus(other),
        }
    }
}

impl ApiError {
    /// The wire code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::InvalidCameraId { .. } => ErrorCode::InvalidCameraId,
            ApiError::InvalidJson(_) => ErrorCode::InvalidJson,
            ApiError::InvalidBody(_) | ApiError::InvalidBandwidth(_) => ErrorCode::InvalidBody,
            ApiError::InvalidSource(_) => ErrorCode::InvalidSource,
            ApiError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            ApiError::PayloadTooLarge { .. } => ErrorCode::PayloadTooLarge,
            ApiError::StreamNotFound(_) => ErrorCode::StreamNotFound,
            ApiError::NotFound => ErrorCode::NotFound,
            ApiError::MethodNotAllowed => ErrorCode::MethodNotAllowed,
            ApiError::ControllerTimeout { .. } | ApiError::Bus(_) => ErrorCode::ControllerUnavailable,
            ApiError::Registry(_) => ErrorCode::RegistryUnavailable,
            ApiError::Controller(body) => body.code,
            ApiError::UnexpectedReply(_) => ErrorCode::Internal,
            ApiError::Payload(_) => ErrorCode::InvalidBody,
            ApiError::Unauthorized(_) => ErrorCode::Unauthorized,
            ApiError::Forbidden(_) => ErrorCode::Forbidden,
            ApiError::AuthStore(_) => ErrorCode::RegistryUnavailable,
            ApiError::UserExists(_) => ErrorCode::UserExists,
            ApiError::UserNotFound(_) => ErrorCode::UserNotFound,
            ApiError::ShareNotFound(_) => ErrorCode::ShareNotFound,
            ApiError::RateLimited { .. } => ErrorCode::RateLimited,
            ApiError::TooManyRequests { .. } => ErrorCode::TooManyRequests,
            ApiError::SnapshotUnavailable { .. } => ErrorCode::SnapshotUnavailable,
            ApiError::SnapshotUnsupportedCodec(_) => ErrorCode::SnapshotUnsupportedCodec,
            ApiError::Snapshot(_) => ErrorCode::Internal,
            ApiError::WrongContentType { .. } => ErrorCode::UnsupportedMediaType,
            ApiError::InvalidSdp(_) => ErrorCode::InvalidSdp,
            ApiError::InvalidCandidate(_) => ErrorCode::InvalidCandidate,
            ApiError::WhepSessionNotFound(_) => ErrorCode::ViewerNotFound,
            ApiError::PreconditionFailed => ErrorCode::PreconditionFailed,
            ApiError::IceRestartUnsupported => ErrorCode::InvalidBody,
        }
    }

    /// The body sent to the client: details for 4xx, a fixed sentence for 5xx.
    pub fn body(&self) -> ErrorBody {
        let code = self.code();
        let message = match self {
            ApiError::Controller(body) if code.http_status() < 500 => body.message.clone(),
            ApiError::ControllerTimeout { .. } => self.to_string(),
            ApiError::AuthStore(_) => "the user store is unavailable".to_owned(),
            _ if code.http_status() >= 500 => opaque_message(code).to_owned(),
            _ => self.to_string(),
        };
        ErrorBody::new(code, message)
    }
}

/// Fixed message of a 5xx answer: the cause stays in the log.
fn opaque_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::ControllerUnavailable => "the media-controller is unavailable",
        ErrorCode::RegistryUnavailable => "the registry is unavailable",
        ErrorCode::MediaServerError => "the media server failed",
        ErrorCode::ShuttingDown => "the service is shutting down",
        _ => "internal error",
    }
}

/// The error and all its sources, for the log.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

impl ApiError {
    /// What the log gets: the whole cause chain, and the controller's own words.
    fn log_detail(&self) -> String {
        match self {
            ApiError::Controller(body) => format!("{self}: {} {}", body.code, body.message),
            _ => chain(self),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.code().http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        camview_common::telemetry::record_error(self.code().as_str());
        if status.is_server_error() {
            tracing::error!(error = %self.log_detail(), code = %self.code(), "request failed");
        } else {
            tracing::debug!(error = %self, code = %self.code(), "request rejected");
        }
        let mut response = HttpResponse::build(status);
        match self {
            ApiError::MethodNotAllowed => {
                response.insert_header((actix_web::http::header::ALLOW, "GET, POST, PUT, DELETE, OPTIONS"));
            }
            ApiError::Unauthorized(_) => {
                response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer realm=\"camview\""));
            }
            ApiError::RateLimited { retry_after }
            | ApiError::TooManyRequests { retry_after }
            | ApiError::SnapshotUnavailable { retry_after } => {
                response
                    .insert_header((actix_web::http::header::RETRY_AFTER, retry_after_secs(*retry_after).to_string()));
            }
            _ => {}
        }
        response.json(self.body())
    }
}

/// Default service of the app: an unknown route.
pub async fn not_found(_req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound)
}

/// Default service of each resource: a known route with the wrong method.
pub async fn method_not_allowed(_req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_says_how_long_the_api_waited() {
        let e = ApiError::from(BusError::Timeout { kind: "StartStream", after: Duration::from_millis(300) });
        assert_eq!(e.code(), ErrorCode::ControllerUnavailable);
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.body().message, "the media-controller did not answer within 300 ms");
    }

    #[test]
    fn server_errors_hide_their_cause() {
        let e = ApiError::from(RegistryError::Unavailable("redis://secret-host:6379 refused".into()));
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.body(), ErrorBody::new(ErrorCode::RegistryUnavailable, "the registry is unavailable"));
        let e = ApiError::Controller(ErrorBody::new(ErrorCode::MediaServerError, "kurento at 10.0.0.2 said no"));
        assert_eq!(e.status_code(), StatusCode::BAD_GATEWAY);
        assert!(!e.body().message.contains("10.0.0.2"));
        assert!(e.log_detail().contains("10.0.0.2"), "the log keeps the cause");
    }

    #[test]
    fn limits_announce_whole_seconds_to_wait_and_store_failures_hide_their_cause() {
        let r = ApiError::TooManyRequests { retry_after: Duration::from_millis(1500) }.error_response();
        assert_eq!(r.headers().get(actix_web::http::header::RETRY_AFTER).unwrap(), "2");
        let e = ApiError::from(AuthError::Store(AuthStoreError::Unavailable("redis://secret-host".into())));
        assert_eq!(e.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!e.body().message.contains("secret-host"));
    }

    #[test]
    fn controller_client_errors_keep_their_code_and_message() {
        let e = ApiError::Controller(ErrorBody::new(ErrorCode::StreamNotFound, "no stream cam1"));
        assert_eq!(e.status_code(), StatusCode::NOT_FOUND);
        assert_eq!(e.body(), ErrorBody::new(ErrorCode::StreamNotFound, "no stream cam1"));
    }

    #[test]
    fn request_shape_errors_map_to_their_statuses() {
        let cases = [
            (ApiError::InvalidJson("x".into()), 400),
            (ApiError::InvalidBody("x".into()), 422),
            (ApiError::UnsupportedMediaType("text/plain".into()), 415),
            (ApiError::PayloadTooLarge { limit: 16384 }, 413),
            (ApiError::NotFound, 404),
            (ApiError::MethodNotAllowed, 405),
            (ApiError::Unauthorized("x".into()), 401),
            (ApiError::Forbidden("x".into()), 403),
            (ApiError::UserExists("x".into()), 409),
            (ApiError::ShareNotFound("x".into()), 404),
            (ApiError::RateLimited { retry_after: Duration::from_millis(10) }, 429),
            (ApiError::TooManyRequests { retry_after: Duration::from_secs(3) }, 429),
        ];
        for (e, status) in cases {
            assert_eq!(e.status_code().as_u16(), status, "{e}");
        }
    }
}
