//! Errors of the Kurento client: what the server said versus what the transport saw.

use camview_proto::kurento::{KurentoErrorCode, RpcError};
use std::time::Duration;

/// An error response from the media server (JSON-RPC or Kurento code).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("media server error {code}: {message}")]
pub struct KurentoError {
    pub code: i64,
    pub message: String,
    /// The Kurento code, when `code` is one of the table in `camview_proto`.
    pub kind: Option<KurentoErrorCode>,
}

impl From<RpcError> for KurentoError {
    fn from(e: RpcError) -> Self {
        Self { kind: KurentoErrorCode::from_code(e.code), code: e.code, message: e.message }
    }
}

/// Why a call through [`super::KurentoClient`] failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Server(#[from] KurentoError),
    #[error("no response from the media server within {0:?}")]
    Timeout(Duration),
    /// The socket dropped with the request in flight for longer than the server's request
    /// cache keeps answers, so resending it could execute it twice.
    #[error("the connection to the media server dropped before the response")]
    Disconnected,
    /// The server no longer knows our session: every object it held is gone.
    #[error("the media server session was lost")]
    SessionLost,
    #[error("the media server client was shut down")]
    Closed,
    /// The client's request queue is full: refused at once rather than queued without bound.
    #[error("{0} requests to the media server are already waiting")]
    Overloaded(usize),
    #[error("unexpected result of {operation}: {reason}")]
    Decode { operation: String, reason: String },
}

impl ClientError {
    /// Bounded label for metrics and spans: the Kurento symbol (or number) of a server error,
    /// else the kind of transport failure.
    pub fn code_label(&self) -> std::borrow::Cow<'static, str> {
        match self {
            ClientError::Server(e) => match e.kind {
                Some(k) => k.symbol().into(),
                None => e.code.to_string().into(),
            },
            ClientError::Timeout(_) => "timeout".into(),
            ClientError::Disconnected => "disconnected".into(),
            ClientError::SessionLost => "session_lost".into(),
            ClientError::Closed => "closed".into(),
            ClientError::Overloaded(_) => "overloaded".into(),
            ClientError::Decode { .. } => "decode".into(),
        }
    }

    /// The Kurento code of a server error, if any.
    pub fn kurento_code(&self) -> Option<KurentoErrorCode> {
        match self {
            ClientError::Server(e) => e.kind,
            _ => None,
        }
    }
}
