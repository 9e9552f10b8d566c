//! [`MediaServer`] over the generated Kurento client: the only place where the controller's
//! operations become Kurento calls. Works unchanged against Kurento 7.x and the engine.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use camview_proto::stream::{AudioCodec, IceCandidate};
use tokio::sync::broadcast;

use super::media::{
    FlowDirection, IceSettings, MediaError, MediaEvent, MediaServer, MediaStream, MediaViewer, PipelineInventory,
    StreamSpec,
};
use crate::kurento::{
    events, AnyStats, ClientError, EventStream, IceCandidate as KurentoCandidate, KurentoClient, KurentoEvent,
    LinkState, MediaFlowState, MediaPipeline, MediaType, PlayerEndpoint, PlayerEndpointParams, RtpEndpoint,
    RtpEndpointParams, ServerManager, WebRtcEndpoint, WebRtcEndpointParams, SERVER_MANAGER_ID,
};

impl From<ClientError> for MediaError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Server(k) if k.code == 40101 => MediaError::NotFound(k.message),
            ClientError::Server(k) => MediaError::Rejected { code: k.code, message: k.message },
            other => MediaError::Unavailable(other.to_string()),
        }
    }
}

/// The controller's media server: Kurento (or camview-media-engine) over JSON-RPC.
pub struct KurentoMedia {
    client: KurentoClient,
    /// The value of the [`OWNER_TAG`] this deployment puts on its pipelines.
    owner: String,
    events: broadcast::Sender<MediaEvent>,
    /// Objects whose events this session is subscribed to; emptied when the session is
    /// lost, since subscriptions belong to the session.
    subscribed: Arc<Mutex<HashSet<String>>>,
    /// The pool's node this server is (None with a single media server): named in its
    /// connection events and in the streams it creates.
    node_id: Option<String>,
}

/// The tag marking a pipeline as this deployment's (its value: the deployment's Redis key
/// prefix), so the inventory never lists another application's objects on a shared server.
pub const OWNER_TAG: &str = "camview.owner";

impl KurentoMedia {
    /// Wraps a started client and turns its connection changes into [`MediaEvent`]s; pipelines
    /// are marked with the default owner `camview:`.
    pub fn new(client: KurentoClient) -> Arc<Self> {
        Self::owned_by(client, "camview:")
    }

    /// Like [`KurentoMedia::new`], marking pipelines as `owner`'s (the Redis key prefix).
    pub fn owned_by(client: KurentoClient, owner: impl Into<String>) -> Arc<Self> {
        Self::build(client, owner.into(), None, broadcast::channel(4096).0)
    }

    /// Like [`KurentoMedia::owned_by`], for the media node `node_id` of a pool: its events and
    /// streams name the node, and its events go to the pool's channel `events` (sent there from
    /// the first one on, so none is lost before anyone subscribed).
    pub fn node(
        client: KurentoClient,
        owner: impl Into<String>,
        node_id: String,
        events: broadcast::Sender<MediaEvent>,
    ) -> Arc<Self> {
        Self::build(client, owner.into(), Some(node_id), events)
    }

    fn build(
        client: KurentoClient,
        owner: String,
        node_id: Option<String>,
        events: broadcast::Sender<MediaEvent>,
    ) -> Arc<Self> {
        let node = node_id.clone();
        let subscribed: Arc<Mutex<HashSet<String>>> = Arc::default();
        let mut link = client.connection_events();
        // The client announces a transition before it becomes the state: a state already
        // `Connected` here was announced before this subscription, so it is reported from here.
        let mut missed = Some(client.connection_state()).filter(|s| matches!(s, LinkState::Connected { .. }));
        let tx = events.clone();
        let subs = subscribed.clone();
        tokio::spawn(async move {
            loop {
                let state = match missed.take() {
                    Some(s) => s,
                    None => match link.recv().await {
                        Ok(s) => s,
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                };
                let event = match state {
                    LinkState::Connected { resumed, .. } => {
                        if !resumed {
                            subs.lock().expect("subscriptions poisoned").clear();
                        }
                        MediaEvent::Connected { resumed, node_id: node.clone() }
                    }
                    LinkState::SessionLost { .. } => {
                        subs.lock().expect("subscriptions poisoned").clear();
                        MediaEvent::Disconnected { node_id: node.clone() }
                    }
                    LinkState::Disconnected | LinkState::Closed => MediaEvent::Disconnected { node_id: node.clone() },
                    LinkState::Connecting => continue,
                };
                let _ = tx.send(event);
            }
        });
        Arc::new(Self { client, owner, events, subscribed, node_id })
    }

    pub fn client(&self) -> &KurentoClient {
        &self.client
    }

    /// The pool's node this server is, if any.
    pub fn node_id(&self) -> Option<&str> {
        self.node_id.as_deref()
    }

    /// Forwards one typed event stream into the shared event channel.
    fn forward<E: KurentoEvent>(
        &self,
        mut stream: EventStream<E>,
        map: impl Fn(E) -> Option<MediaEvent> + Send + 'static,
    ) {
        let tx = self.events.clone();
        tokio::spawn(async move {
            while let Some(e) = stream.recv().await {
                if let Some(event) = map(e) {
                    let _ = tx.send(event);
                }
            }
        });
    }

    /// Subscribes once per object and session to the camera-side events of an RtpEndpoint.
    async fn watch_rtp(&self, rtp: &RtpEndpoint) -> Result<(), MediaError> {
        if !self.subscribed.lock().expect("subscriptions poisoned").insert(rtp.id().to_owned()) {
            return Ok(());
        }
        let result = async {
            self.forward(rtp.subscribe::<events::MediaFlowInStateChanged>().await?, |e| {
                Some(MediaEvent::MediaFlow {
                    element_id: e.source,
                    direction: FlowDirection::In,
                    flowing: e.state == MediaFlowState::Flowing,
                })
            });
            self.forward(rtp.subscribe::<events::Error>().await?, |e| {
                Some(MediaEvent::Error { object_id: e.source, description: e.description })
            });
            Ok::<_, ClientError>(())
        }
        .await;
        self.undo_on_error(rtp.id(), result)
    }

    /// Subscribes once per object and session to a viewer endpoint's ICE and flow events.
    async fn watch_viewer(&self, ep: &WebRtcEndpoint) -> Result<(), MediaError> {
        if !self.subscribed.lock().expect("subscriptions poisoned").insert(ep.id().to_owned()) {
            return Ok(());
        }
        let result = async {
            // Five subscriptions in one round trip's time, not five.
            let (found, state, gathered, flow, error) = tokio::try_join!(
                ep.subscribe::<events::IceCandidateFound>(),
                ep.subscribe::<events::IceComponentStateChanged>(),
                ep.subscribe::<events::IceGatheringDone>(),
                ep.subscribe::<events::MediaFlowOutStateChanged>(),
                ep.subscribe::<events::Error>(),
            )?;
            self.forward(found, |e| {
                Some(MediaEvent::IceCandidateFound {
                    endpoint_id: e.source,
                    candidate: IceCandidate {
                        candidate: e.candidate.candidate,
                        sdp_mid: Some(e.candidate.sdp_mid),
                        sdp_m_line_index: u32::try_from(e.candidate.sdp_m_line_index).ok(),
                    },
                })
            });
            self.forward(state, |e| {
                Some(MediaEvent::IceStateChanged { endpoint_id: e.source, state: e.state.as_str().to_owned() })
            });
            self.forward(gathered, |_| None);
            self.forward(flow, |e| {
                Some(MediaEvent::MediaFlow {
                    element_id: e.source,
                    direction: FlowDirection::Out,
                    flowing: e.state == MediaFlowState::Flowing,
                })
            });
            self.forward(error, |e| Some(MediaEvent::Error { object_id: e.source, description: e.description }));
            Ok::<_, ClientError>(())
        }
        .await;
        self.undo_on_error(ep.id(), result)
    }

    fn undo_on_error(&self, id: &str, result: Result<(), ClientError>) -> Result<(), MediaError> {
        result.map_err(|e| {
            self.subscribed.lock().expect("subscriptions poisoned").remove(id);
            e.into()
        })
    }

    /// Subscribes once per object and session to a PlayerEndpoint's events: those of a camera's
    /// RtpEndpoint plus `EndOfStream` (the controller plays it again, `pulled`).
    async fn watch_player(&self, player: &PlayerEndpoint) -> Result<(), MediaError> {
        self.watch_rtp(&RtpEndpoint::attach(&self.client, player.id())).await?;
        let key = format!("{}#EndOfStream", player.id());
        if !self.subscribed.lock().expect("subscriptions poisoned").insert(key.clone()) {
            return Ok(());
        }
        match player.subscribe::<events::EndOfStream>().await {
            Ok(stream) => {
                self.forward(stream, |e| Some(MediaEvent::SourceEnded { element_id: e.source }));
                Ok(())
            }
            Err(e) => {
                self.subscribed.lock().expect("subscriptions poisoned").remove(&key);
                Err(e.into())
            }
        }
    }

    /// A PlayerEndpoint in `pipeline` playing the stream's RTSP source, its events watched
    /// ([`Self::watch_player`]); released again if any step fails. The URI is sent, never
    /// logged.
    async fn create_player_endpoint(
        &self,
        pipeline: &MediaPipeline,
        source: &camview_proto::source::SourceUrl,
    ) -> Result<MediaStream, MediaError> {
        let player =
            PlayerEndpoint::create(&self.client, pipeline, source.expose(), PlayerEndpointParams::default()).await?;
        let result = async {
            self.watch_player(&player)
                .await
                .map_err(|e| ClientError::Decode { operation: "subscribe".into(), reason: e.to_string() })?;
            player.play().await?;
            Ok::<_, ClientError>(MediaStream {
                pipeline_id: pipeline.id().to_owned(),
                rtp_endpoint_id: player.id().to_owned(),
                answer: String::new(),
                node_id: self.node_id.clone(),
            })
        }
        .await;
        if result.is_err() {
            let _ = player.release().await;
            self.subscribed.lock().expect("subscriptions poisoned").retain(|id| !id.starts_with(player.id()));
        }
        Ok(result?)
    }

    /// An RtpEndpoint in `pipeline` with the stream's bandwidth and events, answering the
    /// camera's offer (or, for a stream with a source, a PlayerEndpoint); released again if
    /// any step fails.
    async fn create_camera_endpoint(
        &self,
        pipeline: &MediaPipeline,
        spec: &StreamSpec,
    ) -> Result<MediaStream, MediaError> {
        if let Some(source) = &spec.source {
            return self.create_player_endpoint(pipeline, source).await;
        }
        let rtp = RtpEndpoint::create(&self.client, pipeline, RtpEndpointParams::default()).await?;
        let result = async {
            rtp.set_max_video_recv_bandwidth(kbps(spec.bandwidth.max_bandwidth)).await?;
            rtp.set_min_video_send_bandwidth(kbps(spec.bandwidth.min_bandwidth)).await?;
            rtp.set_max_video_send_bandwidth(kbps(spec.bandwidth.max_bandwidth)).await?;
            self.watch_rtp(&rtp)
                .await
                .map_err(|e| ClientError::Decode { operation: "subscribe".into(), reason: e.to_string() })?;
            let answer = rtp.process_offer(&spec.offer).await?;
            Ok::<_, ClientError>(MediaStream {
                pipeline_id: pipeline.id().to_owned(),
                rtp_endpoint_id: rtp.id().to_owned(),
                answer,
                node_id: self.node_id.clone(),
            })
        }
        .await;
        if result.is_err() {
            let _ = rtp.release().await;
            self.subscribed.lock().expect("subscriptions poisoned").remove(rtp.id());
        }
        Ok(result?)
    }

    /// True if the object exists (describing it also makes this session co-own it).
    async fn describe(&self, id: &str) -> Result<bool, MediaError> {
        match self.client.describe(id).await {
            Ok(()) => Ok(true),
            Err(e) => match MediaError::from(e) {
                MediaError::NotFound(_) => Ok(false),
                other => Err(other),
            },
        }
    }
}

/// Whether a Kurento object id names a PlayerEndpoint (ids end in `_kurento.<Class>`).
fn is_player(object_id: &str) -> bool {
    object_id.ends_with("_kurento.PlayerEndpoint")
}

/// Kurento bandwidth properties are `int` kbps.
fn kbps(v: u32) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

#[async_trait]
impl MediaServer for KurentoMedia {
    async fn create_stream(&self, spec: &StreamSpec) -> Result<MediaStream, MediaError> {
        let pipeline = MediaPipeline::create(&self.client).await?;
        let result = match pipeline.add_tag(OWNER_TAG, &self.owner).await {
            Ok(()) => self.create_camera_endpoint(&pipeline, spec).await,
            Err(e) => Err(e.into()),
        };
        if result.is_err() {
            let _ = pipeline.release().await;
        }
        result
    }

    async fn replace_camera_endpoint(
        &self,
        stream: &MediaStream,
        spec: &StreamSpec,
        viewer_endpoints: &[String],
    ) -> Result<MediaStream, MediaError> {
        let pipeline = MediaPipeline::attach(&self.client, &stream.pipeline_id);
        let new = self.create_camera_endpoint(&pipeline, spec).await?;
        let rtp = RtpEndpoint::attach(&self.client, &new.rtp_endpoint_id);
        for endpoint in viewer_endpoints {
            let viewer = WebRtcEndpoint::attach(&self.client, endpoint);
            let connected = async {
                rtp.connect(&viewer, Some(MediaType::Video)).await?;
                rtp.connect(&viewer, Some(MediaType::Audio)).await
            };
            if let Err(e) = connected.await {
                let e = MediaError::from(e);
                if matches!(e, MediaError::NotFound(_)) {
                    continue; // a viewer leaving meanwhile is no reason to keep the old source
                }
                let _ = self.release(&new.rtp_endpoint_id).await;
                return Err(e);
            }
        }
        if let Err(e) = self.release(&stream.rtp_endpoint_id).await {
            tracing::warn!(error = %e, "could not release the replaced RtpEndpoint; it goes with its pipeline");
        }
        Ok(new)
    }

    async fn create_viewer(
        &self,
        stream: &MediaStream,
        offer: &str,
        ice: &IceSettings,
    ) -> Result<MediaViewer, MediaError> {
        let pipeline = MediaPipeline::attach(&self.client, &stream.pipeline_id);
        let rtp = RtpEndpoint::attach(&self.client, &stream.rtp_endpoint_id);
        let ep = WebRtcEndpoint::create(
            &self.client,
            &pipeline,
            WebRtcEndpointParams { sendonly: Some(true), ..Default::default() },
        )
        .await?;
        let result = async {
            let ice_settings = async {
                if let Some(addr) = &ice.stun_address {
                    ep.set_stun_server_address(addr).await?;
                }
                if let Some(port) = ice.stun_port {
                    ep.set_stun_server_port(i32::from(port)).await?;
                }
                if let Some(turn) = &ice.turn_url {
                    ep.set_turn_url(turn).await?;
                }
                Ok::<_, ClientError>(())
            };
            let watch = async {
                self.watch_viewer(&ep)
                    .await
                    .map_err(|e| ClientError::Decode { operation: "subscribe".into(), reason: e.to_string() })
            };
            // Independent calls in parallel; the offer is answered once all are done.
            // Audio too: the camera's G.711/Opus reaches browsers that offer it (a camera without
            // audio leaves this connection idle).
            let (video, audio) = (rtp.connect(&ep, Some(MediaType::Video)), rtp.connect(&ep, Some(MediaType::Audio)));
            tokio::try_join!(ice_settings, watch, video, audio)?;
            let answer = ep.process_offer(offer).await?;
            Ok::<_, ClientError>(MediaViewer { endpoint_id: ep.id().to_owned(), answer })
        }
        .await;
        if result.is_err() {
            let _ = ep.release().await;
            self.subscribed.lock().expect("subscriptions poisoned").remove(ep.id());
        }
        Ok(result?)
    }

    async fn create_tap(&self, stream: &MediaStream, offer: &str) -> Result<MediaViewer, MediaError> {
        let pipeline = MediaPipeline::attach(&self.client, &stream.pipeline_id);
        let camera = RtpEndpoint::attach(&self.client, &stream.rtp_endpoint_id);
        let tap = RtpEndpoint::create(&self.client, &pipeline, RtpEndpointParams::default()).await?;
        let result = async {
            camera.connect(&tap, Some(MediaType::Video)).await?;
            let answer = tap.process_offer(offer).await?;
            Ok::<_, ClientError>(MediaViewer { endpoint_id: tap.id().to_owned(), answer })
        }
        .await;
        if result.is_err() {
            let _ = tap.release().await;
        }
        Ok(result?)
    }

    async fn play(&self, element_id: &str) -> Result<(), MediaError> {
        Ok(PlayerEndpoint::attach(&self.client, element_id).play().await?)
    }

    async fn camera_audio(&self, element_id: &str) -> Result<Option<AudioCodec>, MediaError> {
        let stats = PlayerEndpoint::attach(&self.client, element_id).get_stats(Some(MediaType::Audio)).await?;
        Ok(stats.values().find_map(|s| match s {
            AnyStats::RTCInboundRTPStreamStats(s) => s.codec_id.as_deref().and_then(super::sdp::audio_codec_of_rtpmap),
            _ => None,
        }))
    }

    async fn is_camera_flowing(&self, element_id: &str) -> Result<bool, MediaError> {
        Ok(RtpEndpoint::attach(&self.client, element_id).is_media_flowing_in(MediaType::Video).await?)
    }

    async fn gather_candidates(&self, endpoint_id: &str) -> Result<(), MediaError> {
        Ok(WebRtcEndpoint::attach(&self.client, endpoint_id).gather_candidates().await?)
    }

    async fn add_ice_candidate(&self, endpoint_id: &str, c: &IceCandidate) -> Result<(), MediaError> {
        let candidate = KurentoCandidate {
            candidate: c.candidate.clone(),
            sdp_mid: c.sdp_mid.clone().unwrap_or_default(),
            sdp_m_line_index: c.sdp_m_line_index.and_then(|i| i32::try_from(i).ok()).unwrap_or(0),
        };
        Ok(WebRtcEndpoint::attach(&self.client, endpoint_id).add_ice_candidate(&candidate).await?)
    }

    async fn release(&self, object_id: &str) -> Result<(), MediaError> {
        self.client.release(object_id).await?;
        self.subscribed.lock().expect("subscriptions poisoned").retain(|id| !id.starts_with(object_id));
        Ok(())
    }

    async fn adopt_stream(&self, stream: &MediaStream) -> Result<bool, MediaError> {
        if !(self.describe(&stream.pipeline_id).await? && self.describe(&stream.rtp_endpoint_id).await?) {
            return Ok(false);
        }
        if is_player(&stream.rtp_endpoint_id) {
            // A pulled camera's player: its `EndOfStream` too, and `play` in case its source
            // ended while no controller listened (a playing player ignores it).
            let player = PlayerEndpoint::attach(&self.client, &stream.rtp_endpoint_id);
            self.watch_player(&player).await?;
            player.play().await?;
        } else {
            self.watch_rtp(&RtpEndpoint::attach(&self.client, &stream.rtp_endpoint_id)).await?;
        }
        Ok(true)
    }

    async fn adopt_viewer(&self, endpoint_id: &str) -> Result<bool, MediaError> {
        if !self.describe(endpoint_id).await? {
            return Ok(false);
        }
        self.watch_viewer(&WebRtcEndpoint::attach(&self.client, endpoint_id)).await?;
        Ok(true)
    }

    async fn inventory(&self) -> Result<Vec<PipelineInventory>, MediaError> {
        let pipelines = ServerManager::attach(&self.client, SERVER_MANAGER_ID).get_pipelines().await?;
        let mut ours = Vec::new();
        for pipeline in pipelines {
            // A pipeline released meanwhile is simply not ours to list.
            let tags = match pipeline.get_tags().await.map_err(MediaError::from) {
                Ok(tags) => tags,
                Err(MediaError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if !tags.iter().any(|t| t.key == OWNER_TAG && t.value == self.owner) {
                continue;
            }
            let elements = match pipeline.get_children().await.map_err(MediaError::from) {
                Ok(children) => children.iter().map(|c| c.id().to_owned()).collect(),
                Err(MediaError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            ours.push(PipelineInventory { pipeline_id: pipeline.id().to_owned(), elements });
        }
        Ok(ours)
    }

    fn events(&self) -> broadcast::Receiver<MediaEvent> {
        self.events.subscribe()
    }

    fn is_connected(&self) -> bool {
        matches!(self.client.connection_state(), LinkState::Connected { .. })
    }
}
