//! `ViewerSession`: the sans-IO state machine of one viewer WebSocket.
//!
//! Inputs are client frames (with the time they arrived), the outcome of a join, bus
//! events for the viewer, and the end of the socket or of the service; outputs are
//! [`Action`]s the I/O loop performs. No sockets, no clock, no Redis: every transition
//! is unit-tested below.
//!
//! Invariants:
//! - at most one viewer id is live per socket; a second `join` is `out_of_order`;
//! - every viewer that may hold a slot is released exactly once: by `leave`, by the end
//!   of the socket, or, while a join is still in flight, by the join executor itself
//!   when the socket is gone (the session then emits nothing for it);
//! - no input panics, and no input reaches another viewer;
//! - a `join` carries its token to the executor, which authenticates it against the auth
//!   store (I/O) before anything is reserved; a refusal comes back as a failed outcome;
//! - a revoked viewer is told `unauthorized: access revoked`, released and closed (4401).

use std::time::Instant;

use camview_proto::bus::{Message, RemoveReason};
use camview_proto::signaling::{ClientMessage, ServerMessage};
use camview_proto::stream::{IceCandidate, ViewerState};
use camview_proto::{CameraId, ViewerId};

use crate::domain::{is_end_of_candidates, parse_camera_id, validate_candidate, validate_sdp_offer};
use crate::error::SessionError;
use crate::rate::{RateLimiter, Verdict};

/// Browser candidates buffered while the answer is pending.
const MAX_EARLY_CANDIDATES: usize = 128;
/// Bus events buffered while the answer is pending.
const MAX_EARLY_EVENTS: usize = 256;

/// What the join executor must do: authenticate the token for the camera, reserve a slot,
/// record the viewer, send `AddViewer`.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub viewer_id: ViewerId,
    pub camera: CameraId,
    pub sdp_offer: String,
    /// The `join`'s `token` field; the I/O loop falls back to the upgrade's cookie.
    pub token: Option<String>,
    /// A new offer after `renegotiate`: the viewer already holds its slot and endpoint.
    pub reoffer: bool,
}

impl std::fmt::Debug for JoinRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinRequest")
            .field("viewer_id", &self.viewer_id)
            .field("camera", &self.camera)
            .field("sdp_offer_bytes", &self.sdp_offer.len())
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("reoffer", &self.reoffer)
            .finish()
    }
}

/// Result of a join, fed back into the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    Answered {
        viewer_id: ViewerId,
        camera: CameraId,
        sdp_answer: String,
    },
    /// The executor already freed the slot.
    Failed {
        viewer_id: ViewerId,
        error: SessionError,
    },
}

/// Why the socket closes; the I/O loop maps it to a close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// The client closed it or vanished.
    ClientGone,
    /// A frame over the size limit (1009).
    TooBig,
    /// Not a valid WebSocket stream (1002).
    Protocol,
    /// Too many rate-limited messages (1008).
    Abuse,
    /// No frame or pong within the idle timeout (1001).
    Idle,
    /// The instance is stopping (1001).
    ShuttingDown,
    /// The viewer's access was revoked (4401).
    Revoked,
}

/// What the I/O loop must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(ServerMessage),
    /// Route bus events of `viewer_id` to this socket, then run the join.
    Join(JoinRequest),
    /// Forward a browser candidate to the media-controller.
    AddIce {
        viewer_id: ViewerId,
        camera: CameraId,
        candidate: IceCandidate,
    },
    /// Stop routing, send `RemoveViewer`, make sure the slot is freed.
    Release {
        viewer_id: ViewerId,
        camera: CameraId,
        reason: RemoveReason,
    },
    /// Stop routing events of a viewer the media-controller already removed.
    Forget {
        viewer_id: ViewerId,
    },
    /// Close the socket; the session accepts no more input.
    Close(CloseKind),
}

#[derive(Debug)]
enum State {
    Idle,
    Joining {
        viewer_id: ViewerId,
        camera: CameraId,
        early_candidates: Vec<IceCandidate>,
        early_events: Vec<Message>,
        leave_requested: bool,
    },
    Joined {
        viewer_id: ViewerId,
        camera: CameraId,
        viewer_state: Option<ViewerState>,
    },
    /// The media server lost the endpoint; the next `join` for `camera` reuses `viewer_id` (and its slot).
    AwaitingReoffer {
        viewer_id: ViewerId,
        camera: CameraId,
    },
    Closed,
}

/// One viewer WebSocket's protocol state.
#[derive(Debug)]
pub struct ViewerSession {
    limiter: RateLimiter,
    state: State,
}

impl ViewerSession {
    pub fn new(limiter: RateLimiter) -> Self {
        Self { limiter, state: State::Idle }
    }

    /// The viewer id this socket currently speaks for, if any.
    pub fn viewer_id(&self) -> Option<&ViewerId> {
        match &self.state {
            State::Joining { viewer_id, .. }
            | State::Joined { viewer_id, .. }
            | State::AwaitingReoffer { viewer_id, .. } => Some(viewer_id),
            State::Idle | State::Closed => None,
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    /// A text frame from the browser.
    pub fn handle_text(&mut self, now: Instant, text: &str) -> Vec<Action> {
        if self.is_closed() {
            return vec![];
        }
        if let Some(actions) = self.rate_limit(now) {
            return actions;
        }
        match parse(text) {
            Ok(message) => self.handle_client(message),
            Err(e) => vec![Action::Send(e.to_message())],
        }
    }

    /// A binary frame from the browser: not part of the protocol.
    pub fn handle_binary(&mut self, now: Instant) -> Vec<Action> {
        if self.is_closed() {
            return vec![];
        }
        if let Some(actions) = self.rate_limit(now) {
            return actions;
        }
        vec![Action::Send(
            SessionError::Malformed("binary frames are not supported: send JSON text".into()).to_message(),
        )]
    }

    fn rate_limit(&mut self, now: Instant) -> Option<Vec<Action>> {
        match self.limiter.check(now) {
            Verdict::Allow => None,
            Verdict::Limit { first_in_streak: true } => {
                Some(vec![Action::Send(SessionError::RateLimited.to_message())])
            }
            Verdict::Limit { first_in_streak: false } => Some(vec![]),
            Verdict::Abuse => Some(self.close(CloseKind::Abuse)),
        }
    }

    fn handle_client(&mut self, message: ClientMessage) -> Vec<Action> {
        match message {
            ClientMessage::Join { camera, sdp_offer, token } => self.join(camera, sdp_offer, token),
            ClientMessage::Ice(candidate) => self.ice(candidate),
            ClientMessage::Leave => self.leave(),
        }
    }

    fn join(&mut self, camera: String, sdp_offer: String, token: Option<String>) -> Vec<Action> {
        if matches!(self.state, State::Joining { .. } | State::Joined { .. }) {
            return error(SessionError::OutOfOrder("this socket already joined: send leave first"));
        }
        let camera = match parse_camera_id(&camera).and_then(|camera| validate_sdp_offer(&sdp_offer).map(|()| camera)) {
            Ok(camera) => camera,
            Err(e) => return error(e),
        };
        let mut actions = Vec::new();
        let (viewer_id, reoffer) = match std::mem::replace(&mut self.state, State::Idle) {
            State::AwaitingReoffer { viewer_id, camera: old } if old == camera => (viewer_id, true),
            State::AwaitingReoffer { viewer_id, camera: old } => {
                actions.push(Action::Release { viewer_id, camera: old, reason: RemoveReason::Left });
                (ViewerId::random(), false)
            }
            _ => (ViewerId::random(), false),
        };
        self.state = State::Joining {
            viewer_id: viewer_id.clone(),
            camera: camera.clone(),
            early_candidates: vec![],
            early_events: vec![],
            leave_requested: false,
        };
        actions.push(Action::Join(JoinRequest { viewer_id, camera, sdp_offer, token, reoffer }));
        actions
    }

    fn ice(&mut self, candidate: IceCandidate) -> Vec<Action> {
        match &mut self.state {
            State::Idle | State::Closed => error(SessionError::OutOfOrder("send join before ice")),
            // Candidates of the lost endpoint: the browser will send new ones after its new offer.
            State::AwaitingReoffer { .. } => vec![],
            State::Joining { early_candidates, .. } => {
                if let Err(e) = validate_candidate(&candidate) {
                    return if is_end_of_candidates(&candidate) { vec![] } else { error(e) };
                }
                if early_candidates.len() >= MAX_EARLY_CANDIDATES {
                    return error(SessionError::InvalidCandidate("too many candidates before the answer"));
                }
                early_candidates.push(candidate);
                vec![]
            }
            State::Joined { viewer_id, camera, .. } => match validate_candidate(&candidate) {
                Ok(()) => vec![Action::AddIce { viewer_id: viewer_id.clone(), camera: camera.clone(), candidate }],
                Err(_) if is_end_of_candidates(&candidate) => vec![],
                Err(e) => error(e),
            },
        }
    }

    fn leave(&mut self) -> Vec<Action> {
        match std::mem::replace(&mut self.state, State::Idle) {
            State::Joining { viewer_id, camera, early_candidates, early_events, .. } => {
                self.state =
                    State::Joining { viewer_id, camera, early_candidates, early_events, leave_requested: true };
                vec![]
            }
            State::Joined { viewer_id, camera, .. } | State::AwaitingReoffer { viewer_id, camera } => {
                vec![Action::Release { viewer_id, camera, reason: RemoveReason::Left }]
            }
            State::Closed => {
                self.state = State::Closed;
                vec![]
            }
            State::Idle => vec![],
        }
    }

    /// The join executor finished.
    pub fn handle_join_outcome(&mut self, outcome: JoinOutcome) -> Vec<Action> {
        let State::Joining { viewer_id, .. } = &self.state else {
            return vec![];
        };
        let current = viewer_id.clone();
        match outcome {
            JoinOutcome::Answered { viewer_id, .. } | JoinOutcome::Failed { viewer_id, .. } if viewer_id != current => {
                vec![]
            }
            JoinOutcome::Failed { viewer_id, error } => {
                let State::Joining { leave_requested, .. } = std::mem::replace(&mut self.state, State::Idle) else {
                    return vec![];
                };
                let mut actions = vec![Action::Forget { viewer_id }];
                if !leave_requested {
                    actions.push(Action::Send(error.to_message()));
                }
                actions
            }
            JoinOutcome::Answered { viewer_id, sdp_answer, .. } => {
                let State::Joining { camera, early_candidates, early_events, leave_requested, .. } =
                    std::mem::replace(&mut self.state, State::Idle)
                else {
                    return vec![];
                };
                if leave_requested {
                    return vec![Action::Release { viewer_id, camera, reason: RemoveReason::Left }];
                }
                let mut actions =
                    vec![Action::Send(ServerMessage::Answer { viewer_id: viewer_id.clone(), sdp_answer })];
                actions.extend(early_candidates.into_iter().map(|candidate| Action::AddIce {
                    viewer_id: viewer_id.clone(),
                    camera: camera.clone(),
                    candidate,
                }));
                self.state = State::Joined { viewer_id, camera, viewer_state: None };
                for event in early_events {
                    actions.extend(self.handle_bus(event));
                }
                actions
            }
        }
    }

    /// An event from the media-controller routed to this socket.
    pub fn handle_bus(&mut self, message: Message) -> Vec<Action> {
        let Some(current) = self.viewer_id() else {
            return vec![];
        };
        if event_viewer_id(&message) != Some(current) {
            return vec![];
        }
        match &mut self.state {
            State::Joining { early_events, .. } => {
                if early_events.len() < MAX_EARLY_EVENTS {
                    early_events.push(message);
                }
                vec![]
            }
            State::Joined { viewer_id, viewer_state, .. } => match message {
                Message::ViewerIceCandidate(e) => {
                    vec![Action::Send(ServerMessage::Ice(e.candidate))]
                }
                Message::StreamStateChanged(e) => {
                    vec![Action::Send(ServerMessage::StreamState { state: e.state })]
                }
                Message::ViewerStateChanged(e) => {
                    tracing::info!(viewer_id = %viewer_id, state = ?e.state, "viewer state changed");
                    *viewer_state = Some(e.state);
                    vec![]
                }
                Message::StreamEnded(_) => self.ended(),
                Message::Renegotiate(_) => {
                    let State::Joined { viewer_id, camera, .. } = std::mem::replace(&mut self.state, State::Idle)
                    else {
                        return vec![];
                    };
                    self.state = State::AwaitingReoffer { viewer_id, camera };
                    vec![Action::Send(ServerMessage::Renegotiate)]
                }
                _ => vec![],
            },
            State::AwaitingReoffer { .. } => match message {
                Message::StreamStateChanged(e) => {
                    vec![Action::Send(ServerMessage::StreamState { state: e.state })]
                }
                Message::StreamEnded(_) => self.ended(),
                _ => vec![],
            },
            State::Idle | State::Closed => vec![],
        }
    }

    /// The hub found that `viewer_id`'s access was revoked: tell the viewer, release it
    /// and close. A viewer whose join is still in flight is released by the executor.
    pub fn handle_revoked(&mut self, viewer_id: &ViewerId) -> Vec<Action> {
        if self.viewer_id() != Some(viewer_id) {
            return vec![];
        }
        self.close(CloseKind::Revoked)
    }

    /// The stream was stopped: the media-controller already removed the viewer.
    fn ended(&mut self) -> Vec<Action> {
        let viewer_id = self.viewer_id().cloned();
        self.state = State::Idle;
        let mut actions = vec![Action::Send(ServerMessage::StreamEnded)];
        actions.extend(viewer_id.map(|viewer_id| Action::Forget { viewer_id }));
        actions
    }

    /// The socket ends (or must end) for `why`: release what this socket holds and close.
    pub fn close(&mut self, why: CloseKind) -> Vec<Action> {
        let mut actions = Vec::new();
        match why {
            CloseKind::ShuttingDown => actions.push(Action::Send(SessionError::ShuttingDown.to_message())),
            CloseKind::Abuse => actions.push(Action::Send(SessionError::RateLimited.to_message())),
            CloseKind::Revoked => actions.push(Action::Send(SessionError::Revoked.to_message())),
            _ => {}
        }
        let reason =
            if why == CloseKind::ShuttingDown { RemoveReason::ShuttingDown } else { RemoveReason::SocketClosed };
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Joined { viewer_id, camera, .. } | State::AwaitingReoffer { viewer_id, camera } => {
                actions.push(Action::Release { viewer_id, camera, reason })
            }
            // The join executor releases a viewer whose socket is gone (see the module invariants).
            State::Joining { .. } | State::Idle => {}
            State::Closed => return vec![],
        }
        actions.push(Action::Close(why));
        actions
    }
}

fn error(e: SessionError) -> Vec<Action> {
    vec![Action::Send(e.to_message())]
}

/// The viewer an event is about; `None` for messages that are not viewer events.
pub fn event_viewer_id(message: &Message) -> Option<&ViewerId> {
    match message {
        Message::ViewerIceCandidate(e) => Some(&e.viewer_id),
        Message::ViewerStateChanged(e) => Some(&e.viewer_id),
        Message::StreamStateChanged(e) => Some(&e.viewer_id),
        Message::StreamEnded(e) => Some(&e.viewer_id),
        Message::Renegotiate(e) => Some(&e.viewer_id),
        _ => None,
    }
}

/// Tells a frame that is not JSON (or lacks fields) from one of an unknown type.
fn parse(text: &str) -> Result<ClientMessage, SessionError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| SessionError::Malformed(format!("not JSON: {e}")))?;
    let Some(kind) = value.as_object().and_then(|o| o.get("type")).and_then(serde_json::Value::as_str) else {
        return Err(SessionError::Malformed("expected a JSON object with a string field type".into()));
    };
    if !matches!(kind, "join" | "ice" | "leave") {
        return Err(SessionError::UnknownType(kind.chars().take(32).collect()));
    }
    serde_json::from_value(value).map_err(|e| SessionError::Malformed(e.to_string()))
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "session_props.rs"]
mod props;
