//! One snapshot tap: a UDP socket the media server sends a camera's RTP to, the SDP that asks
//! for it, and the task that keeps the latest keyframe.
//!
//! Invariants: only datagrams from the address of the media server's answer (its `c=` and
//! `m=video` port) are read; the task ends (and the tap is closed on the media server) when
//! no snapshot was asked for during the idle period or no packet came for `SILENCE`; the
//! state lock is never held across I/O.

use camview_proto::CameraId;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::{watch, Notify};

use super::h264::{parse_rtp, AccessUnit, Depacketizer, KeyframeKeeper};

/// Payload type of H.264 in the tap's offer.
pub const TAP_PT: u8 = 96;
/// No packet for this long: the tap is dead (stream stopped or stalled, endpoint released).
pub const SILENCE: Duration = Duration::from_secs(10);

/// Numbers every keyframe any tap keeps, so a cached picture is never mistaken for a newer
/// keyframe of a re-opened tap.
static KEYFRAMES: AtomicU64 = AtomicU64::new(1);

/// The tap's receive-only offer: H.264, packetization-mode 1, to `ip`:`port`.
pub fn offer(ip: IpAddr, port: u16, session: u64) -> String {
    let ipv = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\no=- {session} 1 IN {ipv} {ip}\r\ns=camview snapshot tap\r\nc=IN {ipv} {ip}\r\nt=0 0\r\n\
         m=video {port} RTP/AVPF {TAP_PT}\r\na=rtpmap:{TAP_PT} H264/90000\r\na=fmtp:{TAP_PT} packetization-mode=1\r\n\
         a=rtcp-fb:{TAP_PT} nack pli\r\na=recvonly\r\n"
    )
}

/// What the media server's answer says about where the RTP comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerInfo {
    /// Its `c=` address and `m=video` port: packets from anywhere else are dropped.
    pub source: SocketAddr,
    /// The H.264 payload type it will send.
    pub payload_type: u8,
}

/// Reads the answer: `None` when it rejects video (port 0), names no usable address, or
/// does not send H.264.
pub fn parse_answer(sdp: &str) -> Option<AnswerInfo> {
    let (mut session_ip, mut media_ip, mut port, mut in_video, mut pt) = (None, None, None, false, None);
    for line in sdp.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut it = m.split_whitespace();
            in_video = it.next() == Some("video") && port.is_none();
            if in_video {
                port = it.next().and_then(|p| p.parse::<u16>().ok()).filter(|p| *p != 0);
            }
        } else if let Some(c) = line.strip_prefix("c=") {
            let ip = c.split_whitespace().nth(2).and_then(|a| a.split('/').next()?.parse::<IpAddr>().ok());
            if in_video {
                media_ip = ip;
            } else if port.is_none() {
                session_ip = ip;
            }
        } else if let Some(map) = line.strip_prefix("a=rtpmap:").filter(|_| in_video) {
            let mut it = map.split_whitespace();
            let (p, enc) = (it.next(), it.next().unwrap_or(""));
            if pt.is_none() && enc.to_ascii_uppercase().starts_with("H264/") {
                pt = p.and_then(|p| p.parse::<u8>().ok());
            }
        }
    }
    let ip = media_ip.or(session_ip).filter(|ip| !ip.is_unspecified() && !ip.is_multicast())?;
    Some(AnswerInfo { source: SocketAddr::new(ip, port?), payload_type: pt? })
}

/// The tap's state, shared by its receive task and the requests.
pub struct Tap {
    pub camera_id: CameraId,
    pub tap_id: String,
    pub endpoint_id: String,
    state: Mutex<TapState>,
    /// The number of the latest keyframe (0: none yet); requests wait on it.
    keyframe: watch::Sender<u64>,
    /// Set when a request arrives, so the task can ask for a keyframe at once.
    wanted: Notify,
    /// Set at shutdown: the task ends at once (its endpoint is closed by whoever stopped it).
    stop: Notify,
    ended: watch::Sender<bool>,
}

struct TapState {
    keeper: KeyframeKeeper,
    latest: u64,
    last_request: Instant,
}

/// Why a tap's task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TapEnd {
    Idle,
    Silent,
    SocketFailed,
    Stopped,
}

impl Tap {
    pub fn new(camera_id: CameraId, tap_id: String, endpoint_id: String) -> Arc<Self> {
        Arc::new(Tap {
            camera_id,
            tap_id,
            endpoint_id,
            state: Mutex::new(TapState { keeper: KeyframeKeeper::default(), latest: 0, last_request: Instant::now() }),
            keyframe: watch::channel(0).0,
            wanted: Notify::new(),
            stop: Notify::new(),
            ended: watch::channel(false).0,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, TapState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_ended(&self) -> bool {
        *self.ended.borrow()
    }

    /// Ends the receive task without closing the endpoint (the caller closes it).
    pub fn stop(&self) {
        self.stop.notify_one();
    }

    /// A snapshot was asked for: postpones the idle close.
    pub fn touch(&self) {
        self.state().last_request = Instant::now();
        self.wanted.notify_one();
    }

    /// The latest keyframe and its number.
    pub fn latest(&self) -> Option<(u64, AccessUnit)> {
        let st = self.state();
        st.keeper.latest().map(|(_, unit)| (st.latest, unit.clone()))
    }

    /// Waits until a keyframe is kept, at most `wait`; its number, or None.
    pub async fn wait_for_keyframe(&self, wait: Duration) -> Option<u64> {
        let mut rx = self.keyframe.subscribe();
        let mut ended = self.ended.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let n = *rx.borrow_and_update();
            if n > 0 {
                return Some(n);
            }
            tokio::select! {
                r = rx.changed() => r.ok()?,
                _ = ended.wait_for(|e| *e) => return None,
                _ = tokio::time::sleep_until(deadline) => return None,
            }
        }
    }

    /// Receives until the tap is idle or silent; returns why it ended.
    pub async fn run(self: Arc<Self>, sock: UdpSocket, answer: AnswerInfo, idle: Duration) -> TapEnd {
        let end = self.receive(&sock, &answer, idle).await;
        self.ended.send_replace(true);
        end
    }

    async fn receive(&self, sock: &UdpSocket, answer: &AnswerInfo, idle: Duration) -> TapEnd {
        let source = SocketAddr::new(answer.source.ip().to_canonical(), answer.source.port());
        let rtcp = SocketAddr::new(answer.source.ip(), answer.source.port().wrapping_add(1));
        let mut depacketizer = Depacketizer::new();
        let mut buf = vec![0u8; 2048];
        let mut last_packet = Instant::now();
        let mut media_ssrc = 0u32;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                r = sock.recv_from(&mut buf) => {
                    let (n, from) = match r {
                        Ok(x) => x,
                        // ICMP reports of our PLIs; keep reading.
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                        Err(e) => {
                            tracing::warn!(camera_id = %self.camera_id, error = %e, "snapshot tap socket failed");
                            return TapEnd::SocketFailed;
                        }
                    };
                    if SocketAddr::new(from.ip().to_canonical(), from.port()) != source {
                        continue;
                    }
                    let Some(p) = parse_rtp(&buf[..n]).filter(|p| p.payload_type == answer.payload_type) else { continue };
                    last_packet = Instant::now();
                    media_ssrc = u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]);
                    if let Some(unit) = depacketizer.push(&p) {
                        self.keep(unit);
                    }
                }
                _ = tick.tick() => {
                    if self.state().last_request.elapsed() >= idle {
                        return TapEnd::Idle;
                    }
                    if last_packet.elapsed() >= SILENCE {
                        return TapEnd::Silent;
                    }
                }
                _ = self.stop.notified() => return TapEnd::Stopped,
                _ = self.wanted.notified() => {
                    if *self.keyframe.borrow() == 0 {
                        // Nothing kept yet: ask the camera for a keyframe through the tap.
                        let _ = sock.send_to(&pli(media_ssrc), rtcp).await;
                    }
                }
            }
        }
    }

    fn keep(&self, unit: AccessUnit) {
        let number = {
            let mut st = self.state();
            if !st.keeper.push(unit) {
                return;
            }
            st.latest = KEYFRAMES.fetch_add(1, Ordering::Relaxed);
            st.latest
        };
        self.keyframe.send_replace(number);
    }
}

/// RTCP PLI (RFC 4585) for `media_ssrc`, from the tap's fixed SSRC.
fn pli(media_ssrc: u32) -> [u8; 12] {
    let mut p = [0x81, 206, 0, 2, 0x63, 0x61, 0x6d, 0x76, 0, 0, 0, 0];
    p[8..12].copy_from_slice(&media_ssrc.to_be_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_is_receive_only_h264_at_the_given_address() {
        let o = offer("192.0.2.10".parse().unwrap(), 40002, 7);
        for line in ["c=IN IP4 192.0.2.10", "m=video 40002 RTP/AVPF 96", "a=rtpmap:96 H264/90000", "a=recvonly"] {
            assert!(o.split("\r\n").any(|l| l == line), "{line} missing in {o}");
        }
        assert!(offer("2001:db8::1".parse().unwrap(), 5000, 1).contains("c=IN IP6 2001:db8::1"));
    }

    #[test]
    fn the_answer_gives_the_senders_address_and_payload_type_or_nothing_usable() {
        let answer =
            "v=0\r\no=- 1 1 IN IP4 198.51.100.4\r\ns=Kurento Media Server\r\nc=IN IP4 198.51.100.4\r\nt=0 0\r\n\
                      m=video 41234 RTP/AVPF 96\r\na=sendonly\r\na=rtpmap:96 H264/90000\r\n";
        assert_eq!(
            parse_answer(answer),
            Some(AnswerInfo { source: "198.51.100.4:41234".parse().unwrap(), payload_type: 96 })
        );
        let media_level = answer.replace("a=sendonly", "c=IN IP4 198.51.100.9\r\na=sendonly");
        assert_eq!(parse_answer(&media_level).unwrap().source.ip().to_string(), "198.51.100.9");
        assert_eq!(parse_answer(&answer.replace("m=video 41234", "m=video 0")), None, "video rejected");
        assert_eq!(parse_answer(&answer.replace("H264", "VP8")), None, "not H.264");
        assert_eq!(
            parse_answer(&answer.replace("198.51.100.4", "0.0.0.0")),
            None,
            "no address to check packets against"
        );
        assert_eq!(parse_answer(""), None);
    }

    #[test]
    fn a_pli_names_the_cameras_ssrc() {
        let p = pli(0x0a0b0c0d);
        assert_eq!(&p[..4], &[0x81, 206, 0, 2]);
        assert_eq!(&p[8..], &[0x0a, 0x0b, 0x0c, 0x0d]);
    }
}
