//! What one viewer counts: join times, packets and bytes, sequence gaps, glass-to-glass samples.
//! Cheap on purpose: a few integers per packet, one sample per stamp inside the window.

use std::time::Instant;

use super::fast::Seen;
use crate::stamp;

/// Counters of one viewer, owned by its worker.
#[derive(Debug)]
pub struct ViewerStats {
    pub started: Instant,
    pub answered: Instant,
    pub connected: Option<Instant>,
    pub first_rtp: Option<Instant>,
    pub packets: u64,
    /// UDP payload bytes of RTP packets (wire size).
    pub bytes: u64,
    /// Highest extended sequence number seen.
    pub max_seq: Option<u64>,
    /// RTP packets str0m decrypted (the rest were only counted, see `fast`).
    pub decrypted: u64,
    /// SSRC of the media str0m decrypted.
    pub media_ssrc: Option<u32>,
    seen: Seen,
    /// Packets whose sequence number had already arrived (retransmissions), not counted.
    pub duplicates: u64,
    window: Option<WindowStart>,
    /// Glass-to-glass samples inside the window, microseconds.
    pub glass_us: Vec<u32>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct WindowStart {
    duplicates: u64,
    packets: u64,
    bytes: u64,
    max_seq: Option<u64>,
}

impl ViewerStats {
    pub fn new(started: Instant, answered: Instant) -> Self {
        ViewerStats {
            started,
            answered,
            connected: None,
            first_rtp: None,
            packets: 0,
            bytes: 0,
            max_seq: None,
            decrypted: 0,
            media_ssrc: None,
            seen: Seen::default(),
            duplicates: 0,
            window: None,
            glass_us: Vec::new(),
            error: None,
        }
    }

    /// One RTP packet str0m decrypted: `wire_len` bytes, extended sequence `seq`, `payload`.
    pub fn on_rtp(&mut self, now: Instant, wire_len: usize, ssrc: u32, seq: u64, payload: &[u8]) {
        self.decrypted += 1;
        self.media_ssrc = Some(ssrc);
        self.on_counted(now, wire_len, seq);
        if self.window.is_some() {
            if let Some(sent) = stamp::read(payload) {
                let glass = stamp::now_micros().saturating_sub(sent);
                self.glass_us.push(u32::try_from(glass).unwrap_or(u32::MAX));
            }
        }
    }

    /// One RTP packet counted (decrypted or not).
    pub fn on_counted(&mut self, now: Instant, wire_len: usize, seq: u64) {
        self.first_rtp.get_or_insert(now);
        if !self.seen.insert(seq) {
            self.duplicates += 1;
            return;
        }
        self.packets += 1;
        self.bytes += wire_len as u64;
        self.max_seq = Some(self.max_seq.map_or(seq, |m| m.max(seq)));
    }

    pub fn start_window(&mut self) {
        self.window = Some(WindowStart {
            duplicates: self.duplicates,
            packets: self.packets,
            bytes: self.bytes,
            max_seq: self.max_seq,
        });
        self.glass_us.clear();
    }

    pub fn report(&self, id: u32) -> ViewerReport {
        let ms = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(self.started).as_secs_f64() * 1000.0);
        let w = self.window.unwrap_or(WindowStart { duplicates: 0, packets: 0, bytes: 0, max_seq: None });
        let (win_packets, win_bytes) = (self.packets - w.packets, self.bytes - w.bytes);
        // Packets the server numbered in the window but that never arrived.
        let expected = match (w.max_seq, self.max_seq) {
            (Some(a), Some(b)) => b - a,
            (None, Some(_)) => win_packets,
            _ => 0,
        };
        ViewerReport {
            id,
            offer_to_answer_ms: ms(Some(self.answered)).unwrap_or_default(),
            offer_to_connected_ms: ms(self.connected),
            offer_to_first_rtp_ms: ms(self.first_rtp),
            window_packets: win_packets,
            window_bytes: win_bytes,
            window_seq_gaps: expected.saturating_sub(win_packets),
            window_duplicates: self.duplicates - w.duplicates,
            glass_us: self.glass_us.clone(),
            error: self.error.clone(),
        }
    }
}

/// One viewer's figures.
#[derive(Debug, Clone)]
pub struct ViewerReport {
    pub id: u32,
    pub offer_to_answer_ms: f64,
    pub offer_to_connected_ms: Option<f64>,
    pub offer_to_first_rtp_ms: Option<f64>,
    pub window_packets: u64,
    pub window_bytes: u64,
    /// Sequence numbers skipped inside the window (loss after the server numbered them).
    pub window_seq_gaps: u64,
    /// Packets that arrived twice (retransmissions of packets already received).
    pub window_duplicates: u64,
    pub glass_us: Vec<u32>,
    pub error: Option<String>,
}

/// Join progress over all viewers.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    pub viewers: usize,
    pub connected: usize,
    pub receiving: usize,
    pub failed: usize,
    /// Local UDP ports of the viewers' sockets (for their drop counters).
    pub ports: Vec<u16>,
}

impl Progress {
    pub fn add(&mut self, other: &Progress) {
        self.viewers += other.viewers;
        self.connected += other.connected;
        self.receiving += other.receiving;
        self.failed += other.failed;
        self.ports.extend_from_slice(&other.ports);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_counts_packets_gaps_and_stamps_only_after_it_starts() {
        let t0 = Instant::now();
        let mut s = ViewerStats::new(t0, t0);
        s.on_rtp(t0, 1000, 5, 10, &stamp::sei(stamp::now_micros()));
        s.on_rtp(t0, 1000, 5, 11, b"\x65media");
        s.start_window();
        s.on_rtp(t0, 1000, 5, 12, b"\x65media");
        s.on_rtp(t0, 50, 5, 15, &stamp::sei(stamp::now_micros()));
        let r = s.report(7);
        assert_eq!((r.window_packets, r.window_bytes, r.window_seq_gaps), (2, 1050, 2));
        assert_eq!(r.glass_us.len(), 1, "only the stamp inside the window");
        assert!(r.offer_to_first_rtp_ms.is_some());
    }
}
