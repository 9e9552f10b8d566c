//! The WebSocket side: accept loop, Kurento's path check (close 1002 "Invalid path"), and one
//! `select!` loop per connection over incoming frames, outgoing events and shutdown.
//!
//! Faults: the accept loop is supervised (`task="ws-accept"`); a panic inside `Core::handle` is
//! caught, answered with a JSON-RPC error (40003 UNEXPECTED_ERROR) and counted
//! (`place="rpc"`), and the connection and engine keep serving (the core lock a panic poisoned is
//! taken over, see `supervise`). A connection whose task panics is still unregistered.
//!
//! Outgoing events queue per connection in a bounded channel of `OUTGOING` frames. A client
//! that does not read them fast enough (the queue is full) is a slow consumer: it is
//! disconnected (close 1008) and counted (`camview_engine_queue_full_total{queue="connection"}`),
//! so it neither grows the engine's memory nor delays anyone else; its session stays for a
//! resume (`connect` with its sessionId), as after any dropped socket.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camview_proto::kurento::{KurentoErrorCode, Response, RpcError};
use futures_util::{Sink, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::error::TrySendError;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response as HttpResponse};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::rpc::Core;
use crate::supervise::{lock, panic_message, spawn_supervised, Faults};

/// Largest accepted frame: SDP offers are a few KiB; anything far bigger is refused.
const MAX_FRAME: usize = 1 << 20;

/// Outgoing frames (events) waiting for one connection, at most; see the module doc.
pub const OUTGOING: usize = 1024;

/// How long closing a slow consumer's socket may take before it is just dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// A connection's outgoing queue as the RPC core sees it.
#[derive(Debug, Clone)]
pub struct ConnTx {
    tx: tokio::sync::mpsc::Sender<String>,
    /// Cancelled when the queue overflowed: the connection closes.
    slow: CancellationToken,
    faults: Arc<Faults>,
}

impl ConnTx {
    /// Queues a frame; returns whether it was queued. A full queue marks the client as a slow
    /// consumer, to be disconnected.
    pub fn send(&self, text: String) -> bool {
        match self.tx.try_send(text) {
            Ok(()) => true,
            Err(TrySendError::Closed(_)) => false,
            Err(TrySendError::Full(_)) => {
                if !self.slow.is_cancelled() {
                    tracing::warn!(queued = OUTGOING, "a JSON-RPC client does not read its events; disconnecting it");
                    self.faults.full("connection", 1);
                    self.slow.cancel();
                }
                false
            }
        }
    }
}

/// Serves `listener` under a supervisor until `cancel`.
pub(crate) fn spawn_accept_loop(
    listener: TcpListener,
    core: Arc<Mutex<Core>>,
    path: String,
    faults: Arc<Faults>,
    cancel: CancellationToken,
) {
    let listener = Arc::new(listener);
    let next_id = Arc::new(AtomicU64::new(1));
    let f = faults.clone();
    spawn_supervised("ws-accept", faults, cancel.clone(), move || {
        let (listener, next_id, core, path, faults, cancel) =
            (listener.clone(), next_id.clone(), core.clone(), path.clone(), f.clone(), cancel.clone());
        async move { accept_loop(&listener, &next_id, core, path, faults, cancel).await }
    });
}

async fn accept_loop(
    listener: &TcpListener,
    next_id: &AtomicU64,
    core: Arc<Mutex<Core>>,
    path: String,
    faults: Arc<Faults>,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => {
                let Ok((stream, _)) = r else { continue };
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let conn = connection(stream, id, core.clone(), path.clone(), faults.clone(), cancel.clone());
                let (core, faults) = (core.clone(), faults.clone());
                tokio::spawn(async move {
                    if let Err(e) = tokio::spawn(conn).await {
                        if e.is_panic() {
                            tracing::error!(conn = id, panic = panic_message(e.into_panic().as_ref()), "a connection task panicked");
                            faults.panicked("connection");
                        }
                    }
                    // Idempotent: the connection may have unregistered itself already.
                    lock(&core).remove_conn(id);
                });
            }
        }
    }
}

/// Sends `msg` unless the connection is given up first (a slow consumer, or shutdown).
async fn send_or_give_up<S>(sink: &mut S, msg: Message, give_up: &CancellationToken) -> bool
where
    S: Sink<Message> + Unpin,
{
    tokio::select! {
        r = sink.send(msg) => r.is_ok(),
        _ = give_up.cancelled() => false,
    }
}

// The handshake callback's error type is tungstenite's HTTP response; it is never built here.
#[allow(clippy::result_large_err)]
#[tracing::instrument(skip_all, fields(conn = id))]
async fn connection(
    stream: TcpStream,
    id: u64,
    core: Arc<Mutex<Core>>,
    path: String,
    faults: Arc<Faults>,
    cancel: CancellationToken,
) {
    let mut requested = String::new();
    let cb = |req: &Request, resp: HttpResponse| {
        requested = req.uri().path().trim_start_matches('/').to_string();
        Ok(resp)
    };
    let cfg = WebSocketConfig::default().max_message_size(Some(MAX_FRAME)).max_frame_size(Some(MAX_FRAME));
    let Ok(ws) = tokio_tungstenite::accept_hdr_async_with_config(stream, cb, Some(cfg)).await else { return };
    let (mut sink, mut source) = ws.split();
    if requested != path {
        let _ = sink
            .send(Message::Close(Some(CloseFrame { code: CloseCode::Protocol, reason: "Invalid path".into() })))
            .await;
        return;
    }
    // Bounded: a client that stops reading is disconnected (module doc).
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(OUTGOING);
    let slow = cancel.child_token();
    lock(&core).add_conn(id, ConnTx { tx, slow: slow.clone(), faults: faults.clone() });
    loop {
        tokio::select! {
            _ = slow.cancelled() => break,
            out = rx.recv() => {
                let Some(text) = out else { break };
                if !send_or_give_up(&mut sink, Message::text(text), &slow).await { break; }
            }
            msg = source.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.as_str().to_string(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                if let Some(r) = handle_contained(&core, &faults, id, &text) {
                    if !send_or_give_up(&mut sink, Message::text(r), &slow).await { break; }
                }
            }
        }
    }
    lock(&core).remove_conn(id);
    // `slow` is a child of `cancel`: only a slow consumer has it cancelled alone.
    if slow.is_cancelled() && !cancel.is_cancelled() {
        let close = CloseFrame { code: CloseCode::Policy, reason: "too slow: events were not read".into() };
        let _ = tokio::time::timeout(CLOSE_WAIT, sink.send(Message::Close(Some(close)))).await;
    }
}

/// `Core::handle`, with a panic answered as a JSON-RPC error (the request's id, when it has one)
/// and counted; the core stays usable.
pub(crate) fn handle_contained(core: &Mutex<Core>, faults: &Faults, conn: u64, text: &str) -> Option<String> {
    let now = Instant::now();
    match catch_unwind(AssertUnwindSafe(|| lock(core).handle(conn, text, now))) {
        Ok(r) => r,
        Err(p) => {
            faults.panicked("rpc");
            tracing::error!(conn, panic = panic_message(p.as_ref()), "handling a JSON-RPC request panicked");
            let id = serde_json::from_str::<serde_json::Value>(text).ok().and_then(|v| v.get("id").cloned())?;
            let e = RpcError::kurento(
                KurentoErrorCode::UnexpectedError,
                "the media engine failed while handling this request; it was not completed",
            );
            Some(serde_json::to_string(&Response::err(id, e)).expect("a Response always serialises"))
        }
    }
}
