//! Request and response bodies of the REST API (`camview-api`).

use serde::{Deserialize, Serialize};

use crate::ids::CameraId;

use crate::stream::{CameraStats, CameraStatus, RtpTarget, StreamRecord, StreamState, ViewerRecord};

/// Bounds for the optional bandwidth limits of a start request, in kbps.
pub const MAX_BANDWIDTH_KBPS: u32 = 100_000;
pub const DEFAULT_MAX_BANDWIDTH_KBPS: u32 = 3000;
pub const DEFAULT_MIN_BANDWIDTH_KBPS: u32 = 300;

/// Optional body of `POST /streams/{camera_id}/start`. Its `Debug` shows the source redacted.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StartStreamRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bandwidth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_bandwidth: Option<u32>,
    /// An RTSP camera to pull from (`rtsp://user:pass@host/path` or `rtsps://`); without it the
    /// stream waits for a camera that pushes RTP. Never returned: views show it redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

impl std::fmt::Debug for StartStreamRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartStreamRequest")
            .field("max_bandwidth", &self.max_bandwidth)
            .field("min_bandwidth", &self.min_bandwidth)
            .field("source", &self.source.as_deref().map(crate::source::redact))
            .finish()
    }
}

/// `GET /health`, in the original system's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct HealthResponse {
    /// `healthy` or `degraded`.
    pub status: String,
    pub kurento_connected: bool,
    pub active_streams: u64,
    pub total_viewers: u64,
    /// What is wrong when `degraded`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
}

/// `GET /health` to anyone but an admin: only the status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct HealthStatus {
    /// `healthy` or `degraded`.
    pub status: String,
}

/// A stream as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct StreamView {
    pub camera_id: CameraId,
    pub state: StreamState,
    /// Where the camera sends RTP; null until the media server answered.
    pub rtp: Option<RtpTarget>,
    pub max_bandwidth: u32,
    pub min_bandwidth: u32,
    pub viewers: u64,
    pub created_at: String,
    pub updated_at: String,
    /// Last keepalive of the camera, if it has a control channel.
    pub camera: Option<CameraStatus>,
    /// The RTSP source of a pulled camera, its password replaced by `***`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The camera's audio, pushed (as `rtp.audio`) or pulled (as its source describes it,
    /// known once it played): the codec, whether browsers can play it, and why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<crate::stream::RtpAudio>,
    /// The media node carrying the stream, when streams are placed on a pool of nodes; `rtp`
    /// then points at that node's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
}

impl StreamView {
    pub fn new(record: StreamRecord, viewers: u64, camera: Option<CameraStatus>) -> Self {
        let audio = record.audio();
        Self {
            camera_id: record.camera_id,
            state: record.state,
            rtp: record.rtp,
            max_bandwidth: record.bandwidth.max_bandwidth,
            min_bandwidth: record.bandwidth.min_bandwidth,
            viewers,
            created_at: record.created_at,
            updated_at: record.updated_at,
            camera,
            source: record.source,
            audio,
            node_id: record.node_id,
        }
    }
}

/// `GET /streams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct StreamList {
    pub streams: Vec<StreamView>,
    pub count: usize,
}

/// `POST /streams/{id}/stop`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct StopStreamResponse {
    pub camera_id: CameraId,
    pub stopped: bool,
    /// Viewers that were told the stream ended.
    pub viewers_released: u64,
}

/// A viewer as the API shows it.
pub type ViewerView = ViewerRecord;

/// `GET /viewers` and `GET /viewers/{camera_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ViewerList {
    pub viewers: Vec<ViewerView>,
    pub count: usize,
}

/// Body of `POST /cameras/{camera_id}/keepalive`: the camera's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct KeepaliveRequest {
    #[serde(default)]
    pub stats: CameraStats,
}

/// Where a camera must send RTP, with the bitrate ceiling it should respect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct DesiredRtp {
    pub host: String,
    pub port: u16,
    pub codec: crate::stream::Codec,
    pub payload_type: u8,
    /// kbps.
    pub max_bandwidth: u32,
    /// Where the camera's audio goes (G.711/Opus; `port` absent: send none, e.g. AAC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<crate::stream::RtpAudio>,
}

/// Answer to a keepalive: the desired state. `rtp: null` means "do not send".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct KeepaliveResponse {
    pub rtp: Option<DesiredRtp>,
    /// When the camera should call again.
    pub keepalive_interval_seconds: u32,
}

/// `GET /ice-servers`: what a browser passes to `RTCPeerConnection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct IceServersResponse {
    pub ice_servers: Vec<IceServer>,
}

/// One entry of `RTCConfiguration.iceServers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ViewerId;
    use crate::roundtrip;
    use crate::stream::{Bandwidth, Codec, ViewerState};

    #[test]
    fn start_request_accepts_an_empty_object_and_rejects_unknown_fields() {
        assert_eq!(serde_json::from_str::<StartStreamRequest>("{}").unwrap(), StartStreamRequest::default());
        assert!(serde_json::from_str::<StartStreamRequest>(r#"{"max_bandwith": 1}"#).is_err());
        roundtrip(&StartStreamRequest { max_bandwidth: Some(3000), min_bandwidth: Some(300), source: None });
        let pulled = StartStreamRequest { source: Some("rtsp://u:pw7@h/c".into()), ..Default::default() };
        assert_eq!(roundtrip(&pulled).source.as_deref(), Some("rtsp://u:pw7@h/c"));
        assert!(!format!("{pulled:?}").contains("pw7"), "a logged request never shows the password");
    }

    #[test]
    fn health_has_the_original_shape() {
        let h = HealthResponse {
            status: "healthy".into(),
            kurento_connected: true,
            active_streams: 1,
            total_viewers: 2,
            problems: vec![],
        };
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            serde_json::json!({"status":"healthy","kurento_connected":true,"active_streams":1,"total_viewers":2})
        );
        roundtrip(&h);
        roundtrip(&HealthResponse { problems: vec!["redis unreachable".into()], status: "degraded".into(), ..h });
    }

    #[test]
    fn stream_view_and_list_round_trip() {
        let record = StreamRecord {
            camera_id: CameraId::from_static("cam"),
            state: StreamState::Live,
            rtp: Some(RtpTarget {
                host: "10.0.0.1".into(),
                port: 5004,
                codec: Codec::VP8,
                payload_type: 97,
                audio: None,
            }),
            bandwidth: Bandwidth { max_bandwidth: 2000, min_bandwidth: 100 },
            created_at: "t0".into(),
            updated_at: "t1".into(),
            pipeline_id: None,
            rtp_endpoint_id: None,
            camera_source: None,
            source: None,
            source_audio: None,
            node_id: None,
            relays: Vec::new(),
        };
        let camera =
            CameraStatus { last_seen: "t2".into(), stats: CameraStats { sending: true, ..Default::default() } };
        let view = StreamView::new(record, 3, Some(camera));
        assert_eq!(view.max_bandwidth, 2000);
        roundtrip(&StreamList { streams: vec![view], count: 1 });
        roundtrip(&StopStreamResponse { camera_id: CameraId::from_static("cam"), stopped: true, viewers_released: 2 });
    }

    #[test]
    fn a_stream_on_a_media_node_shows_the_node_and_a_single_server_stream_shows_none() {
        let on_node = StreamRecord { node_id: Some("node-b".into()), ..crate::stream::tests_support::sample_stream() };
        let view = StreamView::new(on_node, 0, None);
        assert_eq!(serde_json::to_value(&view).unwrap()["node_id"], "node-b");
        let single = StreamView::new(crate::stream::tests_support::sample_stream(), 0, None);
        assert!(serde_json::to_value(&single).unwrap().get("node_id").is_none(), "no field without a node");
    }

    #[test]
    fn viewer_list_round_trips() {
        roundtrip(&ViewerList {
            viewers: vec![ViewerRecord {
                viewer_id: ViewerId::from_static("v"),
                camera_id: CameraId::from_static("c"),
                signaling_instance: "s".into(),
                state: ViewerState::Connected,
                created_at: "t".into(),
                endpoint_id: Some("e".into()),
            }],
            count: 1,
        });
    }

    #[test]
    fn keepalive_messages_round_trip() {
        let req: KeepaliveRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(req, KeepaliveRequest::default());
        roundtrip(&KeepaliveRequest { stats: CameraStats { sending: true, packets_sent: 10, ..Default::default() } });
        let on = KeepaliveResponse {
            rtp: Some(DesiredRtp {
                host: "h".into(),
                port: 1,
                codec: Codec::H264,
                payload_type: 96,
                max_bandwidth: 3000,
                audio: None,
            }),
            keepalive_interval_seconds: 5,
        };
        roundtrip(&on);
        let off = KeepaliveResponse { rtp: None, keepalive_interval_seconds: 5 };
        assert_eq!(serde_json::to_value(&off).unwrap()["rtp"], serde_json::Value::Null);
        roundtrip(&off);
    }

    #[test]
    fn ice_servers_use_browser_field_names() {
        let r = IceServersResponse {
            ice_servers: vec![IceServer {
                urls: vec!["turn:1.2.3.4:3478".into()],
                username: Some("1700000000:v".into()),
                credential: Some("x".into()),
            }],
        };
        assert!(serde_json::to_value(&r).unwrap().get("iceServers").is_some());
        roundtrip(&r);
    }
}
