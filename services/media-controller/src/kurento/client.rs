//! `KurentoClient`: a cheap, cloneable handle to one task that owns the WebSocket and drives
//! the sans-IO [`Protocol`]. Generated handles call `create`/`invoke`/`subscribe`/`release`.

use super::event_stream::EventStream;
use super::object::{KurentoEvent, Params};
use super::protocol::{EventSink, LinkState, Output, Protocol, Timing};
use super::ClientError;
use crate::metrics::RpcMetrics;
use futures::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::Instrument;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where and how to talk to the media server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// e.g. `ws://localhost:8888/kurento` (`KURENTO_WS_URL`).
    pub url: String,
    pub timing: Timing,
    /// Bound on one WebSocket handshake attempt.
    pub connect_timeout: Duration,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), timing: Timing::default(), connect_timeout: Duration::from_secs(5) }
    }
}

enum Command {
    Call {
        method: &'static str,
        params: Map<String, Value>,
        timeout: Option<Duration>,
        reply: oneshot::Sender<CallResult>,
    },
    Subscribe {
        object: String,
        event: &'static str,
        sink: EventSink,
        timeout: Option<Duration>,
        reply: oneshot::Sender<CallResult>,
    },
    Shutdown,
}

type CallResult = Result<Option<Value>, ClientError>;

/// Requests waiting for the connection task; one more is refused with
/// [`ClientError::Overloaded`] (a clear error at once, never an unbounded queue).
const COMMAND_BUFFER: usize = 4096;

struct Shared {
    commands: mpsc::Sender<Command>,
    state: watch::Receiver<LinkState>,
    transitions: broadcast::Sender<LinkState>,
    metrics: RpcMetrics,
}

/// Handle to the media server connection. Clones share the connection; the connection task
/// ends when the last clone is dropped.
#[derive(Clone)]
pub struct KurentoClient {
    shared: Arc<Shared>,
    /// Per-request timeout override for calls made through this clone.
    timeout: Option<Duration>,
}

impl std::fmt::Debug for KurentoClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KurentoClient").field("state", &*self.shared.state.borrow()).finish()
    }
}

impl KurentoClient {
    /// Starts the connection task and returns at once; the task connects and reconnects on its
    /// own. Must be called inside a Tokio runtime. Requests are measured on the global meter.
    pub fn start(config: ClientConfig) -> Self {
        Self::start_with_metrics(config, RpcMetrics::new(&opentelemetry::global::meter(crate::metrics::SCOPE)))
    }

    /// Like [`KurentoClient::start`], recording request latency and errors into `metrics`.
    pub fn start_with_metrics(config: ClientConfig, metrics: RpcMetrics) -> Self {
        let (commands, rx) = mpsc::channel(COMMAND_BUFFER);
        let (state_tx, state) = watch::channel(LinkState::Connecting);
        let (transitions, _) = broadcast::channel(64);
        let shared = Arc::new(Shared { commands, state, transitions: transitions.clone(), metrics });
        tokio::spawn(run(config, rx, state_tx, transitions));
        Self { shared, timeout: None }
    }

    /// Starts the client and waits for the first session, for at most `config.connect_timeout`
    /// plus one request timeout.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let wait = config.connect_timeout + config.timing.request_timeout;
        let client = Self::start(config);
        client.wait_connected(wait).await?;
        Ok(client)
    }

    /// Waits until the state is `Connected` and returns it.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<LinkState, ClientError> {
        let mut state = self.shared.state.clone();
        let settled = |s: &LinkState| matches!(s, LinkState::Connected { .. } | LinkState::Closed);
        let reached = match tokio::time::timeout(timeout, state.wait_for(settled)).await {
            Err(_) => return Err(ClientError::Timeout(timeout)),
            Ok(Err(_)) => return Err(ClientError::Closed),
            Ok(Ok(s)) => s.clone(),
        };
        match reached {
            LinkState::Closed => Err(ClientError::Closed),
            connected => Ok(connected),
        }
    }

    /// The current connection state.
    pub fn connection_state(&self) -> LinkState {
        self.shared.state.borrow().clone()
    }

    /// Every state transition from now on, including `SessionLost`, which the owner must
    /// handle by recreating its objects.
    pub fn connection_events(&self) -> broadcast::Receiver<LinkState> {
        self.shared.transitions.subscribe()
    }

    /// A clone whose calls (and handles created from it) use `timeout` instead of the default.
    pub fn with_request_timeout(&self, timeout: Duration) -> Self {
        Self { shared: self.shared.clone(), timeout: Some(timeout) }
    }

    /// Closes the socket for every clone: pending and later calls fail with `Closed`, event
    /// streams end. Server-side objects stay until released or garbage-collected.
    pub fn shutdown(&self) {
        if let Err(mpsc::error::TrySendError::Full(command)) = self.shared.commands.try_send(Command::Shutdown) {
            // Behind a full queue: the shutdown waits its turn rather than being lost.
            let commands = self.shared.commands.clone();
            tokio::spawn(async move { commands.send(command).await });
        }
    }

    /// `create`: returns the new object's id.
    pub async fn create(&self, type_name: &str, constructor_params: Params) -> Result<String, ClientError> {
        let mut params = Map::new();
        params.insert("type".into(), type_name.into());
        params.insert("constructorParams".into(), Value::Object(constructor_params.into_map()));
        let value = self.call("create", params).await?;
        super::object::decode("create", value)
    }

    /// `invoke`: returns `result.value` (absent for void operations).
    pub async fn invoke(
        &self,
        object: &str,
        operation: &str,
        operation_params: Params,
    ) -> Result<Option<Value>, ClientError> {
        let mut params = Map::new();
        params.insert("object".into(), object.into());
        params.insert("operation".into(), operation.into());
        params.insert("operationParams".into(), Value::Object(operation_params.into_map()));
        self.call("invoke", params).await
    }

    /// `release`: idempotent on the server.
    pub async fn release(&self, object: &str) -> Result<(), ClientError> {
        let mut params = Map::new();
        params.insert("object".into(), object.into());
        self.call("release", params).await.map(|_| ())
    }

    /// `describe`: succeeds while the object exists; it also makes this session co-own the
    /// object (PROTOCOL.md §3.5), which is how a restarted controller adopts live pipelines.
    pub async fn describe(&self, object: &str) -> Result<(), ClientError> {
        let mut params = Map::new();
        params.insert("object".into(), object.into());
        self.call("describe", params).await.map(|_| ())
    }

    /// `subscribe` to event `E` of `object`. Prefer the generated `subscribe` on a handle,
    /// which only accepts events the class raises.
    pub async fn subscribe<E: KurentoEvent>(&self, object: &str) -> Result<EventStream<E>, ClientError> {
        let (sink, events) = mpsc::channel(super::protocol::EVENT_BUFFER);
        let (reply, answer) = oneshot::channel();
        let request = Request {
            method: "subscribe",
            object: Some(object.to_owned()),
            object_type: type_of(object),
            operation: Some(E::NAME.to_owned()),
        };
        let command =
            Command::Subscribe { object: object.to_owned(), event: E::NAME, sink, timeout: self.timeout, reply };
        let value = self.traced(request, self.send(command, answer)).await?;
        let subscription: String = super::object::decode("subscribe", value)?;
        Ok(EventStream::new(self.clone(), object.to_owned(), subscription, events))
    }

    pub async fn unsubscribe(&self, object: &str, subscription: &str) -> Result<(), ClientError> {
        let mut params = Map::new();
        params.insert("object".into(), object.into());
        params.insert("subscription".into(), subscription.into());
        self.call("unsubscribe", params).await.map(|_| ())
    }

    async fn call(&self, method: &'static str, params: Map<String, Value>) -> CallResult {
        let (reply, answer) = oneshot::channel();
        let request = Request::of(method, &params);
        self.traced(request, self.send(Command::Call { method, params, timeout: self.timeout, reply }, answer)).await
    }

    /// Runs one request inside its CLIENT span (a child of the caller's span, which the
    /// request future carries across the hop to the connection task) and measures it.
    async fn traced(&self, request: Request, call: impl std::future::Future<Output = CallResult>) -> CallResult {
        let span = tracing::info_span!(
            "kurento",
            otel.name = %request.span_name(),
            otel.kind = "client",
            rpc.system = "jsonrpc",
            rpc.method = request.method,
            kurento.object = request.object.as_deref(),
            kurento.type = request.object_type.as_deref(),
            kurento.operation = request.operation.as_deref(),
            error.code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_message = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = call.instrument(span.clone()).await;
        let code = result.as_ref().err().map(ClientError::code_label);
        if let (Some(code), Err(e)) = (&code, &result) {
            span.record("error.code", code.as_ref());
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_message", e.to_string());
        }
        let operation = match request.method {
            "invoke" => request.operation.as_deref(),
            "create" => request.object_type.as_deref(),
            _ => None,
        };
        self.shared.metrics.record(request.method, operation.unwrap_or("-"), started.elapsed(), code.as_deref());
        result
    }

    async fn send(&self, command: Command, answer: oneshot::Receiver<CallResult>) -> CallResult {
        self.shared.commands.try_send(command).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ClientError::Overloaded(COMMAND_BUFFER),
            mpsc::error::TrySendError::Closed(_) => ClientError::Closed,
        })?;
        answer.await.unwrap_or(Err(ClientError::Closed))
    }
}

/// What a request's span and metrics say about it.
struct Request {
    method: &'static str,
    object: Option<String>,
    /// The created type (`create`) or the target object's type.
    object_type: Option<String>,
    /// The invoked operation (`invoke`) or the event subscribed to.
    operation: Option<String>,
}

impl Request {
    fn of(method: &'static str, params: &Map<String, Value>) -> Self {
        let text = |k: &str| params.get(k).and_then(Value::as_str).map(str::to_owned);
        let object = text("object");
        let object_type = if method == "create" { text("type") } else { object.as_deref().and_then(type_of) };
        let operation = if method == "invoke" { text("operation") } else { None };
        Self { method, object, object_type, operation }
    }

    /// `kurento create`, `kurento invoke processOffer`, ...
    fn span_name(&self) -> String {
        match (self.method, &self.operation) {
            ("invoke", Some(op)) => format!("kurento invoke {op}"),
            (method, _) => format!("kurento {method}"),
        }
    }
}

/// The class in a Kurento object id (`<pipeline>_kurento.MediaPipeline/<id>_kurento.WebRtcEndpoint`).
fn type_of(object: &str) -> Option<String> {
    let last = object.rsplit('/').next()?;
    let (_, class) = last.rsplit_once('_')?;
    Some(class.strip_prefix("kurento.").unwrap_or(class).to_owned()).filter(|c| !c.is_empty())
}

/// First request id: milliseconds since the epoch times 1000, so a restarted controller
/// resuming its old session never repeats an id (up to 1000 requests per ms of uptime) and ids
/// stay below 2^53 for JSON peers that use doubles.
fn first_request_id() -> u64 {
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    millis.saturating_mul(1000)
}

/// The connection task: the only owner of the socket.
async fn run(
    config: ClientConfig,
    mut commands: mpsc::Receiver<Command>,
    state: watch::Sender<LinkState>,
    transitions: broadcast::Sender<LinkState>,
) {
    let mut core = Protocol::new(config.timing, first_request_id());
    let mut socket: Option<Socket> = None;
    let mut opening: Option<std::pin::Pin<Box<dyn std::future::Future<Output = Option<Socket>> + Send>>> = None;
    core.start();
    loop {
        while let Some(output) = core.poll_output() {
            match output {
                Output::Open => opening = Some(Box::pin(open(config.url.clone(), config.connect_timeout))),
                Output::Send(text) => {
                    let sent = match socket.as_mut() {
                        Some(ws) => ws.send(Message::text(text)).await.is_ok(),
                        None => false,
                    };
                    if !sent && socket.take().is_some() {
                        core.socket_closed(Instant::now());
                    }
                }
                Output::Close => socket = None,
                Output::State(s) => {
                    tracing::info!(state = ?s, "kurento connection");
                    let _ = transitions.send(s.clone());
                    state.send_replace(s.clone());
                    if s == LinkState::Closed {
                        return;
                    }
                }
            }
        }
        let deadline = core.poll_timeout().map(tokio::time::Instant::from_std);
        tokio::select! {
            command = commands.recv() => {
                let now = Instant::now();
                match command {
                    Some(Command::Call { method, params, timeout, reply }) => core.call(now, method, params, timeout, reply),
                    Some(Command::Subscribe { object, event, sink, timeout, reply }) => core.subscribe(now, &object, event, sink, timeout, reply),
                    Some(Command::Shutdown) | None => core.shutdown(),
                }
            }
            opened = async { opening.as_mut().expect("branch enabled only while opening").await }, if opening.is_some() => {
                opening = None;
                match opened {
                    Some(ws) => {
                        socket = Some(ws);
                        core.socket_opened(Instant::now());
                    }
                    None => core.socket_failed(Instant::now()),
                }
            }
            frame = async { socket.as_mut().expect("branch enabled only with a socket").next().await }, if socket.is_some() => {
                match frame {
                    Some(Ok(Message::Text(text))) => core.frame(Instant::now(), text.as_str()),
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                        socket = None;
                        core.socket_closed(Instant::now());
                    }
                    Some(Ok(_)) => {}
                }
            }
            _ = async { tokio::time::sleep_until(deadline.expect("branch enabled only with a deadline")).await }, if deadline.is_some() => {
                core.tick(Instant::now());
            }
        }
    }
}

async fn open(url: String, timeout: Duration) -> Option<Socket> {
    match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(url.as_str())).await {
        Ok(Ok((ws, _))) => Some(ws),
        Ok(Err(e)) => {
            tracing::warn!(%url, error = %e, "cannot reach the media server");
            None
        }
        Err(_) => {
            tracing::warn!(%url, "media server handshake timed out");
            None
        }
    }
}
