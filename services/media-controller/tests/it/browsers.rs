//! What the viewer and fault tests share: a stack whose engine can be restarted on the same
//! WebSocket address, and a browser-like WebRTC viewer (str0m) that joins through the bus the
//! way signaling does, with its own signaling instance channel for the controller's events.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use camera_sim::probe::{DecodedPicture, H264Probe};
use camera_sim::{Camera, CameraConfig, CameraHandle};
use camview_common::bus::{Bus, BusClient, RedisBus};
use camview_common::registry::{Registry, RedisRegistry, SlotReservation};
use camview_common::testing::{random_keys, RedisServer};
use camview_media_controller::config::Settings;
use camview_media_controller::startup::{start_with_meter, ControllerHandle, Dependencies};
use camview_media_engine::{Config, Engine};
use camview_proto::bus::{AddIceCandidate, AddViewer, Envelope, Message, RemoveReason, RemoveViewer, StartStream};
use camview_proto::error::ErrorBody;
use camview_proto::keys::Keys;
use camview_proto::stream::{Bandwidth, IceCandidate, StreamRecord, StreamState, ViewerState};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

pub const PATIENCE: Duration = Duration::from_secs(15);

/// Redis, an in-process engine that can be restarted in place, and the API's bus client.
pub struct Stack {
    engine: Option<Engine>,
    ws_addr: SocketAddr,
    ws_url: String,
    pub deps: Dependencies,
    pub api: Arc<BusClient>,
    redis_url: String,
    prefix: String,
}

impl Stack {
    pub async fn start() -> Stack {
        let engine = Engine::start(Config::for_tests()).await.expect("engine starts");
        let redis = RedisServer::shared();
        let keys = random_keys();
        let bus: Arc<dyn Bus> = Arc::new(RedisBus::connect(&redis.url(), keys.clone()).await.expect("bus"));
        let registry: Arc<dyn Registry> = Arc::new(RedisRegistry::connect(&redis.url(), keys.clone()).await.expect("registry"));
        let (api, _events) = BusClient::start(bus.clone(), "api-test").await.expect("bus client");
        Stack {
            ws_addr: engine.ws_addr(),
            ws_url: engine.ws_url(),
            engine: Some(engine),
            deps: Dependencies { bus, registry },
            api,
            redis_url: redis.url(),
            prefix: keys.prefix().to_owned(),
        }
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
        let settings = Settings::from_source(&[
            ("KURENTO_WS_URL", self.ws_url.as_str()),
            ("EXTERNAL_IP", "127.0.0.1"),
            ("STREAM_STALL_SECONDS", "1"),
            ("CONTROLLER_LEASE_TTL_SECONDS", "2"),
            ("REDIS_URL", self.redis_url.as_str()),
            ("REDIS_KEY_PREFIX", self.prefix.as_str()),
        ])
        .expect("settings");
        let keys = Keys::new(self.prefix.clone());
        let bus: Arc<dyn Bus> = Arc::new(RedisBus::connect(&self.redis_url, keys.clone()).await.expect("controller bus"));
        let registry: Arc<dyn Registry> = Arc::new(RedisRegistry::connect(&self.redis_url, keys).await.expect("controller registry"));
        start_with_meter(&settings, Dependencies { bus, registry }, meter)
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
        let engine = Engine::start_on(listener, Config::for_tests()).await.expect("the new engine starts");
        assert_ne!(engine.server_id(), old_id, "a restarted engine is a new server");
        assert_eq!(engine.ws_url(), self.ws_url);
        self.engine = Some(engine);
    }

    pub async fn start_stream(&self, camera: &str) -> StreamRecord {
        let start = Message::StartStream(StartStream { camera_id: camera.into(), bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 } });
        match self.api.request(start, PATIENCE).await.expect("a reply to StartStream") {
            Message::StreamStarted(s) => s.stream,
            other => panic!("unexpected reply {other:?}"),
        }
    }

    pub async fn stream(&self, camera: &str) -> Option<StreamRecord> {
        self.deps.registry.get_stream(camera).await.expect("registry")
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
        self.deps.registry.viewer_count(camera).await.expect("registry")
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

/// A browser watching one camera: a str0m peer connection (recvonly video) plus the
/// signaling instance channel on which the controller sends this viewer's events.
pub struct Viewer {
    pub viewer_id: String,
    pub camera_id: String,
    pub sig: Arc<BusClient>,
    events: mpsc::Receiver<Envelope>,
    rtc: Rtc,
    sock: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    probe: H264Probe,
    /// RTP packets received over the peer connection.
    pub packets: u64,
    /// Pictures decoded from them.
    pub pictures: Vec<DecodedPicture>,
    /// ICE and DTLS are up on the browser side.
    pub connected: bool,
    /// Remote candidates received in `ViewerIceCandidate` events.
    pub remote_candidates: usize,
    /// Every event the controller sent this viewer's signaling instance, in order.
    pub events_seen: Vec<Message>,
}

impl Viewer {
    /// A browser whose events arrive on its own signaling instance `instance`; `h264`
    /// false offers VP8 only.
    pub async fn new(stack: &Stack, instance: &str, camera_id: &str, viewer_id: &str, h264: bool) -> Viewer {
        let (sig, events) = BusClient::start(stack.deps.bus.clone(), instance).await.expect("signaling bus client");
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = sock.local_addr().unwrap();
        let mut builder = Rtc::builder().set_rtp_mode(true).clear_codecs().enable_vp8(true);
        if h264 {
            builder = builder.enable_h264(true);
        }
        let mut rtc = builder.build(Instant::now());
        rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
        Viewer {
            viewer_id: viewer_id.into(),
            camera_id: camera_id.into(),
            sig,
            events,
            rtc,
            sock,
            local,
            pending: None,
            probe: H264Probe::new().expect("an H.264 decoder"),
            packets: 0,
            pictures: vec![],
            connected: false,
            remote_candidates: 0,
            events_seen: vec![],
        }
    }

    fn offer(&mut self) -> String {
        let mut api = self.rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        self.pending = Some(pending);
        offer.to_sdp_string()
    }

    /// Reserves a slot as signaling does and sends `AddViewer` with a fresh offer; the
    /// controller's reply (`ViewerAdded` or `Failed`).
    pub async fn add(&mut self, stack: &Stack) -> Message {
        let reserved = stack.deps.registry.reserve_viewer_slot(&self.camera_id, &self.viewer_id, 10).await.expect("registry");
        assert_eq!(reserved, SlotReservation::Reserved);
        let offer = self.offer();
        let add = Message::AddViewer(AddViewer {
            viewer_id: self.viewer_id.clone(),
            camera_id: self.camera_id.clone(),
            sdp_offer: offer,
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
        let parsed = SdpAnswer::from_sdp_string(&answer).expect("a valid SDP answer");
        self.rtc.sdp_api().accept_answer(self.pending.take().expect("an offer is pending"), parsed).expect("the answer is accepted");
        let candidate = IceCandidate { candidate: Candidate::host(self.local, "udp").unwrap().to_sdp_string(), sdp_mid: Some("0".into()), sdp_m_line_index: Some(0) };
        let add = Message::AddIceCandidate(AddIceCandidate { viewer_id: self.viewer_id.clone(), candidate });
        let reply = self.sig.request(add, PATIENCE).await.expect("a reply to AddIceCandidate");
        assert!(matches!(reply, Message::Done(_)), "{reply:?}");
        answer
    }

    /// Sends `RemoveViewer` as signaling does when the browser leaves.
    pub async fn leave(&self) -> Message {
        let remove = Message::RemoveViewer(RemoveViewer { viewer_id: self.viewer_id.clone(), camera_id: self.camera_id.clone(), reason: RemoveReason::Left });
        self.sig.request(remove, PATIENCE).await.expect("a reply to RemoveViewer")
    }

    /// Whether the controller told this viewer its connection reached `state`.
    pub fn told_state(&self, state: ViewerState) -> bool {
        self.events_seen.iter().any(|m| matches!(m, Message::ViewerStateChanged(c) if c.viewer_id == self.viewer_id && c.state == state))
    }

    pub fn told_to_renegotiate(&self) -> bool {
        self.events_seen.iter().any(|m| matches!(m, Message::Renegotiate(r) if r.viewer_id == self.viewer_id))
    }

    /// Drives the peer connection and the signaling events until `done` holds; false if
    /// `limit` passed first.
    pub async fn drive_until(&mut self, limit: Duration, done: impl Fn(&Viewer) -> bool) -> bool {
        enum Woke {
            Datagram(usize, SocketAddr),
            Bus(Box<Envelope>),
            Timer,
        }
        let deadline = Instant::now() + limit;
        let mut buf = vec![0u8; 2048];
        loop {
            let timeout = loop {
                match self.rtc.poll_output().expect("str0m output") {
                    Output::Timeout(t) => break t,
                    Output::Transmit(t) => {
                        let _ = self.sock.send_to(&t.contents, t.destination).await;
                    }
                    Output::Event(Event::Connected) => self.connected = true,
                    Output::Event(Event::RtpPacket(p)) => {
                        self.packets += 1;
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
                    Output::Event(_) => {}
                }
            };
            if done(self) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let wait = timeout.min(deadline).saturating_duration_since(now).max(Duration::from_millis(1));
            let woke = tokio::select! {
                r = self.sock.recv_from(&mut buf) => match r {
                    Ok((n, src)) => Woke::Datagram(n, src),
                    Err(_) => Woke::Timer,
                },
                Some(env) = self.events.recv() => Woke::Bus(Box::new(env)),
                _ = tokio::time::sleep(wait) => Woke::Timer,
            };
            match woke {
                Woke::Datagram(n, source) => {
                    let contents = buf[..n].try_into().expect("a datagram str0m can parse");
                    let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: self.local, contents });
                    self.rtc.handle_input(input).expect("str0m input");
                }
                Woke::Bus(env) => {
                    if let Message::ViewerIceCandidate(c) = &env.message {
                        if c.viewer_id == self.viewer_id && !c.candidate.candidate.is_empty() {
                            let candidate = Candidate::from_sdp_string(&c.candidate.candidate).expect("a parsable media-server candidate");
                            self.rtc.add_remote_candidate(candidate);
                            self.remote_candidates += 1;
                        }
                    }
                    self.events_seen.push(env.message);
                }
                Woke::Timer => self.rtc.handle_input(Input::Timeout(Instant::now())).expect("str0m timeout"),
            }
        }
    }

    /// Starts over with a new peer connection (same viewer id and signaling instance), as a
    /// browser does when asked to renegotiate.
    pub async fn reset_peer_connection(&mut self) {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        self.local = sock.local_addr().unwrap();
        self.sock = sock;
        self.rtc = Rtc::builder().set_rtp_mode(true).clear_codecs().enable_vp8(true).enable_h264(true).build(Instant::now());
        self.rtc.add_local_candidate(Candidate::host(self.local, "udp").unwrap());
        self.pending = None;
        self.probe = H264Probe::new().expect("an H.264 decoder");
        self.packets = 0;
        self.pictures.clear();
        self.connected = false;
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
