//! A browser-like WebRTC peer for tests: str0m in RTP mode receiving video (VP8, optionally
//! H.264) on one loopback host candidate, recording what arrives.
//!
//! Signaling stays with the caller: the media-engine tests carry SDP over Kurento JSON-RPC,
//! the controller tests over the bus, the system tests over signaling's WebSocket. The peer
//! makes and takes SDP and candidates as strings, and [`TestPeer::step`] can be `select!`ed
//! against the caller's transport.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

pub use str0m::rtp::RtpPacket;
pub use str0m::RtcError;

/// The video codecs the peer offers or accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codecs {
    /// VP8 only: a browser that H.264-only paths must refuse.
    Vp8,
    /// VP8 and H.264, as browsers have.
    Vp8AndH264,
}

/// One peer connection on its own loopback UDP socket.
pub struct TestPeer {
    rtc: Rtc,
    sock: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    connected_at: Option<Instant>,
    packets: Vec<RtpPacket>,
}

impl TestPeer {
    /// A peer with one host candidate on a fresh `127.0.0.1` port.
    pub async fn bind(codecs: Codecs) -> std::io::Result<TestPeer> {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let local = sock.local_addr()?;
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_vp8(true)
            .enable_h264(codecs == Codecs::Vp8AndH264)
            .build(Instant::now());
        rtc.add_local_candidate(host_candidate(local));
        Ok(TestPeer { rtc, sock, local, pending: None, connected_at: None, packets: Vec::new() })
    }

    /// A recvonly video offer; [`TestPeer::accept`] takes the answer to it.
    pub fn offer(&mut self) -> String {
        let mut api = self.rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        // Adding a media is a change, so there is always an offer to make.
        let (offer, pending) = api.apply().expect("an offer for the added media");
        self.pending = Some(pending);
        offer.to_sdp_string()
    }

    /// Applies the answer to the last [`TestPeer::offer`]; the error says why it was refused.
    pub fn accept(&mut self, answer: &str) -> Result<(), RtcError> {
        let answer = SdpAnswer::from_sdp_string(answer)?;
        let pending = self.pending.take().expect("accept follows offer");
        self.rtc.sdp_api().accept_answer(pending, answer)
    }

    /// Answers an offer made by the other side (Kurento's `generateOffer`).
    pub fn answer(&mut self, offer: &str) -> Result<String, RtcError> {
        let offer = SdpOffer::from_sdp_string(offer)?;
        Ok(self.rtc.sdp_api().accept_offer(offer)?.to_sdp_string())
    }

    /// This peer's only candidate, as an SDP `candidate:` attribute value.
    pub fn candidate_sdp(&self) -> String {
        host_candidate(self.local).to_sdp_string()
    }

    /// Adds a candidate the other side trickled (an SDP `candidate:` value).
    pub fn add_remote_candidate(&mut self, candidate: &str) -> Result<(), RtcError> {
        self.rtc.add_remote_candidate(Candidate::from_sdp_string(candidate)?);
        Ok(())
    }

    /// Whether ICE and DTLS are up (str0m's `Connected`).
    pub fn connected(&self) -> bool {
        self.connected_at.is_some()
    }

    /// When ICE and DTLS came up.
    pub fn connected_at(&self) -> Option<Instant> {
        self.connected_at
    }

    /// Every RTP packet received, in order; a packet's `timestamp` is when it arrived.
    pub fn packets(&self) -> &[RtpPacket] {
        &self.packets
    }

    /// Sends a PLI for the received stream, as a browser does after loss; sent by the next
    /// [`TestPeer::step`]. Panics before the first packet: there is no stream to ask yet.
    pub fn request_keyframe(&mut self) {
        let ssrc = self.packets.last().expect("a packet was received").header.ssrc;
        if let Some(rx) = self.rtc.direct_api().stream_rx(&ssrc) {
            rx.request_keyframe(KeyframeRequestKind::Pli);
        }
    }

    /// Sends what str0m has to send, then waits for one datagram or str0m's next timer (but
    /// not past `deadline`) and processes it, recording `Connected` and RTP packets.
    ///
    /// Safe to cancel in a `select!`: the only wait is for input, and a send cut short is
    /// one lost datagram, which ICE and DTLS retransmit as after loss on a real network.
    pub async fn step(&mut self, deadline: Instant) -> Result<(), RtcError> {
        let timer = self.flush().await?;
        let wait = timer.min(deadline).saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let mut buf = [0u8; 2048];
        match tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await {
            Ok(received) => {
                let (n, source) = received?;
                let contents = buf[..n].try_into()?;
                let input = Input::Receive(
                    Instant::now(),
                    Receive { proto: Protocol::Udp, source, destination: self.local, contents },
                );
                self.rtc.handle_input(input)?;
            }
            Err(_elapsed) => self.rtc.handle_input(Input::Timeout(Instant::now()))?,
        }
        self.flush().await?;
        Ok(())
    }

    /// Steps until `done` holds (true) or `limit` passes (false), for callers with no
    /// transport of their own to watch. Panics on a str0m error: the test fails anyway.
    pub async fn drive_until(&mut self, limit: Duration, done: impl Fn(&TestPeer) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.step(deadline).await.expect("str0m takes the other side's datagrams");
        }
    }

    /// Sends str0m's datagrams and records its events; returns when str0m next wants time.
    async fn flush(&mut self) -> Result<Instant, RtcError> {
        loop {
            match self.rtc.poll_output()? {
                Output::Timeout(t) => return Ok(t),
                Output::Transmit(t) => {
                    // A failed send is a lost datagram: ICE and DTLS retransmit.
                    let _ = self.sock.send_to(&t.contents, t.destination).await;
                }
                Output::Event(Event::Connected) => self.connected_at = Some(Instant::now()),
                Output::Event(Event::RtpPacket(p)) => self.packets.push(p),
                Output::Event(_) => {}
            }
        }
    }
}

fn host_candidate(local: SocketAddr) -> Candidate {
    // A bound loopback address with a port is always a valid host candidate.
    Candidate::host(local, "udp").expect("a host candidate for a bound loopback address")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_peers_negotiate_trickle_candidates_and_connect_over_loopback() {
        let mut viewer = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
        let mut server = TestPeer::bind(Codecs::Vp8).await.unwrap();
        let offer = viewer.offer();
        assert!(offer.contains("a=recvonly") && offer.contains("H264/90000"), "{offer}");
        let answer = server.answer(&offer).unwrap();
        assert!(answer.contains("VP8/90000") && !answer.contains("H264"), "{answer}");
        viewer.accept(&answer).unwrap();
        viewer.add_remote_candidate(&server.candidate_sdp()).unwrap();
        server.add_remote_candidate(&viewer.candidate_sdp()).unwrap();

        let limit = Duration::from_secs(10);
        let (v, s) = tokio::join!(
            viewer.drive_until(limit, TestPeer::connected),
            server.drive_until(limit, TestPeer::connected)
        );
        assert!(v && s, "viewer connected: {v}, server connected: {s}");
        assert!(viewer.packets().is_empty(), "nobody sends media");
    }

    #[tokio::test]
    async fn a_garbled_answer_or_candidate_is_an_error_not_a_panic() {
        let mut viewer = TestPeer::bind(Codecs::Vp8).await.unwrap();
        viewer.offer();
        assert!(viewer.accept("not an sdp").is_err());
        assert!(viewer.add_remote_candidate("candidate:nonsense").is_err());
    }
}
