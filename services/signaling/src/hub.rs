//! The hub: what one signaling instance's connections share.
//!
//! It routes bus events to sockets by viewer id, runs joins and releases as commands to the
//! media-controller (which alone reserves and frees viewer slots and writes viewer records),
//! keeps the instance's liveness key fresh, bounds connections, and drives graceful shutdown.
//!
//! Invariants:
//! - a viewer id is routed to at most one socket, and only from its join until its
//!   release (or `Forget`); an event for an unrouted viewer is dropped with a debug log;
//! - a viewer answered by the controller is released (`RemoveViewer`) when its socket closes,
//!   also when the socket is gone by the time the answer arrives; a join whose answer never
//!   came is undone the same way;
//! - joins and releases run on the runtime that built the app (not on an HTTP worker) and
//!   are tracked, so shutdown can wait for them;
//! - a join is authenticated before it is sent to the controller, and from then until its release
//!   the viewer's principal is kept (see [`crate::revocation`]) so revocations end it;
//! - no lock is held across an await.

use camview_proto::{CameraId, ViewerId};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camview_common::auth::limit::KeyedBuckets;
use camview_common::auth::Authenticator;

use camview_common::telemetry;
use camview_common::{BusClient, BusError, Liveness};
use camview_proto::bus::{AddIceCandidate, AddViewer, Envelope, Message, RemoveReason, RemoveViewer};
use camview_proto::stream::{IceCandidate, ViewerState};
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::config::Settings;
use crate::error::SessionError;
use crate::metrics::{JoinPhase, Metrics};
use crate::revocation::Watch;
use crate::session::{event_viewer_id, JoinOutcome, JoinRequest};

/// Events waiting for one socket before new ones are dropped.
pub const SOCKET_EVENT_BUFFER: usize = 256;
/// Client addresses tracked by the upgrade rate limit.
const MAX_TRACKED_ADDRESSES: usize = 100_000;

/// What the hub hands to one socket.
#[derive(Debug)]
pub enum SocketEvent {
    /// A bus event about the socket's viewer.
    Bus(Box<Message>),
    /// The viewer lost its access: end it.
    Revoked { viewer_id: ViewerId },
}

/// What the hub remembers of a routed viewer's join: its trace, so later commands about the
/// viewer (candidates, release) continue it, and when the offer arrived, until it connects.
struct JoinTrace {
    traceparent: Option<String>,
    offer_at: Instant,
    connected: bool,
}

/// Shared state of one signaling instance.
pub struct Hub {
    pub(crate) instance_id: String,
    pub(crate) settings: Settings,
    pub(crate) auth: Arc<Authenticator>,
    /// Signaling's only registry role: its own liveness key.
    liveness: Arc<dyn Liveness>,
    bus: Arc<BusClient>,
    routes: Mutex<HashMap<ViewerId, mpsc::Sender<SocketEvent>>>,
    joins: Mutex<HashMap<ViewerId, JoinTrace>>,
    /// Who each authenticated viewer is and what it watches, for revocations.
    pub(crate) watches: Mutex<HashMap<ViewerId, Watch>>,
    /// Bumped by every `AccessRevoked`: a join that saw it change re-checks its access.
    pub(crate) revocation_generation: AtomicU64,
    upgrades: Mutex<KeyedBuckets<IpAddr>>,
    connections: Arc<Semaphore>,
    shutdown: watch::Sender<bool>,
    tasks: TaskTracker,
    runtime: tokio::runtime::Handle,
    pub(crate) metrics: Metrics,
}

impl Hub {
    pub(crate) fn new(
        instance_id: String,
        settings: Settings,
        liveness: Arc<dyn Liveness>,
        bus: Arc<BusClient>,
        auth: Arc<Authenticator>,
    ) -> Arc<Self> {
        let connections = Arc::new(Semaphore::new(settings.max_connections));
        let upgrades =
            KeyedBuckets::new(settings.upgrade_rate_per_second, settings.upgrade_burst, MAX_TRACKED_ADDRESSES);
        Arc::new(Self {
            instance_id,
            settings,
            auth,
            liveness,
            bus,
            routes: Mutex::default(),
            joins: Mutex::default(),
            watches: Mutex::default(),
            revocation_generation: AtomicU64::new(0),
            upgrades: Mutex::new(upgrades),
            connections,
            shutdown: watch::channel(false).0,
            tasks: TaskTracker::new(),
            runtime: tokio::runtime::Handle::current(),
            metrics: Metrics::default(),
        })
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// A connection slot, or `None` when the instance is at `SIGNALING_MAX_CONNECTIONS`.
    pub(crate) fn try_connect(&self) -> Option<OwnedSemaphorePermit> {
        self.connections.clone().try_acquire_owned().ok()
    }

    /// Open WebSocket connections.
    pub fn connection_count(&self) -> usize {
        self.settings.max_connections - self.connections.available_permits()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }

    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// Takes one upgrade token for `client`: `Err(wait)` when it is over its rate.
    pub(crate) fn take_upgrade(&self, client: IpAddr) -> Result<(), Duration> {
        // invariant: no code panics while holding the lock (a sans-IO bucket update)
        let mut upgrades = self.upgrades.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        upgrades.take(&client, std::time::Instant::now())
    }

    pub(crate) fn routes(&self) -> std::sync::MutexGuard<'_, HashMap<ViewerId, mpsc::Sender<SocketEvent>>> {
        // invariant: no code panics while holding the lock (plain map operations only)
        self.routes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn joins(&self) -> std::sync::MutexGuard<'_, HashMap<ViewerId, JoinTrace>> {
        // invariant: no code panics while holding the lock (plain map operations only)
        self.joins.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn route(&self, viewer_id: &ViewerId, to: mpsc::Sender<SocketEvent>) {
        if self.routes().insert(viewer_id.to_owned(), to).is_none() {
            self.metrics.viewers_changed(1);
        }
    }

    pub(crate) fn unroute(&self, viewer_id: &ViewerId) {
        if self.routes().remove(viewer_id).is_some() {
            self.metrics.viewers_changed(-1);
        }
        self.joins().remove(viewer_id);
        self.watches().remove(viewer_id);
    }

    /// The `traceparent` of the viewer's `join` span, while the viewer is routed here.
    fn join_traceparent(&self, viewer_id: &ViewerId) -> Option<String> {
        self.joins().get(viewer_id).and_then(|j| j.traceparent.clone())
    }

    /// Viewers whose events are routed to a socket of this instance.
    pub fn routed_viewers(&self) -> usize {
        self.routes().len()
    }

    /// Hands one bus event to the socket of its viewer.
    fn dispatch(&self, envelope: Envelope) {
        let Some(viewer_id) = event_viewer_id(&envelope.message).cloned() else {
            tracing::debug!(kind = envelope.message.kind(), "ignoring a bus message that is not a viewer event");
            return;
        };
        if let Message::ViewerStateChanged(e) = &envelope.message {
            if e.state == ViewerState::Connected {
                self.media_connected(&viewer_id);
            }
        }
        let Some(to) = self.routes().get(&viewer_id).cloned() else {
            tracing::debug!(%viewer_id, kind = envelope.message.kind(), "event for a viewer not on this instance");
            return;
        };
        let kind = envelope.message.kind();
        match to.try_send(SocketEvent::Bus(Box::new(envelope.message))) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(%viewer_id, kind, "viewer socket is not keeping up; event dropped")
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::debug!(%viewer_id, kind, "viewer socket already closed; event dropped")
            }
        }
    }

    /// Times the `media` phase of a join the first time its viewer connects.
    fn media_connected(&self, viewer_id: &ViewerId) {
        let took = match self.joins().get_mut(viewer_id) {
            Some(join) if !join.connected => {
                join.connected = true;
                join.offer_at.elapsed()
            }
            _ => return,
        };
        self.metrics.join_phase(JoinPhase::Media, took);
    }

    /// Routes bus events until the client's receiver ends.
    pub(crate) async fn run_router(self: Arc<Self>, mut events: mpsc::Receiver<Envelope>) {
        while let Some(envelope) = events.recv().await {
            self.dispatch(envelope);
        }
        tracing::debug!("bus event stream ended");
    }

    /// Refreshes the liveness key every `TTL / 5` until shutdown.
    pub(crate) async fn run_liveness(self: Arc<Self>) {
        let mut shutdown = self.shutdown_signal();
        let mut tick = tokio::time::interval(self.settings.liveness_interval());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.liveness.refresh_liveness(&self.instance_id, self.settings.liveness_ttl).await {
                tracing::warn!(error = %e, "could not refresh the liveness key");
            }
        }
    }

    /// Runs a join in the background; the outcome goes to `outcome`, and if the socket
    /// is gone by then, the viewer is released here.
    pub(crate) fn spawn_join(self: &Arc<Self>, request: JoinRequest, outcome: mpsc::Sender<JoinOutcome>) {
        let hub = self.clone();
        self.tasks.spawn_on(
            async move {
                let offer_at = Instant::now();
                // The root of the viewer's trace: the AddViewer envelope sent inside carries it.
                let span = tracing::info_span!("join", camera_id = %request.camera, viewer_id = %request.viewer_id);
                let traceparent = telemetry::traceparent_of(&span);
                hub.joins().insert(request.viewer_id.clone(), JoinTrace { traceparent, offer_at, connected: false });
                let result = hub.join(&request).instrument(span).await;
                hub.metrics.join_finished(result.as_ref().err().map(SessionError::code));
                if result.is_ok() {
                    hub.metrics.join_phase(JoinPhase::Answer, offer_at.elapsed());
                }
                let viewer_id = request.viewer_id.clone();
                let out = match result {
                    Ok(sdp_answer) => JoinOutcome::Answered { viewer_id, camera: request.camera.clone(), sdp_answer },
                    Err(error) => JoinOutcome::Failed { viewer_id, error },
                };
                if let Err(mpsc::error::SendError(out)) = outcome.send(out).await {
                    let trace = hub.join_traceparent(&request.viewer_id);
                    hub.unroute(&request.viewer_id);
                    if let JoinOutcome::Answered { .. } = out {
                        tracing::info!(viewer_id = %request.viewer_id, "socket closed during the join; releasing the viewer");
                        let reason = if hub.is_shutting_down() { RemoveReason::ShuttingDown } else { RemoveReason::SocketClosed };
                        hub.release(&request.viewer_id, &request.camera, reason, trace).await;
                    }
                }
            },
            &self.runtime,
        );
    }

    /// Runs inside the `join` span made by [`Hub::spawn_join`].
    async fn join(&self, request: &JoinRequest) -> Result<String, SessionError> {
        if let Err(e) = self.authorize(request).await {
            if request.reoffer {
                // The viewer held a slot and an endpoint from before `renegotiate`.
                self.release_in_span(&request.viewer_id, &request.camera, RemoveReason::Left).await;
            }
            return Err(e);
        }
        // The controller reserves the slot (or refuses: stream_full, stream_not_found) and
        // writes the viewer's record; a failed join keeps neither.
        let command = Message::AddViewer(AddViewer {
            viewer_id: request.viewer_id.clone(),
            camera_id: request.camera.clone(),
            sdp_offer: request.sdp_offer.clone(),
            signaling_instance: self.instance_id.clone(),
        });
        match self.bus.request(command, self.settings.bus_request_timeout).await {
            Ok(Message::ViewerAdded(added)) if added.viewer_id == request.viewer_id => {
                tracing::info!("viewer answered");
                Ok(added.sdp_answer)
            }
            Ok(Message::Failed(body)) => {
                tracing::warn!(code = %body.code, message = %body.message, "media-controller refused the viewer");
                Err(SessionError::Controller(body))
            }
            Ok(other) => {
                tracing::error!(kind = other.kind(), "unexpected reply to AddViewer");
                self.queue_removal(&request.viewer_id, &request.camera, RemoveReason::Failed).await;
                Err(SessionError::Internal)
            }
            Err(e) => {
                tracing::warn!(error = %e, "AddViewer got no reply");
                // The command may have run or may still run (a deadline only stops it from
                // starting late): have the controller undo whatever it did.
                self.queue_removal(&request.viewer_id, &request.camera, RemoveReason::Failed).await;
                match e {
                    // Redis itself is down: the command was never queued.
                    BusError::Unavailable(_) => Err(SessionError::RegistryUnavailable),
                    _ => Err(SessionError::ControllerUnavailable),
                }
            }
        }
    }

    /// Queues a `RemoveViewer` without a deadline: it runs whenever a controller reads it, and
    /// removing a viewer twice or one that never joined does nothing.
    async fn queue_removal(&self, viewer_id: &ViewerId, camera: &CameraId, reason: RemoveReason) {
        let undo = RemoveViewer { viewer_id: viewer_id.to_owned(), camera_id: camera.to_owned(), reason };
        if let Err(e) = self.bus.send(Message::RemoveViewer(undo)).await {
            tracing::error!(%viewer_id, %camera, error = %e, "could not queue RemoveViewer; the slot is freed when this instance's liveness lapses");
        }
    }

    /// Forwards a browser candidate (fire and forget: the command queue is durable).
    pub(crate) fn spawn_add_ice(self: &Arc<Self>, viewer_id: ViewerId, camera: CameraId, candidate: IceCandidate) {
        let hub = self.clone();
        let span = tracing::info_span!("add_ice_candidate", viewer_id = %viewer_id);
        telemetry::link_parent(&span, self.join_traceparent(&viewer_id).as_deref());
        self.tasks.spawn_on(
            async move {
                if let Err(e) = hub
                    .bus
                    .send(Message::AddIceCandidate(AddIceCandidate {
                        viewer_id: viewer_id.clone(),
                        camera_id: Some(camera),
                        candidate,
                    }))
                    .await
                {
                    tracing::warn!(%viewer_id, error = %e, "could not forward an ICE candidate");
                }
            }
            .instrument(span),
            &self.runtime,
        );
    }

    /// Releases a viewer in the background (see [`Hub::release`]).
    pub(crate) fn spawn_release(self: &Arc<Self>, viewer_id: ViewerId, camera: CameraId, reason: RemoveReason) {
        let trace = self.join_traceparent(&viewer_id);
        self.unroute(&viewer_id);
        let hub = self.clone();
        self.tasks.spawn_on(async move { hub.release(&viewer_id, &camera, reason, trace).await }, &self.runtime);
    }

    /// Asks the media-controller to remove the viewer (it frees the slot); if it does not
    /// confirm in time, queues the removal again without a deadline, so it still happens
    /// once a controller serves the queue.
    /// `trace` is the `traceparent` of the viewer's join, which the release continues.
    async fn release(&self, viewer_id: &ViewerId, camera: &CameraId, reason: RemoveReason, trace: Option<String>) {
        let span = tracing::info_span!("release", %viewer_id, camera_id = %camera, ?reason);
        telemetry::link_parent(&span, trace.as_deref());
        self.release_in_span(viewer_id, camera, reason).instrument(span).await
    }

    async fn release_in_span(&self, viewer_id: &ViewerId, camera: &CameraId, reason: RemoveReason) {
        self.unroute(viewer_id);
        let timeout = match reason {
            RemoveReason::ShuttingDown => self.settings.bus_request_timeout.min(self.settings.shutdown_grace / 2),
            _ => self.settings.bus_request_timeout,
        };
        let command = Message::RemoveViewer(RemoveViewer {
            viewer_id: viewer_id.to_owned(),
            camera_id: camera.to_owned(),
            reason,
        });
        let released = match self.bus.request(command, timeout).await {
            Ok(Message::Done(_)) => {
                tracing::info!("viewer released");
                true
            }
            Ok(Message::Failed(body)) => {
                tracing::warn!(code = %body.code, message = %body.message, "RemoveViewer failed; queued again");
                false
            }
            Ok(other) => {
                tracing::warn!(kind = other.kind(), "unexpected reply to RemoveViewer; queued again");
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "RemoveViewer not confirmed; queued again");
                false
            }
        };
        if !released {
            self.queue_removal(viewer_id, camera, reason).await;
        }
        self.metrics.released(reason);
    }

    /// Tells every connection to wrap up, then waits (up to `deadline`) for the sockets to
    /// close and the releases to finish.
    pub(crate) async fn drain(&self, deadline: Duration) {
        self.shutdown.send_replace(true);
        let start = tokio::time::Instant::now();
        let all = u32::try_from(self.settings.max_connections).unwrap_or(u32::MAX);
        // invariant: the semaphore is never closed, so acquire_many only fails on timeout
        let sockets_closed = tokio::time::timeout(deadline, self.connections.acquire_many(all)).await;
        match sockets_closed {
            Ok(Ok(permits)) => drop(permits),
            _ => tracing::warn!(open = self.connection_count(), "sockets still open at the shutdown deadline"),
        }
        self.tasks.close();
        let left = deadline.saturating_sub(start.elapsed()).max(Duration::from_millis(100));
        if tokio::time::timeout(left, self.tasks.wait()).await.is_err() {
            tracing::warn!(pending = self.tasks.len(), "joins or releases still running at the shutdown deadline");
        }
    }
}
