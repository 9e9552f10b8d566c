//! Which audio stream of an RTSP camera a PlayerEndpoint sets up (sans-IO): the first one in
//! a codec browsers receive over WebRTC (G.711 PCMU/PCMA, Opus), forwarded untouched like a
//! pushed camera's audio (`crate::audio`). A camera whose only audio is something else (AAC:
//! `mpeg4-generic`, `MP4A-LATM`) has it described but not set up, so the controller can say
//! why there is no sound while the video plays alone.

use crate::audio::AudioCodec;

/// One stream of a camera's DESCRIBE, as the choice needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescribedStream<'a> {
    pub media: &'a str,
    pub encoding_name: &'a str,
    pub clock_rate: u32,
    pub channels: Option<u16>,
    pub payload_type: u8,
}

/// The camera's audio as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraAudioInfo {
    /// The stream's index in the DESCRIBE.
    pub index: usize,
    pub payload_type: u8,
    /// The `rtpmap` encoding: the forwarded codec's (`PCMU/8000`, `opus/48000/2`), else as
    /// described (`mpeg4-generic/48000/2`; retina gives names in lower case).
    pub encoding: String,
    /// Set when the engine forwards it (then the stream is set up).
    pub codec: Option<AudioCodec>,
}

/// The first forwardable audio stream, else the first audio stream (described only).
pub fn choose_audio<'a>(streams: impl IntoIterator<Item = DescribedStream<'a>>) -> Option<CameraAudioInfo> {
    let audio: Vec<(usize, DescribedStream<'a>)> =
        streams.into_iter().enumerate().filter(|(_, s)| s.media.eq_ignore_ascii_case("audio")).collect();
    let info = |(index, s): (usize, DescribedStream<'a>), codec: Option<AudioCodec>| {
        let channels = s.channels.filter(|c| *c > 1).map(|c| format!("/{c}")).unwrap_or_default();
        let encoding = match codec {
            Some(c) => c.rtpmap().to_owned(),
            None => format!("{}/{}{channels}", s.encoding_name, s.clock_rate),
        };
        CameraAudioInfo { index, payload_type: s.payload_type, encoding, codec }
    };
    audio
        .iter()
        .find_map(|&(i, s)| AudioCodec::from_rtpmap(s.encoding_name, s.clock_rate).map(|c| info((i, s), Some(c))))
        .or_else(|| audio.first().map(|&a| info(a, None)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(media: &'static str, name: &'static str, clock: u32, pt: u8) -> DescribedStream<'static> {
        DescribedStream { media, encoding_name: name, clock_rate: clock, channels: None, payload_type: pt }
    }

    #[test]
    fn the_first_g711_or_opus_audio_stream_is_set_up_after_any_other() {
        let chosen = choose_audio([
            stream("video", "h264", 90000, 96),
            stream("audio", "mpeg4-generic", 48000, 97),
            stream("audio", "pcma", 8000, 8),
        ])
        .unwrap();
        assert_eq!((chosen.index, chosen.payload_type, chosen.codec), (2, 8, Some(AudioCodec::Pcma)));
        assert_eq!(chosen.encoding, "PCMA/8000");
        let opus = DescribedStream { channels: Some(2), ..stream("audio", "opus", 48000, 111) };
        let chosen = choose_audio([stream("video", "h264", 90000, 96), opus]).unwrap();
        assert_eq!((chosen.codec, chosen.encoding.as_str()), (Some(AudioCodec::Opus), "opus/48000/2"));
    }

    #[test]
    fn aac_alone_is_described_but_not_forwarded_and_no_audio_is_none() {
        let aac = DescribedStream { channels: Some(1), ..stream("audio", "mpeg4-generic", 16000, 97) };
        let chosen = choose_audio([stream("video", "h264", 90000, 96), aac]).unwrap();
        assert_eq!((chosen.index, chosen.codec, chosen.encoding.as_str()), (1, None, "mpeg4-generic/16000"));
        assert_eq!(choose_audio([stream("video", "h264", 90000, 96)]), None);
        assert_eq!(choose_audio([stream("audio", "PCMU", 16000, 0)]).unwrap().codec, None, "G.711 is 8 kHz");
    }
}
