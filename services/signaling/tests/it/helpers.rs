//! Test harness: a signaling instance on port 0 against the shared test Redis, a
//! tokio-tungstenite client with typed helpers, and waits with timeouts (never bare sleeps).

use camview_proto::CameraId;
use std::sync::Arc;
use std::time::Duration;

use camview_common::auth::{AuthSettings, AuthStore, Authenticator, FileAuthStore};
use camview_common::bus::redis::RedisBus;
use camview_common::registry::redis::RedisRegistry;
use camview_common::testing::{random_keys, RedisServer};
use camview_common::{Bus, Registry};
use camview_proto::auth::{Role, Subject, UserRecord, ALL_CAMERAS};
use camview_proto::bus::Message;
use camview_proto::keys::Keys;
use camview_proto::stream::{Bandwidth, StreamRecord, StreamState};
use camview_signaling::config::Settings;
use camview_signaling::startup::{AppHandle, Application, Dependencies};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single expected event may take.
pub const WAIT: Duration = Duration::from_secs(10);

pub const OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtpmap:96 H264/90000\r\n";
pub const CANDIDATE: &str = "candidate:842163049 1 udp 1677729535 192.0.2.3 49203 typ srflx raddr 0.0.0.0 rport 0";

/// One deployment's shared state: a key prefix on the shared Redis, its auth store, and a
/// token of a viewer granted every camera (what most tests join with).
#[derive(Clone)]
pub struct Deployment {
    pub url: String,
    pub keys: Keys,
    pub bus: Arc<dyn Bus>,
    pub registry: Arc<dyn Registry>,
    pub store: Arc<dyn AuthStore>,
    /// Issues tokens with the deployment's key (from the store, as every instance reads it).
    pub auth: Arc<Authenticator>,
    /// A session token of user `viewer`, granted `*`.
    pub token: String,
}

/// Auth settings as an instance reads them from an empty environment.
fn auth_settings() -> AuthSettings {
    let vars: std::collections::HashMap<String, String> = Default::default();
    AuthSettings::from_reader(&camview_common::config::Reader::new(&vars)).expect("auth settings")
}

impl Deployment {
    pub async fn new() -> Self {
        Self::on(RedisServer::shared()).await
    }

    /// A deployment on a given Redis server (e.g. a dedicated one a test stops).
    pub async fn on(server: &RedisServer) -> Self {
        let url = server.url();
        let keys = random_keys();
        let bus = RedisBus::connect(&url, keys.clone()).await.expect("connect bus");
        let registry = RedisRegistry::connect(&url, keys.clone()).await.expect("connect registry");
        let redis =
            camview_common::config::RedisConfig { url: url.clone(), prefix: keys.prefix().to_owned(), tls: None };
        let unused = std::path::Path::new("/nonexistent");
        let store = camview_common::auth::store::open(Some(&redis), unused).await.expect("auth store");
        Self::with(url, keys, Arc::new(bus), Arc::new(registry), store).await
    }

    /// The all-in-one mode: an in-process bus and registry shared with the "controller",
    /// and the file auth store in a fresh directory.
    pub async fn in_process() -> Self {
        use camview_common::bus::memory::MemoryBus;
        use camview_common::registry::memory::MemoryRegistry;
        let dir = std::env::temp_dir().join(format!("camview-signaling-it-{}", uuid::Uuid::new_v4()));
        let store = FileAuthStore::open(&dir).expect("file auth store");
        Self::with(
            String::new(),
            Keys::default(),
            Arc::new(MemoryBus::new()),
            Arc::new(MemoryRegistry::new()),
            Arc::new(store),
        )
        .await
    }

    async fn with(
        url: String,
        keys: Keys,
        bus: Arc<dyn Bus>,
        registry: Arc<dyn Registry>,
        store: Arc<dyn AuthStore>,
    ) -> Self {
        let auth = Arc::new(Authenticator::start(store.clone(), &auth_settings()).await.expect("authenticator"));
        let mut d = Self { url, keys, bus, registry, store, auth, token: String::new() };
        d.token = d.user_token("viewer", &[ALL_CAMERAS]).await;
        d
    }

    /// Creates (or replaces) user `name` with role viewer and `grants`; returns a session token.
    pub async fn user_token(&self, name: &str, grants: &[&str]) -> String {
        let user = UserRecord {
            username: name.into(),
            role: Role::Viewer,
            grants: grants.iter().map(|g| (*g).to_owned()).collect(),
            password_hash: "not-used-by-signaling".into(),
            token_version: 0,
            created_at: camview_common::clock::now_rfc3339(),
        };
        if !self.store.create_user(&user).await.expect("create user") {
            self.store.update_user(&user).await.expect("update user");
        }
        self.auth.issue_session(&user).token
    }

    /// Creates a share of `camera`; returns its id and link token.
    pub async fn share_token(&self, camera: &str) -> (String, String) {
        let (share, issued) = self
            .auth
            .create_share(&camera.parse::<CameraId>().unwrap(), "admin", Duration::from_secs(3600))
            .await
            .expect("create share");
        (share.id, issued.token)
    }

    /// Tells every instance `subject`'s access changed, through a bus handle of its own (as
    /// the api, another process, does).
    pub async fn publish_revocation(&self, subject: Subject) {
        let bus: Arc<dyn Bus> = if self.url.is_empty() {
            self.bus.clone()
        } else {
            Arc::new(RedisBus::connect(&self.url, self.keys.clone()).await.expect("connect bus"))
        };
        camview_common::auth::publish_revocation(bus.as_ref(), subject).await.expect("publish revocation");
    }

    /// Registers a started stream, as the media-controller does after `StartStream`.
    pub async fn start_stream(&self, camera: &str) {
        let now = camview_common::clock::now_rfc3339();
        let stream = StreamRecord {
            camera_id: camera.parse().unwrap(),
            state: StreamState::Live,
            rtp: None,
            bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
            created_at: now.clone(),
            updated_at: now,
            pipeline_id: None,
            rtp_endpoint_id: None,
            camera_source: None,
            source: None,
            source_audio: None,
            node_id: None,
            relays: Vec::new(),
        };
        self.registry.put_stream(&stream).await.expect("put stream");
    }

    /// Waits until the registry answers again (after a Redis restart).
    pub async fn wait_registry_up(&self) {
        let registry = self.registry.clone();
        camview_common::testing::wait_until(WAIT, "the registry answers", || {
            let registry = registry.clone();
            async move { registry.viewer_count(&CameraId::from_static("any")).await.is_ok() }
        })
        .await;
    }

    pub async fn viewer_count(&self, camera: &str) -> u64 {
        self.registry.viewer_count(&camera.parse::<CameraId>().unwrap()).await.expect("viewer count")
    }

    /// Waits until `camera` has exactly `n` slots taken.
    pub async fn wait_viewer_count(&self, camera: &str, n: u64) {
        let registry = self.registry.clone();
        let camera = camera.to_owned();
        camview_common::testing::wait_until(WAIT, &format!("{camera} has {n} viewers"), || {
            let registry = registry.clone();
            let camera = camera.clone();
            async move { registry.viewer_count(&camera.parse().unwrap()).await.map(|c| c == n).unwrap_or(false) }
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
            // Tests open many sockets from 127.0.0.1; the upgrade limit has its own tests.
            ("SIGNALING_UPGRADE_BURST", "100000"),
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
        // Each instance reads the signing key from the store, as a separate process would.
        let auth = Authenticator::start(self.store.clone(), &settings.auth).await.expect("authenticator");
        let deps = Dependencies { bus: self.bus.clone(), registry: self.registry.clone(), auth: Arc::new(auth) };
        let app = Application::build(settings, deps).await.expect("build app");
        let port = app.port();
        let handle = app.handle();
        let server = tokio::spawn(app.run_until_stopped());
        TestApp { port, handle, server, token: self.token.clone() }
    }
}

pub struct TestApp {
    pub port: u16,
    pub handle: AppHandle,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
    /// The deployment's all-cameras viewer token, used by [`TestApp::connect`].
    pub token: String,
}

impl TestApp {
    pub fn instance_id(&self) -> &str {
        self.handle.instance_id()
    }

    /// A client whose joins carry the deployment's all-cameras viewer token.
    pub async fn connect(&self) -> Client {
        Client::connect(self.port, "/").await.with_token(&self.token)
    }

    /// A client whose joins carry no token.
    pub async fn connect_anonymous(&self) -> Client {
        Client::connect(self.port, "/").await
    }

    /// A client whose joins carry `token`.
    pub async fn connect_as(&self, token: &str) -> Client {
        Client::connect(self.port, "/").await.with_token(token)
    }

    /// Sends a raw upgrade request with `headers` and returns the status line and the body
    /// (or the status and nothing for a 101).
    pub async fn raw_upgrade(&self, headers: &[(&str, &str)]) -> (u16, String, String) {
        raw_upgrade(self.port, headers).await
    }
}

/// A hand-written WebSocket upgrade (tungstenite cannot show a refused upgrade's body):
/// returns the status, the response headers and the body.
pub async fn raw_upgrade(port: u16, headers: &[(&str, &str)]) -> (u16, String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::time::timeout(WAIT, TcpStream::connect(("127.0.0.1", port)))
        .await
        .expect("connect in time")
        .expect("connect");
    let mut req = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk)).await.expect("a reply in time").expect("read");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let head = text[..end].to_owned();
            let status: u16 = head.split(' ').nth(1).and_then(|c| c.parse().ok()).expect("status code");
            if status == 101 {
                return (status, head, String::new());
            }
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + length {
                let body = text[end + 4..end + 4 + length].to_owned();
                return (status, head, body);
            }
        }
        if n == 0 {
            panic!("connection closed before a full reply: {}", String::from_utf8_lossy(&buf));
        }
    }
}

/// A browser stand-in.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Sent in each `join` when set.
    token: Option<String>,
}

impl Client {
    pub async fn connect(port: u16, path: &str) -> Self {
        let url = format!("ws://127.0.0.1:{port}{path}");
        Self::connect_request(url.into_client_request().expect("a ws:// URL")).await
    }

    /// Connects with extra request headers (a cookie, an Origin).
    pub async fn connect_with_headers(port: u16, headers: &[(&str, &str)]) -> Self {
        let mut request = format!("ws://127.0.0.1:{port}/").into_client_request().expect("a ws:// URL");
        for (k, v) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                v.parse().expect("header value"),
            );
        }
        Self::connect_request(request).await
    }

    async fn connect_request(request: tokio_tungstenite::tungstenite::handshake::client::Request) -> Self {
        let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .expect("connect in time")
            .expect("connect");
        Self { ws, token: None }
    }

    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    pub fn ws(&mut self) -> &mut WebSocketStream<MaybeTlsStream<TcpStream>> {
        &mut self.ws
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(WsMessage::text(text.into())).await.expect("send");
    }

    pub async fn send(&mut self, frame: Value) {
        self.send_text(frame.to_string()).await;
    }

    /// Sends `join` for `camera`, with this client's token if it has one.
    pub async fn join(&mut self, camera: &str) {
        let token = self.token.clone();
        self.join_with(camera, token.as_deref()).await;
    }

    pub async fn join_with(&mut self, camera: &str, token: Option<&str>) {
        let mut frame = json!({"type": "join", "camera": camera, "sdpOffer": OFFER});
        if let Some(token) = token {
            frame["token"] = json!(token);
        }
        self.send(frame).await;
    }

    pub async fn ice(&mut self, candidate: &str) {
        self.send(json!({"type": "ice", "candidate": candidate, "sdpMid": "0", "sdpMLineIndex": 0})).await;
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
            match tokio::time::timeout(WAIT, self.ws.next()).await.expect("close in time") {
                Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        // drain until the server acknowledges
        let _ = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = self.ws.next().await {} }).await;
    }
}
