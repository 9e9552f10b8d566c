//! What a browser's H.264 receiver can tell from the RTP it gets, without decoding: the
//! sans-IO core behind [`super::peer::TestPeer::recover_like_a_browser`].
//!
//! Packets are collected per frame (RTP timestamp) and a frame is judged once it is
//! [`JUDGE_AFTER`] old (a jitter buffer's wait, long enough for a NACKed packet to come back).
//! A frame is complete when its sequence numbers follow on from the previous frame's without
//! a gap, it starts with the start of a NAL unit, every FU-A fragment run opens and closes,
//! and it ends with the marker bit; a timestamp step well beyond the usual one is a lost
//! frame. Like a decoder, the watch needs a keyframe (a complete frame with an IDR slice) to
//! start, and after a broken frame nothing decodes until the next keyframe: while it waits it
//! asks for one (PLI) at once and then every [`PLI_REPEAT`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a frame may wait for its missing packets before it is judged.
pub const JUDGE_AFTER: Duration = Duration::from_millis(250);

/// A keyframe request is repeated this often while none arrives.
pub const PLI_REPEAT: Duration = Duration::from_secs(1);

/// What the watch saw so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FrameCounts {
    /// Frames judged.
    pub frames: u64,
    /// Complete frames with an IDR slice.
    pub keyframes: u64,
    /// Frames with (part of) an IDR slice that were not complete: keyframes lost on the way.
    pub broken_keyframes: u64,
    /// Frames that would have been shown (keyframes included).
    pub decodable: u64,
    /// Incomplete frames (or lost ones, seen as a timestamp gap).
    pub broken: u64,
    /// Packets that came after their frame had been judged.
    pub late_packets: u64,
    /// Keyframe requests the watch asked for.
    pub keyframe_requests: u64,
    /// From each broken frame (after playing) to the next keyframe.
    pub recoveries: Vec<Duration>,
}

#[derive(Debug, Clone, Copy)]
struct Pkt {
    marker: bool,
    /// NAL unit type of a single NAL packet, 24 (STAP-A) or 28 (FU-A).
    nal: u8,
    /// FU-A start and end bits; for other packets both true.
    start: bool,
    end: bool,
    /// Carries (a fragment of) an IDR slice.
    idr: bool,
}

struct Frame {
    first_arrival: Instant,
    packets: BTreeMap<u64, Pkt>,
}

/// The frame judge. See the module doc.
#[derive(Default)]
pub struct FrameWatch {
    frames: BTreeMap<u64, Frame>,
    /// Timestamp, last sequence number and marker bit of the last judged frame.
    last: Option<(u64, u64, bool)>,
    /// Smallest timestamp step seen between judged frames: the frame interval.
    step: Option<u64>,
    playing: bool,
    broken_since: Option<Instant>,
    last_request: Option<Instant>,
    counts: FrameCounts,
}

impl FrameWatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// One received packet: its extended sequence number and timestamp, marker and payload.
    pub fn on_packet(&mut self, now: Instant, seq: u64, ts: u64, marker: bool, payload: &[u8]) {
        if self.last.is_some_and(|(last_ts, _, _)| ts <= last_ts) {
            self.counts.late_packets += 1;
            return;
        }
        let Some(pkt) = inspect(marker, payload) else { return };
        let frame = self.frames.entry(ts).or_insert_with(|| Frame { first_arrival: now, packets: BTreeMap::new() });
        frame.packets.insert(seq, pkt);
    }

    /// Judges the frames old enough; returns whether to send a keyframe request now.
    pub fn poll(&mut self, now: Instant) -> bool {
        while let Some(entry) = self.frames.first_entry() {
            if now.saturating_duration_since(entry.get().first_arrival) < JUDGE_AFTER {
                break;
            }
            let (ts, frame) = entry.remove_entry();
            self.judge(now, ts, &frame);
        }
        let waiting = !self.playing && self.counts.frames > 0;
        if waiting && self.last_request.is_none_or(|t| now.saturating_duration_since(t) >= PLI_REPEAT) {
            self.last_request = Some(now);
            self.counts.keyframe_requests += 1;
            return true;
        }
        false
    }

    /// The earliest time [`FrameWatch::poll`] has something to judge.
    pub fn next_judgement(&self) -> Option<Instant> {
        self.frames.values().map(|f| f.first_arrival + JUDGE_AFTER).min()
    }

    pub fn counts(&self) -> &FrameCounts {
        &self.counts
    }

    /// Whether the last judged frame was shown (a keyframe came since the last break).
    pub fn playing(&self) -> bool {
        self.playing
    }

    fn judge(&mut self, now: Instant, ts: u64, frame: &Frame) {
        self.counts.frames += 1;
        let (first, last) = match (frame.packets.keys().next(), frame.packets.keys().next_back()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => return,
        };
        let mut complete = last - first + 1 == frame.packets.len() as u64;
        if let Some((last_ts, last_seq, ended)) = self.last {
            // A gap after a frame that lost its end is that frame's fault.
            complete &= first == last_seq + 1 || !ended;
            let delta = ts - last_ts;
            if let Some(step) = self.step {
                complete &= delta * 2 < step * 3; // more than 1.5 frame intervals: a frame is missing
            }
            self.step = Some(self.step.map_or(delta, |s| s.min(delta)));
        }
        complete &= frame.packets.values().next_back().is_some_and(|p| p.marker);
        let mut fu_open = false;
        for p in frame.packets.values() {
            if p.nal == 28 {
                complete &= p.start != fu_open; // a start only when closed, the rest only when open
                fu_open = !p.end;
            } else {
                complete &= !fu_open;
            }
        }
        complete &= !fu_open;
        let keyframe = complete && frame.packets.values().any(|p| p.idr);
        let ended = frame.packets.values().next_back().is_some_and(|p| p.marker);
        self.last = Some((ts, last, ended));
        if keyframe {
            self.counts.keyframes += 1;
            if let Some(since) = self.broken_since.take() {
                self.counts.recoveries.push(now.saturating_duration_since(since));
            }
            self.playing = true;
            self.last_request = None;
        } else if !complete {
            self.counts.broken += 1;
            if frame.packets.values().any(|p| p.idr) {
                self.counts.broken_keyframes += 1;
            }
            if self.playing {
                self.playing = false;
                self.broken_since = Some(now);
            }
        }
        if self.playing {
            self.counts.decodable += 1;
        }
    }
}

/// The NAL facts of one H.264 RTP payload (RFC 6184); `None` for an empty one.
fn inspect(marker: bool, payload: &[u8]) -> Option<Pkt> {
    let nal = payload.first()? & 0x1f;
    let pkt = match nal {
        28 => {
            let fu = *payload.get(1)?;
            Pkt { marker, nal, start: fu & 0x80 != 0, end: fu & 0x40 != 0, idr: fu & 0x1f == 5 }
        }
        24 => {
            // STAP-A: 16-bit sizes, each followed by a NAL unit.
            let mut idr = false;
            let mut rest = &payload[1..];
            while rest.len() > 2 {
                let size = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                idr |= rest.get(2).is_some_and(|b| b & 0x1f == 5);
                rest = rest.get(2 + size..).unwrap_or_default();
            }
            Pkt { marker, nal, start: true, end: true, idr }
        }
        _ => Pkt { marker, nal, start: true, end: true, idr: nal == 5 },
    };
    Some(pkt)
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
