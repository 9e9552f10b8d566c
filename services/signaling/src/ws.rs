//! The thin actix-ws I/O loop of one viewer WebSocket.
//!
//! Reads frames, bus events, join outcomes, ping ticks and the shutdown signal, feeds them
//! to the [`ViewerSession`] and performs the [`Action`]s it returns. All protocol
//! decisions live in the session; this file only moves bytes and spawns work on the hub.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, ProtocolError, Session};
use camview_proto::signaling::{ServerMessage, MAX_FRAME_BYTES};
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::edge;
use crate::error::SessionError;
use crate::hub::{Hub, SocketEvent, SOCKET_EVENT_BUFFER};
use crate::metrics::Rejection;
use crate::rate::RateLimiter;
use crate::session::{Action, CloseKind, JoinOutcome, ViewerSession};

/// A client that does not take a frame within this time is treated as gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Close code of a viewer whose access was revoked (4000-4999: application codes; 401-like).
pub const REVOKED_CLOSE_CODE: u16 = 4401;

/// `GET` on any path: upgrade to a viewer WebSocket, unless the client is over its upgrade
/// rate (429) or the page's `Origin` is foreign (403); see [`crate::edge`].
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    hub: web::Data<Hub>,
) -> Result<HttpResponse, actix_web::Error> {
    if let Some(refusal) = edge::upgrade_refusal(&req, &hub) {
        return Ok(refusal);
    }
    let cookie = camview_http::request::cookie_token(&req);
    let (response, session, stream) = actix_ws::handle(&req, body)?;
    let stream =
        stream.max_frame_size(MAX_FRAME_BYTES).aggregate_continuations().max_continuation_size(MAX_FRAME_BYTES);
    let hub = hub.into_inner();
    if hub.is_shutting_down() {
        hub.metrics.connection_rejected(Rejection::Shutdown);
        actix_web::rt::spawn(refuse(session, SessionError::ShuttingDown, CloseCode::Away));
        return Ok(response);
    }
    match hub.try_connect() {
        Some(permit) => {
            actix_web::rt::spawn(run(hub, session, stream, permit, cookie));
        }
        None => {
            tracing::warn!(limit = hub.settings.max_connections, "connection refused: too many connections");
            hub.metrics.connection_rejected(Rejection::Limit);
            actix_web::rt::spawn(refuse(session, SessionError::TooManyConnections, CloseCode::Again));
        }
    }
    Ok(response)
}

/// Sends one error frame and closes.
async fn refuse(mut session: Session, error: SessionError, code: CloseCode) {
    if let Some(text) = frame(&error.to_message()) {
        let _ = session.text(text).await; // the client may already be gone
    }
    let _ = session.close(Some(CloseReason { code, description: Some(error.code().to_string()) })).await;
}

fn close_code(kind: CloseKind) -> CloseReason {
    let (code, why) = match kind {
        CloseKind::ClientGone => (CloseCode::Normal, "bye"),
        CloseKind::TooBig => (CloseCode::Size, "frame larger than 64 KiB"),
        CloseKind::Protocol => (CloseCode::Protocol, "websocket protocol error"),
        CloseKind::Abuse => (CloseCode::Policy, "rate limit exceeded"),
        CloseKind::Idle => (CloseCode::Away, "idle timeout"),
        CloseKind::ShuttingDown => (CloseCode::Away, "shutting down"),
        CloseKind::Revoked => (CloseCode::Other(REVOKED_CLOSE_CODE), "access revoked"),
    };
    CloseReason { code, description: Some(why.into()) }
}

/// One connection, from upgrade to close. `_permit` holds its place under the limit;
/// `cookie` is the upgrade's `camview_token`, used by joins without a `token` field.
#[tracing::instrument(name = "viewer_socket", skip_all, fields(instance = %hub.instance_id))]
async fn run(
    hub: Arc<Hub>,
    mut socket: Session,
    mut stream: AggregatedMessageStream,
    _permit: OwnedSemaphorePermit,
    cookie: Option<String>,
) {
    let _open = hub.metrics.connection_opened();
    let s = &hub.settings;
    let mut session = ViewerSession::new(RateLimiter::new(s.rate_per_second, s.rate_burst, s.rate_close_after));
    let cookie = cookie.as_deref();
    let (events_tx, mut events_rx) = mpsc::channel(SOCKET_EVENT_BUFFER);
    let (outcome_tx, mut outcome_rx) = mpsc::channel::<JoinOutcome>(4);
    let mut shutdown = hub.shutdown_signal();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + s.ping_interval, s.ping_interval);
    let mut last_heard = Instant::now();
    tracing::debug!("viewer socket open");

    while !session.is_closed() {
        let actions = tokio::select! {
            frame = stream.recv() => match frame {
                Some(Ok(AggregatedMessage::Text(text))) => {
                    last_heard = Instant::now();
                    session.handle_text(last_heard, &text)
                }
                Some(Ok(AggregatedMessage::Binary(_))) => {
                    last_heard = Instant::now();
                    session.handle_binary(last_heard)
                }
                Some(Ok(AggregatedMessage::Ping(bytes))) => {
                    last_heard = Instant::now();
                    let _ = socket.pong(&bytes).await; // a failed pong shows up as a closed stream next
                    vec![]
                }
                Some(Ok(AggregatedMessage::Pong(_))) => {
                    last_heard = Instant::now();
                    vec![]
                }
                Some(Ok(AggregatedMessage::Close(_))) | None => session.close(CloseKind::ClientGone),
                Some(Err(e)) if is_oversize(&e) => {
                    tracing::info!("frame over 64 KiB: closing with 1009");
                    session.close(CloseKind::TooBig)
                }
                Some(Err(e)) => {
                    tracing::info!(error = %e, "websocket protocol error: closing");
                    session.close(CloseKind::Protocol)
                }
            },
            Some(event) = events_rx.recv() => match event {
                SocketEvent::Bus(message) => session.handle_bus(*message),
                SocketEvent::Revoked { viewer_id } => session.handle_revoked(&viewer_id),
            },
            Some(outcome) = outcome_rx.recv() => session.handle_join_outcome(outcome),
            _ = ping.tick() => {
                if last_heard.elapsed() > hub.settings.idle_timeout {
                    tracing::info!("no frame or pong within the idle timeout: closing");
                    session.close(CloseKind::Idle)
                } else if tokio::time::timeout(SEND_TIMEOUT, socket.ping(b"camview")).await.is_err() {
                    session.close(CloseKind::ClientGone)
                } else {
                    vec![]
                }
            }
            _ = shutdown.wait_for(|stop| *stop) => session.close(CloseKind::ShuttingDown),
        };
        let mut stuck = false;
        for action in actions {
            if stuck && matches!(action, Action::Send(_) | Action::Close(_)) {
                continue;
            }
            if perform(&hub, &mut socket, action, &events_tx, &outcome_tx, cookie).await.is_err() {
                stuck = true;
            }
        }
        if stuck && !session.is_closed() {
            tracing::info!("client does not read its frames: dropping the socket");
            for action in session.close(CloseKind::ClientGone) {
                if !matches!(action, Action::Send(_) | Action::Close(_)) {
                    let _ = perform(&hub, &mut socket, action, &events_tx, &outcome_tx, cookie).await;
                }
            }
        }
    }

    // Outcomes that arrived but were never handled: those viewers have no socket now.
    outcome_rx.close();
    while let Ok(outcome) = outcome_rx.try_recv() {
        match outcome {
            JoinOutcome::Answered { viewer_id, camera, .. } => {
                hub.spawn_release(viewer_id, camera, camview_proto::bus::RemoveReason::SocketClosed)
            }
            JoinOutcome::Failed { viewer_id, .. } => hub.unroute(&viewer_id),
        }
    }
    tracing::debug!("viewer socket closed");
}

/// A frame (or a fragmented message) over [`MAX_FRAME_BYTES`].
fn is_oversize(e: &ProtocolError) -> bool {
    match e {
        ProtocolError::Overflow => true,
        // actix-ws reports an oversize fragmented message as an I/O error with this text.
        ProtocolError::Io(io) => io.to_string().contains("maximum continuation size"),
        _ => false,
    }
}

/// The client did not take a frame within [`SEND_TIMEOUT`].
struct Stuck;

async fn perform(
    hub: &Arc<Hub>,
    socket: &mut Session,
    action: Action,
    events: &mpsc::Sender<SocketEvent>,
    outcomes: &mpsc::Sender<JoinOutcome>,
    cookie: Option<&str>,
) -> Result<(), Stuck> {
    match action {
        Action::Send(message) => return send(socket, &message).await,
        Action::Join(mut request) => {
            if request.token.is_none() {
                request.token = cookie.map(str::to_owned);
            }
            hub.route(&request.viewer_id, events.clone());
            hub.spawn_join(request, outcomes.clone());
        }
        Action::AddIce { viewer_id, camera, candidate } => hub.spawn_add_ice(viewer_id, camera, candidate),
        Action::Release { viewer_id, camera, reason } => hub.spawn_release(viewer_id, camera, reason),
        Action::Forget { viewer_id } => hub.unroute(&viewer_id),
        Action::Close(kind) => {
            // Already closed by the client is fine.
            let _ = tokio::time::timeout(SEND_TIMEOUT, socket.clone().close(Some(close_code(kind)))).await;
        }
    }
    Ok(())
}

/// The JSON text of a frame; every error frame is counted in `camview_errors_total` here,
/// the one place errors become replies to a viewer.
fn frame(message: &ServerMessage) -> Option<String> {
    if let ServerMessage::Error { code, .. } = message {
        camview_common::telemetry::record_error(code.as_str());
    }
    match serde_json::to_string(message) {
        Ok(text) => Some(text),
        Err(e) => {
            tracing::error!(error = %e, "could not serialize a server message");
            None
        }
    }
}

async fn send(socket: &mut Session, message: &ServerMessage) -> Result<(), Stuck> {
    let Some(text) = frame(message) else {
        return Ok(());
    };
    // A closed socket shows up as the end of the stream on the next read.
    match tokio::time::timeout(SEND_TIMEOUT, socket.text(text)).await {
        Ok(_) => Ok(()),
        Err(_) => Err(Stuck),
    }
}
