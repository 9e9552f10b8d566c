//! Messages between services on the bus, and the envelope that carries them.
//!
//! Commands go to the media-controller through a durable queue; replies and events go to
//! one service instance's own channel. Every message travels in an [`Envelope`]:
//! `{id, type, sent_at, reply_to?, correlation_id?, traceparent?, payload}`.

use serde::{Deserialize, Serialize};

use crate::ids::{CameraId, ViewerId};

use crate::error::{ErrorBody, ErrorCode};
use crate::stream::{Bandwidth, IceCandidate, StreamRecord, StreamState, ViewerState};

/// The unit of transport on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique message id (UUID).
    pub id: String,
    /// RFC 3339 time the sender created the message.
    pub sent_at: String,
    /// Instance id whose channel should receive the reply to this command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// On replies: the `id` of the command answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// W3C trace context of the sender's span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// On commands sent as requests: RFC 3339 time after which the sender no longer waits for
    /// the reply. The media-controller drops a command it reads after this time unexecuted,
    /// so a start that already answered 503 never happens later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `type` and `payload` on the wire.
    #[serde(flatten)]
    pub message: Message,
}

/// Every message on the bus: `type` names the variant, `payload` holds its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload")]
pub enum Message {
    // Commands to the media-controller.
    StartStream(StartStream),
    StopStream(StopStream),
    AddViewer(AddViewer),
    AddIceCandidate(AddIceCandidate),
    RemoveViewer(RemoveViewer),
    CameraSeen(CameraSeen),
    // Replies to commands.
    StreamStarted(StreamStarted),
    StreamStopped(StreamStopped),
    CameraSourceSet(CameraSourceSet),
    ViewerAdded(ViewerAdded),
    Done(Done),
    Failed(ErrorBody),
    // Events to the signaling instance that holds a viewer.
    ViewerIceCandidate(ViewerIceCandidate),
    ViewerStateChanged(ViewerStateChanged),
    StreamStateChanged(StreamStateChanged),
    StreamEnded(StreamEnded),
    Renegotiate(Renegotiate),
    // Broadcast to every signaling instance on the auth channel.
    AccessRevoked(crate::auth::AccessRevoked),
    // Snapshot tap (commands, and the reply to `OpenTap`).
    OpenTap(crate::snapshot::OpenTap),
    CloseTap(crate::snapshot::CloseTap),
    TapOpened(crate::snapshot::TapOpened),
}

impl Message {
    /// The `type` string of this message.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::StartStream(_) => "StartStream",
            Message::StopStream(_) => "StopStream",
            Message::AddViewer(_) => "AddViewer",
            Message::AddIceCandidate(_) => "AddIceCandidate",
            Message::RemoveViewer(_) => "RemoveViewer",
            Message::CameraSeen(_) => "CameraSeen",
            Message::StreamStarted(_) => "StreamStarted",
            Message::StreamStopped(_) => "StreamStopped",
            Message::CameraSourceSet(_) => "CameraSourceSet",
            Message::ViewerAdded(_) => "ViewerAdded",
            Message::Done(_) => "Done",
            Message::Failed(_) => "Failed",
            Message::ViewerIceCandidate(_) => "ViewerIceCandidate",
            Message::ViewerStateChanged(_) => "ViewerStateChanged",
            Message::StreamStateChanged(_) => "StreamStateChanged",
            Message::StreamEnded(_) => "StreamEnded",
            Message::Renegotiate(_) => "Renegotiate",
            Message::AccessRevoked(_) => "AccessRevoked",
            Message::OpenTap(_) => "OpenTap",
            Message::CloseTap(_) => "CloseTap",
            Message::TapOpened(_) => "TapOpened",
        }
    }

    /// Whether this message is a command for the media-controller's queue.
    pub fn is_command(&self) -> bool {
        matches!(
            self,
            Message::StartStream(_)
                | Message::StopStream(_)
                | Message::AddViewer(_)
                | Message::AddIceCandidate(_)
                | Message::RemoveViewer(_)
                | Message::CameraSeen(_)
                | Message::OpenTap(_)
                | Message::CloseTap(_)
        )
    }

    /// A failure reply.
    pub fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        Message::Failed(ErrorBody::new(code, message))
    }
}

/// Create the pipeline and RTP endpoint of a camera. Idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartStream {
    pub camera_id: CameraId,
    pub bandwidth: Bandwidth,
    /// An RTSP camera the media server pulls from (credentials included; the controller
    /// stores it under its own key), instead of the default camera that pushes RTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<crate::source::SourceUrl>,
}

/// Release a camera's pipeline and tell its viewers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopStream {
    pub camera_id: CameraId,
}

/// Create a viewer's WebRTC endpoint and answer its offer. The slot is already reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddViewer {
    pub viewer_id: ViewerId,
    pub camera_id: CameraId,
    pub sdp_offer: String,
    /// Signaling instance whose channel receives the viewer's events.
    pub signaling_instance: String,
}

/// A browser ICE candidate for a viewer's endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddIceCandidate {
    pub viewer_id: ViewerId,
    /// The viewer's camera: the controller runs one camera's commands in order, so the
    /// candidate follows its `AddViewer`. Absent from older senders (then run in order with
    /// every other such command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_id: Option<CameraId>,
    pub candidate: IceCandidate,
}

/// Why a viewer goes away.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemoveReason {
    Left,
    SocketClosed,
    Failed,
    InstanceDead,
    ShuttingDown,
}

/// Release a viewer's endpoint and free its slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveViewer {
    pub viewer_id: ViewerId,
    pub camera_id: CameraId,
    pub reason: RemoveReason,
}

/// Reply to [`StartStream`]: the stream as now registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamStarted {
    pub stream: StreamRecord,
    /// False when the stream already existed and was returned unchanged.
    pub created: bool,
}

/// An authenticated keepalive of a started stream's camera arrived from `source` (its IP
/// address, as the api sees it behind `TRUSTED_PROXIES`). Sent by the api only when `source`
/// differs from the stream's `camera_source`. The first one is recorded; one from another
/// address re-latches the camera's RTP source: a new RtpEndpoint (new port, accepting the
/// first source that sends to it) replaces the old one under every viewer, so the camera's
/// media is taken from its new address only once a keepalive from it proved the camera moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraSeen {
    pub camera_id: CameraId,
    pub source: String,
}

/// Reply to [`CameraSeen`]: the stream as now registered (its RTP target is where the camera
/// must send), and whether its RTP source was re-latched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraSourceSet {
    pub stream: StreamRecord,
    pub relatched: bool,
}

/// Reply to [`StopStream`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStopped {
    pub camera_id: CameraId,
    pub viewers_released: u64,
}

/// Reply to [`AddViewer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerAdded {
    pub viewer_id: ViewerId,
    pub sdp_answer: String,
}

/// Success reply with no data (AddIceCandidate, RemoveViewer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {}

/// A media-server ICE candidate for the browser of `viewer_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerIceCandidate {
    pub viewer_id: ViewerId,
    pub candidate: IceCandidate,
}

/// A viewer's connection state changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewerStateChanged {
    pub viewer_id: ViewerId,
    pub state: ViewerState,
}

/// The stream a viewer watches changed state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamStateChanged {
    pub viewer_id: ViewerId,
    pub camera_id: CameraId,
    pub state: StreamState,
}

/// The stream a viewer watched was stopped; its endpoint is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEnded {
    pub viewer_id: ViewerId,
    pub camera_id: CameraId,
}

/// The viewer's endpoint was recreated; the browser must send a new offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renegotiate {
    pub viewer_id: ViewerId,
    pub camera_id: CameraId,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roundtrip;
    use crate::stream::tests_support::sample_stream;

    fn envelope(message: Message) -> Envelope {
        Envelope {
            id: "0b6c6f0e-1a52-4d7e-9f0c-3a0d7d4f5a11".into(),
            sent_at: "2026-11-24T01:00:00Z".into(),
            reply_to: Some("api-1".into()),
            correlation_id: None,
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            expires_at: None,
            message,
        }
    }

    fn candidate() -> IceCandidate {
        IceCandidate {
            candidate: "candidate:1 1 UDP 2015363327 127.0.0.1 40128 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        }
    }

    fn every_message() -> Vec<Message> {
        vec![
            Message::StartStream(StartStream {
                camera_id: CameraId::from_static("cam"),
                bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
                source: None,
            }),
            Message::StopStream(StopStream { camera_id: CameraId::from_static("cam") }),
            Message::AddViewer(AddViewer {
                viewer_id: ViewerId::from_static("v"),
                camera_id: CameraId::from_static("cam"),
                sdp_offer: "v=0\r\n".into(),
                signaling_instance: "sig-1".into(),
            }),
            Message::AddIceCandidate(AddIceCandidate {
                viewer_id: ViewerId::from_static("v"),
                camera_id: Some(CameraId::from_static("cam")),
                candidate: candidate(),
            }),
            Message::RemoveViewer(RemoveViewer {
                viewer_id: ViewerId::from_static("v"),
                camera_id: CameraId::from_static("cam"),
                reason: RemoveReason::InstanceDead,
            }),
            Message::CameraSeen(CameraSeen { camera_id: CameraId::from_static("cam"), source: "192.0.2.7".into() }),
            Message::StreamStarted(StreamStarted { stream: sample_stream(), created: true }),
            Message::StreamStopped(StreamStopped { camera_id: CameraId::from_static("cam"), viewers_released: 2 }),
            Message::CameraSourceSet(CameraSourceSet { stream: sample_stream(), relatched: true }),
            Message::ViewerAdded(ViewerAdded { viewer_id: ViewerId::from_static("v"), sdp_answer: "v=0\r\n".into() }),
            Message::Done(Done {}),
            Message::failed(ErrorCode::ControllerUnavailable, "no controller"),
            Message::ViewerIceCandidate(ViewerIceCandidate {
                viewer_id: ViewerId::from_static("v"),
                candidate: candidate(),
            }),
            Message::ViewerStateChanged(ViewerStateChanged {
                viewer_id: ViewerId::from_static("v"),
                state: ViewerState::Connected,
            }),
            Message::StreamStateChanged(StreamStateChanged {
                viewer_id: ViewerId::from_static("v"),
                camera_id: CameraId::from_static("cam"),
                state: StreamState::Stalled,
            }),
            Message::StreamEnded(StreamEnded {
                viewer_id: ViewerId::from_static("v"),
                camera_id: CameraId::from_static("cam"),
            }),
            Message::Renegotiate(Renegotiate {
                viewer_id: ViewerId::from_static("v"),
                camera_id: CameraId::from_static("cam"),
            }),
        ]
    }

    #[test]
    fn every_message_round_trips_inside_an_envelope() {
        for message in every_message() {
            let env = envelope(message);
            let v = serde_json::to_value(&env).unwrap();
            assert_eq!(v["type"], env.message.kind(), "type tag of {v}");
            assert!(v.get("payload").is_some(), "payload of {v}");
            roundtrip(&env);
        }
    }

    #[test]
    fn envelope_has_the_documented_top_level_fields() {
        let env = envelope(Message::StopStream(StopStream { camera_id: CameraId::from_static("cam") }));
        let v = serde_json::to_value(&env).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["id", "payload", "reply_to", "sent_at", "traceparent", "type"]);
    }

    #[test]
    fn commands_are_told_apart_from_replies_and_events() {
        let commands: Vec<_> = every_message().into_iter().filter(Message::is_command).map(|m| m.kind()).collect();
        assert_eq!(
            commands,
            ["StartStream", "StopStream", "AddViewer", "AddIceCandidate", "RemoveViewer", "CameraSeen"]
        );
    }

    #[test]
    fn an_unknown_type_is_rejected() {
        let raw = r#"{"id":"x","sent_at":"t","type":"Explode","payload":{}}"#;
        assert!(serde_json::from_str::<Envelope>(raw).is_err());
    }
}
