//! The controller's errors, each mapped once to the wire: a command that fails becomes one
//! `Failed` reply whose [`ErrorCode`] is chosen here and nowhere else. The layers below keep
//! their own enums (`MediaError` of the media-server port, `ClientError` of the Kurento
//! client, `RegistryError`); they reach a sender only through [`CommandError`].

use camview_common::registry::RegistryError;
use camview_proto::bus::Message;
use camview_proto::error::ErrorCode;
use camview_proto::{CameraId, ViewerId};

use crate::service::media::MediaError;

/// Errors of one command, mapped once to a `Failed` reply.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("stream {0} is not started")]
    StreamNotFound(CameraId),
    #[error("viewer {0} not found")]
    ViewerNotFound(ViewerId),
    #[error("the media server rejected the request: {0}")]
    Media(#[from] MediaError),
    #[error("registry: {0}")]
    Registry(#[from] camview_common::registry::RegistryError),
    #[error("the media server answer has no usable video port")]
    NoRtpPort,
    #[error("{0} streams are already started (MAX_STREAMS)")]
    TooManyStreams(u32),
    #[error("stream {camera} already has {limit} viewers (MAX_VIEWERS_PER_STREAM)")]
    StreamFull { camera: CameraId, limit: u32 },
    #[error("this browser cannot play the camera's video: {0}")]
    CodecUnsupported(String),
    #[error("no media node can take a new stream (every node is full, draining or without a heartbeat)")]
    NoMediaNode,
}

impl CommandError {
    pub fn code(&self) -> ErrorCode {
        match self {
            CommandError::StreamNotFound(_) => ErrorCode::StreamNotFound,
            CommandError::ViewerNotFound(_) => ErrorCode::ViewerNotFound,
            CommandError::CodecUnsupported(_) => ErrorCode::CodecUnsupported,
            CommandError::Media(MediaError::Rejected { .. } | MediaError::NotFound(_)) | CommandError::NoRtpPort => {
                ErrorCode::MediaServerError
            }
            CommandError::Media(MediaError::Unavailable(_)) => ErrorCode::ControllerUnavailable,
            // Another controller leads now: the sender may retry, and the new leader answers.
            CommandError::Registry(RegistryError::Fenced { .. }) => ErrorCode::ControllerUnavailable,
            CommandError::Registry(_) => ErrorCode::RegistryUnavailable,
            CommandError::TooManyStreams(_) => ErrorCode::TooManyStreams,
            CommandError::StreamFull { .. } => ErrorCode::StreamFull,
            CommandError::NoMediaNode => ErrorCode::NoMediaNode,
        }
    }

    pub(crate) fn reply(&self) -> Message {
        Message::failed(self.code(), self.to_string())
    }
}
