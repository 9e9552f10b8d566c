//! Bus messages of the snapshot tap: the api asks the media-controller for an RtpEndpoint in a
//! camera's pipeline that sends the camera's RTP to the api (answering the api's receive-only
//! SDP offer), and releases it when snapshots are no longer asked for.

use serde::{Deserialize, Serialize};

use crate::ids::CameraId;

/// Open a tap on a started stream: an RtpEndpoint in its pipeline, connected from the camera
/// endpoint (video), answering `sdp_offer` (receive-only, naming the api's address and port).
/// Replied to with [`TapOpened`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenTap {
    pub camera_id: CameraId,
    /// Chosen by the api; orders the tap's commands after each other (the controller's lane).
    pub tap_id: String,
    pub sdp_offer: String,
}

/// Reply to [`OpenTap`]: the tap's endpoint and the media server's answer (its `c=` and
/// `m=video` port are where the RTP comes from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TapOpened {
    pub camera_id: CameraId,
    pub tap_id: String,
    pub endpoint_id: String,
    pub sdp_answer: String,
}

/// Release a tap's endpoint (only an endpoint of that camera's pipeline). Replied to with `Done`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseTap {
    pub camera_id: CameraId,
    pub tap_id: String,
    pub endpoint_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{Envelope, Message};
    use crate::roundtrip;

    #[test]
    fn tap_messages_round_trip_and_only_open_and_close_are_commands() {
        let messages = [
            Message::OpenTap(OpenTap {
                camera_id: CameraId::from_static("cam"),
                tap_id: "t".into(),
                sdp_offer: "v=0\r\n".into(),
            }),
            Message::TapOpened(TapOpened {
                camera_id: CameraId::from_static("cam"),
                tap_id: "t".into(),
                endpoint_id: "p/e".into(),
                sdp_answer: "v=0\r\n".into(),
            }),
            Message::CloseTap(CloseTap {
                camera_id: CameraId::from_static("cam"),
                tap_id: "t".into(),
                endpoint_id: "p/e".into(),
            }),
        ];
        for message in messages {
            let env = Envelope {
                id: "i".into(),
                sent_at: "2026-12-07T00:00:00Z".into(),
                reply_to: None,
                correlation_id: None,
                traceparent: None,
                expires_at: None,
                message,
            };
            let v = serde_json::to_value(&env).unwrap();
            assert_eq!(v["type"], env.message.kind());
            assert_eq!(env.message.is_command(), env.message.kind() != "TapOpened", "{v}");
            roundtrip(&env);
        }
    }
}
