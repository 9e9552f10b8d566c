//! The steps of a WHEP session against the media-controller: join (offer -> answer with the
//! server's candidates), trickle (`PATCH`) and leave (`DELETE`). The handlers in
//! `routes::whep` only read the request and write the answer.
//!
//! Invariants: the controller alone reserves the viewer slot (`AddViewer`, same command and
//! limit as the WebSocket path); a join that got no answer is undone with `RemoveViewer`, and
//! so is one whose handler was dropped before the answer; a client that hung up while actix
//! still ran its handler (HTTP/1 does) never connects, and the connect timeout ends that
//! session; an error leaves no session behind.

use camview_proto::{CameraId, ViewerId};
use std::time::Duration;

use camview_common::auth::Principal;
use camview_proto::bus::{AddIceCandidate, AddViewer, Message, RemoveReason, RemoveViewer};
use camview_proto::stream::IceCandidate;
use camview_proto::viewer_input::check_sdp_offer;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::Instrument;

use super::sdp::{ice_ufrag, parse_fragment, with_candidates};
use super::SessionInfo;
use crate::error::ApiError;
use crate::routes::streams::ask_controller;
use crate::startup::AppState;

/// Longest wait for the server's candidates after the controller answered.
pub const GATHER_TIMEOUT: Duration = Duration::from_secs(2);
/// Gathering counts as done once no candidate came for this long after the first one (the
/// controller forwards candidates and the end of gathering as unordered events, so the end
/// alone cannot be trusted to come last).
pub const GATHER_QUIET: Duration = Duration::from_millis(250);

/// An answered offer.
#[derive(Debug)]
pub struct Joined {
    pub session_id: ViewerId,
    pub etag: String,
    pub answer: String,
}

/// Joins `camera_id` with `offer` for `who` (already allowed to watch it). Runs on its own
/// task, so a dropped handler cannot leave a reserved slot behind.
pub async fn join(
    state: actix_web::web::Data<AppState>,
    camera_id: CameraId,
    who: &Principal,
    offer: String,
) -> Result<Joined, ApiError> {
    check_sdp_offer(&offer).map_err(ApiError::InvalidSdp)?;
    let session_id = ViewerId::random();
    let info = SessionInfo {
        camera_id: camera_id.clone(),
        principal: who.clone(),
        etag: format!("\"{}\"", uuid::Uuid::new_v4().simple()),
        client_ufrag: ice_ufrag(&offer).map(str::to_owned),
    };
    let (tx, rx) = oneshot::channel();
    let span = tracing::info_span!("whep_join", camera_id = %camera_id, viewer_id = %session_id);
    let id = session_id.clone();
    tokio::spawn(
        async move {
            let result = run_join(&state, &id, info, offer).await;
            state.whep.metrics.join_finished(result.as_ref().map_or_else(|e| e.code().as_str(), |_| "ok"));
            if let Err(Ok(_answered)) = tx.send(result) {
                tracing::info!("the WHEP client left during its join; releasing the viewer");
                if let Some(info) = state.whep.remove(&id) {
                    state.whep.metrics.released("client_gone");
                    release(&state, &id, &info.camera_id, RemoveReason::SocketClosed).await;
                }
            }
        }
        .instrument(span),
    );
    rx.await.map_err(|_| ApiError::UnexpectedReply("the WHEP join task ended"))?
}

async fn run_join(state: &AppState, id: &ViewerId, info: SessionInfo, offer: String) -> Result<Joined, ApiError> {
    let camera_id = info.camera_id.clone();
    let etag = info.etag.clone();
    let candidates = state.whep.open(id, info);
    let command = Message::AddViewer(AddViewer {
        viewer_id: id.to_owned(),
        camera_id: camera_id.clone(),
        sdp_offer: offer,
        signaling_instance: state.whep.instance_id().to_owned(),
    });
    let reply = ask_controller(state, command).await;
    let answer = match reply {
        Ok(Message::ViewerAdded(added)) if added.viewer_id == *id => added.sdp_answer,
        Ok(Message::Failed(body)) => {
            // The controller keeps neither slot nor record of a refused join.
            state.whep.remove(id);
            tracing::info!(code = %body.code, message = %body.message, "media-controller refused the WHEP viewer");
            return Err(ApiError::Controller(body));
        }
        other => {
            state.whep.remove(id);
            // The command may have run or may still run: have the controller undo it.
            queue_removal(state, id, &camera_id, RemoveReason::Failed).await;
            return Err(match other {
                Err(e) => e,
                Ok(m) => {
                    tracing::error!(kind = m.kind(), "unexpected reply to AddViewer");
                    ApiError::UnexpectedReply("an unexpected reply to AddViewer")
                }
            });
        }
    };
    let gathered = gather(candidates).await;
    state.whep.answered(id, std::time::Instant::now());
    tracing::info!(candidates = gathered.len(), "WHEP viewer answered");
    Ok(Joined { session_id: id.to_owned(), etag, answer: with_candidates(&answer, &gathered) })
}

/// The server's candidates: until [`GATHER_QUIET`] passes without one after the first, or
/// [`GATHER_TIMEOUT`] in all.
async fn gather(mut rx: mpsc::Receiver<IceCandidate>) -> Vec<IceCandidate> {
    let deadline = Instant::now() + GATHER_TIMEOUT;
    let mut out: Vec<IceCandidate> = Vec::new();
    loop {
        let until = if out.is_empty() { deadline } else { (Instant::now() + GATHER_QUIET).min(deadline) };
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(c)) if !out.contains(&c) => out.push(c),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return out,
        }
    }
}

/// The open session `session_id` of `camera_id`, if `who` may act on it.
fn owned_session(
    state: &AppState,
    camera_id: &CameraId,
    session_id: &str,
    who: &Principal,
) -> Result<(ViewerId, SessionInfo), ApiError> {
    let not_found = || ApiError::WhepSessionNotFound(session_id.chars().take(80).collect());
    let id = ViewerId::parse(session_id).map_err(|_| not_found())?;
    let info = state.whep.get(&id).filter(|s| s.camera_id == *camera_id).ok_or_else(not_found)?;
    if info.principal.subject != who.subject && !who.is_admin() {
        return Err(ApiError::Forbidden("this WHEP session belongs to someone else".into()));
    }
    Ok((id, info))
}

/// `PATCH`: forwards the client's trickled candidates. An ICE restart (`If-Match: *` or a new
/// ufrag) is refused with 422, as RFC 9725 asks of a resource that only trickles.
pub async fn trickle(
    state: &AppState,
    camera_id: &CameraId,
    session_id: &str,
    who: &Principal,
    if_match: Option<&str>,
    body: &str,
) -> Result<(), ApiError> {
    let (viewer_id, info) = owned_session(state, camera_id, session_id, who)?;
    match if_match.map(str::trim) {
        Some("*") => return Err(ApiError::IceRestartUnsupported),
        Some(tag) if tag != info.etag => return Err(ApiError::PreconditionFailed),
        _ => {}
    }
    let fragment = parse_fragment(body).map_err(ApiError::InvalidCandidate)?;
    if let (Some(new), Some(old)) = (&fragment.ice_ufrag, &info.client_ufrag) {
        if new != old {
            return Err(ApiError::IceRestartUnsupported);
        }
    }
    for candidate in fragment.candidates {
        let command = AddIceCandidate { viewer_id: viewer_id.clone(), camera_id: Some(camera_id.clone()), candidate };
        state.bus.send(Message::AddIceCandidate(command)).await?;
    }
    Ok(())
}

/// `DELETE`: ends the session and frees its slot.
pub async fn leave(state: &AppState, camera_id: &CameraId, session_id: &str, who: &Principal) -> Result<(), ApiError> {
    let (viewer_id, _) = owned_session(state, camera_id, session_id, who)?;
    if state.whep.remove(&viewer_id).is_some() {
        state.whep.metrics.released("deleted");
        release(state, &viewer_id, camera_id, RemoveReason::Left).await;
    }
    Ok(())
}

/// Asks the controller to remove the viewer; queues the removal again if it does not confirm.
async fn release(state: &AppState, viewer_id: &ViewerId, camera_id: &CameraId, reason: RemoveReason) {
    let command = Message::RemoveViewer(RemoveViewer {
        viewer_id: viewer_id.to_owned(),
        camera_id: camera_id.to_owned(),
        reason,
    });
    match ask_controller(state, command).await {
        Ok(Message::Done(_)) => tracing::info!(%viewer_id, "WHEP viewer released"),
        other => {
            tracing::warn!(%viewer_id, reply = ?other.map(|m| m.kind()), "RemoveViewer not confirmed; queued again");
            queue_removal(state, viewer_id, camera_id, reason).await;
        }
    }
}

/// Queues a `RemoveViewer` without a deadline (removing twice does nothing).
async fn queue_removal(state: &AppState, viewer_id: &ViewerId, camera_id: &CameraId, reason: RemoveReason) {
    let undo = RemoveViewer { viewer_id: viewer_id.to_owned(), camera_id: camera_id.to_owned(), reason };
    if let Err(e) = state.bus.send(Message::RemoveViewer(undo)).await {
        tracing::error!(%viewer_id, error = %e, "could not queue RemoveViewer; the slot is freed when this instance's liveness lapses");
    }
}
