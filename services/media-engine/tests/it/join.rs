//! The join: from the viewer's offer to its first video packet. A str0m viewer that watches its
//! own DTLS handshake proves the engine answers the first ClientHello (no retransmission needed),
//! and prints how long the join took.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::json;
use str0m::change::SdpPendingOffer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;

use crate::helpers::*;
use crate::media::{pipeline_with_camera, run_camera};

/// A receive-only str0m viewer that records the DTLS ClientHellos it sends.
pub(crate) struct HandshakeWatcher {
    rtc: Rtc,
    pub(crate) sock: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    /// `message_seq` of every ClientHello record sent, in order (a repeat is a retransmission).
    client_hellos: Vec<u16>,
    connected_at: Option<Instant>,
    pub(crate) first_packet_at: Option<Instant>,
}

/// The handshake `message_seq` of a datagram starting with a DTLS ClientHello record.
fn client_hello_seq(d: &[u8]) -> Option<u16> {
    // Record: type(1) version(2) epoch(2) seq(6) length(2); handshake: type(1) length(3) message_seq(2).
    (d.len() >= 19 && d[0] == 22 && d[13] == 1).then(|| u16::from_be_bytes([d[17], d[18]]))
}

impl HandshakeWatcher {
    pub(crate) async fn bind() -> Self {
        let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let local = sock.local_addr().unwrap();
        let mut rtc = Rtc::builder().set_rtp_mode(true).clear_codecs().enable_h264(true).build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        HandshakeWatcher {
            rtc,
            sock,
            local,
            pending: None,
            client_hellos: vec![],
            connected_at: None,
            first_packet_at: None,
        }
    }

    pub(crate) fn offer(&mut self) -> String {
        let mut api = self.rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().unwrap();
        self.pending = Some(pending);
        offer.to_sdp_string()
    }

    pub(crate) fn accept(&mut self, answer: &str) {
        let answer = str0m::change::SdpAnswer::from_sdp_string(answer).unwrap();
        self.rtc.sdp_api().accept_answer(self.pending.take().unwrap(), answer).unwrap();
    }

    async fn flush(&mut self) -> Instant {
        loop {
            match self.rtc.poll_output().unwrap() {
                Output::Timeout(t) => return t,
                Output::Transmit(t) => {
                    if let Some(seq) = client_hello_seq(&t.contents) {
                        self.client_hellos.push(seq);
                    }
                    let _ = self.sock.send_to(&t.contents, t.destination).await;
                }
                Output::Event(Event::Connected) => self.connected_at = Some(Instant::now()),
                Output::Event(Event::RtpPacket(_)) => {
                    self.first_packet_at.get_or_insert_with(Instant::now);
                }
                Output::Event(_) => {}
            }
        }
    }

    /// Runs the peer until the first RTP packet arrives or `limit` passes.
    pub(crate) async fn run_until_first_packet(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut buf = [0u8; 2048];
        while self.first_packet_at.is_none() && Instant::now() < deadline {
            let timer = self.flush().await;
            let wait = timer.min(deadline).saturating_duration_since(Instant::now()).max(Duration::from_millis(1));
            match tokio::time::timeout(wait, self.sock.recv_from(&mut buf)).await {
                Ok(r) => {
                    let (n, source) = r.unwrap();
                    let contents = buf[..n].try_into().unwrap();
                    self.rtc
                        .handle_input(Input::Receive(
                            Instant::now(),
                            Receive { proto: Protocol::Udp, source, destination: self.local, contents },
                        ))
                        .unwrap();
                }
                Err(_) => self.rtc.handle_input(Input::Timeout(Instant::now())).unwrap(),
            }
            self.flush().await;
        }
    }
}

/// A watcher joins `rtp`'s stream as a new WebRtcEndpoint and plays; returns it, the endpoint
/// and the engine's answer.
pub(crate) async fn watcher_joins(c: &mut Client, pipe: &str, rtp: &str) -> (HandshakeWatcher, String, String) {
    let mut v = HandshakeWatcher::bind().await;
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    c.subscribe(&web, "IceCandidateFound").await;
    c.invoke(rtp, "connect", json!({"sink": web, "mediaType": "VIDEO"})).await;
    let offer = v.offer();
    let answer = c.invoke(&web, "processOffer", json!({"offer": offer})).await.as_str().unwrap().to_string();
    v.accept(&answer);
    c.invoke(&web, "addIceCandidate", json!({"candidate": {"candidate": Candidate::host(v.local, "udp").unwrap().to_sdp_string(), "sdpMid": "0", "sdpMLineIndex": 0}})).await;
    c.invoke(&web, "gatherCandidates", json!({})).await;
    let cand = c.event_where("IceCandidateFound", |e| e["object"] == json!(web)).await;
    v.rtc.add_remote_candidate(
        Candidate::from_sdp_string(cand["data"]["candidate"]["candidate"].as_str().unwrap()).unwrap(),
    );
    v.run_until_first_packet(WAIT).await;
    assert!(v.first_packet_at.is_some(), "the watcher plays");
    (v, web, answer)
}

#[tokio::test]
async fn the_viewers_first_dtls_client_hello_is_answered_without_a_retransmission() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.gop = 10;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let (stop, camera) = run_camera(cam);
    let mut joins = vec![];
    for _ in 0..5 {
        let mut v = HandshakeWatcher::bind().await;
        let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
        c.subscribe(&web, "IceCandidateFound").await;
        c.invoke(&rtp, "connect", json!({"sink": web, "mediaType": "VIDEO"})).await;
        let offered = Instant::now();
        let offer = v.offer();
        let answer = c.invoke(&web, "processOffer", json!({"offer": offer})).await;
        let answered = Instant::now();
        v.accept(answer.as_str().unwrap());
        // The browser's order: its own candidates go out as soon as it has them, the server's
        // arrive after gatherCandidates.
        c.invoke(&web, "addIceCandidate", json!({"candidate": {"candidate": Candidate::host(v.local, "udp").unwrap().to_sdp_string(), "sdpMid": "0", "sdpMLineIndex": 0}})).await;
        c.invoke(&web, "gatherCandidates", json!({})).await;
        let cand = c.event_where("IceCandidateFound", |e| e["object"] == json!(web)).await;
        v.rtc.add_remote_candidate(
            Candidate::from_sdp_string(cand["data"]["candidate"]["candidate"].as_str().unwrap()).unwrap(),
        );
        v.run_until_first_packet(WAIT).await;
        let first = v.first_packet_at.expect("video arrives");
        assert!(!v.client_hellos.is_empty(), "the viewer is the DTLS client (the engine answers actpass with passive)");
        let mut seqs = v.client_hellos.clone();
        seqs.dedup();
        assert_eq!(
            seqs.len(),
            v.client_hellos.len(),
            "a ClientHello was retransmitted (message_seq {:?}): the engine did not answer the first",
            v.client_hellos
        );
        joins.push((answered - offered, v.connected_at.unwrap() - answered, first - answered));
    }
    for (i, (answer, dtls, first)) in joins.iter().enumerate() {
        println!("join {i}: offer->answer {answer:?}, answer->connected {dtls:?}, answer->first RTP packet {first:?}");
    }
    let stats = engine.stats();
    assert_eq!(
        (stats.webrtc_unknown_in, stats.webrtc_refused_in),
        (0, 0),
        "every datagram of the joins reached its viewer and was taken"
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    camera.await.unwrap();
}
