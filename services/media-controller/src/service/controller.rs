//! Handling of bus commands and media events: the media-controller's behaviour.
//!
//! Invariants:
//! - the registry is the source of truth for what should exist; media objects are created
//!   from it and released when it says they are gone;
//! - a stream's own commands (start, stop, re-latch, state changes, reconciliation) run alone
//!   on their camera (the write side of a per-camera lock); viewers' commands share it (read
//!   side), so a popular camera's joins run in parallel; different cameras are independent;
//! - every command gets exactly one reply (success or `Failed`) when it asked for one;
//! - at most `max_streams` streams exist: the registry's streams plus those being created
//!   (admitted, not yet registered) are counted under one admission lock, so starts of
//!   different cameras in parallel cannot overshoot; only that count is serialized, not the
//!   media calls.

use camview_proto::CameraId;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camview_common::bus::{envelope, Bus};
use camview_common::clock::now_rfc3339;
use camview_common::registry::{Fence, Registry};
use camview_proto::bus::{
    Envelope, Message, RemoveReason, StartStream, StopStream, StreamEnded, StreamStarted, StreamStopped,
};
use camview_proto::source::SourceUrl;
use camview_proto::stream::{AudioCodec, Codec, RtpTarget, StreamRecord, StreamState};
use tokio::sync::{Mutex as AsyncMutex, RwLock};
use tracing::Instrument;

use super::lanes::LaneKey;
use super::media::{IceSettings, MediaServer, MediaStream, StreamSpec};
use super::placement::Policy;
use super::sdp;
pub use crate::error::CommandError;
use crate::metrics::{ControllerMetrics, Outcome};
use camview_proto::node::MediaNode;

mod camera_source;
mod events;
mod orphans;
mod placing;
mod pulled;
mod reconcile;
mod relays;
mod taps;
mod viewers;

/// What the controller needs to know beyond its dependencies.
#[derive(Debug, Clone)]
pub struct ControllerSettings {
    /// Address cameras send RTP to (`EXTERNAL_IP`), written into every RTP target.
    pub external_ip: String,
    pub codec: Codec,
    pub payload_type: u8,
    /// `CAMERA_AUDIO`: the cameras' audio codec, if they send audio.
    pub audio: Option<AudioCodec>,
    pub ice: IceSettings,
    /// No media for this long turns a live stream `stalled`.
    pub stall_after: Duration,
    /// `MAX_STREAMS`: a start of a new stream beyond this many is refused (`too_many_streams`).
    pub max_streams: u32,
    /// `MAX_VIEWERS_PER_STREAM`: a join beyond this many viewers is refused (`stream_full`).
    pub max_viewers_per_stream: u32,
    /// `MEDIA_NODES=registry`: streams are placed on the registry's media nodes by this policy
    /// (the media server is then a pool routing to them) and a stream's RTP target is its
    /// node's address. None: one media server at `external_ip`, as before nodes existed.
    pub placement: Option<Policy>,
    /// `RELAY_AFTER_VIEWERS` (placement only): a node takes at most this many viewers of one
    /// stream; the next ones go to a relay of it on another node.
    pub relay_after: Option<u32>,
}

/// The media-controller's behaviour over its three dependencies.
pub struct Controller {
    /// Every write goes through this fenced view: refused once another controller took the
    /// lease after us (see [`Fence`]).
    registry: Arc<dyn Registry>,
    /// The lease term this controller writes in, entered and left by the lease task.
    fence: Fence,
    /// Until when the lease is surely ours (None while not leading), set by the lease task:
    /// a command read by a controller paused past this is left to the leader.
    leading_until: Mutex<Option<std::time::Instant>>,
    bus: Arc<dyn Bus>,
    media: Arc<dyn MediaServer>,
    settings: ControllerSettings,
    /// Per camera: viewer work shares it (read), stream-level work holds it alone (write).
    camera_locks: Mutex<HashMap<CameraId, Arc<RwLock<()>>>>,
    /// Taken to count streams against `max_streams` and admit one more.
    admission: AsyncMutex<()>,
    /// Cameras admitted by the count whose stream is being created (not yet in the registry),
    /// with the node each was placed on (counted as that node's load until registered).
    creating: Mutex<HashMap<CameraId, Option<String>>>,
    /// Pending `stalled` timers per camera, aborted when media flows again.
    stall_timers: Mutex<HashMap<CameraId, tokio::task::JoinHandle<()>>>,
    metrics: ControllerMetrics,
    /// Whether the last registry round trip (the lease renewal) succeeded.
    bus_reachable: AtomicBool,
    /// Since when the registry has answered every round trip (None while it does not).
    reachable_since: Mutex<Option<std::time::Instant>>,
    /// Endpoint -> viewer, so media events need no registry scan.
    viewers: viewers::ViewerIndex,
    /// Cameras whose PlayerEndpoint is to be played again (`pulled`).
    replays: Mutex<HashSet<CameraId>>,
    /// Per camera, with relays on: one viewer decision at a time (`relays`).
    relay_locks: Mutex<HashMap<CameraId, Arc<AsyncMutex<()>>>>,
}

impl Controller {
    pub fn new(
        registry: Arc<dyn Registry>,
        bus: Arc<dyn Bus>,
        media: Arc<dyn MediaServer>,
        settings: ControllerSettings,
        metrics: ControllerMetrics,
    ) -> Arc<Self> {
        let fence = Fence::new();
        Arc::new(Self {
            registry: registry.fenced(fence.clone()),
            fence,
            leading_until: Mutex::new(None),
            bus,
            media,
            settings,
            camera_locks: Mutex::default(),
            admission: AsyncMutex::new(()),
            creating: Mutex::default(),
            stall_timers: Mutex::default(),
            metrics,
            bus_reachable: AtomicBool::new(false),
            reachable_since: Mutex::new(None),
            viewers: viewers::ViewerIndex::default(),
            replays: Mutex::default(),
            relay_locks: Mutex::default(),
        })
    }

    pub fn metrics(&self) -> &ControllerMetrics {
        &self.metrics
    }

    /// Records whether the bus and registry answered the last round trip.
    pub fn set_bus_reachable(&self, reachable: bool) {
        self.bus_reachable.store(reachable, Ordering::Relaxed);
        let mut since = self.reachable_since.lock().unwrap_or_else(|e| e.into_inner());
        match (reachable, *since) {
            (true, None) => *since = Some(std::time::Instant::now()),
            (false, _) => *since = None,
            (true, Some(_)) => {}
        }
    }

    /// Whether the registry has answered every round trip for at least `grace`: only then
    /// may a missing liveness key mean a dead instance rather than one that could not
    /// refresh it during an outage.
    pub fn bus_reachable_for(&self, grace: Duration) -> bool {
        self.reachable_since.lock().unwrap_or_else(|e| e.into_inner()).is_some_and(|t| t.elapsed() >= grace)
    }

    /// Healthy when connected to the media server and the bus, leader or standby alike.
    pub fn is_healthy(&self) -> bool {
        self.bus_reachable.load(Ordering::Relaxed) && self.media.is_connected()
    }

    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.registry
    }

    /// Enters lease term `term`, ours until at least `valid_until`: the registry takes this
    /// controller's writes and it executes commands.
    pub fn enter_term(&self, term: u64, valid_until: std::time::Instant) {
        self.fence.enter(term);
        *self.leading_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(valid_until);
    }

    /// Leaves the lease term: writes still in flight are refused by the registry.
    pub fn leave_term(&self) {
        self.fence.leave();
        *self.leading_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Whether the lease is surely ours now (false after a pause longer than the lease,
    /// before the lease task even ran again).
    pub fn leads_now(&self) -> bool {
        self.leading_until.lock().unwrap_or_else(|e| e.into_inner()).is_some_and(|t| std::time::Instant::now() < t)
    }

    pub fn media(&self) -> &Arc<dyn MediaServer> {
        &self.media
    }

    fn camera_lock(&self, camera_id: &CameraId) -> Arc<RwLock<()>> {
        self.camera_locks.lock().expect("camera lock table poisoned").entry(camera_id.to_owned()).or_default().clone()
    }

    /// Handles one command envelope inside a span named after the command, whose parent is
    /// the sender's trace context, and replies on its sender's channel. False when the
    /// command was left to the leader (this controller's lease lapsed before it could run):
    /// it must stay unacknowledged, so the leader takes it over.
    pub async fn handle(self: &Arc<Self>, env: &Envelope) -> bool {
        let span = match &env.message {
            Message::StartStream(c) => tracing::info_span!("StartStream", id = %env.id, camera_id = %c.camera_id),
            Message::StopStream(c) => tracing::info_span!("StopStream", id = %env.id, camera_id = %c.camera_id),
            Message::AddViewer(c) => {
                tracing::info_span!("AddViewer", id = %env.id, camera_id = %c.camera_id, viewer_id = %c.viewer_id)
            }
            Message::AddIceCandidate(c) => {
                tracing::info_span!("AddIceCandidate", id = %env.id, viewer_id = %c.viewer_id)
            }
            Message::RemoveViewer(c) => {
                tracing::info_span!("RemoveViewer", id = %env.id, camera_id = %c.camera_id, viewer_id = %c.viewer_id)
            }
            Message::CameraSeen(c) => tracing::info_span!("CameraSeen", id = %env.id, camera_id = %c.camera_id),
            Message::OpenTap(c) => tracing::info_span!("OpenTap", id = %env.id, camera_id = %c.camera_id),
            Message::CloseTap(c) => tracing::info_span!("CloseTap", id = %env.id, camera_id = %c.camera_id),
            other => {
                tracing::warn!(kind = other.kind(), "not a command; ignored");
                return true;
            }
        };
        camview_common::telemetry::link_parent(&span, env.traceparent.as_deref());
        camview_common::telemetry::record_bus_lag(env);
        if let Some(deadline) = env.expires_at.as_deref().filter(|d| camview_common::clock::is_past(d)) {
            // The sender gave up waiting (and answered its caller an error): running it now
            // would do what the caller was told did not happen.
            let _entered = span.enter();
            tracing::warn!(deadline, "command read after its sender's deadline; dropped unexecuted");
            self.metrics.command_dropped("expired");
            return true;
        }
        if !self.leads_now() {
            // The lease may be another's (this process was paused past it): the command
            // stays pending for the leader, which takes it over (and may already run it).
            let _entered = span.enter();
            tracing::warn!("command read after this controller's lease lapsed; left to the leader");
            self.metrics.command_dropped("not_leader");
            return false;
        }
        self.handle_command(env).instrument(span).await;
        true
    }

    /// The lane a command runs in: a viewer's commands in that viewer's lane (in order, in
    /// parallel with other viewers), a stream's commands alone on its camera (see `Lanes`).
    pub fn lane_of(message: &Message) -> LaneKey<'_> {
        match message {
            Message::AddViewer(c) => LaneKey::Viewer { camera: &c.camera_id, viewer: &c.viewer_id },
            Message::AddIceCandidate(c) => {
                LaneKey::Viewer { camera: c.camera_id.as_ref().map_or("", |c| c.as_str()), viewer: &c.viewer_id }
            }
            Message::RemoveViewer(c) => LaneKey::Viewer { camera: &c.camera_id, viewer: &c.viewer_id },
            Message::StartStream(c) => LaneKey::Camera(&c.camera_id),
            Message::StopStream(c) => LaneKey::Camera(&c.camera_id),
            Message::CameraSeen(c) => LaneKey::Camera(&c.camera_id),
            Message::OpenTap(c) => LaneKey::Viewer { camera: &c.camera_id, viewer: &c.tap_id },
            Message::CloseTap(c) => LaneKey::Viewer { camera: &c.camera_id, viewer: &c.tap_id },
            _ => LaneKey::Camera(""),
        }
    }

    async fn handle_command(self: &Arc<Self>, env: &Envelope) {
        let mut joined = None;
        let result = match &env.message {
            Message::StartStream(c) => self.start_stream(c).await,
            Message::StopStream(c) => self.stop_stream(c).await,
            Message::AddViewer(c) => self.add_viewer(c).await.map(|(answer, j)| {
                joined = Some(j);
                answer
            }),
            Message::AddIceCandidate(c) => self.add_ice_candidate(c).await,
            Message::RemoveViewer(c) => self.remove_viewer(c).await,
            Message::CameraSeen(c) => self.camera_seen(c).await,
            Message::OpenTap(c) => self.open_tap(c).await,
            Message::CloseTap(c) => self.close_tap(c).await,
            _ => return,
        };
        self.count_outcome(&env.message, &result);
        let reply = result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "command failed");
            e.reply()
        });
        self.reply(env, reply).await;
        if let Some(joined) = joined {
            self.after_viewer_answer(joined).await;
        }
        let camera = match &env.message {
            Message::StartStream(c) => Some(&c.camera_id),
            Message::StopStream(c) => Some(&c.camera_id),
            Message::AddViewer(c) => Some(&c.camera_id),
            Message::RemoveViewer(c) => Some(&c.camera_id),
            _ => None,
        };
        if let Some(camera_id) = camera {
            self.refresh_stream_gauge(camera_id).await;
        }
    }

    fn count_outcome(&self, command: &Message, result: &Result<Message, CommandError>) {
        let code = result.as_ref().err().map(|e| e.code().as_str());
        if let Some(code) = code {
            camview_common::telemetry::record_error(code);
        }
        let outcome = match (code, result) {
            (Some(code), _) => Outcome::Failed(code),
            (None, Ok(Message::StreamStarted(StreamStarted { created: false, .. }))) => Outcome::AlreadyStarted,
            (None, _) => Outcome::Ok,
        };
        match command {
            Message::StartStream(_) => self.metrics.stream_started(outcome),
            Message::StopStream(_) => self.metrics.stream_stopped(outcome),
            _ => {}
        }
    }

    /// Answers `request` on its sender's channel, carrying the current trace context.
    async fn reply(&self, request: &Envelope, message: Message) {
        let Some(to) = &request.reply_to else { return };
        let mut env = envelope(message, None, Some(request.id.clone()));
        env.traceparent = camview_common::telemetry::current_traceparent().or_else(|| request.traceparent.clone());
        if let Err(e) = self.bus.publish_reply(to, &env).await {
            tracing::warn!(error = %e, "could not send the reply");
        }
    }

    /// Brings one stream's gauges in line with the registry (leader only).
    async fn refresh_stream_gauge(&self, camera_id: &CameraId) {
        if !self.metrics.is_leader() {
            return;
        }
        let viewers = match self.registry.get_stream(camera_id).await {
            Ok(Some(_)) => match self.registry.viewer_count(camera_id).await {
                Ok(n) => Some(n),
                Err(_) => return,
            },
            Ok(None) => None,
            Err(_) => return,
        };
        self.metrics.set_stream(camera_id, viewers);
    }

    /// Brings every stream gauge in line with the registry (leader only).
    pub async fn refresh_gauges(&self) {
        if !self.metrics.is_leader() {
            return;
        }
        let (Ok(streams), Ok(viewers)) = (self.registry.list_streams().await, self.registry.list_viewers(None).await)
        else {
            return;
        };
        let mut counts: BTreeMap<String, u64> = streams.into_iter().map(|s| (s.camera_id.into(), 0)).collect();
        for v in viewers {
            if let Some(n) = counts.get_mut(v.camera_id.as_str()) {
                *n += 1;
            }
        }
        self.metrics.set_all_streams(counts);
    }

    async fn start_stream(&self, cmd: &StartStream) -> Result<Message, CommandError> {
        let lock = self.camera_lock(&cmd.camera_id);
        let _guard = lock.write().await;
        if let Some(stream) = self.registry.get_stream(&cmd.camera_id).await? {
            return Ok(Message::StreamStarted(StreamStarted { stream, created: false }));
        }
        let creating = self.admit_new_stream(&cmd.camera_id).await?;
        let stream = self
            .create_stream_objects(
                &cmd.camera_id,
                cmd.bandwidth,
                now_rfc3339(),
                cmd.source.as_ref(),
                creating.node.as_ref(),
            )
            .await?;
        Ok(Message::StreamStarted(StreamStarted { stream, created: true }))
    }

    /// Counts the streams that exist or are being created and, below `max_streams`, admits
    /// `camera_id` as being created until the returned guard is dropped (after its stream is
    /// registered, or its creation failed). With a pool of media nodes, the stream is placed
    /// here too, under the same lock, so parallel starts see each other's nodes.
    ///
    /// The set of cameras being created is read before the registry: a creation that finishes
    /// in between was registered before it left the set, so it is counted either way, once.
    async fn admit_new_stream(&self, camera_id: &CameraId) -> Result<CreatingGuard<'_>, CommandError> {
        let _admission = self.admission.lock().await;
        let creating = self.creating.lock().expect("creating set poisoned").clone();
        let streams = self.registry.list_streams().await?;
        let mut counted: HashSet<&CameraId> = creating.keys().collect();
        counted.extend(streams.iter().map(|s| &s.camera_id));
        let max = self.settings.max_streams;
        if counted.len() >= max as usize {
            tracing::warn!(%camera_id, max, "stream refused: MAX_STREAMS reached");
            return Err(CommandError::TooManyStreams(max));
        }
        let node = self.place_stream(camera_id, None, &streams, &creating).await?;
        let node_id = node.as_ref().map(|n| n.node_id.clone());
        self.creating.lock().expect("creating set poisoned").insert(camera_id.to_owned(), node_id);
        Ok(CreatingGuard { set: &self.creating, camera_id: camera_id.to_owned(), node })
    }

    /// Creates the media objects of a stream and registers it `waiting_for_media`; a stream
    /// with a `source` (an RTSP camera) has that URL stored under the controller's own key
    /// first, so a later reconciliation can open it again.
    async fn create_stream_objects(
        &self,
        camera_id: &CameraId,
        bandwidth: camview_proto::stream::Bandwidth,
        created_at: String,
        source: Option<&SourceUrl>,
        node: Option<&MediaNode>,
    ) -> Result<StreamRecord, CommandError> {
        let spec = StreamSpec {
            camera_id: camera_id.to_owned(),
            bandwidth,
            offer: sdp::camera_offer_av(
                camera_id,
                self.settings.codec,
                self.settings.payload_type,
                self.settings.audio,
            ),
            source: source.cloned(),
            node_id: node.map(|n| n.node_id.clone()),
        };
        if let Some(url) = source {
            self.registry.put_stream_source(camera_id, Some(url.expose())).await?;
        }
        let media = match self.media.create_stream(&spec).await {
            Ok(media) => media,
            Err(e) => {
                self.forget_source(camera_id, source).await;
                return Err(e.into());
            }
        };
        let port = match (source, sdp::answer_video_port(&media.answer)) {
            (Some(_), _) => None,
            (None, Some(port)) => Some(port),
            (None, None) => {
                let _ = self.media.release(&media.pipeline_id).await;
                return Err(CommandError::NoRtpPort);
            }
        };
        let stream = StreamRecord {
            camera_id: camera_id.to_owned(),
            state: StreamState::WaitingForMedia,
            // The answer's own address is wrong behind containers: cameras use EXTERNAL_IP,
            // or the address of the node the stream was placed on.
            rtp: port.map(|port| RtpTarget {
                host: node.map_or_else(|| self.settings.external_ip.clone(), |n| n.external_ip.clone()),
                port,
                codec: self.settings.codec,
                payload_type: self.settings.payload_type,
                audio: sdp::stream_audio(self.settings.audio, &media.answer),
            }),
            bandwidth,
            created_at,
            updated_at: now_rfc3339(),
            pipeline_id: Some(media.pipeline_id.clone()),
            rtp_endpoint_id: Some(media.rtp_endpoint_id.clone()),
            camera_source: None,
            source: source.map(SourceUrl::redacted),
            source_audio: None,
            node_id: node.map(|n| n.node_id.clone()),
            relays: Vec::new(),
        };
        if let Err(e) = self.registry.put_stream(&stream).await {
            let _ = self.media.release(&media.pipeline_id).await;
            self.forget_source(camera_id, source).await;
            return Err(e.into());
        }
        if let Some(node) = node {
            // Kept after the stream stops: the camera returns to this node (stickiness).
            if let Err(e) = self.registry.put_camera_node(camera_id, &node.node_id).await {
                tracing::warn!(error = %e, %camera_id, "could not record the stream's node; a restart may place it elsewhere");
            }
        }
        let mut stream = stream;
        if source.is_some() && self.media.is_camera_flowing(&media.rtp_endpoint_id).await.unwrap_or(false) {
            // A pulled camera may have started before the record existed: its flow event
            // found no stream. Asked now, under the camera's lock, nothing is missed.
            stream.state = StreamState::Live;
            stream.source_audio = self.pulled_audio(camera_id, &media.rtp_endpoint_id).await;
            self.registry.put_stream(&stream).await?;
        }
        tracing::info!(%camera_id, port, source = stream.source.as_deref(), node_id = stream.node_id.as_deref(), "stream started");
        Ok(stream)
    }

    /// Deletes the stored source URL of a stream that was not created after all.
    async fn forget_source(&self, camera_id: &CameraId, source: Option<&SourceUrl>) {
        if source.is_some() {
            if let Err(e) = self.registry.put_stream_source(camera_id, None).await {
                tracing::warn!(error = %e, %camera_id, "could not delete the stored source URL");
            }
        }
    }

    async fn stop_stream(&self, cmd: &StopStream) -> Result<Message, CommandError> {
        let lock = self.camera_lock(&cmd.camera_id);
        let _guard = lock.write().await;
        let stream = self
            .registry
            .get_stream(&cmd.camera_id)
            .await?
            .ok_or_else(|| CommandError::StreamNotFound(cmd.camera_id.clone()))?;
        let viewers = self.registry.list_viewers(Some(&cmd.camera_id)).await?;
        for v in &viewers {
            self.notify(
                &v.signaling_instance,
                Message::StreamEnded(StreamEnded { viewer_id: v.viewer_id.clone(), camera_id: v.camera_id.clone() }),
            )
            .await;
            self.registry.remove_viewer(&v.camera_id, &v.viewer_id).await?;
            if let Some(endpoint) = &v.endpoint_id {
                self.viewers.remove(endpoint);
            }
        }
        for relay in &stream.relays {
            self.release_relay(relay).await;
        }
        if let Some(pipeline) = &stream.pipeline_id {
            if let Err(e) = self.media.release(pipeline).await {
                tracing::warn!(error = %e, pipeline, "could not release the pipeline; it will be collected with the session");
            }
        }
        self.registry.delete_stream(&cmd.camera_id).await?;
        if stream.source.is_some() {
            self.registry.put_stream_source(&cmd.camera_id, None).await?;
        }
        self.cancel_stall_timer(&cmd.camera_id);
        tracing::info!(camera_id = %cmd.camera_id, viewers = viewers.len(), "stream stopped");
        Ok(Message::StreamStopped(StreamStopped {
            camera_id: cmd.camera_id.clone(),
            viewers_released: viewers.len() as u64,
        }))
    }

    /// Publishes an event to a signaling instance; a lost event is logged, never fatal.
    async fn notify(&self, instance: &str, message: Message) {
        let mut env = envelope(message, None, None);
        env.traceparent = camview_common::telemetry::current_traceparent();
        if let Err(e) = self.bus.publish(instance, &env).await {
            tracing::warn!(error = %e, instance, "could not publish an event");
        }
    }

    /// Releases the viewers of signaling instances whose liveness key expired.
    pub async fn sweep_dead_instances(&self) -> Result<usize, CommandError> {
        let mut released = 0;
        for instance in self.registry.known_instances().await? {
            if self.registry.is_alive(&instance).await? {
                continue;
            }
            for viewer_id in self.registry.viewers_of_instance(&instance).await? {
                if let Some(v) = self.registry.get_viewer(&viewer_id).await? {
                    self.release_viewer(&v.camera_id, &v.viewer_id, RemoveReason::InstanceDead).await?;
                    released += 1;
                }
            }
            self.registry.forget_instance(&instance).await?;
            self.refresh_gauges().await;
            tracing::info!(instance, "released the viewers of a dead signaling instance");
        }
        Ok(released)
    }
}

/// A camera admitted against `max_streams` whose stream is being created; leaves the set when
/// dropped, whatever the outcome.
struct CreatingGuard<'a> {
    set: &'a Mutex<HashMap<CameraId, Option<String>>>,
    camera_id: CameraId,
    /// The node the stream was placed on (None with a single media server).
    node: Option<MediaNode>,
}

impl Drop for CreatingGuard<'_> {
    fn drop(&mut self) {
        self.set.lock().expect("creating set poisoned").remove(&self.camera_id);
    }
}

/// The media objects a registered stream refers to.
fn media_stream_of(stream: &StreamRecord) -> Option<MediaStream> {
    Some(MediaStream {
        pipeline_id: stream.pipeline_id.clone()?,
        rtp_endpoint_id: stream.rtp_endpoint_id.clone()?,
        answer: String::new(),
        node_id: stream.node_id.clone(),
    })
}
