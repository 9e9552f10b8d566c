//! A browser-like WebRTC peer for tests: str0m in RTP mode receiving video (VP8, optionally
//! H.264) on one loopback host candidate, recording what arrives.
//!
//! Signaling stays with the caller: the media-engine tests carry SDP over Kurento JSON-RPC,
//! the controller tests over the bus, the system tests over signaling's WebSocket. The peer
//! makes and takes SDP and candidates as strings, and [`TestPeer::step`] can be `select!`ed
//! against the caller's transport.
//!
//! By default the peer only records. [`TestPeer::recover_like_a_browser`] makes it repair
//! loss as a browser does: NACK missing packets when the answer offers `nack` feedback, and
//! ask for a keyframe (PLI) when a picture broke (see [`super::watch`]).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, KeyframeRequestKind, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

use super::watch::{FrameCounts, FrameWatch};

pub use str0m::rtp::RtpPacket;
pub use str0m::RtcError;

/// The video codecs the peer offers or accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codecs {
    /// VP8 only: a browser that H.264-only paths must refuse.
    Vp8,
    /// VP8 and H.264, as browsers have.
    Vp8AndH264,
    /// VP8, H.264 and H.265 (Main), as Safari and Chrome with hardware decoding have.
    Vp8H264AndH265,
}

/// One peer connection on its own loopback UDP socket.
pub struct TestPeer {
    rtc: Rtc,
    sock: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    connected_at: Option<Instant>,
    packets: Vec<RtpPacket>,
    /// The other side's SDP (the answer, or the offer this peer answered).
    remote_sdp: String,
    browser: Option<Browser>,
    /// [`TestPeer::offer`] adds a recvonly audio line too (PCMU, PCMA, Opus).
    offer_audio: bool,
}

/// What a peer recovering like a browser did ([`TestPeer::recovery`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// What the picture did: frames, keyframes, breaks and how long each took to mend.
    pub frames: FrameCounts,
    /// NACK and PLI messages sent (str0m's counts, from its once-a-second stats).
    pub nacks_sent: u64,
    pub plis_sent: u64,
    /// RTP datagrams that arrived on another payload type than the media's: retransmissions.
    pub rtx_received: u64,
    /// Whether the other side's SDP offers `nack` feedback and an RTX payload type for the
    /// media's payload type.
    pub nack_negotiated: bool,
    pub rtx_negotiated: bool,
}

#[derive(Default)]
struct Browser {
    watch: FrameWatch,
    main_pt: Option<u8>,
    /// NACKs switched on for the received stream (str0m sends none without RTX otherwise).
    nack_on: bool,
    figures: Recovery,
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
            .enable_h264(codecs != Codecs::Vp8)
            .enable_h265(codecs == Codecs::Vp8H264AndH265)
            .enable_opus(true, false)
            .enable_pcmu(true, false)
            .enable_pcma(true, false)
            .set_stats_interval(Some(Duration::from_secs(1)))
            .build(Instant::now());
        rtc.add_local_candidate(host_candidate(local));
        Ok(TestPeer {
            rtc,
            sock,
            local,
            pending: None,
            connected_at: None,
            packets: Vec::new(),
            remote_sdp: String::new(),
            browser: None,
            offer_audio: false,
        })
    }

    /// Makes [`TestPeer::offer`] offer a recvonly audio line (Opus, PCMU, PCMA) after the video.
    pub fn also_offer_audio(&mut self) {
        self.offer_audio = true;
    }

    /// A recvonly video offer; [`TestPeer::accept`] takes the answer to it.
    pub fn offer(&mut self) -> String {
        let mut api = self.rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        if self.offer_audio {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
        // Adding a media is a change, so there is always an offer to make.
        let (offer, pending) = api.apply().expect("an offer for the added media");
        self.pending = Some(pending);
        offer.to_sdp_string()
    }

    /// Applies the answer to the last [`TestPeer::offer`]; the error says why it was refused.
    pub fn accept(&mut self, answer: &str) -> Result<(), RtcError> {
        self.remote_sdp = answer.to_owned();
        let answer = SdpAnswer::from_sdp_string(answer)?;
        let pending = self.pending.take().expect("accept follows offer");
        self.rtc.sdp_api().accept_answer(pending, answer)
    }

    /// Answers an offer made by the other side (Kurento's `generateOffer`).
    pub fn answer(&mut self, offer: &str) -> Result<String, RtcError> {
        self.remote_sdp = offer.to_owned();
        let offer = SdpOffer::from_sdp_string(offer)?;
        Ok(self.rtc.sdp_api().accept_offer(offer)?.to_sdp_string())
    }

    /// The address this peer sends from and receives on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
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

    /// From now on, repairs loss as a browser does: NACKs missing packets (when the other
    /// side offered `nack` feedback, even without RTX, as browsers do) and asks for a keyframe
    /// (PLI) when a picture broke, repeating while none comes.
    pub fn recover_like_a_browser(&mut self) {
        self.browser.get_or_insert_with(Browser::default);
    }

    /// What [`TestPeer::recover_like_a_browser`] saw and did; `None` if it was not called.
    pub fn recovery(&self) -> Option<Recovery> {
        let b = self.browser.as_ref()?;
        let mut figures = b.figures.clone();
        figures.frames = b.watch.counts().clone();
        if let Some(pt) = b.main_pt {
            let lines: Vec<&str> = self.remote_sdp.lines().map(str::trim).collect();
            figures.nack_negotiated = lines.contains(&format!("a=rtcp-fb:{pt} nack").as_str());
            figures.rtx_negotiated =
                lines.iter().any(|l| l.starts_with("a=fmtp:") && l.ends_with(&format!("apt={pt}")));
        }
        Some(figures)
    }

    /// Sends what str0m has to send, then waits for one datagram or str0m's next timer (but
    /// not past `deadline`) and processes it, recording `Connected` and RTP packets.
    ///
    /// Safe to cancel in a `select!`: the only wait is for input, and a send cut short is
    /// one lost datagram, which ICE and DTLS retransmit as after loss on a real network.
    pub async fn step(&mut self, deadline: Instant) -> Result<(), RtcError> {
        let mut timer = self.flush().await?;
        if let Some(at) = self.browser.as_ref().and_then(|b| b.watch.next_judgement()) {
            timer = timer.min(at);
        }
        let wait = timer.min(deadline).saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
        let mut buf = [0u8; 2048];
        match tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await {
            Ok(received) => {
                let (n, source) = received?;
                if let Some(b) = &mut self.browser {
                    b.count_retransmission(&buf[..n]);
                }
                let contents = buf[..n].try_into()?;
                let input = Input::Receive(
                    Instant::now(),
                    Receive { proto: Protocol::Udp, source, destination: self.local, contents },
                );
                self.rtc.handle_input(input)?;
            }
            Err(_elapsed) => self.rtc.handle_input(Input::Timeout(Instant::now()))?,
        }
        if self.browser.as_mut().is_some_and(|b| b.watch.poll(Instant::now())) {
            self.request_keyframe();
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
                Output::Event(Event::RtpPacket(p)) => {
                    self.browser_sees(&p);
                    self.packets.push(p);
                }
                Output::Event(Event::MediaIngressStats(s)) => {
                    if let Some(b) = &mut self.browser {
                        (b.figures.nacks_sent, b.figures.plis_sent) = (s.nacks, s.plis);
                    }
                }
                Output::Event(_) => {}
            }
        }
    }
}

impl TestPeer {
    /// Feeds a received packet to the browser behaviour, switching NACKs on for its stream
    /// when the other side offered `nack` feedback.
    fn browser_sees(&mut self, p: &RtpPacket) {
        let Some(b) = &mut self.browser else { return };
        let pt = *p.header.payload_type;
        b.main_pt = Some(pt);
        b.watch.on_packet(p.timestamp, *p.seq_no, p.time.numer(), p.header.marker, &p.payload);
        if !b.nack_on && self.remote_sdp.lines().any(|l| l.trim() == format!("a=rtcp-fb:{pt} nack")) {
            if let Some(rx) = self.rtc.direct_api().stream_rx(&p.header.ssrc) {
                rx.suppress_nack(false);
                b.nack_on = true;
            }
        }
    }
}

impl Browser {
    /// Counts an RTP datagram on another payload type than the media's (the RTP header is in
    /// the clear under SRTP; RTCP is told apart by its packet types 192..=223, RFC 5761).
    fn count_retransmission(&mut self, datagram: &[u8]) {
        let Some(main) = self.main_pt else { return };
        let rtp = datagram.len() >= 12 && datagram[0] >> 6 == 2 && !(192..=223).contains(&datagram[1]);
        if rtp && datagram[1] & 0x7f != main {
            self.figures.rtx_received += 1;
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
