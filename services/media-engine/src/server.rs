//! The WebSocket side: accept loop, Kurento's path check (close 1002 "Invalid path"), and one
//! `select!` loop per connection over incoming frames, outgoing events and shutdown.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use crate::rpc::Core;

/// Largest accepted frame: SDP offers are a few KiB; anything far bigger is refused.
const MAX_FRAME: usize = 1 << 20;

pub(crate) async fn accept_loop(
    listener: TcpListener,
    core: Arc<Mutex<Core>>,
    path: String,
    cancel: CancellationToken,
) {
    let next_id = AtomicU64::new(1);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => {
                let Ok((stream, _)) = r else { continue };
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(connection(stream, id, core.clone(), path.clone(), cancel.clone()));
            }
        }
    }
}

// The handshake callback's error type is tungstenite's HTTP response; it is never built here.
#[allow(clippy::result_large_err)]
#[tracing::instrument(skip_all, fields(conn = id))]
async fn connection(stream: TcpStream, id: u64, core: Arc<Mutex<Core>>, path: String, cancel: CancellationToken) {
    let mut requested = String::new();
    let cb = |req: &Request, resp: Response| {
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
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    core.lock().expect("core lock").add_conn(id, tx);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            out = rx.recv() => {
                let Some(text) = out else { break };
                if sink.send(Message::text(text)).await.is_err() { break; }
            }
            msg = source.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.as_str().to_string(),
                    Some(Ok(Message::Binary(b))) => String::from_utf8_lossy(&b).into_owned(),
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let resp = core.lock().expect("core lock").handle(id, &text, Instant::now());
                if let Some(r) = resp {
                    if sink.send(Message::text(r)).await.is_err() { break; }
                }
            }
        }
    }
    core.lock().expect("core lock").remove_conn(id);
}
