//! The send side of an RtpEndpoint: an endpoint whose peer only receives (its offer was
//! `a=recvonly`, answered `a=sendonly`) sends the RTP of the RtpEndpoint connected to it as a
//! source to the address and port the offer names. This is Kurento's RtpEndpoint -> RtpEndpoint
//! link: the api's snapshot tap uses it, and so will a relay between media nodes.
//!
//! Invariants:
//! - packets leave in the order the source received them, starting with the source's fast-start
//!   cache (the latest keyframe and what followed): the source hands them over under its cache
//!   lock (`RtpSource::add_sink`), and one task per sink sends them; nothing sends under a lock;
//! - a slow or unreachable peer never slows the camera's path: the queue is bounded, and a
//!   packet beyond it is dropped and counted (`dropped`, `camview_engine_queue_full_total{queue="rtp_sink"}`);
//! - what it sends counts in `camview_engine_packets_total{direction="out"}` and its bytes, like
//!   what viewers get;
//! - the payload type is the one the sink negotiated, the SSRC its own (as its answer says);
//!   sequence numbers and timestamps are the camera's;
//! - RTCP is read only from the peer's IP; its PLI/FIR become a keyframe request to the source.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::packet::RtpPacket;
use super::rtp_source::RtpSource;
use super::MediaCounters;
use crate::sdp::VideoCodec;
use crate::supervise::lock;

/// Packets queued for the peer at most (the source's fast-start cache is at most 4096 by default).
const QUEUE: usize = 8192;

#[derive(Debug, Default)]
pub struct SinkStats {
    pub packets_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    /// Packets dropped because the queue to the peer was full.
    pub dropped: AtomicU64,
    /// PLI/FIR from the peer passed on to the source.
    pub keyframe_requests: AtomicU64,
}

pub struct RtpSink {
    pub id: String,
    pub codec: VideoCodec,
    pub pt: u8,
    pub dest: SocketAddr,
    ssrc: u32,
    tx: mpsc::Sender<Vec<u8>>,
    /// The source feeding it, for keyframe requests (weak: the source holds its sinks).
    source: Mutex<Option<Weak<RtpSource>>>,
    pub stats: SinkStats,
    counters: Arc<MediaCounters>,
    cancel: CancellationToken,
}

impl RtpSink {
    /// Takes over the bound sockets and starts the send and RTCP tasks. Must run inside a tokio
    /// runtime.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        id: String,
        codec: VideoCodec,
        pt: u8,
        dest: SocketAddr,
        ssrc: u32,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        counters: Arc<MediaCounters>,
    ) -> std::io::Result<Arc<Self>> {
        rtp.set_nonblocking(true)?;
        rtcp.set_nonblocking(true)?;
        let rtp = UdpSocket::from_std(rtp)?;
        let rtcp = UdpSocket::from_std(rtcp)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let sink = Arc::new(RtpSink {
            id,
            codec,
            pt,
            dest,
            ssrc,
            tx,
            source: Mutex::new(None),
            stats: SinkStats::default(),
            counters,
            cancel: CancellationToken::new(),
        });
        tokio::spawn(send_loop(Arc::downgrade(&sink), rtp, rx, sink.cancel.clone()));
        tokio::spawn(rtcp_loop(Arc::downgrade(&sink), rtcp, sink.cancel.clone()));
        Ok(sink)
    }

    pub fn stop(&self) {
        self.cancel.cancel();
        *lock(&self.source) = None;
    }

    pub fn set_source(&self, source: Option<&Arc<RtpSource>>) {
        *lock(&self.source) = source.map(Arc::downgrade);
    }

    pub fn has_source(&self) -> bool {
        lock(&self.source).as_ref().is_some_and(|w| w.strong_count() > 0)
    }

    /// Queues one packet for the peer (never blocks; a full queue drops it). `ts_override`
    /// re-times parameter sets replayed ahead of a cached keyframe.
    pub fn forward(&self, pkt: &RtpPacket, ts_override: Option<u32>) {
        let datagram = rtp_datagram(pkt, self.pt, self.ssrc, ts_override);
        if self.tx.try_send(datagram).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            self.counters.faults.full("rtp_sink", 1);
        }
    }

    fn keyframe_requested(&self) {
        self.stats.keyframe_requests.fetch_add(1, Ordering::Relaxed);
        let source = lock(&self.source).as_ref().and_then(Weak::upgrade);
        if let Some(source) = source {
            source.request_keyframe();
        }
    }
}

/// An RTP packet as the sink sends it: a plain 12-byte header (no CSRC, no extension) with
/// the sink's payload type and SSRC, then the camera's payload.
pub fn rtp_datagram(pkt: &RtpPacket, pt: u8, ssrc: u32, ts_override: Option<u32>) -> Vec<u8> {
    let mut d = Vec::with_capacity(12 + pkt.payload.len());
    d.push(0x80);
    d.push(if pkt.marker { 0x80 } else { 0 } | (pt & 0x7f));
    d.extend_from_slice(&pkt.seq.to_be_bytes());
    d.extend_from_slice(&ts_override.unwrap_or(pkt.ts).to_be_bytes());
    d.extend_from_slice(&ssrc.to_be_bytes());
    d.extend_from_slice(&pkt.payload);
    d
}

/// Whether an RTCP compound packet carries a PLI or FIR (RFC 4585 / 5104 PSFB, FMT 1 or 4).
pub fn asks_for_keyframe(mut d: &[u8]) -> bool {
    while d.len() >= 4 && d[0] >> 6 == 2 {
        let (fmt, pt) = (d[0] & 0x1f, d[1]);
        let len = (u16::from_be_bytes([d[2], d[3]]) as usize + 1) * 4;
        if len > d.len() {
            return false;
        }
        if pt == 206 && (fmt == 1 || fmt == 4) {
            return true;
        }
        d = &d[len..];
    }
    false
}

async fn send_loop(sink: Weak<RtpSink>, sock: UdpSocket, mut rx: mpsc::Receiver<Vec<u8>>, cancel: CancellationToken) {
    let Some(dest) = sink.upgrade().map(|s| s.dest) else { return };
    loop {
        let datagram = tokio::select! {
            _ = cancel.cancelled() => break,
            d = rx.recv() => match d { Some(d) => d, None => break },
        };
        // A send error is an ICMP report of an earlier send (the peer is not listening yet):
        // the packet is lost like any UDP packet, the sink goes on.
        if sock.send_to(&datagram, dest).await.is_ok() {
            let Some(s) = sink.upgrade() else { break };
            s.stats.packets_sent.fetch_add(1, Ordering::Relaxed);
            s.stats.bytes_sent.fetch_add(datagram.len() as u64, Ordering::Relaxed);
            MediaCounters::add(&s.counters.rtp_packets_out, 1);
            MediaCounters::add(&s.counters.rtp_bytes_out, datagram.len().saturating_sub(12) as u64);
        }
    }
}

async fn rtcp_loop(sink: Weak<RtpSink>, sock: UdpSocket, cancel: CancellationToken) {
    let Some(peer_ip) = sink.upgrade().map(|s| s.dest.ip().to_canonical()) else { return };
    let mut buf = vec![0u8; 1500];
    loop {
        let (n, from) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = sock.recv_from(&mut buf) => match r { Ok(x) => x, Err(_) => continue },
        };
        if from.ip().to_canonical() != peer_ip || !asks_for_keyframe(&buf[..n]) {
            continue;
        }
        let Some(s) = sink.upgrade() else { break };
        s.keyframe_requested();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_packet_carries_the_sinks_payload_type_and_ssrc_and_the_cameras_timing() {
        let pkt = RtpPacket {
            pt: 100,
            seq: 0xfffe,
            ts: 90_000,
            ssrc: 7,
            marker: true,
            payload: Arc::from(&[0x65u8, 1, 2][..]),
            index: 0,
        };
        let d = rtp_datagram(&pkt, 96, 0x0102_0304, None);
        assert_eq!(d, [0x80, 0x80 | 96, 0xff, 0xfe, 0, 1, 0x5f, 0x90, 1, 2, 3, 4, 0x65, 1, 2]);
        let retimed = rtp_datagram(&pkt, 96, 1, Some(5));
        assert_eq!(&retimed[4..8], &[0, 0, 0, 5]);
        assert_eq!(super::super::packet::parse_rtp(&d).map(|p| (p.pt, p.seq, p.ts)), Some((96, 0xfffe, 90_000)));
    }

    #[test]
    fn a_pli_or_fir_anywhere_in_a_compound_packet_asks_for_a_keyframe_and_nothing_else_does() {
        let rr = [0x80u8, 201, 0, 1, 0, 0, 0, 1];
        let pli = [0x81u8, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2];
        let fir = [0x84u8, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0];
        let nack = [0x81u8, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 1, 0, 0];
        assert!(asks_for_keyframe(&[&rr[..], &pli[..]].concat()));
        assert!(asks_for_keyframe(&fir));
        assert!(!asks_for_keyframe(&rr));
        assert!(!asks_for_keyframe(&nack));
        assert!(!asks_for_keyframe(&[0x81, 206, 0xff, 0xff]), "a length past the end is not a PLI");
        assert!(!asks_for_keyframe(&[]));
    }
}
