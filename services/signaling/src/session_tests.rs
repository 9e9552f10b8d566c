//! Unit tests of [`ViewerSession`]: every transition, no sockets.

use super::*;
use camview_proto::bus::{Renegotiate, StreamEnded, StreamStateChanged, ViewerIceCandidate};
use camview_proto::stream::StreamState;
use camview_proto::CameraId;
use camview_proto::ViewerId;
use camview_proto::{ErrorBody, ErrorCode};

use crate::domain::tests::{candidate, OFFER};

const CAND: &str = "candidate:1 1 udp 2015363327 127.0.0.1 40128 typ host";

fn session() -> ViewerSession {
    ViewerSession::new(RateLimiter::new(1000, 1000, 1000))
}

fn text(s: &mut ViewerSession, frame: serde_json::Value) -> Vec<Action> {
    s.handle_text(Instant::now(), &frame.to_string())
}

fn join_frame(camera: &str) -> serde_json::Value {
    serde_json::json!({"type": "join", "camera": camera, "sdpOffer": OFFER})
}

fn ice_frame(line: &str) -> serde_json::Value {
    serde_json::json!({"type": "ice", "candidate": line, "sdpMid": "0", "sdpMLineIndex": 0})
}

fn error_code(actions: &[Action]) -> Option<ErrorCode> {
    actions.iter().find_map(|a| match a {
        Action::Send(ServerMessage::Error { code, .. }) => Some(*code),
        _ => None,
    })
}

/// Joins and answers; returns the viewer id.
fn joined(s: &mut ViewerSession, camera: &str) -> ViewerId {
    let actions = text(s, join_frame(camera));
    let [Action::Join(req)] = actions.as_slice() else { panic!("{actions:?}") };
    let viewer_id = req.viewer_id.clone();
    let actions = s.handle_join_outcome(JoinOutcome::Answered {
        camera: CameraId::from_static("cam1"),
        viewer_id: viewer_id.clone(),
        sdp_answer: "v=0 answer".into(),
    });
    assert!(matches!(&actions[0], Action::Send(ServerMessage::Answer { .. })), "{actions:?}");
    viewer_id
}

fn ice_event(viewer_id: &ViewerId, line: &str) -> Message {
    Message::ViewerIceCandidate(ViewerIceCandidate { viewer_id: viewer_id.clone(), candidate: candidate(line) })
}

#[test]
fn a_valid_join_asks_the_executor_to_join_with_a_fresh_viewer_id() {
    let mut s = session();
    let actions = text(&mut s, join_frame("cam1"));
    let [Action::Join(req)] = actions.as_slice() else { panic!("{actions:?}") };
    assert_eq!(req.camera, "cam1");
    assert_eq!(req.sdp_offer, OFFER);
    assert!(uuid::Uuid::parse_str(&req.viewer_id).is_ok());
    assert_eq!(s.viewer_id(), Some(&req.viewer_id));
}

#[test]
fn the_answer_is_sent_with_the_viewer_id_and_early_candidates_are_flushed_after_it() {
    let mut s = session();
    let actions = text(&mut s, join_frame("cam1"));
    let [Action::Join(req)] = actions.as_slice() else { panic!() };
    let id = req.viewer_id.clone();
    assert!(text(&mut s, ice_frame(CAND)).is_empty(), "buffered while joining");
    assert!(
        s.handle_bus(ice_event(&id, "candidate:9 1 udp 1 10.0.0.1 9 typ host")).is_empty(),
        "server candidate buffered too"
    );
    let actions = s.handle_join_outcome(JoinOutcome::Answered {
        camera: CameraId::from_static("cam1"),
        viewer_id: id.clone(),
        sdp_answer: "v=0 a".into(),
    });
    assert_eq!(actions[0], Action::Send(ServerMessage::Answer { viewer_id: id.clone(), sdp_answer: "v=0 a".into() }));
    assert_eq!(
        actions[1],
        Action::AddIce { viewer_id: id.clone(), camera: CameraId::from_static("cam1"), candidate: candidate(CAND) }
    );
    assert_eq!(actions[2], Action::Send(ServerMessage::Ice(candidate("candidate:9 1 udp 1 10.0.0.1 9 typ host"))));
    assert_eq!(actions.len(), 3);
}

#[test]
fn a_failed_join_reports_the_code_and_lets_the_socket_join_again() {
    let mut s = session();
    let actions = text(&mut s, join_frame("cam1"));
    let [Action::Join(req)] = actions.as_slice() else { panic!() };
    let actions = s.handle_join_outcome(JoinOutcome::Failed {
        viewer_id: req.viewer_id.clone(),
        error: SessionError::Controller(ErrorBody::new(ErrorCode::StreamFull, "stream cam1 already has 10 viewers")),
    });
    assert_eq!(actions[0], Action::Forget { viewer_id: req.viewer_id.clone() });
    assert_eq!(error_code(&actions), Some(ErrorCode::StreamFull));
    assert!(s.viewer_id().is_none());
    joined(&mut s, "cam1");
}

#[test]
fn bad_frames_get_their_error_code_and_the_socket_still_joins() {
    let mut s = session();
    let cases: Vec<(String, ErrorCode)> = vec![
        ("{not json".into(), ErrorCode::MalformedMessage),
        ("[1,2]".into(), ErrorCode::MalformedMessage),
        (r#"{"type":"join"}"#.into(), ErrorCode::MalformedMessage),
        (r#"{"type":"dance"}"#.into(), ErrorCode::UnknownMessageType),
        (ice_frame(CAND).to_string(), ErrorCode::OutOfOrder),
        (serde_json::json!({"type":"join","camera":"cam1","sdpOffer":"hello"}).to_string(), ErrorCode::InvalidSdp),
        (join_frame("../etc").to_string(), ErrorCode::InvalidCameraId),
    ];
    for (frame, code) in cases {
        let actions = s.handle_text(Instant::now(), &frame);
        assert_eq!(error_code(&actions), Some(code), "{frame}");
    }
    assert_eq!(error_code(&s.handle_binary(Instant::now())), Some(ErrorCode::MalformedMessage));
    let id = joined(&mut s, "cam1");
    assert_eq!(error_code(&text(&mut s, ice_frame("hello"))), Some(ErrorCode::InvalidCandidate));
    assert_eq!(error_code(&text(&mut s, join_frame("cam1"))), Some(ErrorCode::OutOfOrder));
    assert_eq!(
        text(&mut s, ice_frame(CAND)),
        vec![Action::AddIce { viewer_id: id, camera: CameraId::from_static("cam1"), candidate: candidate(CAND) }]
    );
    assert!(text(&mut s, ice_frame("")).is_empty(), "end of candidates is dropped");
}

#[test]
fn leave_releases_the_viewer_and_a_new_join_gets_a_new_id() {
    let mut s = session();
    let id = joined(&mut s, "cam1");
    assert_eq!(
        text(&mut s, serde_json::json!({"type":"leave"})),
        vec![Action::Release {
            viewer_id: id.clone(),
            camera: CameraId::from_static("cam1"),
            reason: RemoveReason::Left
        }]
    );
    assert!(text(&mut s, serde_json::json!({"type":"leave"})).is_empty(), "leave when idle is harmless");
    assert_ne!(joined(&mut s, "cam1"), id);
}

#[test]
fn leave_during_a_join_releases_the_viewer_once_it_is_answered() {
    let mut s = session();
    let actions = text(&mut s, join_frame("cam1"));
    let [Action::Join(req)] = actions.as_slice() else { panic!() };
    assert!(text(&mut s, serde_json::json!({"type":"leave"})).is_empty());
    let actions = s.handle_join_outcome(JoinOutcome::Answered {
        camera: CameraId::from_static("cam1"),
        viewer_id: req.viewer_id.clone(),
        sdp_answer: "v=0".into(),
    });
    assert_eq!(
        actions,
        vec![Action::Release {
            viewer_id: req.viewer_id.clone(),
            camera: CameraId::from_static("cam1"),
            reason: RemoveReason::Left
        }]
    );
}

#[test]
fn server_events_become_frames_and_events_of_other_viewers_are_ignored() {
    let mut s = session();
    let id = joined(&mut s, "cam1");
    assert_eq!(s.handle_bus(ice_event(&id, CAND)), vec![Action::Send(ServerMessage::Ice(candidate(CAND)))]);
    assert!(s.handle_bus(ice_event(&ViewerId::from_static("someone-else"), CAND)).is_empty());
    let state = Message::StreamStateChanged(StreamStateChanged {
        viewer_id: id.clone(),
        camera_id: CameraId::from_static("cam1"),
        state: StreamState::Stalled,
    });
    assert_eq!(s.handle_bus(state), vec![Action::Send(ServerMessage::StreamState { state: StreamState::Stalled })]);
    let ended = Message::StreamEnded(StreamEnded { viewer_id: id.clone(), camera_id: CameraId::from_static("cam1") });
    assert_eq!(s.handle_bus(ended), vec![Action::Send(ServerMessage::StreamEnded), Action::Forget { viewer_id: id }]);
    assert!(s.viewer_id().is_none());
    assert_eq!(s.close(CloseKind::ClientGone), vec![Action::Close(CloseKind::ClientGone)], "nothing left to release");
}

#[test]
fn renegotiate_keeps_the_viewer_id_for_the_next_offer() {
    let mut s = session();
    let id = joined(&mut s, "cam1");
    let reneg = Message::Renegotiate(Renegotiate { viewer_id: id.clone(), camera_id: CameraId::from_static("cam1") });
    assert_eq!(s.handle_bus(reneg), vec![Action::Send(ServerMessage::Renegotiate)]);
    let actions = text(&mut s, join_frame("cam1"));
    let [Action::Join(req)] = actions.as_slice() else { panic!("{actions:?}") };
    assert_eq!(req.viewer_id, id);
}

#[test]
fn closing_a_joined_socket_releases_its_viewer_and_shutdown_says_so_first() {
    let mut s = session();
    let id = joined(&mut s, "cam1");
    let actions = s.close(CloseKind::ShuttingDown);
    assert_eq!(error_code(&actions), Some(ErrorCode::ShuttingDown));
    assert_eq!(
        actions[1],
        Action::Release { viewer_id: id, camera: CameraId::from_static("cam1"), reason: RemoveReason::ShuttingDown }
    );
    assert_eq!(actions[2], Action::Close(CloseKind::ShuttingDown));
    assert!(s.is_closed());
    assert!(s.close(CloseKind::ClientGone).is_empty(), "closing twice does nothing");
    assert!(text(&mut s, join_frame("cam1")).is_empty(), "no input after close");
}

#[test]
fn closing_while_joining_leaves_the_release_to_the_join_executor() {
    let mut s = session();
    text(&mut s, join_frame("cam1"));
    assert_eq!(s.close(CloseKind::ClientGone), vec![Action::Close(CloseKind::ClientGone)]);
}

#[test]
fn a_flood_is_rate_limited_once_then_closed() {
    let mut s = ViewerSession::new(RateLimiter::new(1, 2, 3));
    let now = Instant::now();
    let leave = r#"{"type":"leave"}"#;
    assert!(s.handle_text(now, leave).is_empty());
    assert!(s.handle_text(now, leave).is_empty());
    assert_eq!(error_code(&s.handle_text(now, leave)), Some(ErrorCode::RateLimited));
    assert!(s.handle_text(now, leave).is_empty());
    assert!(s.handle_text(now, leave).is_empty());
    let actions = s.handle_text(now, leave);
    assert_eq!(actions.last(), Some(&Action::Close(CloseKind::Abuse)), "{actions:?}");
    assert!(s.is_closed());
}

#[test]
fn a_join_hands_its_token_to_the_executor_and_never_prints_it() {
    let mut s = session();
    let actions =
        text(&mut s, serde_json::json!({"type":"join","camera":"cam1","sdpOffer":OFFER,"token":"tok-secret"}));
    let [Action::Join(req)] = actions.as_slice() else { panic!("{actions:?}") };
    assert_eq!(req.token.as_deref(), Some("tok-secret"));
    assert!(!req.reoffer);
    assert!(!format!("{actions:?}").contains("tok-secret"));
}

#[test]
fn a_revoked_viewer_is_told_released_and_closed() {
    let mut s = session();
    let id = joined(&mut s, "cam1");
    assert!(s.handle_revoked(&ViewerId::from_static("someone-else")).is_empty());
    let actions = s.handle_revoked(&id);
    assert_eq!(
        actions,
        vec![
            Action::Send(crate::error::SessionError::Revoked.to_message()),
            Action::Release {
                viewer_id: id,
                camera: CameraId::from_static("cam1"),
                reason: RemoveReason::SocketClosed
            },
            Action::Close(CloseKind::Revoked),
        ]
    );
    assert!(s.is_closed());
}

#[test]
fn a_viewer_revoked_while_joining_is_closed_and_left_to_the_executor() {
    let mut s = session();
    let actions = text(&mut s, join_frame("cam1"));
    let [Action::Join(req)] = actions.as_slice() else { panic!("{actions:?}") };
    let actions = s.handle_revoked(&req.viewer_id);
    assert_eq!(error_code(&actions), Some(ErrorCode::Unauthorized));
    assert!(!actions.iter().any(|a| matches!(a, Action::Release { .. })), "{actions:?}");
    assert_eq!(actions.last(), Some(&Action::Close(CloseKind::Revoked)));
}

#[test]
fn a_new_offer_for_another_camera_after_renegotiate_releases_the_old_viewer() {
    let mut s = session();
    let id = joined(&mut s, "cam1");
    let reneg = Message::Renegotiate(Renegotiate { viewer_id: id.clone(), camera_id: CameraId::from_static("cam1") });
    s.handle_bus(reneg);
    let actions = text(&mut s, join_frame("cam2"));
    assert_eq!(
        actions[0],
        Action::Release { viewer_id: id.clone(), camera: CameraId::from_static("cam1"), reason: RemoveReason::Left }
    );
    let Action::Join(req) = &actions[1] else { panic!("{actions:?}") };
    assert_ne!(req.viewer_id, id);
    assert_eq!(req.camera, "cam2");
}
