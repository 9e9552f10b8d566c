//! A scripted browser: joins through signaling's WebSocket with a real SDP offer made by str0m
//! (recvonly video, VP8 and H.264, one host candidate on loopback), applies the answer, trickles
//! candidates both ways and can run until ICE/DTLS connect and RTP arrives.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::{TcpStream, UdpSocket};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Why a viewer step failed.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    #[error("WebSocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("UDP socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("signaling refused: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, &'static str),
    #[error("the WebSocket closed")]
    Closed,
    #[error("WebRTC: {0}")]
    Rtc(String),
}

/// One browser-like viewer on one signaling WebSocket.
pub struct Viewer {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    rtc: Rtc,
    sock: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    /// The id signaling gave this viewer in its `answer`.
    pub viewer_id: Option<String>,
    /// ICE and DTLS are up (str0m's `Connected`).
    pub connected: bool,
    /// RTP packets received over the peer connection.
    pub packets: u64,
    /// Every server frame, in order.
    pub frames: Vec<serde_json::Value>,
}

impl Viewer {
    /// Opens the WebSocket at `url` (e.g. [`crate::Stack::signaling_ws_url`]).
    pub async fn connect(url: &str) -> Result<Viewer, ViewerError> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        let sock = UdpSocket::bind("127.0.0.1:0").await?;
        let local = sock.local_addr()?;
        let mut rtc = Rtc::builder().set_rtp_mode(true).clear_codecs().enable_vp8(true).enable_h264(true).build(Instant::now());
        let candidate = Candidate::host(local, "udp").map_err(|e| ViewerError::Rtc(e.to_string()))?;
        rtc.add_local_candidate(candidate);
        Ok(Viewer { ws, rtc, sock, local, pending: None, viewer_id: None, connected: false, packets: 0, frames: Vec::new() })
    }

    /// Sends `join` for `camera` with a fresh offer and waits for the `answer` (an `error`
    /// frame becomes [`ViewerError::Refused`]); applies the answer and trickles this viewer's
    /// candidate. Returns the viewer id.
    pub async fn join(&mut self, camera: &str, limit: Duration) -> Result<String, ViewerError> {
        let mut api = self.rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().ok_or_else(|| ViewerError::Rtc("no offer to make".into()))?;
        self.pending = Some(pending);
        let join = serde_json::json!({"type": "join", "camera": camera, "sdpOffer": offer.to_sdp_string()});
        self.ws.send(WsMessage::text(join.to_string())).await?;
        let answer = self.next_frame_of("answer", limit).await?;
        let viewer_id = answer["viewerId"].as_str().unwrap_or_default().to_owned();
        let sdp = answer["sdpAnswer"].as_str().unwrap_or_default();
        let parsed = SdpAnswer::from_sdp_string(sdp).map_err(|e| ViewerError::Rtc(format!("answer: {e}")))?;
        let pending = self.pending.take().ok_or_else(|| ViewerError::Rtc("no pending offer".into()))?;
        self.rtc.sdp_api().accept_answer(pending, parsed).map_err(|e| ViewerError::Rtc(format!("accepting the answer: {e}")))?;
        let candidate = Candidate::host(self.local, "udp").map_err(|e| ViewerError::Rtc(e.to_string()))?.to_sdp_string();
        let ice = serde_json::json!({"type": "ice", "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0});
        self.ws.send(WsMessage::text(ice.to_string())).await?;
        self.viewer_id = Some(viewer_id.clone());
        Ok(viewer_id)
    }

    /// Reads frames until one of `kind` arrives (earlier `ice` frames are applied).
    async fn next_frame_of(&mut self, kind: &'static str, limit: Duration) -> Result<serde_json::Value, ViewerError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next()).await.map_err(|_| ViewerError::Timeout(limit, kind))?;
            let Some(frame) = self.take_frame(frame)? else { continue };
            if frame["type"] == kind {
                return Ok(frame);
            }
            if frame["type"] == "error" {
                return Err(refused(&frame));
            }
        }
    }

    /// Records one WebSocket item; `Ok(None)` for control frames.
    fn take_frame(&mut self, item: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>) -> Result<Option<serde_json::Value>, ViewerError> {
        match item {
            None => Err(ViewerError::Closed),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(WsMessage::Text(text))) => {
                let frame: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
                if frame["type"] == "ice" {
                    if let Some(c) = frame["candidate"].as_str().filter(|c| !c.is_empty()) {
                        if let Ok(candidate) = Candidate::from_sdp_string(c) {
                            self.rtc.add_remote_candidate(candidate);
                        }
                    }
                }
                self.frames.push(frame.clone());
                Ok(Some(frame))
            }
            Some(Ok(WsMessage::Close(_))) => Err(ViewerError::Closed),
            Some(Ok(_)) => Ok(None),
        }
    }

    /// Runs the peer connection and the WebSocket until `done` holds or `limit` passes.
    pub async fn drive_until(&mut self, limit: Duration, what: &'static str, done: impl Fn(&Viewer) -> bool) -> Result<(), ViewerError> {
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 2048];
        loop {
            let timeout = loop {
                match self.rtc.poll_output().map_err(|e| ViewerError::Rtc(e.to_string()))? {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        let _ = self.sock.send_to(&t.contents, t.destination).await; // lost datagrams are retried by ICE
                    }
                    Output::Event(Event::Connected) => self.connected = true,
                    Output::Event(Event::RtpPacket(_)) => self.packets += 1,
                    Output::Event(_) => {}
                }
            };
            if done(self) {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ViewerError::Timeout(limit, what));
            }
            let wait = timeout.min(deadline).saturating_duration_since(now).max(Duration::from_millis(1));
            tokio::select! {
                r = self.sock.recv_from(&mut buf) => {
                    let (n, source) = r?;
                    if let Ok(contents) = buf[..n].try_into() {
                        let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: self.local, contents });
                        self.rtc.handle_input(input).map_err(|e| ViewerError::Rtc(e.to_string()))?;
                    }
                }
                item = self.ws.next() => {
                    if let Some(frame) = self.take_frame(item)? {
                        if frame["type"] == "error" {
                            return Err(refused(&frame));
                        }
                    }
                }
                _ = tokio::time::sleep(wait) => {
                    self.rtc.handle_input(Input::Timeout(Instant::now())).map_err(|e| ViewerError::Rtc(e.to_string()))?;
                }
            }
        }
    }

    /// Runs until ICE/DTLS connect and `packets` RTP packets arrived.
    pub async fn wait_for_media(&mut self, packets: u64, limit: Duration) -> Result<(), ViewerError> {
        self.drive_until(limit, "connected with RTP flowing", |v| v.connected && v.packets >= packets).await
    }

    /// Sends `leave`.
    pub async fn leave(&mut self) -> Result<(), ViewerError> {
        self.ws.send(WsMessage::text(r#"{"type":"leave"}"#)).await?;
        Ok(())
    }

    /// Closes the WebSocket as a browser tab does.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await; // the server may already be gone
    }
}

fn refused(frame: &serde_json::Value) -> ViewerError {
    ViewerError::Refused { code: frame["code"].as_str().unwrap_or_default().to_owned(), message: frame["message"].as_str().unwrap_or_default().to_owned() }
}
