//! The receive side of an RtpEndpoint: one task per camera socket, hand-off of each packet to
//! the workers that have viewers of it (see `media::worker`), the fast-start cache, flow
//! detection and coalesced PLI towards the camera.
//!
//! Invariant (source latching): once an RtpEndpoint has accepted media, every packet it
//! forwards comes from one source address, the camera's. The RTP socket latches the address
//! (IP and port) of the first valid RTP packet of the negotiated payload type; from then on a
//! datagram from any other address is dropped before it is parsed and counted in
//! `rtp_foreign_in` (`camview_engine_rtp_foreign_packets_total`). When the camera's SDP names a
//! specific unicast `c=` address, only that IP is admitted from the start (any port of it until
//! the latch). The RTCP socket follows the same rule on its own port: it admits only the
//! camera's IP (the latched RTP source's, else the SDP's; with neither known yet, nothing) and
//! latches the first valid RTCP packet's address. A latch never moves to another IP (a camera
//! with a new address needs a new RtpEndpoint: stop and start the stream); it moves to another
//! port of the same IP only after the latched source was silent for the flow timeout (a camera
//! that restarted its sender), so nobody can take over a live camera's stream. The check costs one
//! `SocketAddr` comparison per datagram; the latch state is owned by the receiving task, and
//! the RTCP task reads the RTP latch through a `OnceLock` (no lock on the packet path).

use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::packet::{inspect, parse_rtp, GopCache, RtpPacket};
use super::rtp_sink::RtpSink;
use super::webrtc::Viewer;
use super::worker::{Cmd, Workers};
use super::MediaCounters;
use crate::audio::AudioCodec;
use crate::codec_params::H265Ptl;
use crate::events::{EventTx, MediaEvent};
use crate::sdp::{CameraVideo, VideoCodec};
use crate::supervise::{lock, read, spawn_supervised, write};

mod audio;

/// Cameras send RTCP every few seconds: after this much silence its port may move.
const RTCP_PORT_MOVE_AFTER: Duration = Duration::from_secs(15);

/// Keyframe requests from many viewers within this window become one PLI.
const PLI_COALESCE: Duration = Duration::from_millis(500);

/// Which source address a camera socket accepts: the sans-IO core of source latching (see the
/// module doc). The receiving task owns it; `admit` is the per-datagram check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLatch {
    /// Only this IP is admitted before the latch (canonical: IPv4-mapped IPv6 as IPv4).
    pinned_ip: Option<IpAddr>,
    latched: Option<SocketAddr>,
    /// When the latched source last sent a valid packet.
    last_valid: Option<Instant>,
    /// After this much silence from the latched source, another port of the same IP may take
    /// over (a camera that restarted its sender); another IP never may.
    port_move_after: Duration,
}

/// What [`SourceLatch::latch`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latched {
    /// The first valid packet: the latch is set.
    First,
    /// The camera's IP came back from another port after the latched one fell silent.
    PortMoved,
    /// The latched source again.
    Same,
}

impl SourceLatch {
    /// A latch that admits any address until the first valid packet, or only `pinned_ip`.
    pub fn new(pinned_ip: Option<IpAddr>, port_move_after: Duration) -> Self {
        Self { pinned_ip: pinned_ip.map(|ip| ip.to_canonical()), latched: None, last_valid: None, port_move_after }
    }

    /// Whether a datagram from `from` may be looked at: the latched address (or, once it has
    /// been silent for `port_move_after`, another port of its IP), or before the latch any
    /// address of the pinned IP (any address at all without one).
    pub fn admit(&self, from: SocketAddr, now: Instant) -> bool {
        match self.latched {
            Some(source) if source == from => true,
            Some(source) => {
                source.ip().to_canonical() == from.ip().to_canonical()
                    && self.last_valid.is_none_or(|t| now.saturating_duration_since(t) >= self.port_move_after)
            }
            None => self.pinned_ip.is_none_or(|ip| from.ip().to_canonical() == ip),
        }
    }

    /// Records that an admitted datagram from `from` was valid.
    pub fn latch(&mut self, from: SocketAddr, now: Instant) -> Latched {
        debug_assert!(self.admit(from, now), "only admitted datagrams latch");
        self.last_valid = Some(now);
        match self.latched.replace(from) {
            None => Latched::First,
            Some(old) if old == from => Latched::Same,
            Some(_) => Latched::PortMoved,
        }
    }

    pub fn latched(&self) -> Option<SocketAddr> {
        self.latched
    }
}

#[derive(Debug, Default)]
pub struct SourceStats {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub garbage: AtomicU64,
    pub plis_sent: AtomicU64,
    pub keyframe_requests: AtomicU64,
    pub rtcp_packets: AtomicU64,
    /// RTP and RTCP datagrams dropped because they came from another address than the camera's.
    pub foreign: AtomicU64,
    pub ssrc: AtomicU32,
}

pub struct RtpSource {
    pub id: String,
    /// Names this source to the workers.
    pub key: u64,
    /// The camera's transport (payload type, RTCP target, source address) and, for a video
    /// source, its codec.
    pub video: CameraVideo,
    /// An audio source (`start_audio`): packets pass through, no keyframes, no flow events
    /// (the stream's state follows its video).
    pub audio: Option<AudioCodec>,
    pub local_port: u16,
    sps_profile_level_id: Mutex<Option<u32>>,
    /// H.265 profile/tier/level of the camera's in-band VPS/SPS.
    inband_h265_ptl: Mutex<Option<H265Ptl>>,
    /// None for a source fed by its owner (a PlayerEndpoint: see [`RtpSource::start_fed`]).
    rtcp: Option<Arc<UdpSocket>>,
    rtcp_remote: Mutex<Option<SocketAddr>>,
    /// The camera's RTP source address, set once by the RTP task when it latches.
    rtp_source: OnceLock<SocketAddr>,
    own_ssrc: u32,
    /// Viewers (object id, worker), RPC side.
    viewers: Mutex<Vec<(String, usize)>>,
    /// Workers with at least one viewer of this source: each packet goes to each once.
    fanout: RwLock<Vec<usize>>,
    /// RtpEndpoints this source feeds (`rtp_sink`); written under the cache lock, read on
    /// the packet path under it too, so a sink gets each packet once (cache replay or live).
    sinks: RwLock<Vec<Arc<RtpSink>>>,
    workers: Arc<Workers>,
    pub(crate) cache: Mutex<GopCache>,
    pub stats: SourceStats,
    flowing: AtomicBool,
    rtcp_seen: AtomicBool,
    last_pli: Mutex<Option<Instant>>,
    events: EventTx,
    cancel: CancellationToken,
    counters: Arc<MediaCounters>,
}

impl RtpSource {
    /// Takes over the bound sockets and starts the receive tasks (`audio`: the camera's
    /// audio line, see [`Self::start_audio`]; `None` for its video). Must run inside a tokio
    /// runtime.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        id: String,
        video: CameraVideo,
        audio: Option<AudioCodec>,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        own_ssrc: u32,
        flow_timeout: Duration,
        gop_cache_packets: usize,
        events: EventTx,
        counters: Arc<MediaCounters>,
        workers: Arc<Workers>,
    ) -> std::io::Result<Arc<Self>> {
        rtp.set_nonblocking(true)?;
        rtcp.set_nonblocking(true)?;
        let local_port = rtp.local_addr()?.port();
        let rtp = UdpSocket::from_std(rtp)?;
        let rtcp = Arc::new(UdpSocket::from_std(rtcp)?);
        let src = Arc::new(Self::new(
            id,
            video,
            audio,
            (local_port, Some(rtcp.clone()), own_ssrc),
            gop_cache_packets,
            events,
            counters,
            workers,
        ));
        // Each loop serves one camera and all its viewers: supervised (restarted after a panic,
        // counted), with the source held weakly so a released endpoint ends them.
        let faults = src.counters.faults.clone();
        let (weak, rtp) = (Arc::downgrade(&src), Arc::new(rtp));
        spawn_supervised("camera-rtp", faults.clone(), src.cancel.clone(), move || {
            let (weak, rtp) = (weak.clone(), rtp.clone());
            async move {
                if let Some(src) = weak.upgrade() {
                    src.rtp_loop(rtp, flow_timeout).await
                }
            }
        });
        let weak = Arc::downgrade(&src);
        spawn_supervised("camera-rtcp", faults, src.cancel.clone(), move || {
            let (weak, rtcp) = (weak.clone(), rtcp.clone());
            async move {
                if let Some(src) = weak.upgrade() {
                    src.rtcp_loop(rtcp).await
                }
            }
        });
        Ok(src)
    }

    /// A source without sockets or tasks: its owner hands it whole RTP packets ([`Self::feed`])
    /// and says when they stop ([`Self::set_flowing`]). The PlayerEndpoint of an RTSP camera
    /// feeds one from its RTSP session (`media::player`); keyframe requests go nowhere (RTSP
    /// has no PLI: the camera's GOP decides).
    pub fn start_fed(
        id: String,
        video: CameraVideo,
        gop_cache_packets: usize,
        events: EventTx,
        counters: Arc<MediaCounters>,
        workers: Arc<Workers>,
    ) -> Arc<Self> {
        Arc::new(Self::new(id, video, None, (0, None, 0), gop_cache_packets, events, counters, workers))
    }

    /// The state both kinds of source start with; `(local_port, rtcp, own_ssrc)` are a socket
    /// source's (zeros and no socket for a fed one).
    #[allow(clippy::too_many_arguments)]
    fn new(
        id: String,
        video: CameraVideo,
        audio: Option<AudioCodec>,
        (local_port, rtcp, own_ssrc): (u16, Option<Arc<UdpSocket>>, u32),
        gop_cache_packets: usize,
        events: EventTx,
        counters: Arc<MediaCounters>,
        workers: Arc<Workers>,
    ) -> Self {
        RtpSource {
            id,
            cache: Mutex::new(GopCache::new(video.codec, gop_cache_packets)),
            rtcp_remote: Mutex::new(video.rtcp_remote),
            video,
            audio,
            local_port,
            sps_profile_level_id: Mutex::new(None),
            inband_h265_ptl: Mutex::new(None),
            rtcp,
            rtp_source: OnceLock::new(),
            own_ssrc,
            key: next_key(),
            viewers: Mutex::new(vec![]),
            fanout: RwLock::new(vec![]),
            sinks: RwLock::new(vec![]),
            workers,
            stats: SourceStats::default(),
            flowing: AtomicBool::new(false),
            rtcp_seen: AtomicBool::new(false),
            last_pli: Mutex::new(None),
            events,
            cancel: CancellationToken::new(),
            counters,
        }
    }

    /// Hands one whole RTP packet of a fed source to its viewers; returns whether it was media
    /// of this stream (the negotiated payload type).
    pub fn feed(self: &Arc<Self>, d: &[u8]) -> bool {
        match parse_rtp(d).filter(|p| p.pt == self.video.pt) {
            Some(pkt) => {
                self.forward(d.len(), pkt);
                true
            }
            None => {
                self.count_garbage();
                false
            }
        }
    }

    pub fn stop(&self) {
        self.cancel.cancel();
        lock(&self.viewers).clear();
        write(&self.fanout).clear();
        write(&self.sinks).clear();
    }

    pub fn codec(&self) -> VideoCodec {
        self.video.codec
    }

    /// The H.264 `profile-level-id` the camera really sends: from its in-band SPS (the truth,
    /// whatever the SDP claims), else from its SDP (`sprop-parameter-sets`, `profile-level-id`).
    pub fn profile_level_id(&self) -> Option<u32> {
        (*lock(&self.sps_profile_level_id)).or(self.video.profile_level_id)
    }

    /// The H.265 profile/tier/level the camera really sends: in-band VPS/SPS, else its SDP.
    pub fn h265_ptl(&self) -> Option<H265Ptl> {
        (*lock(&self.inband_h265_ptl)).or(self.video.h265_ptl)
    }

    pub fn is_flowing(&self) -> bool {
        self.flowing.load(Ordering::Relaxed)
    }

    /// The camera's latched RTP source address, once its first valid packet arrived.
    pub fn rtp_source(&self) -> Option<SocketAddr> {
        self.rtp_source.get().copied()
    }

    pub fn rtcp_seen(&self) -> bool {
        self.rtcp_seen.load(Ordering::Relaxed)
    }

    pub fn add_viewer(&self, v: &Viewer) {
        let mut vs = lock(&self.viewers);
        if !vs.iter().any(|(id, _)| *id == v.id) {
            vs.push((v.id.clone(), v.worker()));
            self.set_fanout(&vs);
        }
    }

    pub fn remove_viewer(&self, id: &str) {
        let mut vs = lock(&self.viewers);
        vs.retain(|(v, _)| v != id);
        self.set_fanout(&vs);
    }

    fn set_fanout(&self, vs: &[(String, usize)]) {
        let mut ws: Vec<usize> = vs.iter().map(|(_, w)| *w).collect();
        ws.sort_unstable();
        ws.dedup();
        *write(&self.fanout) = ws;
    }

    /// Starts feeding an RtpEndpoint sink: first the fast-start cache (the latest keyframe and
    /// what followed), then every packet as it arrives. When the cache holds no whole GOP the
    /// camera is asked for a keyframe.
    pub fn add_sink(&self, sink: &Arc<RtpSink>) {
        let fresh_gop = {
            let cache = lock(&self.cache);
            let mut sinks = write(&self.sinks);
            if sinks.iter().any(|s| s.id == sink.id) {
                return;
            }
            for c in cache.snapshot() {
                sink.forward(&c.pkt, c.ts_override);
            }
            sinks.push(sink.clone());
            !cache.is_empty() && !cache.truncated()
        };
        if !fresh_gop {
            self.request_keyframe();
        }
    }

    pub fn remove_sink(&self, id: &str) {
        let _cache = lock(&self.cache);
        write(&self.sinks).retain(|s| s.id != id);
    }

    pub fn sink_count(&self) -> usize {
        read(&self.sinks).len()
    }

    pub fn viewer_count(&self) -> usize {
        lock(&self.viewers).len()
    }

    /// Asks the camera for a keyframe: one RTCP PLI per coalescing window, whoever asks.
    pub fn request_keyframe(&self) {
        self.stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        {
            let mut last = lock(&self.last_pli);
            if last.is_some_and(|t| now.duration_since(t) < PLI_COALESCE) {
                return;
            }
            *last = Some(now);
        }
        let (Some(dest), Some(rtcp)) = (*lock(&self.rtcp_remote), self.rtcp.as_ref()) else { return };
        let media_ssrc = self.stats.ssrc.load(Ordering::Relaxed);
        let mut pli = [0u8; 12];
        pli[0] = 0x81; // V=2, FMT=1 (PLI)
        pli[1] = 206; // PSFB
        pli[3] = 2; // length in 32-bit words minus one
        pli[4..8].copy_from_slice(&self.own_ssrc.to_be_bytes());
        pli[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
        if rtcp.try_send_to(&pli, dest).is_ok() {
            self.stats.plis_sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn rtp_loop(self: Arc<Self>, sock: Arc<UdpSocket>, flow_timeout: Duration) {
        let mut buf = vec![0u8; 2048];
        let mut last_rx = Instant::now();
        // A restarted loop keeps the camera's latched address (admitting its port only after
        // the silence a port move needs): a restart never lets another sender in.
        let mut latch = SourceLatch::new(self.video.source_ip, flow_timeout);
        if let Some(camera) = self.rtp_source() {
            latch.latch(camera, Instant::now());
        }
        loop {
            let silence = tokio::time::sleep_until((last_rx + flow_timeout).into());
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                r = sock.recv_from(&mut buf) => {
                    // Errors here are ICMP reports of earlier sends; keep reading.
                    if let Ok((n, from)) = r {
                        // A datagram whose handling panics is dropped, counted; the loop goes on.
                        match catch_unwind(AssertUnwindSafe(|| self.on_datagram(&buf[..n], from, &mut latch))) {
                            Ok(true) => last_rx = Instant::now(),
                            Ok(false) => {}
                            Err(p) => {
                                tracing::error!(endpoint = %self.id, panic = crate::supervise::panic_message(p.as_ref()), "handling a camera datagram panicked; dropped it");
                                self.counters.faults.panicked("camera");
                            }
                        }
                    }
                }
                _ = silence, if self.is_flowing() => self.set_flowing(false),
            }
        }
    }

    async fn rtcp_loop(self: Arc<Self>, sock: Arc<UdpSocket>) {
        let mut buf = vec![0u8; 1500];
        // Created once the camera's IP is known (its SDP, else the RTP latch); until then no
        // RTCP is admitted.
        let mut latch: Option<SourceLatch> = None;
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                r = sock.recv_from(&mut buf) => {
                    let Ok((n, from)) = r else { continue };
                    if latch.is_none() {
                        latch = self.rtp_source().map(|a| a.ip()).or(self.video.source_ip).map(|ip| SourceLatch::new(Some(ip), RTCP_PORT_MOVE_AFTER));
                    }
                    let now = Instant::now();
                    let Some(latch) = latch.as_mut().filter(|l| l.admit(from, now)) else {
                        self.count_foreign();
                        continue;
                    };
                    if n < 8 || buf[0] >> 6 != 2 || !(200..=206).contains(&buf[1]) {
                        continue;
                    }
                    if latch.latch(from, now) != Latched::Same {
                        tracing::info!(endpoint = %self.id, source = %from, "RTCP source latched; RTCP from other addresses is dropped");
                    }
                    self.stats.rtcp_packets.fetch_add(1, Ordering::Relaxed);
                    if self.video.comedia {
                        *lock(&self.rtcp_remote) = Some(from);
                    }
                    if !self.rtcp_seen.swap(true, Ordering::Relaxed) && self.audio.is_none() {
                        self.events.emit(&self.id, MediaEvent::MediaStateChanged { connected: true });
                    }
                }
            }
        }
    }

    /// Raises the flow events when media starts or stops (a fed source's owner calls it when
    /// its session ends; camera sockets after the flow timeout).
    pub fn set_flowing(&self, flowing: bool) {
        if self.flowing.swap(flowing, Ordering::Relaxed) == flowing {
            return;
        }
        self.events.emit(&self.id, MediaEvent::MediaFlowInStateChanged { flowing });
        self.events.emit(&self.id, MediaEvent::MediaFlowOutStateChanged { flowing });
        if !flowing {
            for w in read(&self.fanout).iter() {
                self.workers.send_media(*w, Cmd::SourceSilent(self.key));
            }
        }
    }

    fn count_foreign(&self) {
        self.stats.foreign.fetch_add(1, Ordering::Relaxed);
        MediaCounters::add(&self.counters.rtp_foreign_in, 1);
    }

    /// Handles one datagram; returns whether it was media of this stream.
    fn on_datagram(self: &Arc<Self>, d: &[u8], from: SocketAddr, latch: &mut SourceLatch) -> bool {
        let now = Instant::now();
        if !latch.admit(from, now) {
            self.count_foreign();
            return false;
        }
        let Some(pkt) = parse_rtp(d).filter(|p| p.pt == self.video.pt) else {
            self.count_garbage();
            return false;
        };
        match latch.latch(from, now) {
            Latched::First => {
                // Only this task latches, once: the cell is empty here. A later port move keeps
                // the IP, which is all the RTCP side reads from it.
                let _ = self.rtp_source.set(from);
                tracing::info!(endpoint = %self.id, source = %from, "RTP source latched; packets from other addresses are dropped");
            }
            Latched::PortMoved => {
                tracing::info!(endpoint = %self.id, source = %from, "RTP source moved to another port of the camera's address after silence")
            }
            Latched::Same => {}
        }
        self.forward(d.len(), pkt);
        true
    }

    fn count_garbage(&self) {
        self.stats.garbage.fetch_add(1, Ordering::Relaxed);
        MediaCounters::add(&self.counters.rtp_garbage_in, 1);
    }

    /// Counts an accepted packet of `len` bytes, caches it and hands it to each worker with
    /// viewers of this stream.
    fn forward(self: &Arc<Self>, len: usize, mut pkt: RtpPacket) {
        pkt.index = self.stats.packets.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes.fetch_add(len as u64, Ordering::Relaxed);
        self.stats.ssrc.store(pkt.ssrc, Ordering::Relaxed);
        MediaCounters::add(&self.counters.rtp_packets_in, 1);
        MediaCounters::add(&self.counters.rtp_bytes_in, pkt.payload.len() as u64);
        if self.audio.is_some() {
            for w in read(&self.fanout).iter() {
                self.workers.send_media(*w, Cmd::Rtp { source: self.clone(), pkt: pkt.clone() });
            }
            return;
        }
        if !self.is_flowing() {
            self.set_flowing(true);
        }
        let info = inspect(self.video.codec, &pkt.payload);
        if let Some(plid) = info.sps_profile_level_id {
            *lock(&self.sps_profile_level_id) = Some(plid);
        }
        if let Some(ptl) = info.h265_ptl {
            *lock(&self.inband_h265_ptl) = Some(ptl);
        }
        {
            let mut cache = lock(&self.cache);
            cache.push(&pkt, &info);
            for sink in read(&self.sinks).iter() {
                sink.forward(&pkt, None);
            }
        }
        for w in read(&self.fanout).iter() {
            self.workers.send_media(*w, Cmd::Rtp { source: self.clone(), pkt: pkt.clone() });
        }
    }
}

fn next_key() -> u64 {
    static NEXT_KEY: AtomicU64 = AtomicU64::new(1);
    NEXT_KEY.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    const MOVE_AFTER: Duration = Duration::from_secs(2);

    #[test]
    fn an_unpinned_latch_takes_the_first_valid_source_and_then_only_that_address() {
        let t = Instant::now();
        let mut latch = SourceLatch::new(None, MOVE_AFTER);
        assert!(latch.admit(addr("198.51.100.7:5004"), t), "anyone is admitted before the latch");
        assert!(latch.admit(addr("203.0.113.9:6000"), t));
        assert_eq!(latch.latch(addr("198.51.100.7:5004"), t), Latched::First, "the first valid packet latches");
        assert_eq!(latch.latched(), Some(addr("198.51.100.7:5004")));
        assert!(latch.admit(addr("198.51.100.7:5004"), t));
        assert!(!latch.admit(addr("198.51.100.7:5006"), t), "same IP, other port, while the camera sends");
        assert!(!latch.admit(addr("203.0.113.9:5004"), t), "other IP, same port");
        assert_eq!(latch.latch(addr("198.51.100.7:5004"), t), Latched::Same);
        assert_eq!(latch.latched(), Some(addr("198.51.100.7:5004")));
    }

    #[test]
    fn a_silent_camera_may_come_back_from_another_port_of_its_ip_but_never_from_another_ip() {
        let t = Instant::now();
        let mut latch = SourceLatch::new(None, MOVE_AFTER);
        latch.latch(addr("198.51.100.7:5004"), t);
        let later = t + MOVE_AFTER;
        assert!(
            !latch.admit(addr("203.0.113.9:5004"), later + Duration::from_secs(3600)),
            "another IP, however long the silence"
        );
        assert!(!latch.admit(addr("198.51.100.7:6000"), t + MOVE_AFTER / 2), "too early");
        assert!(latch.admit(addr("198.51.100.7:6000"), later));
        assert_eq!(latch.latch(addr("198.51.100.7:6000"), later), Latched::PortMoved);
        assert!(!latch.admit(addr("198.51.100.7:5004"), later), "the old port is now the stranger");
    }

    #[test]
    fn a_pinned_latch_admits_any_port_of_its_ip_until_the_first_packet() {
        let t = Instant::now();
        let mut latch = SourceLatch::new(Some("192.0.2.5".parse().unwrap()), MOVE_AFTER);
        assert!(!latch.admit(addr("192.0.2.6:5004"), t), "another IP is never admitted");
        assert!(latch.admit(addr("192.0.2.5:5004"), t));
        assert!(latch.admit(addr("192.0.2.5:41000"), t));
        assert!(latch.admit(addr("[::ffff:192.0.2.5]:41000"), t), "IPv4-mapped on a dual-stack socket");
        assert_eq!(latch.latch(addr("192.0.2.5:41000"), t), Latched::First);
        assert!(!latch.admit(addr("192.0.2.5:5004"), t), "the port is latched too");
        assert!(latch.admit(addr("192.0.2.5:41000"), t));
    }

    #[test]
    fn an_ipv4_mapped_pin_matches_plain_ipv4_sources() {
        let t = Instant::now();
        let latch = SourceLatch::new(Some("::ffff:192.0.2.5".parse().unwrap()), MOVE_AFTER);
        assert!(latch.admit(addr("192.0.2.5:5004"), t));
        assert!(!latch.admit(addr("[2001:db8::5]:5004"), t));
    }
}
