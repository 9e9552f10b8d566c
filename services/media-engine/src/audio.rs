//! Camera audio on an RtpEndpoint: G.711 (PCMU/PCMA) and Opus are received on their own port
//! pair and passed through, untouched, to viewers whose offer has the same codec. AAC
//! (`mpeg4-generic`, `MP4A-LATM`) is not a WebRTC codec: its line is rejected (port 0) and the
//! video plays alone. Codec-generic: any source that knows its audio codec uses this.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::sdp::{is_unicast, MediaLine, Offer};

/// Audio codecs the engine forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioCodec {
    Pcmu,
    Pcma,
    Opus,
}

impl AudioCodec {
    /// The `rtpmap` encoding (name/clock[/channels]).
    pub fn rtpmap(self) -> &'static str {
        match self {
            AudioCodec::Pcmu => "PCMU/8000",
            AudioCodec::Pcma => "PCMA/8000",
            AudioCodec::Opus => "opus/48000/2",
        }
    }

    pub fn name(self) -> &'static str {
        self.rtpmap().split('/').next().unwrap_or_default()
    }

    pub(crate) fn from_rtpmap(name: &str, clock: u32) -> Option<AudioCodec> {
        match (name.to_ascii_uppercase().as_str(), clock) {
            ("PCMU", 8000) => Some(AudioCodec::Pcmu),
            ("PCMA", 8000) => Some(AudioCodec::Pcma),
            ("OPUS", 48000) => Some(AudioCodec::Opus),
            _ => None,
        }
    }
}

/// Whether an encoding name is AAC, which browsers cannot receive over WebRTC.
pub fn is_aac(name: &str) -> bool {
    matches!(name.to_ascii_uppercase().as_str(), "MPEG4-GENERIC" | "MP4A-LATM")
}

/// What the camera sends as audio, as accepted from its offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraAudio {
    pub pt: u8,
    pub codec: AudioCodec,
    pub rtcp_remote: Option<SocketAddr>,
    pub comedia: bool,
    pub source_ip: Option<IpAddr>,
}

/// The first forwardable codec of an audio line: its payload type (static 0/8 without an
/// `rtpmap` too) and codec.
pub(crate) fn accept(m: &MediaLine) -> Option<(u8, AudioCodec)> {
    let profile_ok = m.proto == "RTP/AVP" || m.proto == "RTP/AVPF";
    if m.media != "audio" || m.port == 0 || !profile_ok {
        return None;
    }
    m.fmts.iter().find_map(|pt| {
        let n: u8 = pt.parse().ok().filter(|p| *p < 128)?;
        let codec = match m.rtpmap(pt) {
            Some((name, clock)) => AudioCodec::from_rtpmap(&name, clock)?,
            None if n == 0 => AudioCodec::Pcmu,
            None if n == 8 => AudioCodec::Pcma,
            None => return None,
        };
        Some((n, codec))
    })
}

/// Writes the answer's accepted audio line on `port` and returns what the camera will send.
pub(crate) fn answer_line(
    out: &mut String,
    offer: &Offer,
    m: &MediaLine,
    (pt, codec): (u8, AudioCodec),
    port: u16,
    ssrc: u32,
) -> CameraAudio {
    let _ = write!(out, "m=audio {port} {} {pt}\r\n", m.proto);
    let comedia = crate::sdp::write_answer_direction(out, m);
    let _ = write!(out, "a=rtpmap:{pt} {}\r\n", codec.rtpmap());
    if let Some(f) = m.fmtp(&pt.to_string()) {
        let _ = write!(out, "a=fmtp:{pt} {f}\r\n");
    }
    let _ = write!(out, "a=ssrc:{ssrc} cname:camview-media-engine\r\n");
    let (rtcp_remote, source_ip) = crate::sdp::camera_rtcp(offer, m, comedia);
    CameraAudio {
        pt,
        codec,
        rtcp_remote,
        comedia,
        source_ip: source_ip.map(|ip| ip.to_canonical()).filter(|ip| is_unicast(*ip)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::{parse_offer, rtp_answer_av};

    const CAMERA: &str = "v=0\r\no=- 0 0 IN IP4 192.0.2.50\r\ns=cam\r\nc=IN IP4 192.0.2.50\r\nt=0 0\r\nm=video 5004 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=sendonly\r\nm=audio 5006 RTP/AVP 0\r\na=sendonly\r\n";

    #[test]
    fn g711_and_opus_audio_lines_are_answered_on_the_audio_port() {
        let a = rtp_answer_av(&parse_offer(CAMERA).unwrap(), "192.0.2.10".parse().unwrap(), 40012, Some(40014), 7, 1);
        assert!(a.sdp.contains("m=audio 40014 RTP/AVP 0\r\na=recvonly\r\na=rtpmap:0 PCMU/8000\r\n"), "{}", a.sdp);
        let audio = a.audio.unwrap();
        assert_eq!((audio.pt, audio.codec), (0, AudioCodec::Pcmu));
        assert_eq!(audio.rtcp_remote, Some("192.0.2.50:5007".parse().unwrap()));
        assert!(a.video.is_some());
        let opus = CAMERA.replace("RTP/AVP 0\r\n", "RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n");
        let a = rtp_answer_av(&parse_offer(&opus).unwrap(), "192.0.2.10".parse().unwrap(), 40012, Some(40014), 7, 1);
        assert!(a.sdp.contains("a=rtpmap:111 opus/48000/2\r\n"), "{}", a.sdp);
        assert_eq!(a.audio.unwrap().codec, AudioCodec::Opus);
        let pcma = CAMERA.replace("RTP/AVP 0\r\n", "RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n");
        let probe = rtp_answer_av(&parse_offer(&pcma).unwrap(), "192.0.2.10".parse().unwrap(), 0, None, 7, 1);
        assert_eq!(probe.audio_codec, Some(AudioCodec::Pcma), "a probe without a port names the codec");
    }

    #[test]
    fn aac_is_rejected_and_the_video_still_answered() {
        let aac = CAMERA.replace(
            "RTP/AVP 0\r\n",
            "RTP/AVP 97\r\na=rtpmap:97 mpeg4-generic/48000/2\r\na=fmtp:97 streamtype=5;mode=AAC-hbr\r\n",
        );
        let a = rtp_answer_av(&parse_offer(&aac).unwrap(), "192.0.2.10".parse().unwrap(), 40012, Some(40014), 7, 1);
        assert!(a.sdp.contains("m=audio 0 RTP/AVP 97\r\n"), "{}", a.sdp);
        assert!(a.audio.is_none() && a.video.is_some());
        assert!(is_aac("mpeg4-generic") && is_aac("MP4A-LATM") && !is_aac("PCMU"));
    }
}
