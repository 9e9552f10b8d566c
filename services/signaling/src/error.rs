//! Why a client request failed, mapped once to the wire `error {code, message}`.
//!
//! Invariant: every failure a viewer can see goes through [`SessionError::to_message`],
//! so a code is chosen in exactly one place.

use camview_proto::error::ErrorBody;
use camview_proto::signaling::ServerMessage;
use camview_proto::{ErrorCode, IdError};

/// A failure reported to one viewer; the socket stays usable unless said otherwise.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("unknown message type {0:?}: expected join, ice or leave")]
    UnknownType(String),
    #[error("{0}")]
    OutOfOrder(&'static str),
    #[error("invalid SDP offer: {0}")]
    InvalidSdp(&'static str),
    #[error("invalid camera id: {0}")]
    InvalidCameraId(IdError),
    #[error("invalid ICE candidate: {0}")]
    InvalidCandidate(&'static str),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A live viewer lost its access (revoked share, deleted user, changed grants...).
    #[error("access revoked")]
    Revoked,
    #[error("too many messages: slow down")]
    RateLimited,
    /// A `Failed` reply of the media-controller, passed through.
    #[error("{}", .0.message)]
    Controller(ErrorBody),
    #[error("the media-controller did not answer in time")]
    ControllerUnavailable,
    #[error("the registry is unavailable")]
    RegistryUnavailable,
    #[error("this signaling instance is shutting down: reconnect")]
    ShuttingDown,
    #[error("this signaling instance has too many connections: retry later")]
    TooManyConnections,
    #[error("internal error")]
    Internal,
}

impl SessionError {
    pub fn code(&self) -> ErrorCode {
        match self {
            SessionError::Malformed(_) => ErrorCode::MalformedMessage,
            SessionError::UnknownType(_) => ErrorCode::UnknownMessageType,
            SessionError::OutOfOrder(_) => ErrorCode::OutOfOrder,
            SessionError::InvalidSdp(_) => ErrorCode::InvalidSdp,
            SessionError::InvalidCameraId(_) => ErrorCode::InvalidCameraId,
            SessionError::InvalidCandidate(_) => ErrorCode::InvalidCandidate,
            SessionError::Unauthorized(_) | SessionError::Revoked => ErrorCode::Unauthorized,
            SessionError::Forbidden(_) => ErrorCode::Forbidden,
            SessionError::RateLimited => ErrorCode::RateLimited,
            SessionError::Controller(body) => body.code,
            SessionError::ControllerUnavailable => ErrorCode::ControllerUnavailable,
            SessionError::RegistryUnavailable => ErrorCode::RegistryUnavailable,
            SessionError::ShuttingDown => ErrorCode::ShuttingDown,
            SessionError::TooManyConnections => ErrorCode::TooManyConnections,
            SessionError::Internal => ErrorCode::Internal,
        }
    }

    /// The `error` frame sent to the viewer.
    pub fn to_message(&self) -> ServerMessage {
        ServerMessage::Error { code: self.code(), message: self.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camview_proto::CameraId;

    #[test]
    fn a_revoked_viewer_is_told_access_revoked() {
        let v = serde_json::to_value(SessionError::Revoked.to_message()).unwrap();
        assert_eq!(v, serde_json::json!({"type": "error", "code": "unauthorized", "message": "access revoked"}));
    }

    #[test]
    fn each_error_maps_to_its_protocol_code() {
        let cases = [
            (SessionError::Malformed("x".into()), "malformed_message"),
            (SessionError::UnknownType("dance".into()), "unknown_message_type"),
            (SessionError::OutOfOrder("join first"), "out_of_order"),
            (SessionError::InvalidSdp("no m= line"), "invalid_sdp"),
            (SessionError::InvalidCameraId(IdError::Empty(CameraId::KIND)), "invalid_camera_id"),
            (SessionError::InvalidCandidate("empty"), "invalid_candidate"),
            (SessionError::Unauthorized("no token".into()), "unauthorized"),
            (SessionError::Forbidden("not granted".into()), "forbidden"),
            (SessionError::Revoked, "unauthorized"),
            (SessionError::RateLimited, "rate_limited"),
            (SessionError::Controller(ErrorBody::new(ErrorCode::StreamFull, "full")), "stream_full"),
            (SessionError::Controller(ErrorBody::new(ErrorCode::MediaServerError, "kms")), "media_server_error"),
            (SessionError::ControllerUnavailable, "controller_unavailable"),
            (SessionError::ShuttingDown, "shutting_down"),
            (SessionError::TooManyConnections, "too_many_connections"),
        ];
        for (err, code) in cases {
            let v = serde_json::to_value(err.to_message()).unwrap();
            assert_eq!(v["type"], "error");
            assert_eq!(v["code"], code, "{err:?}");
            assert!(!v["message"].as_str().unwrap().is_empty());
        }
    }
}
