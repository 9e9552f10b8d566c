//! The one error body every camview interface answers with, and the table of codes.
//!
//! Each code is defined once next to its HTTP status (meilisearch style), so the REST API,
//! the signaling socket and the bus all speak the same codes.

use serde::{Deserialize, Serialize};

/// `{"code": "...", "message": "..."}`: the body of every error reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorBody {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

macro_rules! error_codes {
    ($($variant:ident = ($name:literal, $status:literal)),+ $(,)?) => {
        /// Machine-readable error code; `http_status` is its status on the REST API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode { $($variant),+ }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name),+ }
            }

            /// The HTTP status this code is answered with.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status),+ }
            }
        }
    };
}

error_codes! {
    // Request shape.
    InvalidCameraId = ("invalid_camera_id", 400),
    InvalidJson = ("invalid_json", 400),
    InvalidBody = ("invalid_body", 422),
    InvalidSource = ("invalid_source", 400),
    UnsupportedMediaType = ("unsupported_media_type", 415),
    PayloadTooLarge = ("payload_too_large", 413),
    NotFound = ("not_found", 404),
    MethodNotAllowed = ("method_not_allowed", 405),
    Unauthorized = ("unauthorized", 401),
    Forbidden = ("forbidden", 403),
    UserExists = ("user_exists", 409),
    UserNotFound = ("user_not_found", 404),
    ShareNotFound = ("share_not_found", 404),
    TooManyRequests = ("too_many_requests", 429),
    // Streams and viewers.
    StreamNotFound = ("stream_not_found", 404),
    StreamFull = ("stream_full", 409),
    TooManyStreams = ("too_many_streams", 409),
    ViewerNotFound = ("viewer_not_found", 404),
    // Snapshots: no keyframe received yet (retry later), or a camera codec that cannot be decoded.
    SnapshotUnavailable = ("snapshot_unavailable", 503),
    SnapshotUnsupportedCodec = ("snapshot_unsupported_codec", 415),
    // A WHEP `PATCH` whose `If-Match` names another ICE session.
    PreconditionFailed = ("precondition_failed", 412),
    // The browser cannot receive the camera's codec (H.265 to a browser without it); never transcoded.
    CodecUnsupported = ("codec_unsupported", 415),
    // Signaling protocol.
    MalformedMessage = ("malformed_message", 400),
    UnknownMessageType = ("unknown_message_type", 400),
    OutOfOrder = ("out_of_order", 409),
    InvalidSdp = ("invalid_sdp", 400),
    InvalidCandidate = ("invalid_candidate", 400),
    RateLimited = ("rate_limited", 429),
    TooManyConnections = ("too_many_connections", 503),
    // Dependencies.
    ControllerUnavailable = ("controller_unavailable", 503),
    RegistryUnavailable = ("registry_unavailable", 503),
    MediaServerError = ("media_server_error", 502),
    // No media node can take a new stream (every node full, draining or gone).
    NoMediaNode = ("no_media_node", 503),
    ShuttingDown = ("shutting_down", 503),
    Internal = ("internal", 500),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serializes_to_its_wire_name_and_back() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), *code);
        }
    }

    #[test]
    fn every_code_maps_to_an_error_status() {
        for code in ErrorCode::ALL {
            assert!((400..600).contains(&code.http_status()), "{code} has {}", code.http_status());
        }
    }

    #[test]
    fn error_body_round_trips() {
        let body = ErrorBody::new(ErrorCode::StreamFull, "stream cam1 already has 10 viewers");
        crate::roundtrip(&body);
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"code": "stream_full", "message": "stream cam1 already has 10 viewers"})
        );
    }
}
