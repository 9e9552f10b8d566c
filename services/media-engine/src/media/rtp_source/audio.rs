//! A camera's audio as an `RtpSource`: the same receive loop and source latching as its video,
//! without keyframes, fast start or flow events.

use std::sync::Arc;
use std::time::Duration;

use super::RtpSource;
use crate::audio::{AudioCodec, CameraAudio};
use crate::events::EventTx;
use crate::media::worker::Workers;
use crate::media::MediaCounters;
use crate::sdp::{CameraVideo, VideoCodec};

impl RtpSource {
    /// An audio source: the camera's audio port pair, forwarded as is to the viewers connected
    /// for audio.
    #[allow(clippy::too_many_arguments)]
    pub fn start_audio(
        id: String,
        audio: CameraAudio,
        rtp: std::net::UdpSocket,
        rtcp: std::net::UdpSocket,
        own_ssrc: u32,
        flow_timeout: Duration,
        events: EventTx,
        counters: Arc<MediaCounters>,
        workers: Arc<Workers>,
    ) -> std::io::Result<Arc<Self>> {
        let transport = audio_transport(audio.pt, audio.rtcp_remote, audio.comedia, audio.source_ip);
        let codec = Some(audio.codec);
        Self::start(id, transport, codec, rtp, rtcp, own_ssrc, flow_timeout, 16, events, counters, workers)
    }

    /// A fed audio source (see [`Self::start_fed`]): an RTSP camera's audio stream of payload
    /// type `pt`, handed in by its PlayerEndpoint.
    pub fn start_fed_audio(
        id: String,
        pt: u8,
        codec: AudioCodec,
        events: EventTx,
        counters: Arc<MediaCounters>,
        workers: Arc<Workers>,
    ) -> Arc<Self> {
        let transport = audio_transport(pt, None, false, None);
        Arc::new(Self::new(id, transport, Some(codec), (0, None, 0), 16, events, counters, workers))
    }
}

/// An audio source's transport as the video-shaped [`CameraVideo`] every source carries (its
/// codec fields unused: an audio source neither inspects nor caches).
fn audio_transport(
    pt: u8,
    rtcp_remote: Option<std::net::SocketAddr>,
    comedia: bool,
    source_ip: Option<std::net::IpAddr>,
) -> CameraVideo {
    CameraVideo {
        pt,
        codec: VideoCodec::H264,
        fmtp: None,
        profile_level_id: None,
        h265_ptl: None,
        packetization_mode: 0,
        rtcp_remote,
        comedia,
        source_ip,
        peer_receives_only: false,
        rtp_remote: None,
    }
}
