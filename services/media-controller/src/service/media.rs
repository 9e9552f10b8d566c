//! The media-controller's port to a media server. The Kurento client implements it; the
//! controller logic depends only on this trait, so it is unit-tested without a server.

use async_trait::async_trait;
use camview_proto::source::SourceUrl;
use camview_proto::stream::{AudioCodec, Bandwidth, IceCandidate};
use camview_proto::CameraId;
use tokio::sync::broadcast;

/// What a camera sends, as the controller describes it in the RtpEndpoint offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSpec {
    pub camera_id: CameraId,
    pub bandwidth: Bandwidth,
    /// SDP offer describing the camera's stream.
    pub offer: String,
    /// An RTSP camera to pull from: the stream gets a PlayerEndpoint with this URI instead of
    /// an RtpEndpoint answering `offer` (its `Debug` is redacted).
    pub source: Option<SourceUrl>,
    /// The media node chosen for the stream (a pool of nodes routes the stream there); None
    /// with a single media server.
    pub node_id: Option<String>,
}

/// Media-server objects of one stream. For a stream pulled from an RTSP camera,
/// `rtp_endpoint_id` names its PlayerEndpoint (the element viewers connect to) and `answer` is
/// empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaStream {
    pub pipeline_id: String,
    pub rtp_endpoint_id: String,
    /// The media server's SDP answer; its `m=video` port is where the camera sends.
    pub answer: String,
    /// The media node holding the objects (None with a single media server): every call about
    /// the stream, its viewers and taps goes there.
    pub node_id: Option<String>,
}

/// STUN/TURN settings given to every viewer endpoint (IP literals, Kurento format).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IceSettings {
    pub stun_address: Option<String>,
    pub stun_port: Option<u16>,
    /// `user:password@ip:port?transport=udp`.
    pub turn_url: Option<String>,
}

/// A viewer's endpoint and its answer for the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaViewer {
    pub endpoint_id: String,
    pub answer: String,
}

/// Something the media server reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    IceCandidateFound {
        endpoint_id: String,
        candidate: IceCandidate,
    },
    /// Kurento's IceComponentStateChanged state (`CONNECTED`, `READY`, `FAILED`, ...).
    IceStateChanged {
        endpoint_id: String,
        state: String,
    },
    /// MediaFlowInStateChanged / MediaFlowOutStateChanged.
    MediaFlow {
        element_id: String,
        direction: FlowDirection,
        flowing: bool,
    },
    /// A PlayerEndpoint's source ended (`EndOfStream`).
    SourceEnded {
        element_id: String,
    },
    /// An error event of a media object.
    Error {
        object_id: String,
        description: String,
    },
    /// The connection (re)opened; `resumed` is false for a new session, whose objects
    /// (if any survive) must be adopted again. `node_id` names the media node of a pool (its
    /// streams alone are concerned); None with a single media server.
    Connected {
        resumed: bool,
        node_id: Option<String>,
    },
    /// The connection to the media server (or to the pool's node `node_id`) was lost.
    Disconnected {
        node_id: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowDirection {
    In,
    Out,
}

/// Failure of a media-server call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The server answered with an error (Kurento code and message).
    #[error("media server error {code}: {message}")]
    Rejected { code: i64, message: String },
    /// The object does not exist (any more).
    #[error("media object {0} not found")]
    NotFound(String),
    #[error("media server unreachable: {0}")]
    Unavailable(String),
}

/// A pipeline this deployment created, as the media server holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineInventory {
    pub pipeline_id: String,
    /// Ids of the elements inside it (camera and viewer endpoints).
    pub elements: Vec<String>,
}

/// Operations the controller needs from a media server.
#[async_trait]
pub trait MediaServer: Send + Sync + 'static {
    /// Creates pipeline + RtpEndpoint, applies the bandwidth, subscribes to its flow events
    /// and answers the camera offer.
    async fn create_stream(&self, spec: &StreamSpec) -> Result<MediaStream, MediaError>;
    /// Creates a WebRtcEndpoint in the stream's pipeline with the ICE settings, subscribes to
    /// its ICE and flow events, connects the RtpEndpoint to it and answers the browser offer.
    /// Candidates are gathered separately, after the answer reached the browser.
    async fn create_viewer(
        &self,
        stream: &MediaStream,
        offer: &str,
        ice: &IceSettings,
    ) -> Result<MediaViewer, MediaError>;
    /// Gives a stream a new RtpEndpoint in its pipeline (bandwidth applied, events subscribed,
    /// `spec.offer` answered), connects it to each of `viewer_endpoints` (a sink's new source
    /// replaces its old one, so viewers keep their sessions) and releases the old endpoint.
    /// Returns the stream's objects with the new endpoint and its answer. On failure the new
    /// endpoint is released and the old one left as it was.
    async fn replace_camera_endpoint(
        &self,
        stream: &MediaStream,
        spec: &StreamSpec,
        viewer_endpoints: &[String],
    ) -> Result<MediaStream, MediaError>;
    /// Whether video flows into a stream's camera element now (`isMediaFlowingIn`): a pulled
    /// camera may start before its stream is registered, so its first flow event found none.
    async fn is_camera_flowing(&self, element_id: &str) -> Result<bool, MediaError>;
    /// The audio codec a pulled camera's PlayerEndpoint found in its source (`getStats` for
    /// AUDIO; camview's engine names it in `codecId`), or `None` when it reports none (a
    /// camera without audio, or a media server that does not say).
    async fn camera_audio(&self, element_id: &str) -> Result<Option<AudioCodec>, MediaError> {
        let _ = element_id;
        Ok(None)
    }
    /// `play` on a pulled stream's PlayerEndpoint (again, after its source failed or ended).
    async fn play(&self, element_id: &str) -> Result<(), MediaError>;
    async fn gather_candidates(&self, endpoint_id: &str) -> Result<(), MediaError>;
    async fn add_ice_candidate(&self, endpoint_id: &str, candidate: &IceCandidate) -> Result<(), MediaError>;
    /// Releases an object (a pipeline takes its endpoints with it). Idempotent.
    async fn release(&self, object_id: &str) -> Result<(), MediaError>;
    /// Takes over a stream's objects left by an earlier session or process: true and its
    /// events subscribed again when they still exist, false when they are gone.
    async fn adopt_stream(&self, stream: &MediaStream) -> Result<bool, MediaError>;
    /// Same for a viewer endpoint.
    async fn adopt_viewer(&self, endpoint_id: &str) -> Result<bool, MediaError>;
    /// The pipelines this deployment created (marked at creation, so another application's
    /// objects on a shared server are never listed) with their elements.
    async fn inventory(&self) -> Result<Vec<PipelineInventory>, MediaError>;
    /// Creates a snapshot tap: an RtpEndpoint in the stream's pipeline, connected from its
    /// camera endpoint (video), answering `offer` (receive-only: the media server sends the
    /// camera's RTP to the offer's address). Released again on failure. Not every media
    /// server port offers it: the default refuses.
    async fn create_tap(&self, stream: &MediaStream, offer: &str) -> Result<MediaViewer, MediaError> {
        let _ = (stream, offer);
        Err(MediaError::Rejected { code: 0, message: "snapshot taps are not supported by this media server".into() })
    }
    /// Events of every object this controller subscribed to, plus connection changes.
    fn events(&self) -> broadcast::Receiver<MediaEvent>;
    /// Whether the connection to the media server is up now.
    fn is_connected(&self) -> bool;
}
