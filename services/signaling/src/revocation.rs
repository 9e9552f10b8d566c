//! Ending live viewers that lost their access.
//!
//! Each join is authenticated by [`Hub::authorize`], which remembers the viewer's
//! [`Principal`] and camera (a [`Watch`]) until the viewer is unrouted. Access is re-checked
//! with [`Authenticator::still_allowed`](camview_common::auth::Authenticator::still_allowed)
//! (the store's word, never the token's `exp`: the viewer page refreshes its token only for
//! new joins):
//! - when an `AccessRevoked{subject}` arrives on the bus channel
//!   [`AUTH_EVENTS_INSTANCE`], for that subject's viewers on this instance;
//! - every `SIGNALING_AUTH_RECHECK_SECONDS`, for every viewer.
//!
//! A viewer that lost access gets `error{unauthorized, "access revoked"}`, is released
//! (`RemoveViewer`) and its socket closed with 4401, by its own socket loop.
//!
//! Invariants: no lock is held across an await (watches are copied out first); a store
//! failure keeps the viewer (it is re-checked on the next tick) and is logged; a revocation
//! published while a join is being authenticated is not lost: the join re-checks when the
//! revocation generation moved.

use camview_proto::{CameraId, ViewerId};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use camview_common::auth::Principal;
use camview_common::bus::Subscription;
use camview_proto::auth::Subject;
use camview_proto::bus::Message;

use crate::auth::authorize_join;
use crate::error::SessionError;
use crate::hub::{Hub, SocketEvent};
use crate::session::JoinRequest;

pub use camview_proto::keys::AUTH_EVENTS_INSTANCE;

/// How long a revocation waits for a socket's event buffer before giving up on it.
const REVOKE_SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Who watches what, for one authenticated viewer.
#[derive(Debug, Clone)]
pub struct Watch {
    pub principal: Principal,
    pub camera: CameraId,
}

impl Hub {
    pub(crate) fn watches(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<ViewerId, Watch>> {
        // invariant: no code panics while holding the lock (plain map operations only)
        self.watches.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Authenticates a join and remembers its principal until the viewer is unrouted.
    pub(crate) async fn authorize(&self, request: &JoinRequest) -> Result<(), SessionError> {
        let generation = self.revocation_generation.load(Ordering::SeqCst);
        let principal = authorize_join(&self.auth, request.token.as_deref(), &request.camera).await?;
        tracing::info!(principal = %principal.label(), "join authorized");
        let watch = Watch { principal, camera: request.camera.clone() };
        self.watches().insert(request.viewer_id.clone(), watch.clone());
        if self.revocation_generation.load(Ordering::SeqCst) != generation
            && !self.allowed(&request.viewer_id, &watch).await
        {
            self.watches().remove(&request.viewer_id);
            return Err(SessionError::Revoked);
        }
        Ok(())
    }

    /// Authenticated viewers on this instance.
    pub fn watched_viewers(&self) -> usize {
        self.watches().len()
    }

    /// Re-checks the viewers of each `AccessRevoked` published on [`AUTH_EVENTS_INSTANCE`].
    pub(crate) async fn run_revocations(self: Arc<Self>, mut events: Subscription) {
        while let Some(envelope) = events.recv().await {
            let Message::AccessRevoked(revoked) = envelope.message else {
                tracing::debug!(kind = envelope.message.kind(), "ignoring a message on the auth events channel");
                continue;
            };
            self.revocation_generation.fetch_add(1, Ordering::SeqCst);
            let hub = self.clone();
            tokio::spawn(async move { hub.recheck(Some(&revoked.subject)).await });
        }
        tracing::warn!("the auth events subscription ended: revocations now wait for the periodic re-check");
    }

    /// Re-checks every viewer each `SIGNALING_AUTH_RECHECK_SECONDS` until shutdown.
    pub(crate) async fn run_recheck(self: Arc<Self>) {
        let mut shutdown = self.shutdown_signal();
        let period = self.settings.auth_recheck;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let ended = self.recheck(None).await;
                    if ended > 0 {
                        tracing::info!(ended, "periodic access re-check ended viewers");
                    }
                }
                _ = shutdown.changed() => {}
            }
            if *shutdown.borrow() {
                return;
            }
        }
    }

    /// Ends the viewers (of `subject`, or all) that lost their access; returns how many.
    pub(crate) async fn recheck(&self, subject: Option<&Subject>) -> usize {
        let watched: Vec<(ViewerId, Watch)> = self
            .watches()
            .iter()
            .filter(|(_, w)| subject.is_none_or(|s| w.principal.subject == *s))
            .map(|(id, w)| (id.clone(), w.clone()))
            .collect();
        let mut ended = 0;
        for (viewer_id, watch) in watched {
            if !self.allowed(&viewer_id, &watch).await {
                self.revoke(&viewer_id, &watch).await;
                ended += 1;
            }
        }
        ended
    }

    /// Whether the viewer keeps its access; a store failure keeps it until the next check.
    async fn allowed(&self, viewer_id: &ViewerId, watch: &Watch) -> bool {
        match self.auth.still_allowed(&watch.principal, &watch.camera).await {
            Ok(allowed) => allowed,
            Err(e) => {
                tracing::warn!(%viewer_id, error = %e, "could not re-check a viewer's access; keeping it for now");
                true
            }
        }
    }

    /// Tells the viewer's socket to end it (error frame, release, close 4401).
    async fn revoke(&self, viewer_id: &ViewerId, watch: &Watch) {
        let socket = self.routes().get(viewer_id).cloned();
        tracing::info!(%viewer_id, principal = %watch.principal.label(), camera_id = %watch.camera, "access revoked: ending the viewer");
        self.metrics.viewer_revoked();
        let Some(socket) = socket else { return };
        let event = SocketEvent::Revoked { viewer_id: viewer_id.to_owned() };
        match tokio::time::timeout(REVOKE_SEND_TIMEOUT, socket.send(event)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => tracing::debug!(%viewer_id, "socket already closed"),
            Err(_) => {
                tracing::warn!(%viewer_id, "socket not taking events; the revocation waits for the next re-check")
            }
        }
    }
}
