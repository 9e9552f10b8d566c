//! RTP packet parsing, H.264/H.265/VP8 keyframe detection and the fast-start cache.
//!
//! Invariants: parsing never panics on arbitrary bytes (every index is bounds-checked); a packet's
//! payload is one `Arc<[u8]>` shared by every viewer it is sent to.

use std::sync::Arc;

use crate::codec_params::{h264_profile_level_id, h265_nal_type, h265_ptl, H265Ptl};
use crate::sdp::VideoCodec;

/// A received RTP packet, header fields decoded, payload shared.
#[derive(Debug, Clone)]
pub struct RtpPacket {
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub marker: bool,
    pub payload: Arc<[u8]>,
    /// Arrival order at its source (set by the source; 0 from `parse_rtp`): workers start a
    /// viewer from the cache packets up to the one they are forwarding, never past it.
    pub index: u64,
}

/// Parses an RTP packet (RFC 3550), `None` for anything that is not one.
pub fn parse_rtp(d: &[u8]) -> Option<RtpPacket> {
    if d.len() < 12 || d[0] >> 6 != 2 {
        return None;
    }
    let pt = d[1] & 0x7f;
    // RTCP packet types 200..=204 share the port in rtcp-mux; never treat them as media.
    if (72..=76).contains(&pt) {
        return None;
    }
    let cc = (d[0] & 0x0f) as usize;
    let mut off = 12 + 4 * cc;
    if d[0] & 0x10 != 0 {
        let ext = d.get(off + 2..off + 4)?;
        off += 4 + 4 * u16::from_be_bytes([ext[0], ext[1]]) as usize;
    }
    let mut end = d.len();
    if d[0] & 0x20 != 0 {
        end = end.checked_sub(*d.last()? as usize)?;
    }
    if off >= end {
        return None;
    }
    Some(RtpPacket {
        pt,
        seq: u16::from_be_bytes([d[2], d[3]]),
        ts: u32::from_be_bytes([d[4], d[5], d[6], d[7]]),
        ssrc: u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
        marker: d[1] & 0x80 != 0,
        payload: Arc::from(&d[off..end]),
        index: 0,
    })
}

/// What a payload carries, as far as fast start cares.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PayloadInfo {
    /// Starts a keyframe (H.264: IDR slice start; H.265: IRAP slice start; VP8: key frame
    /// first partition).
    pub keyframe_start: bool,
    /// H.265 only: a VPS.
    pub has_vps: bool,
    pub has_sps: bool,
    pub has_pps: bool,
    /// `profile-level-id` read from an SPS in this packet.
    pub sps_profile_level_id: Option<u32>,
    /// H.265 profile/tier/level read from a VPS or SPS in this packet.
    pub h265_ptl: Option<H265Ptl>,
}

pub fn inspect(codec: VideoCodec, payload: &[u8]) -> PayloadInfo {
    match codec {
        VideoCodec::H264 => inspect_h264(payload),
        VideoCodec::Vp8 => PayloadInfo { keyframe_start: vp8_keyframe_start(payload), ..Default::default() },
        VideoCodec::H265 => inspect_h265(payload),
    }
}

/// RFC 7798: two-byte NAL header (type in bits 1..7 of the first byte); 48 is an aggregation
/// packet (16-bit sizes, then units), 49 a fragmentation unit (FU header: S bit 0x80, type in
/// the low 6 bits).
fn inspect_h265(p: &[u8]) -> PayloadInfo {
    let mut info = PayloadInfo::default();
    let nal = |nal: &[u8], start: bool, info: &mut PayloadInfo| match h265_nal_type(nal) {
        Some(16..=21) if start => info.keyframe_start = true,
        Some(32) => {
            info.has_vps = true;
            info.h265_ptl = info.h265_ptl.or_else(|| h265_ptl(nal));
        }
        Some(33) => {
            info.has_sps = true;
            info.h265_ptl = h265_ptl(nal).or(info.h265_ptl);
        }
        Some(34) => info.has_pps = true,
        _ => {}
    };
    match h265_nal_type(p) {
        Some(0..=47) => nal(p, true, &mut info),
        Some(48) => {
            let mut off = 2;
            while off + 2 <= p.len() {
                let size = u16::from_be_bytes([p[off], p[off + 1]]) as usize;
                off += 2;
                let Some(unit) = p.get(off..off + size) else { break };
                nal(unit, true, &mut info);
                off += size;
            }
        }
        Some(49) => {
            if let Some(&fu) = p.get(2) {
                let fake = [(fu & 0x3f) << 1];
                nal(&fake, fu & 0x80 != 0, &mut info);
            }
        }
        _ => {}
    }
    info
}

fn inspect_h264(p: &[u8]) -> PayloadInfo {
    let mut info = PayloadInfo::default();
    let Some(&first) = p.first() else { return info };
    let nal = |nal: &[u8], start: bool, info: &mut PayloadInfo| {
        let Some(&h) = nal.first() else { return };
        match h & 0x1f {
            5 if start => info.keyframe_start = true,
            7 => {
                info.has_sps = true;
                info.sps_profile_level_id = h264_profile_level_id(nal);
            }
            8 => info.has_pps = true,
            _ => {}
        }
    };
    match first & 0x1f {
        1..=23 => nal(p, true, &mut info),
        24 => {
            // STAP-A: 16-bit sizes followed by NAL units.
            let mut off = 1;
            while off + 2 <= p.len() {
                let size = u16::from_be_bytes([p[off], p[off + 1]]) as usize;
                off += 2;
                let Some(unit) = p.get(off..off + size) else { break };
                nal(unit, true, &mut info);
                off += size;
            }
        }
        28 => {
            // FU-A: indicator, header (S bit 0x80, type in the low 5 bits).
            if let Some(&fu) = p.get(1) {
                let fake = [(first & 0xe0) | (fu & 0x1f)];
                nal(&fake, fu & 0x80 != 0, &mut info);
            }
        }
        _ => {}
    }
    info
}

fn vp8_keyframe_start(p: &[u8]) -> bool {
    let Some(&b0) = p.first() else { return false };
    let start = b0 & 0x10 != 0 && b0 & 0x07 == 0;
    if !start {
        return false;
    }
    let mut off = 1;
    if b0 & 0x80 != 0 {
        let Some(&x) = p.get(1) else { return false };
        off = 2;
        if x & 0x80 != 0 {
            let Some(&pid) = p.get(off) else { return false };
            off += if pid & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            off += 1;
        }
        if x & 0x30 != 0 {
            off += 1;
        }
    }
    p.get(off).is_some_and(|h| h & 0x01 == 0)
}

/// One cached packet; `ts_override` re-times parameter sets sent ahead of a keyframe.
#[derive(Debug, Clone)]
pub struct Cached {
    pub pkt: RtpPacket,
    pub ts_override: Option<u32>,
}

/// The packets since the latest keyframe (with the parameter sets before it), so a viewer that
/// joins mid-stream decodes at once instead of waiting for the camera's next GOP.
#[derive(Debug)]
pub struct GopCache {
    codec: VideoCodec,
    limit: usize,
    gop: Vec<RtpPacket>,
    gop_has_sps: bool,
    /// H.265 only.
    last_vps: Option<RtpPacket>,
    last_sps: Option<RtpPacket>,
    last_pps: Option<RtpPacket>,
    /// The GOP outgrew `limit`: only its start is kept and late joiners need a fresh keyframe.
    truncated: bool,
}

impl GopCache {
    pub fn new(codec: VideoCodec, limit: usize) -> Self {
        GopCache {
            codec,
            limit: limit.max(16),
            gop: vec![],
            gop_has_sps: false,
            last_vps: None,
            last_sps: None,
            last_pps: None,
            truncated: false,
        }
    }

    /// Adds a packet; returns whether it is now the last packet of the cache (so a viewer
    /// started from a snapshot taken after this call already has it).
    pub fn push(&mut self, pkt: &RtpPacket, info: &PayloadInfo) -> bool {
        let nal_codec = matches!(self.codec, VideoCodec::H264 | VideoCodec::H265);
        if info.has_vps && !info.keyframe_start && nal_codec {
            self.last_vps = Some(pkt.clone());
        }
        if info.has_sps && !info.keyframe_start && nal_codec {
            self.last_sps = Some(pkt.clone());
        }
        if info.has_pps && !info.keyframe_start && nal_codec {
            self.last_pps = Some(pkt.clone());
        }
        // A keyframe's parameter sets start its GOP (H.265 sends its VPS first).
        let params = info.has_sps || info.has_vps;
        let new_gop_start = info.keyframe_start || (params && self.gop.first().is_none_or(|f| f.ts != pkt.ts));
        if new_gop_start && self.gop.first().is_none_or(|f| f.ts != pkt.ts) {
            self.gop.clear();
            self.gop_has_sps = false;
            self.truncated = false;
        }
        if self.gop.is_empty() && !new_gop_start {
            return false;
        }
        if self.gop.len() >= self.limit {
            self.truncated = true;
            return false;
        }
        self.gop_has_sps |= info.has_sps;
        self.gop.push(pkt.clone());
        true
    }

    pub fn is_empty(&self) -> bool {
        self.gop.is_empty()
    }

    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Packets a new viewer starts from: parameter sets (when the GOP lacks them, re-timed to
    /// the keyframe) then the GOP. Payloads are shared, not copied.
    pub fn snapshot(&self) -> Vec<Cached> {
        let Some(first) = self.gop.first() else { return vec![] };
        let mut out = Vec::with_capacity(self.gop.len() + 2);
        if !self.gop_has_sps {
            for p in [&self.last_vps, &self.last_sps, &self.last_pps].into_iter().flatten() {
                out.push(Cached { pkt: p.clone(), ts_override: Some(first.ts) });
            }
        }
        out.extend(self.gop.iter().map(|p| Cached { pkt: p.clone(), ts_override: None }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rtp(seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0x80, 96, (seq >> 8) as u8, seq as u8];
        v.extend_from_slice(&ts.to_be_bytes());
        v.extend_from_slice(&[1, 2, 3, 4]);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn rtp_parsing_rejects_garbage_without_panicking() {
        for len in 0..40 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 0x90) as u8).collect();
            let _ = parse_rtp(&junk);
        }
        assert!(parse_rtp(&[0x80, 96, 0, 1]).is_none());
        assert!(parse_rtp(&[0xa0, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff]).is_none(), "padding longer than the packet");
        assert!(
            parse_rtp(&[0x90, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff]).is_none(),
            "extension past the end"
        );
        let p = parse_rtp(&rtp(7, 9000, &[0x65, 1, 2])).unwrap();
        assert_eq!((p.seq, p.ts, p.ssrc, &p.payload[..]), (7, 9000, 0x01020304, &[0x65, 1, 2][..]));
    }

    #[test]
    fn h264_keyframes_and_parameter_sets_are_found() {
        let sps = [0x67, 0x42, 0xc0, 0x1f, 0xaa, 0x01];
        let info = inspect(VideoCodec::H264, &sps);
        assert!(info.has_sps && !info.keyframe_start);
        assert_eq!(info.sps_profile_level_id, Some(0x42c01f));
        let mut stap = vec![24, 0, 5];
        stap[2] = sps.len() as u8;
        stap.extend_from_slice(&sps);
        stap.extend_from_slice(&[0, 2, 0x68, 0xce]);
        let info = inspect(VideoCodec::H264, &stap);
        assert!(info.has_sps && info.has_pps);
        assert!(inspect(VideoCodec::H264, &[0x7c, 0x85, 1]).keyframe_start, "FU-A start of an IDR");
        assert!(!inspect(VideoCodec::H264, &[0x7c, 0x05, 1]).keyframe_start, "FU-A middle");
        assert!(!inspect(VideoCodec::H264, &[0x41, 1]).keyframe_start);
        assert!(!inspect(VideoCodec::H264, &[24, 0xff, 0xff]).has_sps, "truncated STAP-A");
    }

    #[test]
    fn h265_keyframes_and_parameter_sets_are_found() {
        // libx265's VPS and SPS (Main, level 2.1; see codec_params.rs) in one aggregation packet.
        let vps = [0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60, 0, 0, 3, 0, 0x90, 0, 0, 3, 0, 0, 3, 0, 0x3f, 0x95];
        let mut ap = vec![48 << 1, 1, 0, vps.len() as u8];
        ap.extend_from_slice(&vps);
        ap.extend_from_slice(&[0, 3, 0x44, 0x01, 0xc1]);
        let info = inspect(VideoCodec::H265, &ap);
        assert!(info.has_vps && info.has_pps && !info.keyframe_start, "{info:?}");
        assert_eq!(info.h265_ptl, Some(H265Ptl { profile_id: 1, tier_flag: 0, level_id: 63 }));
        assert!(inspect(VideoCodec::H265, &[0x26, 0x01, 0xaf]).keyframe_start, "an IDR_W_RADL slice");
        assert!(inspect(VideoCodec::H265, &[49 << 1, 1, 0x80 | 19, 0xaa]).keyframe_start, "FU start of an IDR");
        assert!(!inspect(VideoCodec::H265, &[49 << 1, 1, 19, 0xaa]).keyframe_start, "FU middle");
        assert!(!inspect(VideoCodec::H265, &[0x02, 0x01, 0xd0]).keyframe_start, "a TRAIL_R slice");
        assert!(!inspect(VideoCodec::H265, &[48 << 1, 1, 0xff, 0xff]).has_vps, "truncated aggregation");
        assert_eq!(inspect(VideoCodec::H265, &[]), PayloadInfo::default());
    }

    #[test]
    fn vp8_keyframes_are_found() {
        assert!(inspect(VideoCodec::Vp8, &[0x10, 0x00]).keyframe_start);
        assert!(!inspect(VideoCodec::Vp8, &[0x10, 0x01]).keyframe_start);
        assert!(inspect(VideoCodec::Vp8, &[0x90, 0x80, 0x81, 0x02, 0x00]).keyframe_start, "with a 15-bit picture id");
        assert!(!inspect(VideoCodec::Vp8, &[0x90]).keyframe_start);
    }

    #[test]
    fn the_cache_holds_the_gop_since_the_last_keyframe() {
        let mut c = GopCache::new(VideoCodec::H264, 100);
        let pk = |seq, ts, pl: &[u8]| parse_rtp(&rtp(seq, ts, pl)).unwrap();
        let p = pk(1, 0, &[0x41, 1]);
        assert!(!c.push(&p, &inspect(VideoCodec::H264, &p.payload)), "no keyframe yet");
        for (seq, ts, pl) in [
            (2u16, 3000u32, &[0x67u8, 0x42, 0xc0, 0x1f][..]),
            (3, 3000, &[0x68, 1]),
            (4, 3000, &[0x65, 1]),
            (5, 6000, &[0x41, 1]),
        ] {
            let p = pk(seq, ts, pl);
            assert!(c.push(&p, &inspect(VideoCodec::H264, &p.payload)));
        }
        let snap = c.snapshot();
        assert_eq!(snap.iter().map(|c| c.pkt.seq).collect::<Vec<_>>(), vec![2, 3, 4, 5]);
        // A new IDR without parameter sets: they are prepended from the last ones seen.
        let p = pk(6, 9000, &[0x65, 2]);
        assert!(c.push(&p, &inspect(VideoCodec::H264, &p.payload)));
        let snap = c.snapshot();
        assert_eq!(
            snap.iter().map(|c| (c.pkt.seq, c.ts_override)).collect::<Vec<_>>(),
            vec![(2, Some(9000)), (3, Some(9000)), (6, None)]
        );
    }
}
