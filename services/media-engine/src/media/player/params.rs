//! A camera quirk: many RTSP cameras send H.264's SPS and PPS only in the DESCRIBE
//! (`sprop-parameter-sets`), never in the stream, and a WebRTC viewer cannot decode without them.
//! [`ParamSetInjector`] puts them, as one STAP-A packet, in front of each IDR that arrives
//! without them, shifting the following sequence numbers by the packets it added (so the
//! stream stays gapless). Sans-IO: packets in, packets out.

use std::borrow::Cow;

use base64::Engine as _;

use crate::sdp::fmtp_param;

const NAL_IDR: u8 = 5;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const STAP_A: u8 = 24;
const FU_A: u8 = 28;

pub struct ParamSetInjector {
    /// The STAP-A payload carrying the SPS and PPS, if the camera described both.
    stap_a: Option<Vec<u8>>,
    /// Packets added so far: added to every later sequence number.
    seq_offset: u16,
    /// RTP timestamp of the last access unit that carried its own SPS.
    sps_at: Option<u32>,
}

impl ParamSetInjector {
    /// From the camera's H.264 fmtp; does nothing when it has no usable `sprop-parameter-sets`.
    pub fn new(fmtp: Option<&str>) -> Self {
        let nals: Vec<Vec<u8>> = fmtp
            .and_then(|f| fmtp_param(f, "sprop-parameter-sets"))
            .map(|v| {
                v.split(',').filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok()).collect()
            })
            .unwrap_or_default();
        let find = |t: u8| nals.iter().find(|n| n.first().map(|b| b & 0x1f) == Some(t));
        let stap_a = find(NAL_SPS).zip(find(NAL_PPS)).map(|(sps, pps)| {
            let nri = sps[0] & 0x60;
            let mut p = vec![nri | STAP_A];
            for nal in [sps, pps] {
                p.extend_from_slice(&(nal.len() as u16).to_be_bytes());
                p.extend_from_slice(nal);
            }
            p
        });
        ParamSetInjector { stap_a, seq_offset: 0, sps_at: None }
    }

    /// The packets to forward for camera packet `pkt`, in order.
    pub fn process<'a>(&mut self, pkt: &'a [u8]) -> Vec<Cow<'a, [u8]>> {
        let Some((ts, payload)) = split(pkt) else { return vec![Cow::Borrowed(pkt)] };
        let nals = nal_types(payload);
        if nals.sps {
            self.sps_at = Some(ts);
        }
        let mut out = Vec::with_capacity(2);
        if let Some(stap) = self.stap_a.as_ref().filter(|_| nals.idr_start && self.sps_at != Some(ts)) {
            let mut injected = vec![0x80, pkt[1] & 0x7f];
            injected.extend_from_slice(&seq(pkt).wrapping_add(self.seq_offset).to_be_bytes());
            injected.extend_from_slice(&pkt[4..12]);
            injected.extend_from_slice(stap);
            out.push(Cow::Owned(injected));
            self.seq_offset = self.seq_offset.wrapping_add(1);
            self.sps_at = Some(ts);
        }
        if self.seq_offset == 0 {
            out.push(Cow::Borrowed(pkt));
        } else {
            let mut shifted = pkt.to_vec();
            shifted[2..4].copy_from_slice(&seq(pkt).wrapping_add(self.seq_offset).to_be_bytes());
            out.push(Cow::Owned(shifted));
        }
        out
    }
}

fn seq(pkt: &[u8]) -> u16 {
    u16::from_be_bytes([pkt[2], pkt[3]])
}

/// (timestamp, payload) of an RTP packet, or None if it is not one.
fn split(pkt: &[u8]) -> Option<(u32, &[u8])> {
    if pkt.len() < 12 || pkt[0] >> 6 != 2 {
        return None;
    }
    let mut start = 12 + 4 * usize::from(pkt[0] & 0x0f);
    if pkt[0] & 0x10 != 0 {
        let ext = pkt.get(start + 2..start + 4)?;
        start += 4 + 4 * usize::from(u16::from_be_bytes([ext[0], ext[1]]));
    }
    let end = if pkt[0] & 0x20 != 0 { pkt.len().checked_sub(usize::from(*pkt.last()?))? } else { pkt.len() };
    let ts = u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
    Some((ts, pkt.get(start..end).filter(|p| !p.is_empty())?))
}

#[derive(Default)]
struct NalTypes {
    sps: bool,
    idr_start: bool,
}

fn nal_types(payload: &[u8]) -> NalTypes {
    let mut t = NalTypes::default();
    let mut see = |nal: u8, start: bool| {
        t.sps |= nal == NAL_SPS;
        t.idr_start |= nal == NAL_IDR && start;
    };
    match payload[0] & 0x1f {
        STAP_A => {
            let mut rest = &payload[1..];
            while rest.len() > 2 {
                let size = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
                let Some(nal) = rest.get(2..2 + size).filter(|n| !n.is_empty()) else { break };
                see(nal[0] & 0x1f, true);
                rest = &rest[2 + size..];
            }
        }
        FU_A => {
            if let Some(&fu) = payload.get(1) {
                see(fu & 0x1f, fu & 0x80 != 0);
            }
        }
        nal => see(nal, true),
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    const FMTP: &str = "packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets=Z0LAHtkA,aMuDyyA=";

    fn rtp(seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 0x60 | 0x80];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&[1, 2, 3, 4]);
        p.extend_from_slice(payload);
        p
    }

    fn seqs(out: &[Cow<[u8]>]) -> Vec<u16> {
        out.iter().map(|p| seq(p)).collect()
    }

    #[test]
    fn an_idr_without_parameter_sets_gets_the_described_ones_in_front_and_later_packets_shift() {
        let mut inj = ParamSetInjector::new(Some(FMTP));
        let idr = rtp(100, 9000, &[0x7c, 0x85, 0xaa]); // FU-A start of an IDR
        let out = inj.process(&idr);
        assert_eq!(seqs(&out), [100, 101]);
        let stap = &out[0][12..];
        assert_eq!(stap[0] & 0x1f, STAP_A);
        assert_eq!(&stap[1..3], &[0, 6], "the SPS' size");
        assert_eq!(stap[3] & 0x1f, NAL_SPS);
        assert_eq!(&out[0][4..8], &9000u32.to_be_bytes(), "same timestamp as the IDR");
        assert_eq!(out[0][1] & 0x80, 0, "no marker on the parameter sets");
        assert_eq!(&out[1][4..], &idr[4..], "the IDR itself is untouched but its seq");
        assert_eq!(seqs(&inj.process(&rtp(101, 9000, &[0x7c, 0x45, 0xbb]))), [102], "FU-A end: shifted, nothing added");
        assert_eq!(seqs(&inj.process(&rtp(102, 12000, &[0x41, 0x9a]))), [103], "a P frame");
    }

    #[test]
    fn an_idr_that_brings_its_own_sps_is_left_alone() {
        let mut inj = ParamSetInjector::new(Some(FMTP));
        assert_eq!(seqs(&inj.process(&rtp(7, 100, &[0x67, 0x42, 0xc0]))), [7]);
        assert_eq!(seqs(&inj.process(&rtp(8, 100, &[0x68, 0xcb]))), [8]);
        assert_eq!(seqs(&inj.process(&rtp(9, 100, &[0x65, 0x88]))), [9]);
        let stap_with_sps = [0x78, 0, 2, 0x67, 0x42, 0, 2, 0x68, 0xcb];
        assert_eq!(seqs(&inj.process(&rtp(10, 200, &stap_with_sps))), [10]);
        assert_eq!(seqs(&inj.process(&rtp(11, 200, &[0x65, 0x88]))), [11]);
    }

    #[test]
    fn without_described_parameter_sets_or_for_garbage_packets_are_passed_through() {
        let mut inj = ParamSetInjector::new(Some("packetization-mode=1"));
        assert_eq!(seqs(&inj.process(&rtp(1, 1, &[0x65, 0x88]))), [1]);
        let mut inj = ParamSetInjector::new(Some(FMTP));
        for garbage in [&[0u8; 3][..], &[0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1][..], &[0x9f; 14][..]] {
            assert_eq!(inj.process(garbage).len(), 1);
        }
    }
}
