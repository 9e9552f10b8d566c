//! The SDP offer a real camera (or its controller) would hand a media server: one send-only H.264
//! video stream over RTP/AVPF with PLI/FIR feedback, described by the encoder's real SPS/PPS.

use std::net::{IpAddr, SocketAddr};

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

/// Where a media server wants the video: the `c=` address (media-level overrides session-level)
/// and the port of the first `m=video` line of its SDP answer. `None` when the answer has no
/// usable video section (port 0 means rejected).
pub fn answer_video_target(answer: &str) -> Option<SocketAddr> {
    let mut session_ip: Option<IpAddr> = None;
    let mut video: Option<(u16, Option<IpAddr>)> = None;
    for line in answer.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("m=") {
            if video.is_some() {
                break;
            }
            let mut fields = rest.split_whitespace();
            if fields.next() == Some("video") {
                let port = fields.next()?.parse().ok().filter(|&p: &u16| p != 0)?;
                video = Some((port, None));
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            let ip = rest.split_whitespace().nth(2).and_then(|a| a.split('/').next()).and_then(|a| a.parse().ok());
            match video.as_mut() {
                Some((_, media_ip)) => *media_ip = ip,
                None => session_ip = ip,
            }
        }
    }
    let (port, media_ip) = video?;
    Some(SocketAddr::new(media_ip.or(session_ip)?, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_video_target_is_read_from_a_kurento_style_answer() {
        let answer = "v=0\r\no=- 3 0 IN IP4 10.0.0.5\r\ns=Kurento Media Server\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
                      m=video 41234 RTP/AVPF 96\r\na=rtpmap:96 H264/90000\r\na=recvonly\r\n";
        assert_eq!(answer_video_target(answer), Some("10.0.0.5:41234".parse().unwrap()));
        let media_level = "v=0\r\nc=IN IP4 0.0.0.0\r\nm=audio 5000 RTP/AVP 0\r\nm=video 6000 RTP/AVP 96\r\nc=IN IP4 192.0.2.1/127\r\n";
        assert_eq!(answer_video_target(media_level), Some("192.0.2.1:6000".parse().unwrap()));
        assert_eq!(answer_video_target("v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 0 RTP/AVP 96\r\n"), None, "rejected");
        assert_eq!(answer_video_target("garbage"), None);
        assert_eq!(answer_video_target("m=video x RTP/AVP 96\nc=IN IP4 nope"), None);
    }

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
        assert!(lines.contains(
            &"a=fmtp:96 packetization-mode=1;profile-level-id=42c01e;sprop-parameter-sets=Z0LAHto=,aM48gA=="
        ));
        assert!(lines.contains(&"a=rtcp:40001"));
        assert!(lines.contains(&"a=rtcp-fb:96 nack pli"));
        assert!(lines.contains(&"a=sendonly"));
        assert!(sdp.ends_with("a=sendonly\r\n"));
    }
}
