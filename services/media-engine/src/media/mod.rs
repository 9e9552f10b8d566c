//! Media plane: RTP in from cameras, WebRTC out to viewers.
//!
//! One task reads each camera socket and hands every packet (payload shared as `Arc<[u8]>`) to
//! all viewers of that stream. Viewers are str0m `Rtc` instances behind their own mutex, fed by
//! the WebRTC socket readers (one shared port demultiplexed by ICE ufrag and remote address, or
//! one port per viewer) and by a per-viewer timer task.
//!
//! Lock order: a viewer's lock may be held while taking its source's cache lock, never the
//! reverse; media code never takes the RPC core lock (events go through a channel).

pub mod packet;
pub mod ports;
pub mod rtp_source;
pub mod webrtc;

use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of the media plane, for tests, `getStats` and the metrics (plain atomics on the
/// hot path; the observable counters read them at collection time).
#[derive(Debug, Default)]
pub struct MediaCounters {
    pub rtp_packets_in: AtomicU64,
    /// RTP payload bytes of `rtp_packets_in`.
    pub rtp_bytes_in: AtomicU64,
    pub rtp_garbage_in: AtomicU64,
    /// Datagrams on camera sockets (RTP and RTCP) from another address than the camera's,
    /// dropped unread (see `rtp_source`'s source latching).
    pub rtp_foreign_in: AtomicU64,
    pub webrtc_packets_in: AtomicU64,
    pub webrtc_unknown_in: AtomicU64,
    /// Datagrams routed to a viewer whose `Rtc` never accepted them (held early, then dropped).
    pub webrtc_refused_in: AtomicU64,
    /// RTP packets written to viewers, and their payload bytes.
    pub rtp_packets_out: AtomicU64,
    pub rtp_bytes_out: AtomicU64,
}

impl MediaCounters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}
