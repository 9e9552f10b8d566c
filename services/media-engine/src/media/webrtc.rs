//! WebRtcEndpoints as the RPC side sees them: negotiation (the str0m `Rtc` is built here, then
//! handed to its worker, see `media::worker`), the state getters read (atomics the worker
//! writes), candidates and events. Datagrams reach the worker through `WebRtcMux`.
//!
//! Invariants: once handed over, a viewer's `Rtc` is only touched by its worker; the
//! negotiation lock is RPC-side only, never taken on the packet path.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};

use str0m::format::{Codec, PayloadParams};
use str0m::media::Mid;
use str0m::rtp::Ssrc;
use str0m::{Candidate, Rtc};
use tokio_util::sync::CancellationToken;

use super::rtp_source::RtpSource;
use super::worker::peer::NewPeer;
use super::worker::{Cmd, Overloaded};
use crate::events::{EventTx, IceComponentState, MediaEvent};
use crate::sdp::VideoCodec;
use crate::supervise::lock;

mod offer;
mod router;
pub use offer::{AnswerError, CODEC_UNSUPPORTED};
pub use router::{Route, WebRtcMux};

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

const ICE_STATES: [&str; 4] = ["DISCONNECTED", "CONNECTING", "CONNECTED", "READY"];
const NO_SSRC: u64 = u64::MAX;

/// What the worker tells the RPC side about a viewer (read by getters and `getStats`).
#[derive(Debug)]
pub struct ViewerShared {
    pub stats: ViewerStats,
    pub connected: AtomicBool,
    pub flow_in: AtomicBool,
    pub flow_out: AtomicBool,
    ice_state: AtomicU8,
    ssrc: AtomicU64,
    /// 0: none yet; else `codec_code`.
    tx_codec: AtomicU8,
}

fn codec_code(c: VideoCodec) -> u8 {
    match c {
        VideoCodec::H264 => 1,
        VideoCodec::Vp8 => 2,
        VideoCodec::H265 => 3,
    }
}

impl ViewerShared {
    fn new() -> Self {
        ViewerShared {
            stats: ViewerStats::default(),
            connected: AtomicBool::new(false),
            flow_in: AtomicBool::new(false),
            flow_out: AtomicBool::new(false),
            ice_state: AtomicU8::new(0),
            ssrc: AtomicU64::new(NO_SSRC),
            tx_codec: AtomicU8::new(0),
        }
    }

    pub fn set_ice_state(&self, s: &'static str) {
        let i = ICE_STATES.iter().position(|x| *x == s).unwrap_or(0);
        self.ice_state.store(i as u8, Ordering::Relaxed);
    }

    pub fn set_tx(&self, tx: Option<&Tx>) {
        if let Some(t) = tx {
            self.ssrc.store(*t.ssrc as u64, Ordering::Relaxed);
            self.tx_codec.store(codec_code(t.codec), Ordering::Relaxed);
        }
    }

    fn tx_codec(&self) -> Option<VideoCodec> {
        match self.tx_codec.load(Ordering::Relaxed) {
            1 => Some(VideoCodec::H264),
            2 => Some(VideoCodec::Vp8),
            3 => Some(VideoCodec::H265),
            _ => None,
        }
    }
}

/// Why `process_offer` failed, as a Kurento error.
#[derive(Debug)]
pub enum OfferError {
    Parse(String),
    Process(String),
    AlreadyNegotiated,
}

/// The send side of a viewer: its SSRC, payload type and codec.
#[derive(Debug)]
pub struct Tx {
    pub ssrc: Ssrc,
    pub pt: PayloadParams,
    pub codec: VideoCodec,
}

/// The audio send side of a viewer: its SSRC and payload type.
#[derive(Debug)]
pub struct AudioTx {
    pub ssrc: Ssrc,
    pub pt: str0m::media::Pt,
}

/// Negotiation state, RPC side. `rtc` is `Some` until the viewer is handed to its worker.
struct Negotiation {
    /// Boxed: a viewer keeps its negotiation state for life, an `Rtc` only until it goes live.
    rtc: Option<Box<Rtc>>,
    live: bool,
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
    source: Option<Weak<RtpSource>>,
    /// The camera's audio, when connected for audio (`connect` with AUDIO before the offer).
    audio_source: Option<Weak<RtpSource>>,
    /// `generateOffer` ran: the offer waiting for its answer (taken by `processAnswer`).
    offer_generated: bool,
    pending_offer: Option<str0m::change::SdpPendingOffer>,
    /// Range mode: duplicates of this viewer's sockets, for its worker to send on.
    sockets: Vec<std::net::UdpSocket>,
}

pub struct Viewer {
    pub id: String,
    key: u64,
    worker: usize,
    neg: Mutex<Negotiation>,
    locals: Vec<SocketAddr>,
    mux: Arc<WebRtcMux>,
    events: EventTx,
    cancel: CancellationToken,
    shared: Arc<ViewerShared>,
}

impl Viewer {
    /// A viewer with its sockets and candidates, placed on a worker; the `Rtc` is built when
    /// the offer arrives.
    pub fn new(id: String, mux: &Arc<WebRtcMux>, events: EventTx) -> std::io::Result<Arc<Self>> {
        static NEXT_KEY: AtomicU64 = AtomicU64::new(1);
        let cancel = mux.cancel.child_token();
        let (locals, sockets) = mux.sockets_for_viewer(&cancel)?;
        Ok(Arc::new(Viewer {
            id,
            key: NEXT_KEY.fetch_add(1, Ordering::Relaxed),
            worker: mux.workers.place(),
            neg: Mutex::new(Negotiation {
                rtc: None,
                live: false,
                local_sdp: None,
                remote_sdp: None,
                mid: "0".into(),
                candidates: vec![],
                answer_codec: None,
                gather_requested: false,
                gathered: false,
                pending_remote: vec![],
                tx: None,
                source: None,
                audio_source: None,
                offer_generated: false,
                pending_offer: None,
                sockets,
            }),
            locals,
            mux: mux.clone(),
            events,
            cancel,
            shared: Arc::new(ViewerShared::new()),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Negotiation> {
        lock(&self.neg)
    }

    fn route(&self) -> Route {
        Route { worker: self.worker, key: self.key }
    }

    pub fn stats(&self) -> &ViewerStats {
        &self.shared.stats
    }

    pub fn set_source(&self, source: Option<&Arc<RtpSource>>) {
        let mut g = self.lock();
        g.source = source.map(Arc::downgrade);
        self.shared.flow_in.store(false, Ordering::Relaxed);
        if g.live {
            self.mux.workers.send_state(self.worker, Cmd::SetSource(self.key, source.cloned()));
        }
    }

    /// Connects (or disconnects) the camera's audio source.
    pub fn set_audio_source(&self, source: Option<&Arc<RtpSource>>) {
        let mut g = self.lock();
        g.audio_source = source.map(Arc::downgrade);
        if g.live {
            self.mux.workers.send_state(self.worker, Cmd::SetAudioSource(self.key, source.cloned()));
        }
    }

    pub fn local_sdp(&self) -> Option<String> {
        self.lock().local_sdp.clone()
    }

    pub fn remote_sdp(&self) -> Option<String> {
        self.lock().remote_sdp.clone()
    }

    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    pub fn ice_state(&self) -> &'static str {
        ICE_STATES[self.shared.ice_state.load(Ordering::Relaxed) as usize % ICE_STATES.len()]
    }

    pub fn flow_in(&self) -> bool {
        self.shared.flow_in.load(Ordering::Relaxed)
    }

    pub fn flow_out(&self) -> bool {
        self.shared.flow_out.load(Ordering::Relaxed)
    }

    pub fn ssrc(&self) -> Option<u32> {
        let s = self.shared.ssrc.load(Ordering::Relaxed);
        (s != NO_SSRC).then_some(s as u32)
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.locals.clone()
    }

    fn candidates(&self, announced_ipv4: Option<IpAddr>) -> Vec<Candidate> {
        let mut out = vec![];
        for addr in &self.locals {
            if let Ok(c) = Candidate::host(*addr, "udp") {
                out.push(c);
            }
            if let Some(ext) = announced_ipv4.filter(|ip| ip.is_ipv4() && addr.is_ipv4() && *ip != addr.ip()) {
                if let Ok(c) = Candidate::server_reflexive(SocketAddr::new(ext, addr.port()), *addr, "udp") {
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
        if g.local_sdp.is_some() {
            self.emit_candidates(&mut g);
        }
    }

    fn emit_candidates(&self, g: &mut Negotiation) {
        g.gathered = true;
        let gathering = MediaEvent::IceComponentStateChanged { state: IceComponentState::Gathering };
        self.events.emit(&self.id, gathering);
        for c in &g.candidates {
            let found = MediaEvent::IceCandidateFound { candidate: c.to_sdp_string(), sdp_mid: g.mid.clone() };
            self.events.emit(&self.id, found);
        }
        self.events.emit(&self.id, MediaEvent::IceGatheringDone);
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
        if g.live {
            self.mux
                .workers
                .send_control(self.worker, Cmd::Candidate(self.key, c))
                .map_err(|_| overloaded(self.worker))?;
        } else {
            // Before the offer (or the answer of a generated offer), candidates wait.
            g.pending_remote.push(c);
        }
        Ok(())
    }

    /// The codec negotiated with the browser, once known.
    pub fn negotiated_codec(&self) -> Option<VideoCodec> {
        self.shared.tx_codec().or_else(|| {
            let g = self.lock();
            g.tx.as_ref().map(|t| t.codec).or(g.answer_codec)
        })
    }

    /// Hands the negotiated `Rtc` to the worker and routes its ufrag there (in that order: the
    /// worker has the viewer before the first datagram for it). A worker too far behind to take
    /// it refuses it: the `Rtc` is dropped and the error says so (the negotiation can be retried).
    fn go_live(&self, g: &mut Negotiation) -> Result<(), String> {
        let Some(mut rtc) = g.rtc.take() else { return Ok(()) };
        for c in g.pending_remote.drain(..) {
            rtc.add_remote_candidate(c);
        }
        let ufrag = rtc.direct_api().local_ice_credentials().ufrag;
        self.shared.set_tx(g.tx.as_ref());
        let peer = NewPeer {
            key: self.key,
            id: Arc::from(self.id.as_str()),
            rtc,
            tx: g.tx.take(),
            shared: self.shared.clone(),
            local_candidate: g.candidates.first().map(|c| c.to_sdp_string()).unwrap_or_default(),
            source: g.source.clone(),
            audio_source: g.audio_source.clone(),
            sockets: std::mem::take(&mut g.sockets),
        };
        if let Err(Overloaded(cmd)) = self.mux.workers.send_control(self.worker, Cmd::Add(Box::new(peer))) {
            if let Cmd::Add(p) = *cmd {
                // The worker never saw it: its sockets go back for a retry.
                g.sockets = p.sockets;
            }
            return Err(overloaded(self.worker));
        }
        self.mux.register(ufrag, self.route());
        g.live = true;
        if g.gather_requested && !g.gathered {
            self.emit_candidates(g);
        }
        Ok(())
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
        self.mux.unregister(self.key);
        let mut g = self.lock();
        if g.live {
            g.live = false;
            self.mux.workers.send_state(self.worker, Cmd::Remove(self.key));
        }
    }

    /// The worker this viewer lives on.
    pub fn worker(&self) -> usize {
        self.worker
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.stop();
        self.mux.workers.unplace(self.worker);
    }
}

fn overloaded(worker: usize) -> String {
    format!("the media engine is overloaded (worker {worker}'s queue is full); try again shortly")
}

/// Chooses the payload type (the first H.264/H.265/VP8 one both sides have) and the SSRC this viewer
/// sends with on `mid`, once the remote description is known.
pub fn setup_tx(rtc: &mut Rtc, mid: Mid) -> Option<Tx> {
    let remote: Vec<_> = rtc.media(mid).map(|x| x.remote_pts().to_vec()).unwrap_or_default();
    let pick = |codec: Codec| {
        rtc.codec_config().params().iter().find(|p| remote.contains(&p.pt()) && p.spec().codec == codec).cloned()
    };
    let (pt, codec) = pick(Codec::H264)
        .map(|p| (p, VideoCodec::H264))
        .or_else(|| pick(Codec::H265).map(|p| (p, VideoCodec::H265)))
        .or_else(|| pick(Codec::Vp8).map(|p| (p, VideoCodec::Vp8)))?;
    let mut api = rtc.direct_api();
    let ssrc = match api.stream_tx_by_mid(mid, None).map(|s| s.ssrc()) {
        Some(s) => s,
        None => {
            let s: Ssrc = rand::random::<u32>().into();
            api.declare_stream_tx(s, None, mid, None);
            s
        }
    };
    if let Some(s) = api.stream_tx(&ssrc) {
        // str0m keeps 3 s (up to 1024 packets) for retransmissions by default.
        s.set_rtx_cache(RTX_CACHE_PACKETS, RTX_CACHE_AGE, None);
    }
    Some(Tx { ssrc, pt, codec })
}

/// The audio payload type (the first PCMU/PCMA/Opus one both sides have) and SSRC this viewer
/// sends the camera's audio with on `mid`.
pub fn setup_audio_tx(rtc: &mut Rtc, mid: Mid) -> Option<AudioTx> {
    let remote: Vec<_> = rtc.media(mid).map(|x| x.remote_pts().to_vec()).unwrap_or_default();
    let pt = rtc
        .codec_config()
        .params()
        .iter()
        .find(|p| remote.contains(&p.pt()) && matches!(p.spec().codec, Codec::PCMU | Codec::PCMA | Codec::Opus))?
        .pt();
    let mut api = rtc.direct_api();
    let ssrc = match api.stream_tx_by_mid(mid, None).map(|s| s.ssrc()) {
        Some(s) => s,
        None => {
            let s: Ssrc = rand::random::<u32>().into();
            api.declare_stream_tx(s, None, mid, None);
            s
        }
    };
    Some(AudioTx { ssrc, pt })
}

/// Packets kept per viewer to answer NACKs, and for how long.
const RTX_CACHE_PACKETS: usize = 32;
const RTX_CACHE_AGE: std::time::Duration = std::time::Duration::from_millis(500);

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
