//! WHEP viewers (`/whep/...`): what the api instance keeps of each session, the bus events
//! routed to it, and the liveness key that lets the media-controller free the viewers of a
//! dead api instance.
//!
//! A WHEP session is a viewer like any other: the media-controller alone reserves its slot
//! (`AddViewer`, the api instance as its `signaling_instance`) and writes its record. The api
//! instance keeps only the routing: session id (= viewer id) -> camera, owner and ETag.
//!
//! Invariants:
//! - a session is in the table from just before its `AddViewer` until its `DELETE`, its failure
//!   (ICE failed, endpoint lost, not connected in time after its answer, ICE disconnected
//!   too long: a player that vanished without `DELETE`; see [`Deadlines`]), its
//!   owner's loss of access or the end of its stream; each of these removes it once, and all
//!   but the end of the stream (where the controller already released it) send one
//!   `RemoveViewer`;
//! - the liveness key is refreshed before the first `AddViewer` and every `TTL / 5` after, so
//!   if this instance dies the controller releases its viewers as it does a signaling instance's;
//! - no lock is held across an await.

pub mod flow;
pub mod links;
pub mod revocation;
pub mod sdp;

use camview_proto::{CameraId, ViewerId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camview_common::auth::{Authenticator, Principal};
use camview_common::{BusClient, Registry};
use camview_proto::bus::{Envelope, Message, RemoveReason, RemoveViewer};
use camview_proto::stream::{IceCandidate, ViewerState};
use opentelemetry::metrics::{Counter, UpDownCounter};
use opentelemetry::KeyValue;
use tokio::sync::mpsc;

/// The api instance's liveness TTL (as `SIGNALING_LIVENESS_TTL_SECONDS`' default).
pub const LIVENESS_TTL: Duration = Duration::from_secs(10);
/// Server candidates buffered per session while its answer is being completed.
const GATHER_BUFFER: usize = 64;
/// When a session that is not connected ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// A session whose ICE has not connected this long after its answer ends.
    pub connect: Duration,
    /// A session whose ICE stays disconnected this long ends (the player is gone).
    pub disconnect_grace: Duration,
}

impl Default for Deadlines {
    fn default() -> Self {
        Self { connect: Duration::from_secs(30), disconnect_grace: Duration::from_secs(15) }
    }
}
/// How often deadlines are checked.
const EXPIRY_TICK: Duration = Duration::from_secs(1);

/// One WHEP session as the api instance knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub camera_id: CameraId,
    /// Who opened it: only they (or an admin) may patch or delete it, and it ends when they
    /// lose access to the camera.
    pub principal: Principal,
    /// The entity tag of the session's ICE session (RFC 9725 `ETag`/`If-Match`).
    pub etag: String,
    /// The client's ICE ufrag from its offer: a `PATCH` with another one is an ICE restart.
    pub client_ufrag: Option<String>,
}

struct Session {
    info: SessionInfo,
    /// Set while the answer waits for the server's candidates.
    gather: Option<mpsc::Sender<IceCandidate>>,
    /// When the session ends unless its ICE (re)connects first.
    deadline: Option<Instant>,
}

/// What became of a session after a bus event.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The viewer failed: remove it from the controller.
    Release { viewer_id: ViewerId, camera_id: CameraId },
    /// The controller already removed it (stream stopped).
    Forgotten,
}

/// The WHEP sessions of this api instance.
pub struct WhepSessions {
    instance_id: String,
    deadlines: Mutex<Deadlines>,
    sessions: Mutex<HashMap<ViewerId, Session>>,
    pub(crate) metrics: WhepMetrics,
}

impl WhepSessions {
    pub fn new(instance_id: impl Into<String>) -> Arc<Self> {
        Arc::new(Self {
            instance_id: instance_id.into(),
            deadlines: Mutex::default(),
            sessions: Mutex::default(),
            metrics: WhepMetrics::default(),
        })
    }

    /// The sessions of the api instance that owns `client` (whose other events it takes), with
    /// their background work: event routing, the liveness key (written once before this
    /// returns), revocations and deadlines.
    pub async fn start(
        client: &Arc<BusClient>,
        events: mpsc::Receiver<Envelope>,
        registry: Arc<dyn Registry>,
        auth: Arc<Authenticator>,
    ) -> Arc<Self> {
        let whep = Self::new(client.instance_id());
        tokio::spawn(whep.clone().run_router(client.clone(), events));
        if let Err(e) = registry.refresh_liveness(client.instance_id(), LIVENESS_TTL).await {
            tracing::warn!(error = %e, "could not write the api instance's liveness key");
        }
        tokio::spawn(whep.clone().run_liveness(registry));
        tokio::spawn(whep.clone().run_revocations(auth, client.clone()));
        tokio::spawn(whep.clone().run_expiry(client.clone()));
        whep
    }

    /// Sets the deadlines of sessions answered from now on (the settings are read after the bus
    /// client, hence after [`WhepSessions::start`]).
    pub fn set_deadlines(&self, deadlines: Deadlines) {
        *self.deadlines.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = deadlines;
    }

    fn deadlines(&self) -> Deadlines {
        *self.deadlines.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The api instance id: the `signaling_instance` of its WHEP viewers.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<ViewerId, Session>> {
        // invariant: no code panics while holding the lock (plain map operations only)
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sessions open on this instance.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records a session about to join; its server candidates come out of the receiver.
    pub fn open(&self, viewer_id: &ViewerId, info: SessionInfo) -> mpsc::Receiver<IceCandidate> {
        let (tx, rx) = mpsc::channel(GATHER_BUFFER);
        if self.table().insert(viewer_id.to_owned(), Session { info, gather: Some(tx), deadline: None }).is_none() {
            self.metrics.active.add(1, &[]);
        }
        rx
    }

    /// The answer went out: later server candidates are not needed (the client has them or
    /// finds the server by its connectivity checks).
    /// From `now` it has [`Deadlines::connect`] to connect.
    pub fn answered(&self, viewer_id: &ViewerId, now: Instant) {
        let connect = self.deadlines().connect;
        if let Some(s) = self.table().get_mut(viewer_id) {
            s.gather = None;
            s.deadline.get_or_insert(now + connect);
        }
    }

    /// Takes out the sessions whose deadline passed at `now`: (viewer id, camera id).
    pub fn expired(&self, now: Instant) -> Vec<(ViewerId, CameraId)> {
        let mut table = self.table();
        let gone: Vec<ViewerId> =
            table.iter().filter(|(_, s)| s.deadline.is_some_and(|d| d <= now)).map(|(id, _)| id.clone()).collect();
        let out: Vec<(ViewerId, CameraId)> =
            gone.into_iter().filter_map(|id| table.remove(&id).map(|s| (id, s.info.camera_id))).collect();
        drop(table);
        self.metrics.active.add(-(out.len() as i64), &[]);
        out
    }

    pub fn get(&self, viewer_id: &ViewerId) -> Option<SessionInfo> {
        self.table().get(viewer_id).map(|s| s.info.clone())
    }

    /// Every open session (copied out of the lock).
    pub fn all(&self) -> Vec<(ViewerId, SessionInfo)> {
        self.table().iter().map(|(id, s)| (id.clone(), s.info.clone())).collect()
    }

    /// Takes the session out of the table; `None` if another path already did.
    pub fn remove(&self, viewer_id: &ViewerId) -> Option<SessionInfo> {
        let removed = self.table().remove(viewer_id).map(|s| s.info);
        if removed.is_some() {
            self.metrics.active.add(-1, &[]);
        }
        removed
    }

    /// Applies one bus event that arrived at `now`; says whether it ended a session.
    pub fn dispatch(&self, message: &Message, now: Instant) -> Option<Ended> {
        match message {
            Message::ViewerIceCandidate(e) => {
                let table = self.table();
                if let Some(tx) = table.get(&e.viewer_id).and_then(|s| s.gather.as_ref()) {
                    // A full buffer only drops a redundant candidate.
                    let _ = tx.try_send(e.candidate.clone());
                }
                None
            }
            Message::ViewerStateChanged(e) if e.state == ViewerState::Connected => {
                if let Some(s) = self.table().get_mut(&e.viewer_id) {
                    s.deadline = None;
                }
                None
            }
            Message::ViewerStateChanged(e) if e.state == ViewerState::Disconnected => {
                let grace = self.deadlines().disconnect_grace;
                if let Some(s) = self.table().get_mut(&e.viewer_id) {
                    s.deadline.get_or_insert(now + grace);
                }
                None
            }
            Message::ViewerStateChanged(e) if e.state == ViewerState::Failed => {
                let info = self.remove(&e.viewer_id)?;
                tracing::info!(viewer_id = %e.viewer_id, "WHEP viewer failed; releasing it");
                Some(Ended::Release { viewer_id: e.viewer_id.clone(), camera_id: info.camera_id })
            }
            // The endpoint was lost: a WHEP client cannot renegotiate, so the session ends.
            Message::Renegotiate(e) => {
                let info = self.remove(&e.viewer_id)?;
                tracing::info!(viewer_id = %e.viewer_id, "WHEP viewer lost its endpoint; releasing it");
                Some(Ended::Release { viewer_id: e.viewer_id.clone(), camera_id: info.camera_id })
            }
            Message::StreamEnded(e) => {
                self.remove(&e.viewer_id)?;
                self.metrics.released("stream_ended");
                Some(Ended::Forgotten)
            }
            _ => None,
        }
    }

    /// Routes the bus events of this instance until the receiver ends.
    pub async fn run_router(self: Arc<Self>, bus: Arc<BusClient>, mut events: mpsc::Receiver<Envelope>) {
        while let Some(envelope) = events.recv().await {
            match self.dispatch(&envelope.message, Instant::now()) {
                Some(Ended::Release { viewer_id, camera_id }) => {
                    self.metrics.released("failed");
                    let remove = RemoveViewer { viewer_id, camera_id, reason: RemoveReason::Failed };
                    if let Err(e) = bus.send(Message::RemoveViewer(remove)).await {
                        tracing::error!(error = %e, "could not queue RemoveViewer; the slot is freed when this instance's liveness lapses");
                    }
                }
                Some(Ended::Forgotten) => {}
                None => tracing::debug!(kind = envelope.message.kind(), "bus event for no open WHEP session"),
            }
        }
        tracing::debug!("bus event stream ended");
    }

    /// Ends the sessions whose deadline passed, every [`EXPIRY_TICK`], forever.
    pub async fn run_expiry(self: Arc<Self>, bus: Arc<BusClient>) {
        let mut tick = tokio::time::interval(EXPIRY_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for (viewer_id, camera_id) in self.expired(Instant::now()) {
                tracing::info!(%viewer_id, "WHEP session not connected in time (player gone?); releasing it");
                self.metrics.released("timed_out");
                let remove = RemoveViewer { viewer_id, camera_id, reason: RemoveReason::Failed };
                if let Err(e) = bus.send(Message::RemoveViewer(remove)).await {
                    tracing::error!(error = %e, "could not queue RemoveViewer; the slot is freed when this instance's liveness lapses");
                }
            }
        }
    }

    /// Refreshes this instance's liveness key every `LIVENESS_TTL / 5`, forever.
    pub async fn run_liveness(self: Arc<Self>, liveness: Arc<dyn Registry>) {
        let mut tick = tokio::time::interval(LIVENESS_TTL / 5);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = liveness.refresh_liveness(&self.instance_id, LIVENESS_TTL).await {
                tracing::warn!(error = %e, "could not refresh the api instance's liveness key");
            }
        }
    }
}

/// `camview_whep_sessions_active`, `camview_whep_joins_total{outcome}`,
/// `camview_whep_releases_total{reason}`: the WHEP share of the viewer counters (the
/// controller's `camview_viewers_*` count WHEP viewers with the others).
pub struct WhepMetrics {
    active: UpDownCounter<i64>,
    joins: Counter<u64>,
    releases: Counter<u64>,
}

impl Default for WhepMetrics {
    fn default() -> Self {
        let meter = camview_common::telemetry::meter("camview-api");
        Self {
            active: meter
                .i64_up_down_counter("camview_whep_sessions_active")
                .with_description("WHEP sessions held by this api instance")
                .build(),
            joins: meter
                .u64_counter("camview_whep_joins_total")
                .with_description("WHEP offers by outcome (ok or the error code)")
                .build(),
            releases: meter
                .u64_counter("camview_whep_releases_total")
                .with_description("WHEP sessions ended, by reason (deleted, failed, stream_ended)")
                .build(),
        }
    }
}

impl WhepMetrics {
    pub fn join_finished(&self, outcome: &'static str) {
        self.joins.add(1, &[KeyValue::new("outcome", outcome)]);
    }

    pub fn released(&self, reason: &'static str) {
        self.releases.add(1, &[KeyValue::new("reason", reason)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camview_proto::bus::{StreamEnded, ViewerIceCandidate, ViewerStateChanged};

    fn info() -> SessionInfo {
        let principal = Principal {
            subject: camview_proto::auth::Subject::User { username: "ann".into() },
            role: camview_proto::auth::Role::Viewer,
            grants: vec!["cam1".into()],
            expires_at: 0,
            token_version: 0,
        };
        SessionInfo { camera_id: CameraId::from_static("cam1"), principal, etag: "\"e\"".into(), client_ufrag: None }
    }

    fn candidate() -> IceCandidate {
        IceCandidate {
            candidate: "candidate:1 1 UDP 2015363327 127.0.0.1 40128 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        }
    }

    #[test]
    fn candidates_reach_a_session_only_until_its_answer() {
        let sessions = WhepSessions::new("api-1");
        let mut rx = sessions.open(&ViewerId::from_static("v1"), info());
        let event = Message::ViewerIceCandidate(ViewerIceCandidate {
            viewer_id: ViewerId::from_static("v1"),
            candidate: candidate(),
        });
        assert_eq!(sessions.dispatch(&event, Instant::now()), None);
        assert_eq!(rx.try_recv().unwrap(), candidate());
        sessions.answered(&ViewerId::from_static("v1"), Instant::now());
        assert_eq!(sessions.dispatch(&event, Instant::now()), None);
        assert!(rx.try_recv().is_err(), "no candidate after the answer");
        let other = Message::ViewerIceCandidate(ViewerIceCandidate {
            viewer_id: ViewerId::from_static("v2"),
            candidate: candidate(),
        });
        assert_eq!(sessions.dispatch(&other, Instant::now()), None);
    }

    #[test]
    fn a_failed_viewer_is_released_once_and_an_ended_stream_only_forgets_it() {
        let sessions = WhepSessions::new("api-1");
        let _rx = sessions.open(&ViewerId::from_static("v1"), info());
        let _rx2 = sessions.open(&ViewerId::from_static("v2"), info());
        let failed = Message::ViewerStateChanged(ViewerStateChanged {
            viewer_id: ViewerId::from_static("v1"),
            state: ViewerState::Failed,
        });
        assert_eq!(
            sessions.dispatch(&failed, Instant::now()),
            Some(Ended::Release { viewer_id: ViewerId::from_static("v1"), camera_id: CameraId::from_static("cam1") })
        );
        assert_eq!(sessions.dispatch(&failed, Instant::now()), None, "released once");
        let connected = Message::ViewerStateChanged(ViewerStateChanged {
            viewer_id: ViewerId::from_static("v2"),
            state: ViewerState::Connected,
        });
        assert_eq!(sessions.dispatch(&connected, Instant::now()), None);
        let ended = Message::StreamEnded(StreamEnded {
            viewer_id: ViewerId::from_static("v2"),
            camera_id: CameraId::from_static("cam1"),
        });
        assert_eq!(sessions.dispatch(&ended, Instant::now()), Some(Ended::Forgotten));
        assert!(sessions.is_empty());
        assert_eq!(sessions.remove(&ViewerId::from_static("v2")), None);
    }

    #[test]
    fn a_session_ends_unless_it_connects_in_time_or_comes_back_from_a_disconnect() {
        let sessions = WhepSessions::new("api-1");
        let t0 = Instant::now();
        let state = |id: &'static str, state| {
            Message::ViewerStateChanged(ViewerStateChanged { viewer_id: ViewerId::from_static(id), state })
        };
        for id in ["never", "plays", "vanishes", "blips"] {
            let _rx = sessions.open(&ViewerId::from_static(id), info());
            sessions.answered(&ViewerId::from_static(id), t0);
        }
        for id in ["plays", "vanishes", "blips"] {
            sessions.dispatch(&state(id, ViewerState::Connected), t0);
        }
        let t1 = t0 + Duration::from_secs(5);
        sessions.dispatch(&state("vanishes", ViewerState::Disconnected), t1);
        sessions.dispatch(&state("blips", ViewerState::Disconnected), t1);
        sessions.dispatch(&state("blips", ViewerState::Connected), t1 + Duration::from_secs(2));
        let Deadlines { connect, disconnect_grace } = Deadlines::default();
        assert_eq!(sessions.expired(t1 + disconnect_grace - Duration::from_millis(1)), vec![]);
        assert_eq!(
            sessions.expired(t1 + disconnect_grace),
            vec![(ViewerId::from_static("vanishes"), CameraId::from_static("cam1"))]
        );
        assert_eq!(
            sessions.expired(t0 + connect),
            vec![(ViewerId::from_static("never"), CameraId::from_static("cam1"))]
        );
        let mut left: Vec<ViewerId> = sessions.all().into_iter().map(|(id, _)| id).collect();
        left.sort();
        assert_eq!(left, ["blips", "plays"]);
        assert_eq!(sessions.expired(t0 + connect * 10), vec![], "connected sessions never expire");
    }
}
