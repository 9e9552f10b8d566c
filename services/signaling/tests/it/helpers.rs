//! Test harness: a signaling instance on port 0 against the shared test Redis, a
//! tokio-tungstenite client with typed helpers, and waits with timeouts (never bare sleeps).

use std::sync::Arc;
use std::time::Duration;

use camview_common::bus::redis::RedisBus;
use camview_common::registry::redis::RedisRegistry;
use camview_common::testing::{random_keys, RedisServer};
use camview_common::{Bus, Registry};
use camview_proto::bus::Message;
use camview_proto::keys::Keys;
use camview_proto::stream::{Bandwidth, StreamRecord, StreamState};
use camview_signaling::configuration::Settings;
use camview_signaling::startup::{AppHandle, Application, Dependencies};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected event may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub const OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n";
pub const CANDIDATE: &str =
    "candidate:842163049 1 udp 1677729535 192.0.2.3 49203 typ srflx raddr 0.0.0.0 rport 0";

/// One deployment's shared state: a key prefix on the shared Redis.
#[derive(Clone)]
pub struct Deployment {
    pub url: String,
    pub keys: Keys,
    pub bus: Arc<dyn Bus>,
    pub registry: Arc<dyn Registry>,
}

impl Deployment {
    pub async fn new() -> Self {
        Self::on(RedisServer::shared()).await
    }

    /// A deployment on a given Redis server (e.g. a dedicated one a test stops).
    pub async fn on(server: &RedisServer) -> Self {
        let url = server.url();
        let keys = random_keys();
        let bus = RedisBus::connect(&url, keys.clone())
            .await
            .expect("connect bus");
        let registry = RedisRegistry::connect(&url, keys.clone())
            .await
            .expect("connect registry");
        Self {
            url,
            keys,
            bus: Arc::new(bus),
            registry: Arc::new(registry),
        }
    }

    /// The all-in-one mode: an in-process bus and registry shared with the "controller".
    pub fn in_process() -> Self {
        use camview_common::bus::memory::MemoryBus;
        use camview_common::registry::memory::MemoryRegistry;
        Self {
            url: String::new(),
            keys: Keys::default(),
            bus: Arc::new(MemoryBus::new()),
            registry: Arc::new(MemoryRegistry::new()),
        }
    }

    /// Registers a started stream, as the media-controller does after `StartStream`.
    pub async fn start_stream(&self, camera: &str) {
        let now = camview_common::clock::now_rfc3339();
        let stream = StreamRecord {
            camera_id: camera.into(),
            state: StreamState::Live,
            rtp: None,
            bandwidth: Bandwidth {
                max_bandwidth: 3000,
                min_bandwidth: 300,
            },
            created_at: now.clone(),
            updated_at: now,
            pipeline_id: None,
            rtp_endpoint_id: None,
        };
        self.registry.put_stream(&stream).await.expect("put stream");
    }

    pub async fn viewer_count(&self, camera: &str) -> u64 {
        self.registry
            .viewer_count(camera)
            .await
            .expect("viewer count")
    }

    /// Waits until `camera` has exactly `n` slots taken.
    pub async fn wait_viewer_count(&self, camera: &str, n: u64) {
        let registry = self.registry.clone();
        let camera = camera.to_owned();
        camview_common::testing::wait_until(WAIT, &format!("{camera} has {n} viewers"), || {
            let registry = registry.clone();
            let camera = camera.clone();
            async move {
                registry
                    .viewer_count(&camera)
                    .await
                    .map(|c| c == n)
                    .unwrap_or(false)
            }
        })
        .await;
    }

    /// Publishes an event on a signaling instance's channel, as the media-controller does.
    pub async fn publish(&self, instance_id: &str, message: Message) {
        let env = camview_common::bus::envelope(message, None, None);
        self.bus.publish(instance_id, &env).await.expect("publish");
    }

    /// Env-style settings for an instance of this deployment, with test-friendly defaults.
    pub fn settings(&self, overrides: &[(&str, &str)]) -> Settings {
        let mut vars: std::collections::HashMap<String, String> = [
            ("SIGNALING_SERVER_HOST", "127.0.0.1"),
            ("SIGNALING_SERVER_PORT", "0"),
            ("REDIS_URL", self.url.as_str()), // empty (in-process) counts as unset
            ("REDIS_KEY_PREFIX", self.keys.prefix()),
            ("BUS_REQUEST_TIMEOUT_MS", "3000"),
            ("SIGNALING_WORKERS", "1"),
            ("SIGNALING_SHUTDOWN_GRACE_MS", "3000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        Settings::from_source(&vars).expect("test settings")
    }

    /// Starts a signaling instance of this deployment on a free port.
    pub async fn spawn_app(&self, overrides: &[(&str, &str)]) -> TestApp {
        // Trace propagation is part of the behaviour under test: spans need the OTel layer.
        camview_common::telemetry::init_for_tests();
        let settings = self.settings(overrides);
        let deps = Dependencies {
            bus: self.bus.clone(),
            registry: self.registry.clone(),
        };
        let app = Application::build(settings, deps).await.expect("build app");
        let port = app.port();
        let handle = app.handle();
        let server = tokio::spawn(app.run_until_stopped());
        TestApp {
            port,
            handle,
            server,
        }
    }
}

pub struct TestApp {
    pub port: u16,
    pub handle: AppHandle,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    pub fn instance_id(&self) -> &str {
        self.handle.instance_id()
    }

    pub async fn connect(&self) -> Client {
        Client::connect(self.port, "/").await
    }
}

/// A browser stand-in.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    pub async fn connect(port: u16, path: &str) -> Self {
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url))
            .await
            .expect("connect in time")
            .expect("connect");
        Self { ws }
    }

    pub fn ws(&mut self) -> &mut WebSocketStream<MaybeTlsStream<TcpStream>> {
        &mut self.ws
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws
            .send(WsMessage::text(text.into()))
            .await
            .expect("send");
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    pub async fn join(&mut self, camera: &str) {
        self.send(json!({"type": "join", "camera": camera, "sdpOffer": OFFER}))
            .await;
    }

    pub async fn ice(&mut self, candidate: &str) {
        self.send(
            json!({"type": "ice", "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0}),
        )
        .await;
    }

    /// The next JSON frame (pings and pongs are skipped); panics on close or timeout.
    pub async fn recv(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
                .expect("socket open")
                .expect("frame");
            match msg {
                WsMessage::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON frame"),
                WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next frame, which must be of `type`.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let v = self.recv().await;
        assert_eq!(v["type"], kind, "{v}");
        v
    }

    pub async fn expect_error(&mut self, code: &str) -> Value {
        let v = self.expect("error").await;
        assert_eq!(v["code"], code, "{v}");
        v
    }

    /// Joins and returns the viewer id from the answer.
    pub async fn join_ok(&mut self, camera: &str) -> String {
        self.join(camera).await;
        let answer = self.expect("answer").await;
        answer["viewerId"].as_str().expect("viewerId").to_owned()
    }

    /// Reads until the server closes; returns the close code (skipping other frames).
    pub async fn expect_close(&mut self) -> Option<CloseCode> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("close in time")
            {
                Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // drain until the server acknowledges
        let _ = tokio::time::timeout(WAIT, async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}
