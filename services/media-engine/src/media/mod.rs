//! Media plane: RTP in from cameras, WebRTC out to viewers.
//!
//! One task reads each camera socket and hands every packet (payload shared as `Arc<[u8]>`) once
//! to each worker thread that has viewers of that stream (`worker`). A worker owns its viewers'
//! str0m `Rtc`s outright, with one timer for all of them, and sends in batches. Datagrams from
//! viewers (one shared port demultiplexed by ICE ufrag and remote address, or one port per
//! viewer) are routed to the owning worker (`webrtc::WebRtcMux`).
//!
//! Locks: the packet path takes none but a source's fan-out list (read) and, when a viewer
//! starts, its fast-start cache; media code never takes the RPC core lock (events go through a
//! channel).

pub mod packet;
pub mod player;
pub mod ports;
pub mod rtp_sink;
pub mod rtp_source;
pub mod webrtc;
pub mod worker;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::cpu::CpuGauge;
use crate::supervise::Faults;

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
    /// Contained panics, task restarts and full queues (`supervise`).
    pub faults: Arc<Faults>,
    /// The process' CPU use (`cpu::run_cpu_meter`).
    pub cpu: Arc<CpuGauge>,
}

impl MediaCounters {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}
