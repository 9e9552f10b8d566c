//! What a camera's video really is, read from its parameter sets: the H.264
//! `profile-level-id` (RFC 6184) from an SPS, and the H.265 `profile-id` / `tier-flag` /
//! `level-id` (RFC 7798) from a VPS or SPS. Parameter sets come in-band (RTP) or in the SDP's
//! `sprop-parameter-sets` (H.264) / `sprop-vps` / `sprop-sps` (H.265). Codec-generic: any
//! source (a pushed-RTP camera, an RTSP session) hands its NAL units here.
//!
//! Invariant: nothing here panics on arbitrary bytes; a truncated or foreign unit is `None`.

use base64::Engine as _;

/// H.265 profile, tier and level, as the SDP `fmtp` names them (RFC 7798 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H265Ptl {
    pub profile_id: u8,
    pub tier_flag: u8,
    pub level_id: u8,
}

impl H265Ptl {
    /// What is assumed before the camera's parameter sets are known: Main, Main tier, level 3.1.
    pub const DEFAULT: H265Ptl = H265Ptl { profile_id: 1, tier_flag: 0, level_id: 93 };

    /// The `fmtp` parameters.
    pub fn fmtp(self) -> String {
        format!("profile-id={};tier-flag={};level-id={}", self.profile_id, self.tier_flag, self.level_id)
    }
}

/// The RBSP of a NAL unit: emulation-prevention bytes (`00 00 03`) removed.
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// `profile-level-id` (profile_idc, constraint flags, level_idc) of an H.264 SPS NAL unit
/// (with its one-byte header).
pub fn h264_profile_level_id(sps: &[u8]) -> Option<u32> {
    if sps.first()? & 0x1f != 7 {
        return None;
    }
    let rbsp = unescape(sps.get(..8).unwrap_or(sps));
    let (profile, flags, level) = (*rbsp.get(1)?, *rbsp.get(2)?, *rbsp.get(3)?);
    (profile != 0).then(|| u32::from_be_bytes([0, profile, flags, level]))
}

/// The H.265 NAL unit type of a unit with its two-byte header.
pub fn h265_nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| (b >> 1) & 0x3f)
}

/// The general profile/tier/level of an H.265 VPS (type 32) or SPS (type 33) NAL unit.
pub fn h265_ptl(nal: &[u8]) -> Option<H265Ptl> {
    // VPS: header, 16 bits of ids and counts, 16 reserved bits; SPS: header, 8 bits of ids.
    let offset = match h265_nal_type(nal)? {
        32 => 6,
        33 => 3,
        _ => return None,
    };
    let rbsp = unescape(nal.get(..offset + 20).unwrap_or(nal));
    let ptl = rbsp.get(offset..offset + 12)?;
    let (space, tier, profile) = (ptl[0] >> 6, (ptl[0] >> 5) & 1, ptl[0] & 0x1f);
    (space == 0 && profile != 0).then_some(H265Ptl { profile_id: profile, tier_flag: tier, level_id: ptl[11] })
}

/// An `fmtp` parameter's value (case-insensitive name).
pub fn fmtp_param<'a>(fmtp: &'a str, key: &str) -> Option<&'a str> {
    fmtp.split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim())
}

fn sprop_units<'a>(fmtp: &'a str, key: &str) -> impl Iterator<Item = Vec<u8>> + 'a {
    fmtp_param(fmtp, key)
        .into_iter()
        .flat_map(|v| v.split(','))
        .filter_map(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
}

/// The H.264 `profile-level-id` of the SPS in an `fmtp`'s `sprop-parameter-sets`.
pub fn h264_sprop_profile_level_id(fmtp: &str) -> Option<u32> {
    sprop_units(fmtp, "sprop-parameter-sets").find_map(|u| h264_profile_level_id(&u))
}

/// The H.265 profile/tier/level of an `fmtp`: its `sprop-sps` (else `sprop-vps`), else the
/// explicit `profile-id` / `tier-flag` / `level-id` parameters (RFC 7798 defaults for the
/// missing ones), else `None`.
pub fn h265_fmtp_ptl(fmtp: &str) -> Option<H265Ptl> {
    let sprop = sprop_units(fmtp, "sprop-sps").chain(sprop_units(fmtp, "sprop-vps")).find_map(|u| h265_ptl(&u));
    sprop.or_else(|| {
        let num = |k: &str| fmtp_param(fmtp, k).and_then(|v| v.parse::<u8>().ok());
        let (p, t, l) = (num("profile-id"), num("tier-flag"), num("level-id"));
        (p.is_some() || l.is_some()).then_some(H265Ptl {
            profile_id: p.unwrap_or(1),
            tier_flag: t.unwrap_or(0),
            level_id: l.unwrap_or(93),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    // Parameter sets written by ffmpeg 7 (libx264 / libx265) for a test pattern.
    /// libx264 `-profile:v main -level 3.1`, 640x360.
    const X264_MAIN_31: &str = "674d401feca05017fcb808800000030080000019078c18cb";
    /// libx264 `-profile:v baseline`, 320x240 (constrained baseline, level 1.3).
    const X264_BASELINE: &str = "6742c00dd90141fb011000000300100000030320f142a480";
    /// libx265 8-bit 640x360: Main, Main tier, level 2.1.
    const X265_MAIN_VPS: &str = "40010c01ffff01600000030090000003000003003f959809";
    const X265_MAIN_SPS: &str = "42010101600000030090000003000003003fa00502016965959a4932bc05a02000000300200000030321";
    /// libx265 10-bit 1920x1080: Main 10, Main tier, level 4.
    const X265_MAIN10_SPS: &str =
        "420101022000000300900000030000030078a003c08010e4d96566924caf016808000003000800000300c840";

    #[test]
    fn h264_profile_level_id_comes_from_the_sps() {
        assert_eq!(h264_profile_level_id(&hex(X264_MAIN_31)), Some(0x4d401f));
        assert_eq!(h264_profile_level_id(&hex(X264_BASELINE)), Some(0x42c00d));
        assert_eq!(h264_profile_level_id(&hex("68ebe3cb20")), None, "a PPS");
        assert_eq!(h264_profile_level_id(&[0x67, 0x4d]), None, "truncated");
    }

    #[test]
    fn h265_profile_tier_level_comes_from_the_vps_or_sps() {
        let main = H265Ptl { profile_id: 1, tier_flag: 0, level_id: 63 };
        assert_eq!(h265_ptl(&hex(X265_MAIN_SPS)), Some(main));
        assert_eq!(h265_ptl(&hex(X265_MAIN_VPS)), Some(main));
        assert_eq!(h265_ptl(&hex(X265_MAIN10_SPS)), Some(H265Ptl { profile_id: 2, tier_flag: 0, level_id: 120 }));
        assert_eq!(h265_ptl(&hex("4401c172b46240")), None, "a PPS");
        assert_eq!(h265_ptl(&hex(&X265_MAIN_SPS[..20])), None, "truncated");
        assert_eq!(main.fmtp(), "profile-id=1;tier-flag=0;level-id=63");
    }

    #[test]
    fn sprop_parameter_sets_name_the_profile_too() {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(hex(s));
        let f = format!("packetization-mode=1;sprop-parameter-sets={},aOvjyyA=", b64(X264_MAIN_31));
        assert_eq!(h264_sprop_profile_level_id(&f), Some(0x4d401f));
        assert_eq!(h264_sprop_profile_level_id("sprop-parameter-sets=!!!"), None);
        let f = format!("sprop-vps={}; sprop-sps={}; sprop-pps=RAHBcrRiQA==", b64(X265_MAIN_VPS), b64(X265_MAIN10_SPS));
        assert_eq!(h265_fmtp_ptl(&f), Some(H265Ptl { profile_id: 2, tier_flag: 0, level_id: 120 }), "the SPS wins");
        assert_eq!(
            h265_fmtp_ptl("profile-id=1;level-id=150"),
            Some(H265Ptl { profile_id: 1, tier_flag: 0, level_id: 150 })
        );
        assert_eq!(h265_fmtp_ptl("tx-mode=SRST"), None);
    }
}
