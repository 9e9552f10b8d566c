//! Ending WHEP sessions whose owner lost access to the camera, as signaling ends its viewers:
//! on each `AccessRevoked{subject}` of the bus channel `AUTH_EVENTS_INSTANCE`, for that
//! subject's sessions, and every [`RECHECK_PERIOD`] for all, with
//! [`Authenticator::still_allowed`] (the store's word, never the token's `exp`).
//!
//! Invariants: no lock is held across an await (sessions are copied out first); a store
//! failure keeps the session until the next check; a revoked session is removed once and its
//! viewer released with `RemoveViewer`.

use std::sync::Arc;
use std::time::Duration;

use camview_common::auth::Authenticator;
use camview_common::BusClient;
use camview_proto::auth::Subject;
use camview_proto::bus::{Message, RemoveReason, RemoveViewer};
use camview_proto::keys::AUTH_EVENTS_INSTANCE;

use super::WhepSessions;

/// How often every session's access is re-checked (as `SIGNALING_AUTH_RECHECK_SECONDS`' default).
pub const RECHECK_PERIOD: Duration = Duration::from_secs(30);

impl WhepSessions {
    /// Re-checks on each revocation and every [`RECHECK_PERIOD`], forever.
    pub async fn run_revocations(self: Arc<Self>, auth: Arc<Authenticator>, bus: Arc<BusClient>) {
        let mut events = match bus.bus().subscribe(AUTH_EVENTS_INSTANCE).await {
            Ok(events) => Some(events),
            Err(e) => {
                tracing::warn!(error = %e, "no subscription to revocations: WHEP sessions are re-checked periodically only");
                None
            }
        };
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + RECHECK_PERIOD, RECHECK_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let subject = tokio::select! {
                _ = tick.tick() => None,
                envelope = async { events.as_mut()?.recv().await }, if events.is_some() => match envelope {
                    Some(envelope) => match envelope.message {
                        Message::AccessRevoked(revoked) => Some(revoked.subject),
                        _ => continue,
                    },
                    None => {
                        tracing::warn!("the auth events subscription ended: WHEP sessions are re-checked periodically only");
                        events = None;
                        continue;
                    }
                },
            };
            self.recheck(&auth, &bus, subject.as_ref()).await;
        }
    }

    /// Ends the sessions (of `subject`, or all) whose owner lost access; returns how many.
    pub async fn recheck(&self, auth: &Authenticator, bus: &BusClient, subject: Option<&Subject>) -> usize {
        let mut ended = 0;
        for (viewer_id, info) in self.all() {
            if subject.is_some_and(|s| *s != info.principal.subject) {
                continue;
            }
            match auth.still_allowed(&info.principal, &info.camera_id).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(%viewer_id, error = %e, "could not re-check a WHEP session's access; keeping it for now");
                    continue;
                }
            }
            if self.remove(&viewer_id).is_none() {
                continue;
            }
            tracing::info!(%viewer_id, principal = %info.principal.label(), camera_id = %info.camera_id, "access revoked: ending the WHEP session");
            self.metrics.released("revoked");
            ended += 1;
            let remove = RemoveViewer { viewer_id, camera_id: info.camera_id, reason: RemoveReason::Left };
            if let Err(e) = bus.send(Message::RemoveViewer(remove)).await {
                tracing::error!(error = %e, "could not queue RemoveViewer; the slot is freed when this instance's liveness lapses");
            }
        }
        ended
    }
}
