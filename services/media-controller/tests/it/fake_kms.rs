//! A scripted WebSocket peer speaking the real Kurento JSON-RPC envelope (`camview_proto`
//! types), for transport faults a real server will not produce on demand: dropped sockets,
//! `40007` after a reconnect, late replies, events before responses. Media behaviour is
//! tested against the media-engine, not here.

use camview_proto::kurento::{KurentoErrorCode, Request, Response, RpcError};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How long a test waits for the client to do something before failing.
pub const PATIENCE: Duration = Duration::from_secs(5);

pub struct FakeKms {
    pub url: String,
    peers: mpsc::UnboundedReceiver<Peer>,
}

impl FakeKms {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let url = format!("ws://{}/kurento", listener.local_addr().expect("bound address"));
        let (tx, peers) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { continue };
                if tx.send(Peer::spawn(ws)).is_err() {
                    return;
                }
            }
        });
        Self { url, peers }
    }

    /// The next client connection.
    pub async fn next_peer(&mut self) -> Peer {
        tokio::time::timeout(PATIENCE, self.peers.recv())
            .await
            .expect("the client did not (re)connect in time")
            .expect("listener alive")
    }
}

/// One accepted socket. Dropping it, or `close`, drops the connection.
pub struct Peer {
    requests: mpsc::UnboundedReceiver<Request>,
    frames: mpsc::UnboundedSender<String>,
}

impl Peer {
    fn spawn(mut ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) -> Self {
        let (request_tx, requests) = mpsc::unbounded_channel();
        let (frames, mut frame_rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    incoming = ws.next() => match incoming {
                        Some(Ok(Message::Text(text))) => {
                            let request: Request = serde_json::from_str(text.as_str()).expect("the client sends JSON-RPC requests");
                            assert_eq!(request.jsonrpc, "2.0");
                            if request_tx.send(request).is_err() {
                                return;
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    },
                    outgoing = frame_rx.recv() => match outgoing {
                        Some(text) => if ws.send(Message::text(text)).await.is_err() { return },
                        None => return,
                    },
                }
            }
        });
        Self { requests, frames }
    }

    /// The next request from the client.
    pub async fn request(&mut self) -> Request {
        tokio::time::timeout(PATIENCE, self.requests.recv())
            .await
            .expect("the client sent no request in time")
            .expect("the client closed the socket")
    }

    /// Expects `connect` and opens (or resumes) `session_id` on server `server_id`.
    pub async fn accept_session(&mut self, session_id: &str, server_id: &str) -> Request {
        let connect = self.request().await;
        assert_eq!(connect.method, "connect");
        self.send(&Response::ok(connect.id.clone(), json!({"sessionId": session_id, "serverId": server_id})));
        connect
    }

    /// Answers with `result.value`, echoing the request's session like KMS.
    pub fn reply(&self, request: &Request, value: Value) {
        let session = param(request, "sessionId");
        self.send(&Response::ok(request.id.clone(), json!({"sessionId": session, "value": value})));
    }

    pub fn fail(&self, request: &Request, code: KurentoErrorCode, message: &str) {
        self.send(&Response::err(request.id.clone(), RpcError::kurento(code, message)));
    }

    /// Sends an `onEvent` notification for `object`.
    pub fn event(&self, object: &str, kind: &str, data: Value) {
        let value = json!({"data": data, "object": object, "type": kind});
        self.frames.send(json!({"jsonrpc": "2.0", "method": "onEvent", "params": {"value": value}}).to_string()).ok();
    }

    /// Ends the connection abruptly.
    pub fn close(self) {}

    fn send(&self, response: &Response) {
        self.frames.send(serde_json::to_string(response).expect("responses serialize")).ok();
    }
}

/// `params[name]` of a request, `Null` if absent.
pub fn param(request: &Request, name: &str) -> Value {
    request.params.as_ref().and_then(|p| p.get(name)).cloned().unwrap_or(Value::Null)
}

/// `source`, `tags`, `timestampMillis` and `type` as KMS puts them in every media event.
pub fn event_data(source: &str, kind: &str, extra: Value) -> Value {
    let mut data = json!({"source": source, "tags": [], "timestampMillis": "1732400000123", "type": kind});
    if let (Some(map), Value::Object(more)) = (data.as_object_mut(), extra) {
        map.extend(more);
    }
    data
}
