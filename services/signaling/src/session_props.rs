//! Property tests of [`ViewerSession`]: whatever a browser (or anyone) sends, in any order,
//! interleaved with whatever the bus and the join executor report, the session never panics,
//! answers every bad frame with an error rather than an action on the system, and never asks
//! for more than one join at a time.

use camview_proto::CameraId;
use camview_proto::ViewerId;
use proptest::prelude::*;

use super::*;
use crate::domain::tests::OFFER;
use camview_proto::bus::{Renegotiate, StreamEnded, StreamStateChanged, ViewerIceCandidate};
use camview_proto::stream::StreamState;

/// One thing that can happen to a session.
#[derive(Debug, Clone)]
enum Input {
    Text(String),
    Binary,
    Answered,
    Failed,
    Renegotiate,
    Ended,
    StateChanged,
    RemoteCandidate,
    Revoked,
}

fn field_value() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<bool>().prop_map(serde_json::Value::from),
        "[ -~]{0,40}".prop_map(serde_json::Value::from),
        Just(serde_json::Value::from("cam1")),
        Just(serde_json::Value::from(OFFER)),
        Just(serde_json::Value::from("candidate:1 1 udp 2015363327 127.0.0.1 40128 typ host")),
        Just(serde_json::json!([1, 2])),
        Just(serde_json::json!({"nested": "x"})),
    ]
}

/// Frames shaped like the protocol's, with fields right, wrong or missing.
fn frame() -> impl Strategy<Value = String> {
    let kind = prop_oneof![Just("join".to_owned()), Just("ice".to_owned()), Just("leave".to_owned()), "[a-z]{0,8}"];
    let keys = prop::collection::vec(
        (
            prop_oneof![
                Just("camera"),
                Just("sdpOffer"),
                Just("candidate"),
                Just("sdpMid"),
                Just("sdpMLineIndex"),
                Just("token"),
                Just("extra")
            ],
            field_value(),
        ),
        0..6,
    );
    (kind, keys).prop_map(|(kind, fields)| {
        let mut v = serde_json::json!({ "type": kind });
        for (k, value) in fields {
            v[k] = value;
        }
        v.to_string()
    })
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => frame().prop_map(Input::Text),
        2 => Just(Input::Text(serde_json::json!({"type": "join", "camera": "cam1", "sdpOffer": OFFER}).to_string())),
        2 => Just(Input::Text(serde_json::json!({"type": "ice", "candidate": "candidate:1 1 udp 2015363327 127.0.0.1 40128 typ host", "sdpMid": "0", "sdpMLineIndex": 0}).to_string())),
        1 => Just(Input::Text(serde_json::json!({"type": "leave"}).to_string())),
        1 => any::<String>().prop_map(Input::Text),
        1 => Just(Input::Binary),
        1 => Just(Input::Answered),
        1 => Just(Input::Failed),
        1 => Just(Input::Renegotiate),
        1 => Just(Input::Ended),
        1 => Just(Input::StateChanged),
        1 => Just(Input::RemoteCandidate),
        1 => Just(Input::Revoked),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_of_frames_and_events_panics_or_runs_two_joins_at_once(inputs in prop::collection::vec(input(), 1..40)) {
        let mut session = ViewerSession::new(RateLimiter::new(1000, 1000, 1000));
        let mut joining: Option<(ViewerId, CameraId)> = None;
        let mut viewer: Option<ViewerId> = None;
        for input in inputs {
            let id = joining.as_ref().map(|(id, _)| id.clone()).or_else(|| viewer.clone()).unwrap_or_else(|| ViewerId::from_static("nobody"));
            let actions = match input {
                Input::Text(text) => session.handle_text(Instant::now(), &text),
                Input::Binary => session.handle_binary(Instant::now()),
                Input::Answered => match joining.take() {
                    Some((viewer_id, camera)) => {
                        viewer = Some(viewer_id.clone());
                        session.handle_join_outcome(JoinOutcome::Answered { viewer_id, camera, sdp_answer: "v=0\r\n".into() })
                    }
                    None => vec![],
                },
                Input::Failed => match joining.take() {
                    Some((viewer_id, _)) => session.handle_join_outcome(JoinOutcome::Failed { viewer_id, error: SessionError::ControllerUnavailable }),
                    None => vec![],
                },
                Input::Renegotiate => session.handle_bus(Message::Renegotiate(Renegotiate { viewer_id: id, camera_id: CameraId::from_static("cam1") })),
                Input::Ended => session.handle_bus(Message::StreamEnded(StreamEnded { viewer_id: id, camera_id: CameraId::from_static("cam1") })),
                Input::StateChanged => session.handle_bus(Message::StreamStateChanged(StreamStateChanged { viewer_id: id, camera_id: CameraId::from_static("cam1"), state: StreamState::Live })),
                Input::RemoteCandidate => session.handle_bus(Message::ViewerIceCandidate(ViewerIceCandidate {
                    viewer_id: id,
                    candidate: camview_proto::stream::IceCandidate { candidate: "candidate:9 1 udp 1 10.0.0.1 9 typ host".into(), sdp_mid: Some("0".into()), sdp_m_line_index: Some(0) },
                })),
                Input::Revoked => session.handle_revoked(&id),
            };
            let joins: Vec<&JoinRequest> = actions.iter().filter_map(|a| match a { Action::Join(r) => Some(r), _ => None }).collect();
            prop_assert!(joins.len() <= 1, "one frame asked for {} joins: {actions:?}", joins.len());
            if let Some(request) = joins.first() {
                prop_assert!(joining.is_none(), "a second join while one is in flight: {actions:?}");
                joining = Some((request.viewer_id.clone(), request.camera.clone()));
            }
            prop_assert!(actions.len() <= MAX_EARLY_CANDIDATES + 4, "unbounded reply: {} actions", actions.len());
        }
    }
}
