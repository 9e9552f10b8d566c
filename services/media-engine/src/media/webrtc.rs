//! WebRtcEndpoints: one str0m `Rtc` (RTP mode) per viewer, sockets shared through `WebRtcMux`.
//!
//! Invariants: a viewer's `Rtc` is only touched under its `inner` lock; every output of the
//! `Rtc` is drained right after each input, so transmits and timeouts are never stale. Packets
//! from unknown peers are counted and dropped, never panicking.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use str0m::format::Codec;
use str0m::media::{MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::packet::RtpPacket;
use super::rtp_source::RtpSource;
use super::{ports, MediaCounters};
use crate::config::{Config, WebRtcPorts};
use crate::events::EventTx;
use crate::sdp::VideoCodec;

mod offer;
pub use offer::AnswerError;

/// Shares WebRTC UDP sockets between viewers and routes datagrams to them.
pub struct WebRtcMux {
    cfg: Arc<Config>,
    shared: std::sync::OnceLock<Vec<Arc<UdpSocket>>>,
    by_ufrag: Mutex<HashMap<String, Weak<Viewer>>>,
    by_addr: Mutex<HashMap<(SocketAddr, SocketAddr), Weak<Viewer>>>,
    counters: Arc<MediaCounters>,
    cancel: CancellationToken,
}

impl WebRtcMux {
    /// Binds the shared sockets (shared mode) and starts their readers.
    pub fn start(cfg: Arc<Config>, counters: Arc<MediaCounters>, cancel: CancellationToken) -> std::io::Result<Arc<Self>> {
        let mut shared = vec![];
        if let WebRtcPorts::Shared(port) = cfg.webrtc_ports {
            let mut port = port;
            for ip in &cfg.webrtc_ips {
                let s = std::net::UdpSocket::bind(SocketAddr::new(*ip, port))
                    .map_err(|e| std::io::Error::new(e.kind(), format!("ENGINE_WEBRTC_PORT: cannot bind {ip}:{port}: {e}")))?;
                port = s.local_addr()?.port();
                shared.push(s);
            }
        }
        let mux = Arc::new(WebRtcMux {
            cfg,
            shared: std::sync::OnceLock::new(),
            by_ufrag: Mutex::new(HashMap::new()),
            by_addr: Mutex::new(HashMap::new()),
            counters,
            cancel,
        });
        let mut socks = vec![];
        for s in shared {
            socks.push(mux.spawn_reader(s, mux.cancel.clone())?);
        }
        let _ = mux.shared.set(socks);
        Ok(mux)
    }

    /// Local addresses of the shared sockets (empty in range mode).
    pub fn shared_addrs(&self) -> Vec<SocketAddr> {
        self.shared.get().into_iter().flatten().filter_map(|s| s.local_addr().ok()).collect()
    }

    /// Starts a reader task for `s` that routes every datagram; it ends with `cancel`.
    fn spawn_reader(self: &Arc<Self>, s: std::net::UdpSocket, cancel: CancellationToken) -> std::io::Result<Arc<UdpSocket>> {
        s.set_nonblocking(true)?;
        let sock = Arc::new(UdpSocket::from_std(s)?);
        let local = sock.local_addr()?;
        let weak = Arc::downgrade(self);
        let reader = sock.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => break,
                    r = reader.recv_from(&mut buf) => {
                        let Ok((n, remote)) = r else { continue };
                        match weak.upgrade() {
                            Some(mux) => mux.route(local, remote, &buf[..n]),
                            None => break,
                        }
                    }
                }
            }
        });
        Ok(sock)
    }

    /// Sockets for a new viewer: the shared ones, or a fresh port from the range.
    fn sockets_for_viewer(self: &Arc<Self>, viewer_cancel: &CancellationToken) -> std::io::Result<Vec<Arc<UdpSocket>>> {
        match self.cfg.webrtc_ports {
            WebRtcPorts::Shared(_) => Ok(self.shared.get().cloned().unwrap_or_default()),
            WebRtcPorts::Range => ports::bind_any_in_range(&self.cfg.webrtc_ips, self.cfg.min_port, self.cfg.max_port)?
                .into_iter()
                .map(|s| self.spawn_reader(s, viewer_cancel.clone()))
                .collect(),
        }
    }

    fn route(&self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        MediaCounters::add(&self.counters.webrtc_packets_in, 1);
        let viewer = match stun_local_ufrag(data) {
            Some(ufrag) => {
                let v = self.by_ufrag.lock().expect("ufrag map lock").get(ufrag).cloned();
                if let Some(v) = &v {
                    self.by_addr.lock().expect("addr map lock").insert((local, remote), v.clone());
                }
                v
            }
            None => self.by_addr.lock().expect("addr map lock").get(&(local, remote)).cloned(),
        };
        match viewer.and_then(|w| w.upgrade()) {
            Some(v) => v.receive(local, remote, data),
            None => MediaCounters::add(&self.counters.webrtc_unknown_in, 1),
        }
    }

    fn register(&self, ufrag: String, v: &Arc<Viewer>) {
        self.by_ufrag.lock().expect("ufrag map lock").insert(ufrag, Arc::downgrade(v));
    }

    fn unregister(&self, v: &Viewer) {
        self.by_ufrag.lock().expect("ufrag map lock").retain(|_, w| w.upgrade().is_some_and(|x| x.id != v.id));
        self.by_addr.lock().expect("addr map lock").retain(|_, w| w.upgrade().is_some_and(|x| x.id != v.id));
    }
}

/// The local ufrag of a STUN message's USERNAME ("local:remote"), if `d` is one.
pub fn stun_local_ufrag(d: &[u8]) -> Option<&str> {
    if d.len() < 20 || d[0] & 0xc0 != 0 || d[4..8] != [0x21, 0x12, 0xa4, 0x42] {
        return None;
    }
    let len = u16::from_be_bytes([d[2], d[3]]) as usize;
    let body = d.get(20..20 + len)?;
    let mut off = 0;
    while off + 4 <= body.len() {
        let ty = u16::from_be_bytes([body[off], body[off + 1]]);
        let alen = u16::from_be_bytes([body[off + 2], body[off + 3]]) as usize;
        let val = body.get(off + 4..off + 4 + alen)?;
        if ty == 0x0006 {
            let user = std::str::from_utf8(val).ok()?;
            return user.split(':').next();
        }
        off += 4 + alen.div_ceil(4) * 4;
    }
    None
}

/// Datagrams held while str0m does not accept them yet (see `Viewer::receive`), at most.
const MAX_EARLY: usize = 4;
/// How long a held datagram may wait for str0m to accept it.
const EARLY_TTL: Duration = Duration::from_secs(2);

/// A datagram str0m refused when it arrived; fed again after the next accepted one.
struct Early {
    at: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    data: Vec<u8>,
}

enum Fed {
    Handled,
    Refused,
    Invalid,
}

/// Gives one datagram to the viewer's `Rtc` if str0m accepts it.
fn feed(g: &mut Inner, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]) -> Fed {
    let Some(rtc) = g.rtc.as_mut() else { return Fed::Invalid };
    let Ok(contents) = data.try_into() else { return Fed::Invalid };
    let input = Input::Receive(now, Receive { proto: Protocol::Udp, source: remote, destination: local, contents });
    if !rtc.accepts(&input) {
        return Fed::Refused;
    }
    if rtc.handle_input(input).is_err() {
        return Fed::Invalid;
    }
    g.remote_addr = Some(remote);
    Fed::Handled
}

/// Outgoing counters of one viewer.
#[derive(Debug, Default)]
pub struct ViewerStats {
    pub packets_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub fast_start_packets: AtomicU64,
    pub plis_received: AtomicU64,
    pub firs_received: AtomicU64,
    pub dropped_before_start: AtomicU64,
}

/// Why `process_offer` failed, as a Kurento error.
#[derive(Debug)]
pub enum OfferError {
    Parse(String),
    Process(String),
    AlreadyNegotiated,
}

struct Tx {
    ssrc: Ssrc,
    pt: str0m::format::PayloadParams,
    codec: VideoCodec,
}

struct Inner {
    rtc: Option<Rtc>,
    local_sdp: Option<String>,
    remote_sdp: Option<String>,
    mid: String,
    /// Host candidates of our sockets, plus a server-reflexive one per announced public IP.
    candidates: Vec<Candidate>,
    /// The first video codec of our answer (str0m reports the media itself only later).
    answer_codec: Option<VideoCodec>,
    gather_requested: bool,
    gathered: bool,
    pending_remote: Vec<Candidate>,
    tx: Option<Tx>,
    connected: bool,
    ice_state: &'static str,
    started: bool,
    seq: u64,
    ts_offset: u32,
    flow_in: bool,
    flow_out: bool,
    next_timeout: Instant,
    remote_addr: Option<SocketAddr>,
    pair_selected: bool,
    source: Option<Weak<RtpSource>>,
    /// `generateOffer` ran: the offer waiting for its answer (taken by `processAnswer`).
    offer_generated: bool,
    pending_offer: Option<str0m::change::SdpPendingOffer>,
    early: Vec<Early>,
}

pub struct Viewer {
    pub id: String,
    inner: Mutex<Inner>,
    sockets: Vec<Arc<UdpSocket>>,
    mux: Arc<WebRtcMux>,
    events: EventTx,
    wake: Notify,
    cancel: CancellationToken,
    pub stats: ViewerStats,
}

impl Viewer {
    /// A viewer with its sockets and candidates; the `Rtc` is built when the offer arrives.
    pub fn new(id: String, mux: &Arc<WebRtcMux>, events: EventTx) -> std::io::Result<Arc<Self>> {
        let cancel = mux.cancel.child_token();
        let sockets = mux.sockets_for_viewer(&cancel)?;
        let rand_seq: u16 = rand::random();
        Ok(Arc::new(Viewer {
            id,
            inner: Mutex::new(Inner {
                rtc: None,
                local_sdp: None,
                remote_sdp: None,
                mid: "0".into(),
                candidates: vec![],
                answer_codec: None,
                gather_requested: false,
                gathered: false,
                pending_remote: vec![],
                tx: None,
                connected: false,
                ice_state: "DISCONNECTED",
                started: false,
                seq: rand_seq as u64,
                ts_offset: rand::random(),
                flow_in: false,
                flow_out: false,
                next_timeout: Instant::now() + Duration::from_secs(3600),
                remote_addr: None,
                pair_selected: false,
                source: None,
                offer_generated: false,
                pending_offer: None,
                early: vec![],
            }),
            sockets,
            mux: mux.clone(),
            events,
            wake: Notify::new(),
            cancel,
            stats: ViewerStats::default(),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("viewer lock poisoned only by a panic")
    }

    pub fn set_source(&self, source: Option<&Arc<RtpSource>>) {
        let mut g = self.lock();
        g.source = source.map(Arc::downgrade);
        g.started = false;
        g.flow_in = false;
    }

    pub fn local_sdp(&self) -> Option<String> {
        self.lock().local_sdp.clone()
    }

    pub fn remote_sdp(&self) -> Option<String> {
        self.lock().remote_sdp.clone()
    }

    pub fn is_connected(&self) -> bool {
        self.lock().connected
    }

    pub fn ice_state(&self) -> &'static str {
        self.lock().ice_state
    }

    pub fn flow_in(&self) -> bool {
        self.lock().flow_in
    }

    pub fn flow_out(&self) -> bool {
        self.lock().flow_out
    }

    pub fn ssrc(&self) -> Option<u32> {
        self.lock().tx.as_ref().map(|t| *t.ssrc)
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.sockets.iter().filter_map(|s| s.local_addr().ok()).collect()
    }

    fn candidates(&self, announced_ipv4: Option<IpAddr>) -> Vec<Candidate> {
        let mut out = vec![];
        for addr in self.local_addrs() {
            if let Ok(c) = Candidate::host(addr, "udp") {
                out.push(c);
            }
            if let Some(ext) = announced_ipv4.filter(|ip| ip.is_ipv4() && addr.is_ipv4() && *ip != addr.ip()) {
                if let Ok(c) = Candidate::server_reflexive(SocketAddr::new(ext, addr.port()), addr, "udp") {
                    out.push(c);
                }
            }
        }
        out
    }

    /// `gatherCandidates`: candidates are known up front; they are announced now, or right
    /// after the offer when it has not arrived yet.
    pub fn gather_candidates(&self) {
        let mut g = self.lock();
        if g.gather_requested {
            return;
        }
        g.gather_requested = true;
        if g.rtc.is_some() {
            self.emit_candidates(&mut g);
        }
    }

    fn emit_candidates(&self, g: &mut Inner) {
        g.gathered = true;
        self.events.emit(&self.id, "IceComponentStateChanged", json!({"streamId": 1, "componentId": 1, "state": "GATHERING"}));
        for c in &g.candidates {
            self.events.emit(&self.id, "IceCandidateFound", json!({"candidate": ice_candidate_json(&c.to_sdp_string(), &g.mid)}));
        }
        self.events.emit(&self.id, "IceGatheringDone", json!({}));
    }

    /// `addIceCandidate`; an empty candidate (end of candidates) is ignored.
    pub fn add_ice_candidate(&self, candidate: &str) -> Result<(), String> {
        let s = candidate.trim();
        if s.is_empty() {
            return Ok(());
        }
        let s = s.strip_prefix("a=").unwrap_or(s);
        let c = Candidate::from_sdp_string(s).map_err(|e| e.to_string())?;
        let mut g = self.lock();
        // Before the answer of a generated offer arrives, remote candidates wait with the rest.
        let waiting_for_answer = g.pending_offer.is_some();
        match g.rtc.as_mut() {
            Some(rtc) if !waiting_for_answer => {
                rtc.add_remote_candidate(c);
                self.drain(&mut g);
            }
            _ => g.pending_remote.push(c),
        }
        Ok(())
    }

    /// The codec negotiated with the browser, once known.
    pub fn negotiated_codec(&self) -> Option<VideoCodec> {
        let g = self.lock();
        g.tx.as_ref().map(|t| t.codec).or(g.answer_codec)
    }

    fn receive(&self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        let mut g = self.lock();
        let now = Instant::now();
        match feed(&mut g, now, local, remote, data) {
            Fed::Handled => {}
            Fed::Refused => {
                // The peer's DTLS ClientHello comes right after the answer to its STUN check,
                // before this side's own (triggered) check of that address has succeeded: str0m
                // refuses it until then. Dropping it costs the peer's 1 s retransmission timer,
                // so it waits here (routed by the peer's STUN, bounded) until str0m takes it.
                if g.early.len() < MAX_EARLY {
                    g.early.push(Early { at: now, local, remote, data: data.to_vec() });
                } else {
                    MediaCounters::add(&self.mux.counters.webrtc_refused_in, 1);
                }
                return;
            }
            Fed::Invalid => return,
        }
        self.replay_early(&mut g, now);
        self.drain(&mut g);
    }

    /// Feeds the held datagrams str0m accepts now; drops those held too long.
    fn replay_early(&self, g: &mut Inner, now: Instant) {
        if g.early.is_empty() {
            return;
        }
        for e in std::mem::take(&mut g.early) {
            match feed(g, now, e.local, e.remote, &e.data) {
                Fed::Refused if now.duration_since(e.at) < EARLY_TTL => g.early.push(e),
                Fed::Refused => MediaCounters::add(&self.mux.counters.webrtc_refused_in, 1),
                _ => {}
            }
        }
    }

    async fn timer_loop(self: Arc<Self>) {
        loop {
            let next = self.lock().next_timeout;
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(next.into()) => {
                    let mut g = self.lock();
                    let now = Instant::now();
                    g.next_timeout = now + Duration::from_secs(3600);
                    if let Some(rtc) = g.rtc.as_mut() {
                        if !rtc.is_alive() {
                            break;
                        }
                        let _ = rtc.handle_input(Input::Timeout(now));
                        self.replay_early(&mut g, now);
                        self.drain(&mut g);
                    }
                }
            }
        }
    }

    /// Drains every output of the `Rtc`: transmits go out, events are handled, the next
    /// timeout is scheduled.
    fn drain(&self, g: &mut Inner) {
        loop {
            let Some(rtc) = g.rtc.as_mut() else { return };
            let out = match rtc.poll_output() {
                Ok(o) => o,
                Err(e) => {
                    tracing::debug!(viewer = %self.id, error = %e, "rtc poll failed");
                    return;
                }
            };
            match out {
                Output::Timeout(t) => {
                    if t < g.next_timeout {
                        g.next_timeout = t;
                        self.wake.notify_one();
                    }
                    return;
                }
                Output::Transmit(t) => {
                    if let Some(s) = self.sockets.iter().find(|s| s.local_addr().is_ok_and(|a| a == t.source)) {
                        let _ = s.try_send_to(&t.contents, t.destination);
                    }
                }
                Output::Event(e) => self.on_event(g, e),
            }
        }
    }

    fn on_event(&self, g: &mut Inner, e: Event) {
        match e {
            Event::IceConnectionStateChange(s) => {
                let state = match s {
                    IceConnectionState::New => return,
                    IceConnectionState::Checking => "CONNECTING",
                    IceConnectionState::Connected => "CONNECTED",
                    IceConnectionState::Completed => "READY",
                    IceConnectionState::Disconnected => "DISCONNECTED",
                };
                let ice = |state: &str| json!({"streamId": 1, "componentId": 1, "state": state});
                if matches!(state, "CONNECTED" | "READY") && !g.pair_selected {
                    // str0m may go from checking straight to completed; Kurento always reports
                    // the selected pair and CONNECTED before READY.
                    g.pair_selected = true;
                    let local = g.candidates.first().map(|c| c.to_sdp_string()).unwrap_or_default();
                    let remote = g.remote_addr.map(|a| format!("candidate:1 1 UDP 1 {} {} typ prflx", a.ip(), a.port())).unwrap_or_default();
                    self.events.emit(
                        &self.id,
                        "NewCandidatePairSelected",
                        json!({"candidatePair": {"__module__": "kurento", "__type__": "IceCandidatePair", "streamId": "1", "componentId": 1, "localCandidate": local, "remoteCandidate": remote}}),
                    );
                    if state == "READY" {
                        self.events.emit(&self.id, "IceComponentStateChanged", ice("CONNECTED"));
                    }
                }
                g.ice_state = state;
                self.events.emit(&self.id, "IceComponentStateChanged", ice(state));
                if state == "DISCONNECTED" && g.connected {
                    g.connected = false;
                    self.events.state_change(&self.id, "MediaStateChanged", false);
                    self.events.state_change(&self.id, "ConnectionStateChanged", false);
                }
            }
            Event::Connected => {
                g.connected = true;
                self.events.state_change(&self.id, "ConnectionStateChanged", true);
                self.events.state_change(&self.id, "MediaStateChanged", true);
                if let Some(src) = g.source.as_ref().and_then(Weak::upgrade) {
                    if src.cache.lock().expect("cache lock").is_empty() {
                        src.request_keyframe();
                    }
                }
            }
            Event::MediaAdded(m) if m.kind == MediaKind::Video && g.tx.is_none() => setup_tx(g, m.mid),
            Event::KeyframeRequest(k) => {
                match k.kind {
                    str0m::media::KeyframeRequestKind::Pli => self.stats.plis_received.fetch_add(1, Ordering::Relaxed),
                    str0m::media::KeyframeRequestKind::Fir => self.stats.firs_received.fetch_add(1, Ordering::Relaxed),
                };
                if let Some(src) = g.source.as_ref().and_then(Weak::upgrade) {
                    src.request_keyframe();
                }
            }
            _ => {}
        }
    }

    /// A packet of the connected stream. `appended`: the packet is the newest of the source's
    /// fast-start cache, so a snapshot taken now already holds it.
    pub fn on_rtp(&self, pkt: &RtpPacket, appended: bool, source: &RtpSource) {
        let mut g = self.lock();
        if !g.connected {
            return;
        }
        let Some(codec) = g.tx.as_ref().map(|t| t.codec) else { return };
        if codec != source.codec() {
            return;
        }
        if !g.flow_in {
            g.flow_in = true;
            self.events.flow(&self.id, "MediaFlowInStateChanged", true);
        }
        if !g.started {
            let (snapshot, truncated) = {
                let c = source.cache.lock().expect("cache lock");
                (c.snapshot(), c.truncated())
            };
            if snapshot.is_empty() {
                self.stats.dropped_before_start.fetch_add(1, Ordering::Relaxed);
                source.request_keyframe();
                return;
            }
            if truncated {
                source.request_keyframe();
            }
            g.started = true;
            self.stats.fast_start_packets.fetch_add(snapshot.len() as u64, Ordering::Relaxed);
            for c in &snapshot {
                self.write(&mut g, &c.pkt, c.ts_override);
            }
            if !appended {
                self.write(&mut g, pkt, None);
            }
        } else {
            self.write(&mut g, pkt, None);
        }
        if !g.flow_out {
            g.flow_out = true;
            self.events.flow(&self.id, "MediaFlowOutStateChanged", true);
        }
        self.drain(&mut g);
    }

    fn write(&self, g: &mut Inner, pkt: &RtpPacket, ts_override: Option<u32>) {
        g.seq += 1;
        let seq = g.seq;
        let ts = ts_override.unwrap_or(pkt.ts).wrapping_add(g.ts_offset);
        let (Some(rtc), Some(tx)) = (g.rtc.as_mut(), g.tx.as_ref()) else { return };
        let mut api = rtc.direct_api();
        let Some(stream) = api.stream_tx(&tx.ssrc) else { return };
        stream.write_rtp(RtpWrite::new(tx.pt.pt(), seq.into(), ts, Instant::now(), pkt.payload.clone()).marker(pkt.marker).nackable(true));
        self.stats.packets_sent.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes_sent.fetch_add(pkt.payload.len() as u64, Ordering::Relaxed);
        MediaCounters::add(&self.mux.counters.rtp_packets_out, 1);
        MediaCounters::add(&self.mux.counters.rtp_bytes_out, pkt.payload.len() as u64);
    }

    /// The source went silent: report flow stopped.
    pub fn on_source_silent(&self) {
        let mut g = self.lock();
        if g.flow_in {
            g.flow_in = false;
            self.events.flow(&self.id, "MediaFlowInStateChanged", false);
        }
        if g.flow_out {
            g.flow_out = false;
            self.events.flow(&self.id, "MediaFlowOutStateChanged", false);
        }
    }

    /// Asks the source for a keyframe (`requestKeyframe`).
    pub fn request_keyframe(&self) -> bool {
        let src = self.lock().source.as_ref().and_then(Weak::upgrade);
        match src {
            Some(s) => {
                s.request_keyframe();
                true
            }
            None => false,
        }
    }

    pub fn stop(&self) {
        self.cancel.cancel();
        self.mux.unregister(self);
        let mut g = self.lock();
        if let Some(rtc) = g.rtc.as_mut() {
            rtc.disconnect();
        }
        self.drain(&mut g);
    }
}

/// Chooses the payload type (the first H.264/VP8 one both sides have) and the SSRC this viewer
/// sends with on `mid`, once the remote description is known.
fn setup_tx(g: &mut Inner, mid: Mid) {
    let Some(rtc) = g.rtc.as_mut() else { return };
    let remote: Vec<_> = rtc.media(mid).map(|x| x.remote_pts().to_vec()).unwrap_or_default();
    let pick = |codec: Codec| rtc.codec_config().params().iter().find(|p| remote.contains(&p.pt()) && p.spec().codec == codec).cloned();
    let chosen = pick(Codec::H264).map(|p| (p, VideoCodec::H264)).or_else(|| pick(Codec::Vp8).map(|p| (p, VideoCodec::Vp8)));
    let Some((pt, codec)) = chosen else { return };
    let mut api = rtc.direct_api();
    let ssrc = match api.stream_tx_by_mid(mid, None).map(|s| s.ssrc()) {
        Some(s) => s,
        None => {
            let s: Ssrc = rand::random::<u32>().into();
            api.declare_stream_tx(s, None, mid, None);
            s
        }
    };
    g.tx = Some(Tx { ssrc, pt, codec });
}

/// Kurento's `IceCandidate` complex value.
pub fn ice_candidate_json(candidate: &str, mid: &str) -> Value {
    json!({"__module__": "kurento", "__type__": "IceCandidate", "candidate": candidate, "sdpMid": mid, "sdpMLineIndex": 0})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stun_usernames_name_the_local_ufrag() {
        let mut m = vec![0x00, 0x01, 0, 12, 0x21, 0x12, 0xa4, 0x42];
        m.extend_from_slice(&[0; 12]);
        m.extend_from_slice(&[0x00, 0x06, 0, 7]);
        m.extend_from_slice(b"abc:xyz\0");
        assert_eq!(stun_local_ufrag(&m), Some("abc"));
        assert_eq!(stun_local_ufrag(&m[..22]), None, "truncated");
        assert_eq!(stun_local_ufrag(b"\x80\x60hello world, not stun at all"), None);
    }
}
