//! Edits of str0m's answers to browsers: the fmtp of the camera's codec set to what the camera
//! really sends.

use crate::codec_params::H265Ptl;

/// Sets `profile-level-id` and `packetization-mode` of every H.264 payload type in `sdp` to
/// what the camera really sends.
pub fn force_h264_fmtp(sdp: &str, profile_level_id: u32, packetization_mode: u8) -> String {
    let set = [
        ("packetization-mode", packetization_mode.to_string()),
        ("profile-level-id", format!("{profile_level_id:06x}")),
    ];
    force_fmtp(sdp, "H264", &set)
}

/// Sets `profile-id`, `tier-flag` and `level-id` of every H.265 payload type in `sdp` to what
/// the camera really sends (str0m would narrow the level to the browser's).
pub fn force_h265_fmtp(sdp: &str, ptl: H265Ptl) -> String {
    let set = [
        ("profile-id", ptl.profile_id.to_string()),
        ("tier-flag", ptl.tier_flag.to_string()),
        ("level-id", ptl.level_id.to_string()),
    ];
    force_fmtp(sdp, "H265", &set)
}

/// Replaces (or adds) the `set` parameters in the fmtp of every `codec` payload type.
fn force_fmtp(sdp: &str, codec: &str, set: &[(&str, String)]) -> String {
    let marker = format!(" {codec}/");
    let pts: Vec<String> = sdp
        .split("\r\n")
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter(|v| v.to_ascii_uppercase().contains(&marker))
        .filter_map(|v| v.split_whitespace().next().map(str::to_string))
        .collect();
    sdp.split("\r\n")
        .map(|l| {
            let Some(rest) = l.strip_prefix("a=fmtp:") else { return l.to_string() };
            let Some((pt, params)) = rest.split_once(' ') else { return l.to_string() };
            if !pts.iter().any(|p| p == pt) {
                return l.to_string();
            }
            let mut kept: Vec<String> = params
                .split(';')
                .map(str::trim)
                .filter(|kv| !kv.is_empty())
                .filter(|kv| {
                    let k = kv.split('=').next().unwrap_or("").trim().to_ascii_lowercase();
                    !set.iter().any(|(name, _)| *name == k)
                })
                .map(str::to_string)
                .collect();
            kept.extend(set.iter().map(|(k, v)| format!("{k}={v}")));
            format!("a=fmtp:{pt} {}", kept.join(";"))
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_fmtp_is_forced_to_the_camera_values() {
        let sdp = "m=video 9 UDP/TLS/RTP/SAVPF 102 96\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\na=rtpmap:96 VP8/90000\r\na=fmtp:96 x=1\r\n";
        let out = force_h264_fmtp(sdp, 0x4d001f, 1);
        assert!(out.contains("a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"));
        assert!(out.contains("a=fmtp:96 x=1"));
    }

    #[test]
    fn h265_fmtp_is_forced_to_the_camera_values() {
        let sdp = "m=video 9 UDP/TLS/RTP/SAVPF 49 96\r\na=rtpmap:49 H265/90000\r\na=fmtp:49 level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST\r\na=rtpmap:96 VP8/90000\r\n";
        let out = force_h265_fmtp(sdp, H265Ptl { profile_id: 1, tier_flag: 0, level_id: 120 });
        assert!(out.contains("a=fmtp:49 tx-mode=SRST;profile-id=1;tier-flag=0;level-id=120\r\n"), "{out}");
    }
}
