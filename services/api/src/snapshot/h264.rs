//! H.264 over RTP (RFC 6184) into access units, and the latest keyframe of a stream.
//!
//! Sans-IO: packets in, access units and keyframes out; no sockets, no clock.
//! Invariants: no input panics (every index is checked); an access unit that lost a packet
//! (a sequence gap, a fragment without its start) is dropped whole, never kept as a keyframe;
//! a kept keyframe always carries the SPS and PPS it needs.

/// NAL unit types this module cares about.
pub const NAL_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

/// Largest access unit kept (bytes): a bound on what a sender can make us buffer.
const MAX_UNIT: usize = 4 << 20;

pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1f)
}

/// An RTP packet's fields the depacketizer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rtp<'a> {
    pub seq: u16,
    pub ts: u32,
    pub marker: bool,
    pub payload_type: u8,
    pub payload: &'a [u8],
}

/// Parses an RTP packet (RFC 3550): header, CSRCs, extension and padding skipped.
pub fn parse_rtp(d: &[u8]) -> Option<Rtp<'_>> {
    if d.len() < 12 || d[0] >> 6 != 2 {
        return None;
    }
    let mut off = 12 + 4 * (d[0] & 0x0f) as usize;
    if d[0] & 0x10 != 0 {
        let ext = d.get(off + 2..off + 4)?;
        off += 4 + 4 * u16::from_be_bytes([ext[0], ext[1]]) as usize;
    }
    let mut end = d.len();
    if d[0] & 0x20 != 0 {
        end = end.checked_sub(*d.last()? as usize)?;
    }
    (off < end).then(|| Rtp {
        seq: u16::from_be_bytes([d[2], d[3]]),
        ts: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
        marker: d[1] & 0x80 != 0,
        payload_type: d[1] & 0x7f,
        payload: &d[off..end],
    })
}

/// One picture's NAL units (without start codes), all of one RTP timestamp.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessUnit {
    pub ts: u32,
    pub nals: Vec<Vec<u8>>,
}

impl AccessUnit {
    pub fn has(&self, t: u8) -> bool {
        self.nals.iter().any(|n| nal_type(n) == Some(t))
    }

    /// Annex B byte stream (start code before each NAL), as decoders take it.
    pub fn annex_b(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.nals.iter().map(|n| n.len() + 4).sum());
        for n in &self.nals {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(n);
        }
        out
    }
}

/// RTP packets (in arrival order) into access units: single NAL units, STAP-A and FU-A.
/// A unit ends at the marker bit or when the timestamp changes.
#[derive(Debug, Default)]
pub struct Depacketizer {
    unit: AccessUnit,
    size: usize,
    /// An FU-A being reassembled.
    fragment: Option<Vec<u8>>,
    last_seq: Option<u16>,
    /// The current unit lost a packet: it is dropped when it ends.
    broken: bool,
    started: bool,
}

impl Depacketizer {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes one packet; returns the access unit it completed, if any.
    pub fn push(&mut self, p: &Rtp<'_>) -> Option<AccessUnit> {
        // A lost packet may have been the previous unit's tail or this one's head: both go.
        let gap = self.last_seq.is_some_and(|s| s.wrapping_add(1) != p.seq);
        self.last_seq = Some(p.seq);
        let mut done = None;
        if self.started && p.ts != self.unit.ts {
            // The previous unit ended without its marker (lost, or the sender sets none).
            self.broken |= gap;
            done = self.finish();
        }
        self.unit.ts = p.ts;
        self.started = true;
        if gap {
            self.broken = true;
            self.fragment = None;
        }
        self.take_payload(p.payload);
        if self.size > MAX_UNIT {
            self.broken = true;
            self.unit.nals.clear();
            self.size = 0;
        }
        if p.marker {
            return self.finish().or(done);
        }
        done
    }

    fn take_payload(&mut self, payload: &[u8]) {
        let Some(t) = nal_type(payload) else { return };
        match t {
            1..=23 => self.add(payload.to_vec()),
            STAP_A => {
                let mut rest = &payload[1..];
                while rest.len() >= 2 {
                    let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
                    let Some(nal) = rest.get(2..2 + n) else {
                        self.broken = true;
                        return;
                    };
                    if !nal.is_empty() {
                        self.add(nal.to_vec());
                    }
                    rest = &rest[2 + n..];
                }
            }
            FU_A => {
                let (Some(&indicator), Some(&header)) = (payload.first(), payload.get(1)) else {
                    self.broken = true;
                    return;
                };
                let (start, end) = (header & 0x80 != 0, header & 0x40 != 0);
                if start {
                    let mut nal = vec![(indicator & 0xe0) | (header & 0x1f)];
                    nal.extend_from_slice(&payload[2..]);
                    self.fragment = Some(nal);
                } else if let Some(f) = self.fragment.as_mut() {
                    f.extend_from_slice(&payload[2..]);
                } else {
                    // A middle or end without its start: the start was lost.
                    self.broken = true;
                    return;
                }
                self.size += payload.len();
                if end {
                    if let Some(nal) = self.fragment.take() {
                        self.add(nal);
                    }
                }
            }
            // STAP-B, MTAP, FU-B (interleaved mode) and reserved types: not in mode 1.
            _ => self.broken = true,
        }
    }

    fn add(&mut self, nal: Vec<u8>) {
        self.size += nal.len();
        self.unit.nals.push(nal);
    }

    fn finish(&mut self) -> Option<AccessUnit> {
        let broken = std::mem::take(&mut self.broken) || self.fragment.take().is_some();
        let unit = AccessUnit { ts: self.unit.ts, nals: std::mem::take(&mut self.unit.nals) };
        self.size = 0;
        (!broken && !unit.nals.is_empty()).then_some(unit)
    }
}

/// The latest whole keyframe of a stream with the parameter sets it needs; `generation`
/// counts the keyframes kept, so a cache can tell a new one from the one it decoded.
#[derive(Debug, Default)]
pub struct KeyframeKeeper {
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    latest: Option<AccessUnit>,
    generation: u64,
}

impl KeyframeKeeper {
    /// Takes a complete access unit; returns whether it became the latest keyframe.
    pub fn push(&mut self, unit: AccessUnit) -> bool {
        for n in &unit.nals {
            match nal_type(n) {
                Some(NAL_SPS) => self.sps = Some(n.clone()),
                Some(NAL_PPS) => self.pps = Some(n.clone()),
                _ => {}
            }
        }
        if !unit.has(NAL_IDR) {
            return false;
        }
        let (Some(sps), Some(pps)) = (&self.sps, &self.pps) else { return false };
        let mut nals = vec![];
        if !unit.has(NAL_SPS) {
            nals.push(sps.clone());
        }
        if !unit.has(NAL_PPS) {
            nals.push(pps.clone());
        }
        nals.extend(unit.nals);
        self.latest = Some(AccessUnit { ts: unit.ts, nals });
        self.generation += 1;
        true
    }

    pub fn latest(&self) -> Option<(u64, &AccessUnit)> {
        self.latest.as_ref().map(|u| (self.generation, u))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// 12 frames of libx264 (baseline, 160x120, a keyframe every 6) as ffmpeg's RTP muxer sent
    /// them with 400-byte packets: STAP-A (SPS+PPS), FU-A (IDR and P slices, an SEI) and single
    /// NAL units. Each datagram is prefixed with its length (u16, big endian).
    pub const X264: &[u8] = include_bytes!("testdata/x264-160x120.rtp");

    pub fn x264_packets() -> Vec<&'static [u8]> {
        let (mut out, mut rest) = (vec![], X264);
        while rest.len() >= 2 {
            let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
            out.push(&rest[2..2 + n]);
            rest = &rest[2 + n..];
        }
        out
    }

    fn units(packets: &[&[u8]]) -> Vec<AccessUnit> {
        let mut d = Depacketizer::new();
        packets.iter().filter_map(|p| d.push(&parse_rtp(p).unwrap())).collect()
    }

    #[test]
    fn x264_packets_become_twelve_access_units_with_two_keyframes() {
        let packets = x264_packets();
        assert_eq!(packets.len(), 56);
        let units = units(&packets);
        assert_eq!(units.len(), 12);
        let keyframes: Vec<_> = units.iter().filter(|u| u.has(NAL_IDR)).collect();
        assert_eq!(keyframes.len(), 2);
        for k in &keyframes {
            assert!(k.has(NAL_SPS) && k.has(NAL_PPS), "the STAP-A's parameter sets belong to the keyframe");
            let idr_slices = k.nals.iter().filter(|n| nal_type(n) == Some(NAL_IDR)).count();
            assert_eq!(idr_slices, 2, "both FU-A-fragmented IDR slices are reassembled");
        }
        assert!(units.iter().all(|u| !u.nals.iter().any(Vec::is_empty)));
        let first_ts = units[0].ts;
        assert!(units.windows(2).all(|w| w[1].ts.wrapping_sub(first_ts) > w[0].ts.wrapping_sub(first_ts)));
    }

    #[test]
    fn a_lost_fragment_drops_its_access_unit_and_the_next_keyframe_is_kept_whole() {
        let mut packets = x264_packets();
        packets.remove(5); // a middle FU-A fragment of the first IDR
        let units = units(&packets);
        assert_eq!(units.len(), 11, "only the damaged unit is dropped");
        assert_eq!(units.iter().filter(|u| u.has(NAL_IDR)).count(), 1);
        let mut keeper = KeyframeKeeper::default();
        for u in units {
            keeper.push(u);
        }
        let (generation, latest) = keeper.latest().expect("the second keyframe");
        assert_eq!(generation, 1);
        assert_eq!(latest.nals.iter().filter(|n| nal_type(n) == Some(NAL_IDR)).count(), 2);
    }

    #[test]
    fn a_keyframe_without_parameter_sets_in_its_unit_gets_the_latest_ones() {
        let mut keeper = KeyframeKeeper::default();
        assert!(!keeper.push(AccessUnit { ts: 1, nals: vec![vec![0x65, 1]] }), "no SPS/PPS seen yet: not decodable");
        assert!(!keeper.push(AccessUnit { ts: 2, nals: vec![vec![0x67, 9], vec![0x68, 8]] }));
        assert!(keeper.push(AccessUnit { ts: 3, nals: vec![vec![0x65, 2]] }));
        let (generation, unit) = keeper.latest().unwrap();
        assert_eq!((generation, unit.ts), (1, 3));
        assert_eq!(unit.nals, vec![vec![0x67, 9], vec![0x68, 8], vec![0x65, 2]]);
        assert_eq!(&unit.annex_b()[..6], &[0, 0, 0, 1, 0x67, 9]);
        assert!(!keeper.push(AccessUnit { ts: 4, nals: vec![vec![0x41, 3]] }), "a P frame is no keyframe");
        assert_eq!(keeper.latest().unwrap().0, 1);
    }

    #[test]
    fn garbage_never_panics_and_never_completes_a_keyframe() {
        let mut d = Depacketizer::new();
        let mut keeper = KeyframeKeeper::default();
        let inputs: [&[u8]; 6] = [&[], &[0x80], &[0x18, 0xff], &[0x18, 0, 5, 0x65], &[0x1c], &[0x1c, 0x45, 1]];
        for (i, payload) in inputs.iter().enumerate() {
            let p = Rtp { seq: i as u16, ts: 7, marker: true, payload_type: 96, payload };
            if let Some(u) = d.push(&p) {
                keeper.push(u);
            }
        }
        assert!(keeper.latest().is_none());
        assert!(parse_rtp(&[0x90, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0xff, 0xff]).is_none());
    }
}
