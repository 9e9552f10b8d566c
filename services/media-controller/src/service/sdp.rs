//! The SDP the controller writes for a camera, and what it reads from the answer.

use camview_proto::stream::{AudioCodec, Codec, RtpAudio};

/// The RtpEndpoint offer describing a camera's stream: RTP/AVPF with NACK and PLI so the
/// media server can ask the camera for keyframes, `sendonly` because cameras only send.
///
/// No profile is claimed: the controller does not know which one the camera encodes, and the
/// media server reads it from the camera's own parameter sets (H.264 SPS, H.265 VPS/SPS) and
/// names it in its answers to viewers.
pub fn camera_offer(camera_id: &str, codec: Codec, payload_type: u8) -> String {
    let fmtp = match codec {
        Codec::H264 => format!("a=fmtp:{payload_type} packetization-mode=1;level-asymmetry-allowed=1\r\n"),
        Codec::VP8 | Codec::H265 => String::new(),
    };
    format!(
        "v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns={camera_id}\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n\
         m=video 9 RTP/AVPF {payload_type}\r\na=rtpmap:{payload_type} {}/90000\r\n{fmtp}\
         a=rtcp-fb:{payload_type} nack\r\na=rtcp-fb:{payload_type} nack pli\r\na=rtcp-fb:{payload_type} ccm fir\r\n\
         a=direction:active\r\na=sendonly\r\n",
        codec.rtpmap_name()
    )
}

/// The offer a relay's sink (an RtpEndpoint in the stream's pipeline) answers: receive-only at
/// the relay source's address and port, so the sink sends the stream's video there.
pub fn relay_offer(ip: &str, port: u16, codec: Codec, payload_type: u8) -> String {
    let ipv = if ip.contains(':') { "IP6" } else { "IP4" };
    let fmtp = match codec {
        Codec::H264 => format!("a=fmtp:{payload_type} packetization-mode=1\r\n"),
        Codec::VP8 | Codec::H265 => String::new(),
    };
    format!(
        "v=0\r\no=- 0 0 IN {ipv} {ip}\r\ns=camview relay\r\nc=IN {ipv} {ip}\r\nt=0 0\r\n\
         m=video {port} RTP/AVPF {payload_type}\r\na=rtpmap:{payload_type} {}/90000\r\n{fmtp}\
         a=rtcp-fb:{payload_type} nack pli\r\na=recvonly\r\n",
        codec.rtpmap_name()
    )
}

/// [`camera_offer`] with the camera's audio line: G.711 or Opus (`recvonly` on the media
/// server, which forwards it to browsers that offer it). AAC is not offered: browsers cannot
/// play it, so the media server need not receive it (the stream says so, see [`stream_audio`]).
pub fn camera_offer_av(camera_id: &str, codec: Codec, payload_type: u8, audio: Option<AudioCodec>) -> String {
    let mut offer = camera_offer(camera_id, codec, payload_type);
    if let Some(a) = audio.filter(|a| a.playable()) {
        let pt = a.payload_type();
        offer.push_str(&format!(
            "m=audio 9 RTP/AVP {pt}\r\na=rtpmap:{pt} {}\r\na=direction:active\r\na=sendonly\r\n",
            a.rtpmap()
        ));
    }
    offer
}

/// What the stream reports about its camera's audio: the port the media server's answer
/// gives it (none when rejected or not offered), and whether browsers can play it.
pub fn stream_audio(audio: Option<AudioCodec>, answer: &str) -> Option<RtpAudio> {
    let port = answer
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("m=audio "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u16>().ok())
        .find(|port| *port != 0);
    audio.map(|codec| RtpAudio::new(codec, port.filter(|_| codec.playable())))
}

/// The port of the first accepted `m=video` line of an answer; None when it was rejected
/// (port 0) or absent.
pub fn answer_video_port(answer: &str) -> Option<u16> {
    answer
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("m=video "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u16>().ok())
        .find(|port| *port != 0)
}

/// Whether a viewer's answer rejects its video (every `m=video` line with port 0): what
/// Kurento answers when the browser offered none of the camera's codecs.
pub fn answer_rejects_video(answer: &str) -> bool {
    let mut ports = answer
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("m=video "))
        .map(|rest| rest.split_whitespace().next().and_then(|p| p.parse::<u16>().ok()));
    let first = ports.next();
    first.is_some() && std::iter::once(first.flatten()).chain(ports).all(|p| p == Some(0))
}

/// The audio codec of an `rtpmap` encoding (`PCMU/8000`, `opus/48000/2`,
/// `mpeg4-generic/48000/2`), as a media server reports a pulled camera's audio; `None` for
/// codecs a stream cannot name.
pub fn audio_codec_of_rtpmap(encoding: &str) -> Option<AudioCodec> {
    let mut parts = encoding.split('/');
    let name = parts.next()?.trim().to_ascii_uppercase();
    let clock: Option<u32> = parts.next().and_then(|c| c.trim().parse().ok());
    match (name.as_str(), clock) {
        ("PCMU", Some(8000)) => Some(AudioCodec::PCMU),
        ("PCMA", Some(8000)) => Some(AudioCodec::PCMA),
        ("OPUS", Some(48000)) => Some(AudioCodec::OPUS),
        ("MPEG4-GENERIC" | "MP4A-LATM", _) => Some(AudioCodec::AAC),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_offer_describes_h264_over_avpf_with_pli() {
        let offer = camera_offer("cam1", Codec::H264, 96);
        assert!(offer.starts_with("v=0\r\n"));
        assert!(offer.contains("m=video 9 RTP/AVPF 96\r\n"));
        assert!(offer.contains("a=rtpmap:96 H264/90000\r\n"));
        assert!(offer.contains("packetization-mode=1"));
        assert!(!offer.contains("profile-level-id"), "the camera's profile is not known here: {offer}");
        assert!(offer.contains("a=rtcp-fb:96 nack pli\r\n"));
        assert!(offer.contains("a=sendonly\r\n"));
    }

    #[test]
    fn a_pulled_cameras_audio_encoding_names_its_codec_and_aac_is_known_as_such() {
        assert_eq!(audio_codec_of_rtpmap("PCMU/8000"), Some(AudioCodec::PCMU));
        assert_eq!(audio_codec_of_rtpmap("pcma/8000"), Some(AudioCodec::PCMA));
        assert_eq!(audio_codec_of_rtpmap("opus/48000/2"), Some(AudioCodec::OPUS));
        assert_eq!(audio_codec_of_rtpmap("mpeg4-generic/16000"), Some(AudioCodec::AAC));
        assert_eq!(audio_codec_of_rtpmap("MP4A-LATM/90000"), Some(AudioCodec::AAC));
        assert_eq!(audio_codec_of_rtpmap("PCMU/16000"), None, "not G.711's clock");
        assert_eq!(audio_codec_of_rtpmap("G726-32/8000"), None);
        assert_eq!(audio_codec_of_rtpmap(""), None);
    }

    #[test]
    fn camera_audio_is_offered_when_browsers_can_play_it_and_reported_either_way() {
        let offer = camera_offer_av("cam1", Codec::H264, 96, Some(AudioCodec::PCMU));
        assert!(offer.contains("m=video 9 RTP/AVPF 96\r\n"), "{offer}");
        assert!(offer.ends_with("m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=direction:active\r\na=sendonly\r\n"));
        let opus = camera_offer_av("cam1", Codec::H264, 96, Some(AudioCodec::OPUS));
        assert!(opus.contains("m=audio 9 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\n"), "{opus}");
        assert!(!camera_offer_av("cam1", Codec::H264, 96, Some(AudioCodec::AAC)).contains("m=audio"));
        assert!(!camera_offer_av("cam1", Codec::H264, 96, None).contains("m=audio"));

        let answer = "v=0\r\nm=video 40012 RTP/AVPF 96\r\nm=audio 40014 RTP/AVP 0\r\n";
        let pcmu = stream_audio(Some(AudioCodec::PCMU), answer).unwrap();
        assert_eq!((pcmu.port, pcmu.playable, pcmu.payload_type, pcmu.note), (Some(40014), true, 0, None));
        let aac = stream_audio(Some(AudioCodec::AAC), "v=0\r\nm=video 40012 RTP/AVPF 96\r\n").unwrap();
        assert_eq!((aac.port, aac.playable), (None, false));
        assert!(aac.note.unwrap().contains("not playable in browsers; the video plays alone"));
        assert_eq!(stream_audio(None, answer), None);
        let json = serde_json::to_value(stream_audio(Some(AudioCodec::AAC), "").unwrap()).unwrap();
        assert_eq!((json["codec"].as_str(), json["playable"].as_bool()), (Some("AAC"), Some(false)), "{json}");
    }

    #[test]
    fn camera_offer_for_vp8_has_no_fmtp() {
        let offer = camera_offer("cam1", Codec::VP8, 100);
        assert!(offer.contains("a=rtpmap:100 VP8/90000\r\n"));
        assert!(!offer.contains("fmtp"));
    }

    #[test]
    fn camera_offer_for_h265_names_h265_without_a_profile() {
        let offer = camera_offer("cam1", Codec::H265, 96);
        assert!(offer.contains("m=video 9 RTP/AVPF 96\r\na=rtpmap:96 H265/90000\r\n"), "{offer}");
        assert!(!offer.contains("fmtp"));
    }

    #[test]
    fn a_viewer_answer_with_every_video_line_at_port_zero_rejects_video() {
        assert!(answer_rejects_video("v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\na=inactive\r\n"));
        assert!(!answer_rejects_video("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"));
        assert!(!answer_rejects_video("v=0\r\nm=audio 0 RTP/AVP 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"));
        assert!(!answer_rejects_video("answer without media lines"));
    }

    #[test]
    fn answer_port_is_read_from_the_video_line() {
        let answer = "v=0\r\no=- 1 1 IN IP4 172.17.0.2\r\ns=Kurento Media Server\r\nc=IN IP4 172.17.0.2\r\nt=0 0\r\nm=video 40012 RTP/AVPF 96\r\na=recvonly\r\n";
        assert_eq!(answer_video_port(answer), Some(40012));
    }

    #[test]
    fn a_rejected_or_missing_video_line_has_no_port() {
        assert_eq!(answer_video_port("v=0\r\nm=video 0 RTP/AVP 96\r\n"), None);
        assert_eq!(answer_video_port("v=0\r\nm=audio 5000 RTP/AVP 0\r\n"), None);
        assert_eq!(answer_video_port("garbage"), None);
    }
}
