//! The SDP offer a real camera (or its controller) would hand a media server: one send-only H.264
//! video stream over RTP/AVPF with PLI/FIR feedback, described by the encoder's real SPS/PPS.

use std::net::IpAddr;

use crate::h264::ParameterSets;

/// What the offer describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpOffer<'a> {
    /// Address the camera sends from and receives RTCP on.
    pub address: IpAddr,
    /// Local RTP port; RTCP is on the next one.
    pub rtp_port: u16,
    pub payload_type: u8,
    pub ssrc: u32,
    pub cname: &'a str,
    pub parameter_sets: &'a ParameterSets,
}

impl SdpOffer<'_> {
    /// Renders the offer with CRLF line endings (RFC 4566).
    pub fn render(&self) -> String {
        let (ip_version, address) = match self.address {
            IpAddr::V4(a) => ("IP4", a.to_string()),
            IpAddr::V6(a) => ("IP6", a.to_string()),
        };
        let pt = self.payload_type;
        // Constrained Baseline level 3.1 is what every WebRTC stack accepts if the SPS is unreadable.
        let profile = self.parameter_sets.profile_level_id().unwrap_or_else(|| "42e01f".into());
        let sprop = self.parameter_sets.sprop_parameter_sets();
        let session = u64::from(self.ssrc);
        [
            "v=0".to_string(),
            format!("o=- {session} 1 IN {ip_version} {address}"),
            "s=camera-sim".into(),
            format!("c=IN {ip_version} {address}"),
            "t=0 0".into(),
            format!("m=video {} RTP/AVPF {pt}", self.rtp_port),
            format!("a=rtpmap:{pt} H264/90000"),
            format!("a=fmtp:{pt} packetization-mode=1;profile-level-id={profile};sprop-parameter-sets={sprop}"),
            format!("a=rtcp:{}", u32::from(self.rtp_port) + 1),
            format!("a=rtcp-fb:{pt} nack pli"),
            format!("a=rtcp-fb:{pt} ccm fir"),
            format!("a=ssrc:{} cname:{}", self.ssrc, self.cname),
            "a=sendonly".into(),
        ]
        .join("\r\n")
            + "\r\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offer_announces_h264_with_the_real_profile_and_parameter_sets() {
        let sets = ParameterSets { sps: vec![0x67, 0x42, 0xc0, 0x1e, 0xda], pps: vec![0x68, 0xce, 0x3c, 0x80] };
        let sdp = SdpOffer {
            address: "192.0.2.7".parse().unwrap(),
            rtp_port: 40000,
            payload_type: 96,
            ssrc: 42,
            cname: "cam",
            parameter_sets: &sets,
        }
        .render();
        let lines: Vec<&str> = sdp.split("\r\n").collect();
        assert!(lines.contains(&"c=IN IP4 192.0.2.7"));
        assert!(lines.contains(&"m=video 40000 RTP/AVPF 96"));
        assert!(lines.contains(&"a=rtpmap:96 H264/90000"));
        assert!(lines.contains(&"a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets=Z0LAHto=,aM48gA=="));
        assert!(lines.contains(&"a=rtcp:40001"));
        assert!(lines.contains(&"a=rtcp-fb:96 nack pli"));
        assert!(lines.contains(&"a=sendonly"));
        assert!(sdp.ends_with("a=sendonly\r\n"));
    }
}
