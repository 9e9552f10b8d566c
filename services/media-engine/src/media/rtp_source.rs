//! The receive side of an RtpEndpoint: one task per camera socket, fan-out to viewers, the
//! fast-start cache, flow detection and coalesced PLI towards the camera.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::packet::{inspect, parse_rtp, GopCache};
use super::webrtc::Viewer;
use super::MediaCounters;
use crate::events::EventTx;
use crate::sdp::{CameraVideo, VideoCodec};

/// Keyframe requests from many viewers within this window become one PLI.
const PLI_COALESCE: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
pub struct SourceStats {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
    pub garbage: AtomicU64,
    pub plis_sent: AtomicU64,
    pub keyframe_requests: AtomicU64,
    pub rtcp_packets: AtomicU64,
    pub ssrc: AtomicU32,
}

pub struct RtpSource {
    pub id: String,
    pub video: CameraVideo,
    pub local_port: u16,
    sps_profile_level_id: Mutex<Option<u32>>,
    rtcp: Arc<UdpSocket>,
    rtcp_remote: Mutex<Option<SocketAddr>>,
    own_ssrc: u32,
    viewers: RwLock<Vec<Arc<Viewer>>>,
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
    /// Takes over the bound sockets and starts the receive tasks. Must run inside a tokio runtime.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        id: String,
        video: CameraVideo,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        own_ssrc: u32,
        flow_timeout: Duration,
        gop_cache_packets: usize,
        events: EventTx,
        counters: Arc<MediaCounters>,
    ) -> std::io::Result<Arc<Self>> {
        rtp.set_nonblocking(true)?;
        rtcp.set_nonblocking(true)?;
        let local_port = rtp.local_addr()?.port();
        let rtp = UdpSocket::from_std(rtp)?;
        let rtcp = Arc::new(UdpSocket::from_std(rtcp)?);
        let src = Arc::new(RtpSource {
            id,
            cache: Mutex::new(GopCache::new(video.codec, gop_cache_packets)),
            rtcp_remote: Mutex::new(video.rtcp_remote),
            video,
            local_port,
            sps_profile_level_id: Mutex::new(None),
            rtcp: rtcp.clone(),
            own_ssrc,
            viewers: RwLock::new(vec![]),
            stats: SourceStats::default(),
            flowing: AtomicBool::new(false),
            rtcp_seen: AtomicBool::new(false),
            last_pli: Mutex::new(None),
            events,
            cancel: CancellationToken::new(),
            counters,
        });
        tokio::spawn(src.clone().rtp_loop(rtp, flow_timeout));
        tokio::spawn(src.clone().rtcp_loop(rtcp));
        Ok(src)
    }

    pub fn stop(&self) {
        self.cancel.cancel();
        self.viewers.write().expect("viewer list lock poisoned only by a panic").clear();
    }

    pub fn codec(&self) -> VideoCodec {
        self.video.codec
    }

    /// The H.264 `profile-level-id` the camera really sends: from its SDP, else from its SPS.
    pub fn profile_level_id(&self) -> Option<u32> {
        self.video.profile_level_id.or(*self.sps_profile_level_id.lock().expect("plid lock"))
    }

    pub fn is_flowing(&self) -> bool {
        self.flowing.load(Ordering::Relaxed)
    }

    pub fn rtcp_seen(&self) -> bool {
        self.rtcp_seen.load(Ordering::Relaxed)
    }

    pub fn add_viewer(&self, v: Arc<Viewer>) {
        let mut vs = self.viewers.write().expect("viewer list lock");
        if !vs.iter().any(|x| Arc::ptr_eq(x, &v)) {
            vs.push(v);
        }
    }

    pub fn remove_viewer(&self, id: &str) {
        self.viewers.write().expect("viewer list lock").retain(|v| v.id != id);
    }

    pub fn viewer_count(&self) -> usize {
        self.viewers.read().expect("viewer list lock").len()
    }

    /// Asks the camera for a keyframe: one RTCP PLI per coalescing window, whoever asks.
    pub fn request_keyframe(&self) {
        self.stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        {
            let mut last = self.last_pli.lock().expect("pli lock");
            if last.is_some_and(|t| now.duration_since(t) < PLI_COALESCE) {
                return;
            }
            *last = Some(now);
        }
        let Some(dest) = *self.rtcp_remote.lock().expect("rtcp remote lock") else { return };
        let media_ssrc = self.stats.ssrc.load(Ordering::Relaxed);
        let mut pli = [0u8; 12];
        pli[0] = 0x81; // V=2, FMT=1 (PLI)
        pli[1] = 206; // PSFB
        pli[3] = 2; // length in 32-bit words minus one
        pli[4..8].copy_from_slice(&self.own_ssrc.to_be_bytes());
        pli[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
        if self.rtcp.try_send_to(&pli, dest).is_ok() {
            self.stats.plis_sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    async fn rtp_loop(self: Arc<Self>, sock: UdpSocket, flow_timeout: Duration) {
        let mut buf = vec![0u8; 2048];
        let mut last_rx = Instant::now();
        loop {
            let silence = tokio::time::sleep_until((last_rx + flow_timeout).into());
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                r = sock.recv_from(&mut buf) => {
                    // Errors here are ICMP reports of earlier sends; keep reading.
                    if let Ok((n, from)) = r {
                        if self.on_datagram(&buf[..n], from) {
                            last_rx = Instant::now();
                        }
                    }
                }
                _ = silence, if self.is_flowing() => self.set_flowing(false),
            }
        }
    }

    async fn rtcp_loop(self: Arc<Self>, sock: Arc<UdpSocket>) {
        let mut buf = vec![0u8; 1500];
        loop {
            tokio::select! {
                _ = self.cancel.cancelled() => break,
                r = sock.recv_from(&mut buf) => {
                    let Ok((n, from)) = r else { continue };
                    if n < 8 || buf[0] >> 6 != 2 || !(200..=206).contains(&buf[1]) {
                        continue;
                    }
                    self.stats.rtcp_packets.fetch_add(1, Ordering::Relaxed);
                    if self.video.comedia {
                        *self.rtcp_remote.lock().expect("rtcp remote lock") = Some(from);
                    }
                    if !self.rtcp_seen.swap(true, Ordering::Relaxed) {
                        self.events.state_change(&self.id, "MediaStateChanged", true);
                    }
                }
            }
        }
    }

    fn set_flowing(&self, flowing: bool) {
        if self.flowing.swap(flowing, Ordering::Relaxed) == flowing {
            return;
        }
        self.events.flow(&self.id, "MediaFlowInStateChanged", flowing);
        self.events.flow(&self.id, "MediaFlowOutStateChanged", flowing);
        if !flowing {
            for v in self.viewers.read().expect("viewer list lock").iter() {
                v.on_source_silent();
            }
        }
    }

    /// Handles one datagram; returns whether it was media of this stream.
    fn on_datagram(&self, d: &[u8], _from: SocketAddr) -> bool {
        let Some(pkt) = parse_rtp(d).filter(|p| p.pt == self.video.pt) else {
            self.stats.garbage.fetch_add(1, Ordering::Relaxed);
            MediaCounters::add(&self.counters.rtp_garbage_in, 1);
            return false;
        };
        self.stats.packets.fetch_add(1, Ordering::Relaxed);
        self.stats.bytes.fetch_add(d.len() as u64, Ordering::Relaxed);
        self.stats.ssrc.store(pkt.ssrc, Ordering::Relaxed);
        MediaCounters::add(&self.counters.rtp_packets_in, 1);
        MediaCounters::add(&self.counters.rtp_bytes_in, pkt.payload.len() as u64);
        if !self.is_flowing() {
            self.set_flowing(true);
        }
        let info = inspect(self.video.codec, &pkt.payload);
        if let Some(plid) = info.sps_profile_level_id {
            *self.sps_profile_level_id.lock().expect("plid lock") = Some(plid);
        }
        // The cache lock is released before any viewer lock is taken (see the module order).
        let appended = self.cache.lock().expect("cache lock").push(&pkt, &info);
        for v in self.viewers.read().expect("viewer list lock").iter() {
            v.on_rtp(&pkt, appended, self);
        }
        true
    }
}
