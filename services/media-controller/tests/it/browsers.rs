//! What the viewer and fault tests share: a stack whose engine can be restarted on the same
//! WebSocket address, and a browser-like WebRTC viewer (a `TestPeer`) that joins through the
//! bus the way signaling does, with its own signaling instance channel for the controller's
//! events.

use camview_proto::{CameraId, ViewerId};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camera_sim::probe::{DecodedPicture, H264Probe};
use camera_sim::{Camera, CameraConfig, CameraHandle};
use camview_common::bus::{Bus, BusClient, RedisBus};
use camview_common::registry::{RedisRegistry, Registry};
use camview_common::testing::peer::{Codecs, TestPeer};
use camview_common::testing::{random_keys, RedisServer};
use camview_media_controller::config::Settings;
use camview_media_controller::startup::{start, ControllerHandle, Dependencies};
use camview_media_engine::{Engine, Settings as EngineSettings};
use camview_proto::bus::{AddIceCandidate, AddViewer, Envelope, Message, RemoveReason, RemoveViewer, StartStream};
use camview_proto::error::ErrorBody;
use camview_proto::keys::Keys;
use camview_proto::stream::{Bandwidth, IceCandidate, StreamRecord, StreamState, ViewerState};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

pub const PATIENCE: Duration = Duration::from_secs(15);

/// Redis, an in-process engine that can be restarted in place, and the API's bus client.
pub struct Stack {
    engine: Option<Engine>,
    ws_addr: SocketAddr,
    ws_url: String,
    pub deps: camview_common::Backend,
    pub api: Arc<BusClient>,
    redis_url: String,
    pub prefix: String,
}

impl Stack {
    pub async fn start() -> Stack {
        let engine = Engine::start(EngineSettings::for_tests()).await.expect("engine starts");
        Self::around(Some(engine)).await
    }

    /// Redis and the API's bus client, without an engine (media nodes are started apart).
    pub async fn without_engine() -> Stack {
        Self::around(None).await
    }

    async fn around(engine: Option<Engine>) -> Stack {
        let redis = RedisServer::shared();
        let keys = random_keys();
        let bus: Arc<dyn Bus> = Arc::new(RedisBus::connect(&redis.url(), keys.clone()).await.expect("bus"));
        let registry: Arc<dyn Registry> =
            Arc::new(RedisRegistry::connect(&redis.url(), keys.clone()).await.expect("registry"));
        let (api, _events) = BusClient::start(bus.clone(), "api-test").await.expect("bus client");
        Stack {
            ws_addr: engine.as_ref().map_or_else(|| "127.0.0.1:9".parse().expect("an address"), Engine::ws_addr),
            ws_url: engine.as_ref().map_or_else(|| "ws://127.0.0.1:9/kurento".into(), Engine::ws_url),
            engine,
            deps: camview_common::Backend { bus, registry },
            api,
            redis_url: redis.url(),
            prefix: keys.prefix().to_owned(),
        }
    }

    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    pub fn engine(&self) -> &Engine {
        self.engine.as_ref().expect("the engine is running")
    }

    /// A controller with its own Redis connections, as a separate process would have.
    pub async fn controller(&self) -> ControllerHandle {
        self.controller_with_meter(&camview_common::telemetry::meter(camview_media_controller::metrics::SCOPE)).await
    }

    /// Settings of the controllers this stack starts.
    pub fn controller_settings(&self) -> Settings {
        Settings::from_source(&[
            ("KURENTO_WS_URL", self.ws_url.as_str()),
            ("EXTERNAL_IP", "127.0.0.1"),
            ("STREAM_STALL_SECONDS", "1"),
            ("CONTROLLER_LEASE_TTL_SECONDS", "2"),
            ("REDIS_URL", self.redis_url.as_str()),
            ("REDIS_KEY_PREFIX", self.prefix.as_str()),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ])
        .expect("settings")
    }

    /// [`Stack::controller`] whose instruments come from `meter`.
    pub async fn controller_with_meter(&self, meter: &opentelemetry::metrics::Meter) -> ControllerHandle {
        self.controller_with(&self.controller_settings(), meter).await
    }

    /// A controller with `settings` (start from [`Stack::controller_settings`]).
    pub async fn controller_with(
        &self,
        settings: &Settings,
        meter: &opentelemetry::metrics::Meter,
    ) -> ControllerHandle {
        start(settings, self.dependencies(meter).await)
    }

    /// A controller's own Redis connections, as a separate process would have, and `meter`.
    pub async fn dependencies(&self, meter: &opentelemetry::metrics::Meter) -> Dependencies {
        let keys = Keys::new(self.prefix.clone());
        let bus: Arc<dyn Bus> =
            Arc::new(RedisBus::connect(&self.redis_url, keys.clone()).await.expect("controller bus"));
        let registry: Arc<dyn Registry> =
            Arc::new(RedisRegistry::connect(&self.redis_url, keys).await.expect("controller registry"));
        Dependencies { bus, registry, meter: meter.clone() }
    }

    /// Stops the engine (every object and session is lost with it) and starts a new one on
    /// the same WebSocket address, as a media-server restart does.
    pub async fn restart_engine(&mut self) {
        let old = self.engine.take().expect("the engine is running");
        let old_id = old.server_id();
        old.shutdown();
        drop(old);
        // The old accept loop drops its listener once it sees the cancellation.
        let deadline = Instant::now() + PATIENCE;
        let listener = loop {
            match TcpListener::bind(self.ws_addr).await {
                Ok(l) => break l,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!(error = %e, "the old engine still holds the WebSocket port");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.ws_addr),
            }
        };
        let engine = Engine::start_on(listener, EngineSettings::for_tests()).await.expect("the new engine starts");
        assert_ne!(engine.server_id(), old_id, "a restarted engine is a new server");
        assert_eq!(engine.ws_url(), self.ws_url);
        self.engine = Some(engine);
    }

    pub async fn start_stream(&self, camera: &str) -> StreamRecord {
        match self.request_start(camera).await {
            Message::StreamStarted(s) => s.stream,
            other => panic!("unexpected reply {other:?}"),
        }
    }

    /// The controller's reply to a StartStream for `camera`, whatever it is.
    pub async fn request_start(&self, camera: &str) -> Message {
        let start = Message::StartStream(StartStream {
            camera_id: camera.parse().expect("a test camera id"),
            bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
            source: None,
        });
        self.api.request(start, PATIENCE).await.expect("a reply to StartStream")
    }

    pub async fn stream(&self, camera: &str) -> Option<StreamRecord> {
        self.deps.registry.get_stream(&camera.parse::<CameraId>().expect("a test camera id")).await.expect("registry")
    }

    pub async fn state_of(&self, camera: &str) -> Option<StreamState> {
        self.stream(camera).await.map(|s| s.state)
    }

    /// Pipelines alive on the engine.
    pub fn pipelines(&self) -> usize {
        self.engine().stats().core.pipelines
    }

    /// Media objects alive on the engine (pipelines, endpoints).
    pub fn objects(&self) -> usize {
        self.engine().stats().core.objects
    }

    pub async fn slots(&self, camera: &str) -> u64 {
        self.deps.registry.viewer_count(&camera.parse::<CameraId>().expect("a test camera id")).await.expect("registry")
    }
}

pub fn target(stream: &StreamRecord) -> SocketAddr {
    let rtp = stream.rtp.as_ref().expect("an RTP target");
    format!("{}:{}", rtp.host, rtp.port).parse().expect("an address")
}

/// A small camera (cheap to encode on shared CI cores) sending to the stream's RTP target.
pub async fn camera_towards(stream: &StreamRecord) -> CameraHandle {
    let config = CameraConfig {
        local_ip: "127.0.0.1".parse().unwrap(),
        target: Some(target(stream)),
        width: 320,
        height: 240,
        fps: 15,
        bitrate_kbps: 300,
        keyframe_interval: Duration::from_secs(1),
        ..Default::default()
    };
    Camera::start(config).await.expect("camera starts")
}

/// A browser watching one camera: a [`TestPeer`] plus the signaling instance channel on which
/// the controller sends this viewer's events, and an H.264 decoder over what the peer receives.
pub struct Viewer {
    pub viewer_id: ViewerId,
    pub camera_id: CameraId,
    pub sig: Arc<BusClient>,
    events: mpsc::Receiver<Envelope>,
    peer: TestPeer,
    probe: H264Probe,
    /// How many of the peer's packets the probe has decoded.
    probed: usize,
    /// Pictures decoded from the received packets.
    pub pictures: Vec<DecodedPicture>,
    /// Remote candidates received in `ViewerIceCandidate` events.
    pub remote_candidates: usize,
    /// Every event the controller sent this viewer's signaling instance, in order.
    pub events_seen: Vec<Message>,
}

impl Viewer {
    /// A browser whose events arrive on its own signaling instance `instance`; `h264`
    /// false offers VP8 only.
    pub async fn new(stack: &Stack, instance: &str, camera_id: &str, viewer_id: &str, h264: bool) -> Viewer {
        let codecs = if h264 { Codecs::Vp8AndH264 } else { Codecs::Vp8 };
        Self::with_codecs(stack, instance, camera_id, viewer_id, codecs).await
    }

    /// [`Viewer::new`] offering `codecs`.
    pub async fn with_codecs(
        stack: &Stack,
        instance: &str,
        camera_id: &str,
        viewer_id: &str,
        codecs: Codecs,
    ) -> Viewer {
        let (sig, events) = BusClient::start(stack.deps.bus.clone(), instance).await.expect("signaling bus client");
        Viewer {
            viewer_id: viewer_id.parse().expect("a test viewer id"),
            camera_id: camera_id.parse().expect("a test camera id"),
            sig,
            events,
            peer: TestPeer::bind(codecs).await.expect("a loopback UDP socket"),
            probe: H264Probe::new().expect("an H.264 decoder"),
            probed: 0,
            pictures: vec![],
            remote_candidates: 0,
            events_seen: vec![],
        }
    }

    /// The peer connection: whether it is connected, what it received.
    pub fn peer(&self) -> &TestPeer {
        &self.peer
    }

    /// The peer connection, to change what it offers before `join`.
    pub fn peer_mut(&mut self) -> &mut TestPeer {
        &mut self.peer
    }

    /// Sends `AddViewer` with a fresh offer as signaling does (the controller reserves the
    /// slot); the controller's reply (`ViewerAdded` or `Failed`).
    pub async fn add(&mut self, _stack: &Stack) -> Message {
        let add = Message::AddViewer(AddViewer {
            viewer_id: self.viewer_id.clone(),
            camera_id: self.camera_id.parse::<CameraId>().expect("a test camera id"),
            sdp_offer: self.peer.offer(),
            signaling_instance: self.sig.instance_id().into(),
        });
        self.sig.request(add, PATIENCE).await.expect("a reply to AddViewer")
    }

    /// `add`, expecting success: applies the answer and sends the browser's own candidate.
    /// Returns the SDP answer.
    pub async fn join(&mut self, stack: &Stack) -> String {
        let answer = match self.add(stack).await {
            Message::ViewerAdded(a) => {
                assert_eq!(a.viewer_id, self.viewer_id);
                a.sdp_answer
            }
            other => panic!("AddViewer of {} failed: {other:?}", self.viewer_id),
        };
        self.peer.accept(&answer).expect("the answer is accepted");
        let candidate =
            IceCandidate { candidate: self.peer.candidate_sdp(), sdp_mid: Some("0".into()), sdp_m_line_index: Some(0) };
        let add = Message::AddIceCandidate(AddIceCandidate {
            viewer_id: self.viewer_id.clone(),
            camera_id: Some(self.camera_id.clone()),
            candidate,
        });
        let reply = self.sig.request(add, PATIENCE).await.expect("a reply to AddIceCandidate");
        assert!(matches!(reply, Message::Done(_)), "{reply:?}");
        answer
    }

    /// Sends `RemoveViewer` as signaling does when the browser leaves.
    pub async fn leave(&self) -> Message {
        let remove = Message::RemoveViewer(RemoveViewer {
            viewer_id: self.viewer_id.clone(),
            camera_id: self.camera_id.parse::<CameraId>().expect("a test camera id"),
            reason: RemoveReason::Left,
        });
        self.sig.request(remove, PATIENCE).await.expect("a reply to RemoveViewer")
    }

    /// Whether the controller told this viewer its connection reached `state`.
    pub fn told_state(&self, state: ViewerState) -> bool {
        self.events_seen
            .iter()
            .any(|m| matches!(m, Message::ViewerStateChanged(c) if c.viewer_id == self.viewer_id && c.state == state))
    }

    pub fn told_to_renegotiate(&self) -> bool {
        self.events_seen.iter().any(|m| matches!(m, Message::Renegotiate(r) if r.viewer_id == self.viewer_id))
    }

    /// Drives the peer connection and the signaling events until `done` holds; false if
    /// `limit` passed first.
    pub async fn drive_until(&mut self, limit: Duration, done: impl Fn(&Viewer) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            self.decode_new_packets();
            if done(self) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::select! {
                stepped = self.peer.step(deadline) => stepped.expect("str0m takes the engine's datagrams"),
                Some(env) = self.events.recv() => self.on_event(env.message),
            }
        }
    }

    fn on_event(&mut self, message: Message) {
        if let Message::ViewerIceCandidate(c) = &message {
            if c.viewer_id == self.viewer_id && !c.candidate.candidate.is_empty() {
                self.peer.add_remote_candidate(&c.candidate.candidate).expect("a parsable media-server candidate");
                self.remote_candidates += 1;
            }
        }
        self.events_seen.push(message);
    }

    /// Feeds the packets received since the last call to the H.264 probe, as RTP datagrams.
    fn decode_new_packets(&mut self) {
        // The camera's audio (the peer's PCMU 0, PCMA 8 and Opus 111) is no picture.
        for p in self.peer.packets()[self.probed..].iter().filter(|p| !matches!(*p.header.payload_type, 0 | 8 | 111)) {
            let mut datagram = Vec::with_capacity(12 + p.payload.len());
            datagram.extend_from_slice(&[0x80, (u8::from(p.header.marker) << 7) | *p.header.payload_type]);
            datagram.extend_from_slice(&p.header.sequence_number.to_be_bytes());
            datagram.extend_from_slice(&p.header.timestamp.to_be_bytes());
            datagram.extend_from_slice(&(*p.header.ssrc).to_be_bytes());
            datagram.extend_from_slice(&p.payload);
            if let Ok(pictures) = self.probe.push(&datagram) {
                self.pictures.extend(pictures);
            }
        }
        self.probed = self.peer.packets().len();
    }

    /// Starts over with a new peer connection (same viewer id and signaling instance), as a
    /// browser does when asked to renegotiate.
    pub async fn reset_peer_connection(&mut self) {
        self.peer = TestPeer::bind(Codecs::Vp8AndH264).await.expect("a loopback UDP socket");
        self.probe = H264Probe::new().expect("an H.264 decoder");
        self.probed = 0;
        self.pictures.clear();
        self.remote_candidates = 0;
    }
}

/// The error body of a `Failed` reply.
pub fn failure(reply: Message) -> ErrorBody {
    match reply {
        Message::Failed(e) => e,
        other => panic!("expected Failed, got {other:?}"),
    }
}
