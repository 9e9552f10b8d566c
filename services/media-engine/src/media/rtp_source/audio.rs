//! A camera's audio as an `RtpSource`: the same receive loop and source latching as its video,
//! without keyframes, fast start or flow events.

use std::sync::Arc;
use std::time::Duration;

use super::RtpSource;
use crate::audio::CameraAudio;
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
        let transport = CameraVideo {
            pt: audio.pt,
            codec: VideoCodec::H264, // unused: an audio source neither inspects nor caches
            fmtp: None,
            profile_level_id: None,
            h265_ptl: None,
            packetization_mode: 0,
            rtcp_remote: audio.rtcp_remote,
            comedia: audio.comedia,
            source_ip: audio.source_ip,
            peer_receives_only: false,
            rtp_remote: None,
        };
        let codec = Some(audio.codec);
        Self::start(id, transport, codec, rtp, rtcp, own_ssrc, flow_timeout, 16, events, counters, workers)
    }
}
