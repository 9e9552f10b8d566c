//! The viewer WebSocket protocol between a browser and `camview-signaling`.
//!
//! Every frame is a JSON object with a `type` field.
//!
//! | direction | type | fields |
//! |---|---|---|
//! | client -> server | `join` | `camera`, `sdpOffer`, `token?` |
//! | client -> server | `ice` | `candidate`, `sdpMid`, `sdpMLineIndex` |
//! | client -> server | `leave` | |
//! | server -> client | `answer` | `viewerId`, `sdpAnswer` |
//! | server -> client | `ice` | `candidate`, `sdpMid`, `sdpMLineIndex` |
//! | server -> client | `streamState` | `state` |
//! | server -> client | `streamEnded` | |
//! | server -> client | `renegotiate` | |
//! | server -> client | `error` | `code`, `message` |

use serde::{Deserialize, Serialize};

use crate::ids::ViewerId;

use crate::error::ErrorCode;
use crate::stream::{IceCandidate, StreamState};

/// Largest frame a client may send; a larger one closes the socket with 1009.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;

/// Frames a browser sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMessage {
    #[serde(rename_all = "camelCase")]
    Join {
        camera: String,
        sdp_offer: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    Ice(IceCandidate),
    Leave,
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    #[serde(rename_all = "camelCase")]
    Answer {
        viewer_id: ViewerId,
        sdp_answer: String,
    },
    Ice(IceCandidate),
    StreamState {
        state: StreamState,
    },
    StreamEnded,
    /// The media server lost the viewer's endpoint: send a new `join`.
    Renegotiate,
    Error {
        code: ErrorCode,
        message: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roundtrip;

    #[test]
    fn join_uses_the_documented_field_names() {
        let raw = r#"{"type":"join","camera":"56C1CADCF1FA4C6CAEBA3E2FD85EFEBF","sdpOffer":"v=0..."}"#;
        let m: ClientMessage = serde_json::from_str(raw).unwrap();
        assert_eq!(
            m,
            ClientMessage::Join {
                camera: "56C1CADCF1FA4C6CAEBA3E2FD85EFEBF".into(),
                sdp_offer: "v=0...".into(),
                token: None
            }
        );
        roundtrip(&m);
        roundtrip(&ClientMessage::Join { camera: "c".into(), sdp_offer: "o".into(), token: Some("jwt".into()) });
    }

    #[test]
    fn ice_and_leave_round_trip() {
        let raw =
            r#"{"type":"ice","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}"#;
        let m: ClientMessage = serde_json::from_str(raw).unwrap();
        roundtrip(&m);
        assert_eq!(serde_json::to_value(ClientMessage::Leave).unwrap(), serde_json::json!({"type":"leave"}));
        roundtrip(&ClientMessage::Leave);
    }

    #[test]
    fn every_server_message_round_trips_with_its_type() {
        let all = [
            (ServerMessage::Answer { viewer_id: ViewerId::from_static("v"), sdp_answer: "v=0".into() }, "answer"),
            (
                ServerMessage::Ice(IceCandidate {
                    candidate: "c".into(),
                    sdp_mid: Some("0".into()),
                    sdp_m_line_index: Some(0),
                }),
                "ice",
            ),
            (ServerMessage::StreamState { state: StreamState::Live }, "streamState"),
            (ServerMessage::StreamEnded, "streamEnded"),
            (ServerMessage::Renegotiate, "renegotiate"),
            (ServerMessage::Error { code: ErrorCode::StreamFull, message: "full".into() }, "error"),
        ];
        for (m, ty) in all {
            assert_eq!(serde_json::to_value(&m).unwrap()["type"], ty);
            roundtrip(&m);
        }
        let answer = serde_json::to_value(ServerMessage::Answer {
            viewer_id: ViewerId::from_static("v"),
            sdp_answer: "s".into(),
        })
        .unwrap();
        assert_eq!(answer, serde_json::json!({"type":"answer","viewerId":"v","sdpAnswer":"s"}));
    }

    #[test]
    fn unknown_types_are_rejected() {
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"dance"}"#).is_err());
    }
}
