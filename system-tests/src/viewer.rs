//! A scripted browser: joins through signaling's WebSocket with a real SDP offer made by a
//! [`TestPeer`] (recvonly video, VP8 and H.264, one host candidate on loopback), applies the
//! answer, trickles candidates both ways and can run until ICE/DTLS connect and RTP arrives.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use camview_common::testing::peer::{Codecs, RtcError, TestPeer};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
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
    Rtc(#[from] RtcError),
}

/// One browser-like viewer on one signaling WebSocket.
pub struct Viewer {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    peer: TestPeer,
    /// The id signaling gave this viewer in its `answer`.
    pub viewer_id: Option<String>,
    /// Sent as `token` in `join`.
    token: Option<String>,
    /// Every server frame, in order.
    pub frames: Vec<serde_json::Value>,
    /// The engine's candidate address and the relay standing in for it ([`Viewer::route_via`]).
    route: Option<(SocketAddr, SocketAddr)>,
}

impl Viewer {
    /// Opens the WebSocket at `url` (e.g. [`crate::Stack::signaling_ws_url`]); joins carry no token.
    pub async fn connect(url: &str) -> Result<Viewer, ViewerError> {
        Self::connect_with_token(url, None).await
    }

    /// Opens the WebSocket at `url`; joins carry `token`.
    pub async fn connect_with_token(url: &str, token: Option<String>) -> Result<Viewer, ViewerError> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        let peer = TestPeer::bind(Codecs::Vp8AndH264).await?;
        Ok(Viewer { ws, peer, viewer_id: None, token, frames: Vec::new(), route: None })
    }

    /// The peer connection: whether it is connected, what it received.
    pub fn peer(&self) -> &TestPeer {
        &self.peer
    }

    /// The peer connection, to change how it behaves (e.g. recover from loss like a browser).
    pub fn peer_mut(&mut self) -> &mut TestPeer {
        &mut self.peer
    }

    /// Sends all media traffic through `relay`, which forwards to the engine's candidate
    /// `engine`: the engine's candidates (in the answer and trickled) are rewritten to the
    /// relay's address before the peer sees them, and this viewer trickles no candidate of
    /// its own (unreachable, as behind a NAT), so the engine learns the relay's address from
    /// the viewer's connectivity checks (peer-reflexive). Call before [`Viewer::join`].
    pub fn route_via(&mut self, engine: SocketAddr, relay: SocketAddr) {
        self.route = Some((engine, relay));
    }

    /// `text` (SDP or a candidate) with the engine's candidate address replaced by the relay's.
    fn routed(&self, text: &str) -> String {
        match self.route {
            Some((engine, relay)) => reroute(text, engine, relay),
            None => text.to_owned(),
        }
    }

    /// Sends `join` for `camera` with a fresh offer and waits for the `answer` (an `error`
    /// frame becomes [`ViewerError::Refused`]); applies the answer and trickles this viewer's
    /// candidate. Returns the viewer id.
    pub async fn join(&mut self, camera: &str, limit: Duration) -> Result<String, ViewerError> {
        let mut offer = self.peer.offer();
        if self.route.is_some() {
            offer = without_candidates(&offer); // this viewer's own address is not to be reached directly
        }
        let mut join = serde_json::json!({"type": "join", "camera": camera, "sdpOffer": offer});
        if let Some(token) = &self.token {
            join["token"] = token.clone().into();
        }
        self.ws.send(WsMessage::text(join.to_string())).await?;
        let answer = self.next_frame_of("answer", limit).await?;
        let viewer_id = answer["viewerId"].as_str().unwrap_or_default().to_owned();
        let answer_sdp = self.routed(answer["sdpAnswer"].as_str().unwrap_or_default());
        self.peer.accept(&answer_sdp)?;
        if self.route.is_none() {
            let ice = serde_json::json!({"type": "ice", "candidate": self.peer.candidate_sdp(), "sdpMid": "0", "sdpMLineIndex": 0});
            self.ws.send(WsMessage::text(ice.to_string())).await?;
        }
        self.viewer_id = Some(viewer_id.clone());
        Ok(viewer_id)
    }

    /// Answers a `renegotiate` as a browser does: a new peer connection, a fresh offer, the
    /// same camera (signaling keeps the viewer's id and slot).
    pub async fn rejoin(&mut self, camera: &str, limit: Duration) -> Result<String, ViewerError> {
        self.peer = TestPeer::bind(Codecs::Vp8AndH264).await?;
        self.join(camera, limit).await
    }

    /// Whether signaling asked this viewer to renegotiate since its last join.
    pub fn asked_to_renegotiate(&self) -> bool {
        self.frames
            .iter()
            .rev()
            .take_while(|f| f["type"] != "answer" && f.get("sdpAnswer").is_none())
            .any(|f| f["type"] == "renegotiate")
    }

    /// Reads frames until one of `kind` arrives (earlier `ice` frames are applied).
    async fn next_frame_of(&mut self, kind: &'static str, limit: Duration) -> Result<serde_json::Value, ViewerError> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| ViewerError::Timeout(limit, kind))?;
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
    fn take_frame(
        &mut self,
        item: Option<Result<WsMessage, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<Option<serde_json::Value>, ViewerError> {
        match item {
            None => Err(ViewerError::Closed),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(WsMessage::Text(text))) => {
                let frame: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
                if frame["type"] == "ice" {
                    if let Some(c) = frame["candidate"].as_str().filter(|c| !c.is_empty()) {
                        // A candidate the peer cannot parse is skipped, as a browser skips it.
                        let c = self.routed(c);
                        let _ = self.peer.add_remote_candidate(&c);
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
    pub async fn drive_until(
        &mut self,
        limit: Duration,
        what: &'static str,
        done: impl Fn(&Viewer) -> bool,
    ) -> Result<(), ViewerError> {
        let deadline = Instant::now() + limit;
        loop {
            if done(self) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ViewerError::Timeout(limit, what));
            }
            tokio::select! {
                stepped = self.peer.step(deadline) => stepped?,
                item = self.ws.next() => {
                    if let Some(frame) = self.take_frame(item)? {
                        if frame["type"] == "error" {
                            return Err(refused(&frame));
                        }
                    }
                }
            }
        }
    }

    /// Runs until ICE/DTLS connect and `packets` RTP packets arrived.
    pub async fn wait_for_media(&mut self, packets: usize, limit: Duration) -> Result<(), ViewerError> {
        self.drive_until(limit, "connected with RTP flowing", |v| {
            v.peer.connected() && v.peer.packets().len() >= packets
        })
        .await
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
    ViewerError::Refused {
        code: frame["code"].as_str().unwrap_or_default().to_owned(),
        message: frame["message"].as_str().unwrap_or_default().to_owned(),
    }
}

/// `text` with the candidate address `from` replaced by `to` (SDP `candidate:` syntax:
/// `... <ip> <port> typ <type> ...`).
fn reroute(text: &str, from: SocketAddr, to: SocketAddr) -> String {
    text.replace(&format!(" {} {} typ ", from.ip(), from.port()), &format!(" {} {} typ ", to.ip(), to.port()))
}

/// An SDP without its `a=candidate:` lines.
fn without_candidates(sdp: &str) -> String {
    sdp.split("\r\n").filter(|l| !l.starts_with("a=candidate:")).collect::<Vec<_>>().join("\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_engines_candidate_is_rerouted_to_the_relay() {
        let (engine, relay) = ("127.0.0.1:50000".parse().unwrap(), "127.0.0.1:41000".parse().unwrap());
        let sdp = "a=candidate:1 1 udp 2130706175 127.0.0.1 50000 typ host\r\n\
                   a=candidate:2 1 udp 2130706175 127.0.0.1 50001 typ host\r\na=rtcp:50000 IN IP4 127.0.0.1\r\n";
        assert_eq!(
            reroute(sdp, engine, relay),
            "a=candidate:1 1 udp 2130706175 127.0.0.1 41000 typ host\r\n\
             a=candidate:2 1 udp 2130706175 127.0.0.1 50001 typ host\r\na=rtcp:50000 IN IP4 127.0.0.1\r\n"
        );
    }

    #[test]
    fn an_offer_loses_its_candidates_and_nothing_else() {
        let sdp = "v=0\r\na=candidate:1 1 udp 1 127.0.0.1 5 typ host\r\na=mid:0\r\n";
        assert_eq!(without_candidates(sdp), "v=0\r\na=mid:0\r\n");
    }
}
