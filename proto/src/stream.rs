//! Stream and viewer records: what the registry stores and the REST API shows.

use serde::{Deserialize, Serialize};

use crate::ids::{CameraId, ViewerId};

/// Lifecycle of a camera stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StreamState {
    /// Pipeline exists, no media has arrived yet.
    WaitingForMedia,
    /// Media is flowing in from the camera.
    Live,
    /// Media stopped for longer than `STREAM_STALL_SECONDS`; viewers stay connected.
    Stalled,
}

impl StreamState {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamState::WaitingForMedia => "waiting_for_media",
            StreamState::Live => "live",
            StreamState::Stalled => "stalled",
        }
    }
}

/// Video codec a camera sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum Codec {
    H264,
    VP8,
    /// Forwarded as H.265 (RFC 7798) to browsers that offer it (Safari, Chrome with hardware
    /// decoding); others get `codec_unsupported`.
    H265,
}

impl Codec {
    /// Encoding name as in an SDP `rtpmap`.
    pub fn rtpmap_name(self) -> &'static str {
        match self {
            Codec::H264 => "H264",
            Codec::VP8 => "VP8",
            Codec::H265 => "H265",
        }
    }
}

/// Where a camera must send its RTP (RTCP goes to `port + 1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RtpTarget {
    pub host: String,
    pub port: u16,
    pub codec: Codec,
    pub payload_type: u8,
    /// The camera's audio (`CAMERA_AUDIO`), when it has some: where to send it, or why
    /// browsers cannot play it (AAC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<RtpAudio>,
}

/// Audio codec a camera sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum AudioCodec {
    PCMU,
    PCMA,
    OPUS,
    /// Not a WebRTC codec: not playable in browsers, the video plays alone.
    AAC,
}

impl AudioCodec {
    /// Whether browsers can receive it over WebRTC (G.711 and Opus; not AAC).
    pub fn playable(self) -> bool {
        self != AudioCodec::AAC
    }

    /// The payload type cameras use for it (static for G.711).
    pub fn payload_type(self) -> u8 {
        match self {
            AudioCodec::PCMU => 0,
            AudioCodec::PCMA => 8,
            AudioCodec::OPUS => 111,
            AudioCodec::AAC => 97,
        }
    }

    /// Encoding as in an SDP `rtpmap`.
    pub fn rtpmap(self) -> &'static str {
        match self {
            AudioCodec::PCMU => "PCMU/8000",
            AudioCodec::PCMA => "PCMA/8000",
            AudioCodec::OPUS => "opus/48000/2",
            AudioCodec::AAC => "mpeg4-generic/48000/2",
        }
    }
}

/// A camera's audio as its stream reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RtpAudio {
    pub codec: AudioCodec,
    pub payload_type: u8,
    /// Where the camera sends its audio RTP (RTCP on `port + 1`); none when it is not received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Whether browsers can play it.
    pub playable: bool,
    /// Why not, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl RtpAudio {
    /// The audio of a stream whose camera sends `codec`, received on `port` (if at all).
    pub fn new(codec: AudioCodec, port: Option<u16>) -> Self {
        let note = (!codec.playable())
            .then(|| format!("{codec:?} audio is not a WebRTC codec: not playable in browsers; the video plays alone"));
        RtpAudio { codec, payload_type: codec.payload_type(), port, playable: codec.playable(), note }
    }
}

/// Bandwidth limits of a stream in kbps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bandwidth {
    pub max_bandwidth: u32,
    pub min_bandwidth: u32,
}

/// Figures a camera reports in its keepalive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CameraStats {
    /// Whether the camera is currently sending RTP.
    #[serde(default)]
    pub sending: bool,
    #[serde(default)]
    pub packets_sent: u64,
    #[serde(default)]
    pub bytes_sent: u64,
    #[serde(default)]
    pub frames_sent: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate_kbps: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// The camera's side of a stream, as last reported through its keepalive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CameraStatus {
    /// RFC 3339 time of the last keepalive.
    pub last_seen: String,
    pub stats: CameraStats,
}

/// A started stream as the registry holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamRecord {
    pub camera_id: CameraId,
    pub state: StreamState,
    pub rtp: Option<RtpTarget>,
    pub bandwidth: Bandwidth,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// Media-server handles, opaque outside the media-controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtp_endpoint_id: Option<String>,
    /// IP address the camera's last accepted keepalive came from (set by the media-controller
    /// on [`crate::bus::CameraSeen`]); a keepalive from another address re-latches the
    /// camera's RTP source. Internal: not part of the REST view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera_source: Option<String>,
    /// The RTSP source of a stream started with one, redacted ([`crate::source::redact`]):
    /// the full URL lives only under the controller's own key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The audio codec a pulled camera's source describes, as the media server reported it
    /// once the camera played (a pushed camera's audio is `rtp.audio`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_audio: Option<AudioCodec>,
    /// The media node carrying the stream (its `MediaNode::node_id`), when the controller places
    /// streams on a pool of nodes (`MEDIA_NODES=registry`); the RTP target's host is that node's
    /// address. None with a single media server, and in records written before nodes existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// Relays of a popular stream (`RELAY_AFTER_VIEWERS`): copies of its video on other media
    /// nodes, each fed by an RtpEndpoint -> RtpEndpoint link from the stream's own node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relays: Vec<RelayRecord>,
}

/// One relay of a stream: a pipeline on `node_id` whose RtpEndpoint `source_endpoint_id`
/// receives the stream's video from `sink_endpoint_id`, an RtpEndpoint in the stream's own
/// pipeline. Viewers placed on the relay connect to its source endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct RelayRecord {
    pub node_id: String,
    pub pipeline_id: String,
    pub source_endpoint_id: String,
    pub sink_endpoint_id: String,
}

impl StreamRecord {
    /// The camera's audio, pushed (`rtp.audio`) or pulled (`source_audio`, received by the
    /// media server itself: no port), if it has some.
    pub fn audio(&self) -> Option<RtpAudio> {
        self.rtp.as_ref().and_then(|r| r.audio.clone()).or_else(|| self.source_audio.map(|c| RtpAudio::new(c, None)))
    }
}

/// Negotiation and connection state of one viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ViewerState {
    /// Slot reserved, offer sent to the media-controller.
    Joining,
    /// Answer sent, ICE in progress.
    Negotiating,
    /// ICE connected, media flowing out.
    Connected,
    /// ICE or the media server failed for this viewer.
    Failed,
    /// ICE lost the viewer after connecting (it may come back to `connected`).
    Disconnected,
}

/// One viewer of one stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ViewerRecord {
    pub viewer_id: ViewerId,
    pub camera_id: CameraId,
    /// Id of the signaling instance holding the viewer's WebSocket.
    pub signaling_instance: String,
    pub state: ViewerState,
    /// RFC 3339.
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_id: Option<String>,
}

/// One ICE candidate as browsers and Kurento describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IceCandidate {
    pub candidate: String,
    #[serde(default)]
    pub sdp_mid: Option<String>,
    #[serde(default)]
    pub sdp_m_line_index: Option<u32>,
}

/// What the active media-controller writes into the registry every few seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerHeartbeat {
    pub instance_id: String,
    pub kurento_connected: bool,
    /// RFC 3339.
    pub at: String,
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub(crate) fn sample_stream() -> StreamRecord {
        StreamRecord {
            camera_id: CameraId::from_static("56C1CADCF1FA4C6CAEBA3E2FD85EFEBF"),
            state: StreamState::WaitingForMedia,
            rtp: Some(RtpTarget {
                host: "192.0.2.10".into(),
                port: 40012,
                codec: Codec::H264,
                payload_type: 96,
                audio: None,
            }),
            bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
            created_at: "2026-11-24T01:00:00Z".into(),
            updated_at: "2026-11-24T01:00:00Z".into(),
            pipeline_id: Some("p_kurento.MediaPipeline".into()),
            rtp_endpoint_id: None,
            camera_source: None,
            source: None,
            source_audio: None,
            node_id: None,
            relays: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::sample_stream;
    use super::*;
    use crate::roundtrip;

    #[test]
    fn a_record_written_before_media_nodes_reads_without_a_node() {
        let mut json = serde_json::to_value(sample_stream()).unwrap();
        assert!(json.get("node_id").is_none(), "None is not written");
        json.as_object_mut().unwrap().remove("node_id");
        let read: StreamRecord = serde_json::from_value(json).unwrap();
        assert_eq!(read.node_id, None);
        let placed = StreamRecord { node_id: Some("node-a".into()), ..sample_stream() };
        assert_eq!(serde_json::from_value::<StreamRecord>(serde_json::to_value(&placed).unwrap()).unwrap(), placed);
    }

    #[test]
    fn stream_record_round_trips_with_snake_case_state() {
        let s = sample_stream();
        roundtrip(&s);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["state"], "waiting_for_media");
        assert_eq!(v["rtp"]["codec"], "H264");
    }

    #[test]
    fn a_streams_audio_is_its_pushed_cameras_rtp_audio_else_what_its_pulled_source_describes() {
        let mut s = sample_stream();
        assert_eq!(s.audio(), None);
        s.rtp = None;
        s.source_audio = Some(AudioCodec::AAC);
        roundtrip(&s);
        assert_eq!(serde_json::to_value(&s).unwrap()["source_audio"], "AAC");
        let aac = s.audio().unwrap();
        assert_eq!((aac.codec, aac.port, aac.playable), (AudioCodec::AAC, None, false));
        assert!(aac.note.unwrap().contains("not playable in browsers"));
        s.rtp =
            sample_stream().rtp.map(|r| RtpTarget { audio: Some(RtpAudio::new(AudioCodec::PCMU, Some(40014))), ..r });
        assert_eq!(s.audio().unwrap().port, Some(40014), "a camera pushing RTP says where its audio goes");
    }

    #[test]
    fn viewer_record_round_trips() {
        roundtrip(&ViewerRecord {
            viewer_id: ViewerId::from_static("v1"),
            camera_id: CameraId::from_static("cam"),
            signaling_instance: "sig-1".into(),
            state: ViewerState::Negotiating,
            created_at: "2026-11-24T01:00:00Z".into(),
            endpoint_id: None,
        });
    }

    #[test]
    fn ice_candidate_uses_browser_field_names() {
        let c = IceCandidate {
            candidate: "candidate:1 1 UDP 1 127.0.0.1 5000 typ host".into(),
            sdp_mid: Some("0".into()),
            sdp_m_line_index: Some(0),
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["sdpMid"], "0");
        assert_eq!(v["sdpMLineIndex"], 0);
        roundtrip(&c);
    }

    #[test]
    fn controller_heartbeat_round_trips() {
        roundtrip(&ControllerHeartbeat { instance_id: "mc-1".into(), kurento_connected: true, at: "t".into() });
    }

    #[test]
    fn camera_stats_accept_an_empty_object() {
        let s: CameraStats = serde_json::from_str("{}").unwrap();
        assert_eq!(s, CameraStats::default());
        roundtrip(&CameraStats {
            sending: true,
            packets_sent: 5,
            bytes_sent: 6000,
            frames_sent: 2,
            bitrate_kbps: Some(1.5),
            target: Some("1.2.3.4:5".into()),
        });
    }
}
