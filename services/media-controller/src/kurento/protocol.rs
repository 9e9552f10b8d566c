//! Sans-IO core of the Kurento JSON-RPC client (PROTOCOL.md §2-§3, §6.4-§6.5).
//!
//! Inputs are socket facts (opened, closed, a text frame), user calls and the passage of time;
//! outputs are frames to send, socket open/close requests and connection-state changes. The
//! I/O loop in `client.rs` only moves bytes. Invariants:
//! - a request id is never reused: ids come from one counter seeded by the caller (from the
//!   clock) and survive reconnects, because the server caches answers per (session, id);
//! - calls wait while the link is not up and go out in id order once the session is known;
//! - a call in flight when the socket drops is resent with the same id after a resumed
//!   session (the server's 20 s cache answers it without running it twice), or fails with
//!   `Disconnected` when older than that cache, or `SessionLost` when the session is gone;
//! - server input never panics: malformed frames are logged and dropped.

use super::ClientError;
use camview_proto::kurento::{EventValue, KurentoErrorCode, Request, Response};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How long KMS keeps answers for retransmitted ids (PROTOCOL.md §2.4).
pub const REQUEST_CACHE_TTL: Duration = Duration::from_secs(20);

pub type Reply = oneshot::Sender<Result<Option<Value>, ClientError>>;
/// Receives the `data` of each `onEvent` for one (object, event type).
pub type EventSink = mpsc::Sender<Value>;

/// Events buffered per subscription. When a subscriber falls this far behind, newer events
/// are dropped (and counted) rather than buffered without bound: the events are state
/// reports that the next one supersedes, and ICE recovers a dropped candidate by itself.
pub const EVENT_BUFFER: usize = 1024;

/// What the owner of the client needs to know about the link to the media server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState {
    /// First connection attempt in progress.
    Connecting,
    /// Session established. `resumed` means the previous session and its objects survived.
    Connected { session_id: String, server_id: Option<String>, resumed: bool },
    /// The socket is down; reconnecting with backoff.
    Disconnected,
    /// The server no longer knows `session_id`: its objects are gone and must be recreated.
    /// Calls pending at that moment fail with `SessionLost` and event streams end; a
    /// `Connected { resumed: false, .. }` with a new session follows.
    SessionLost { session_id: String },
    /// The client was shut down.
    Closed,
}

/// Timers of the client. Defaults suit a proxy with a 60 s idle timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub request_timeout: Duration,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            ping_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, PartialEq)]
pub enum Output {
    /// Open a new socket; answer with `socket_opened` or `socket_failed`.
    Open,
    Send(String),
    /// Drop the current socket (no `socket_closed` needed).
    Close,
    State(LinkState),
}

struct Call {
    method: String,
    params: Map<String, Value>,
    reply: Reply,
    timeout: Duration,
    deadline: Instant,
    /// `None` while queued.
    sent_at: Option<Instant>,
    /// When the server may first have run it: the start of its answer's cache lifetime.
    first_sent_at: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Link {
    Idle,
    Opening,
    Handshaking { id: u64, deadline: Instant },
    Up,
    Down { retry_at: Instant },
    Closed,
}

#[derive(Debug, Clone, PartialEq)]
struct Session {
    id: String,
    server_id: Option<String>,
}

pub struct Protocol {
    timing: Timing,
    next_id: u64,
    link: Link,
    session: Option<Session>,
    calls: BTreeMap<u64, Call>,
    /// Outstanding ping: id and answer deadline.
    ping: Option<(u64, Instant)>,
    next_ping: Option<Instant>,
    failed_attempts: u32,
    subscribers: HashMap<(String, String), Vec<EventSink>>,
    outputs: VecDeque<Output>,
    last_state: Option<LinkState>,
    /// Events dropped because their subscriber was [`EVENT_BUFFER`] behind.
    events_dropped: u64,
}

impl Protocol {
    pub fn new(timing: Timing, first_id: u64) -> Self {
        Self {
            timing,
            next_id: first_id,
            link: Link::Idle,
            session: None,
            calls: BTreeMap::new(),
            ping: None,
            next_ping: None,
            failed_attempts: 0,
            subscribers: HashMap::new(),
            outputs: VecDeque::new(),
            last_state: None,
            events_dropped: 0,
        }
    }

    pub fn timing(&self) -> Timing {
        self.timing
    }

    pub fn start(&mut self) {
        if self.link == Link::Idle {
            self.link = Link::Opening;
            self.outputs.push_back(Output::Open);
            self.report(LinkState::Connecting);
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next instant at which `tick` has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let link = match self.link {
            Link::Handshaking { deadline, .. } => Some(deadline),
            Link::Down { retry_at } => Some(retry_at),
            Link::Up => self.ping.map(|(_, d)| d).or(self.next_ping),
            _ => None,
        };
        self.calls.values().map(|c| c.deadline).chain(link).min()
    }

    /// Queues a request; `reply` receives `result.value` or the error.
    pub fn call(
        &mut self,
        now: Instant,
        method: &str,
        params: Map<String, Value>,
        timeout: Option<Duration>,
        reply: Reply,
    ) {
        if self.link == Link::Closed {
            let _ = reply.send(Err(ClientError::Closed));
            return;
        }
        let timeout = timeout.unwrap_or(self.timing.request_timeout);
        let id = self.take_id();
        let call = Call {
            method: method.to_owned(),
            params,
            reply,
            timeout,
            deadline: now + timeout,
            sent_at: None,
            first_sent_at: None,
        };
        self.calls.insert(id, call);
        if self.link == Link::Up {
            self.send_call(id, now);
        }
    }

    /// Registers `sink` before the `subscribe` request goes out, since the server may send the
    /// first event before the response.
    pub fn subscribe(
        &mut self,
        now: Instant,
        object: &str,
        event: &str,
        sink: EventSink,
        timeout: Option<Duration>,
        reply: Reply,
    ) {
        self.subscribers.entry((object.to_owned(), event.to_owned())).or_default().push(sink);
        let mut params = Map::new();
        params.insert("type".into(), event.into());
        params.insert("object".into(), object.into());
        self.call(now, "subscribe", params, timeout, reply);
    }

    pub fn socket_opened(&mut self, now: Instant) {
        if self.link == Link::Opening {
            self.send_connect(now);
        }
    }

    pub fn socket_failed(&mut self, now: Instant) {
        if self.link == Link::Opening {
            self.link_lost(now);
        }
    }

    pub fn socket_closed(&mut self, now: Instant) {
        if matches!(self.link, Link::Handshaking { .. } | Link::Up) {
            self.link_lost(now);
        }
    }

    pub fn shutdown(&mut self) {
        if self.link == Link::Closed {
            return;
        }
        self.link = Link::Closed;
        self.fail_all(ClientError::Closed);
        self.subscribers.clear();
        self.outputs.push_back(Output::Close);
        self.report(LinkState::Closed);
    }

    pub fn tick(&mut self, now: Instant) {
        let expired: Vec<u64> = self.calls.iter().filter(|(_, c)| c.deadline <= now).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some(call) = self.calls.remove(&id) {
                tracing::warn!(id, method = %call.method, "kurento request timed out");
                let _ = call.reply.send(Err(ClientError::Timeout(call.timeout)));
            }
        }
        match self.link {
            Link::Handshaking { deadline, .. } if deadline <= now => {
                tracing::warn!("kurento connect got no answer; reconnecting");
                self.drop_socket(now);
            }
            Link::Up => match (self.ping, self.next_ping) {
                (Some((_, deadline)), _) if deadline <= now => {
                    tracing::warn!("kurento ping got no answer; the socket is dead, reconnecting");
                    self.drop_socket(now);
                }
                (None, Some(at)) if at <= now => {
                    let id = self.take_id();
                    self.ping = Some((id, now + self.timing.ping_timeout));
                    self.next_ping = None;
                    let interval = self.timing.ping_interval.as_millis() as u64;
                    self.send(id, "ping", json!({ "interval": interval }).as_object().cloned().unwrap_or_default());
                }
                _ => {}
            },
            Link::Down { retry_at } if retry_at <= now => {
                self.link = Link::Opening;
                self.outputs.push_back(Output::Open);
            }
            _ => {}
        }
    }

    /// Handles one text frame from the server.
    pub fn frame(&mut self, now: Instant, text: &str) {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "unparseable frame from the media server");
                return;
            }
        };
        if value.get("method").and_then(Value::as_str) == Some("onEvent") && value.get("id").is_none() {
            self.route_event(value);
            return;
        }
        match serde_json::from_value::<Response>(value) {
            Ok(response) => self.response(now, response),
            Err(e) => tracing::warn!(error = %e, "unexpected frame from the media server"),
        }
    }

    fn response(&mut self, now: Instant, response: Response) {
        let Some(id) = response.id.as_u64() else {
            tracing::warn!(error = ?response.error, "media server answered a request it could not identify");
            return;
        };
        if let Link::Handshaking { id: connect_id, .. } = self.link {
            if id == connect_id {
                return self.handshake_done(now, response);
            }
        }
        if self.ping.is_some_and(|(ping_id, _)| ping_id == id) {
            self.ping = None;
            self.next_ping = Some(now + self.timing.ping_interval);
            return;
        }
        match self.calls.get(&id) {
            Some(call) if call.sent_at.is_some() => {
                let call = self.calls.remove(&id).expect("entry was just found");
                let outcome = match (response.error, response.result) {
                    (Some(error), _) => Err(ClientError::Server(error.into())),
                    (None, result) => {
                        Ok(result.and_then(|mut r| r.get_mut("value").map(Value::take)).filter(|v| !v.is_null()))
                    }
                };
                let _ = call.reply.send(outcome);
            }
            _ => tracing::debug!(id, "response to no pending request (late, after a timeout?)"),
        }
    }

    fn handshake_done(&mut self, now: Instant, response: Response) {
        if let Some(error) = response.error {
            if error.code == KurentoErrorCode::InvalidSession.code() && self.session.is_some() {
                self.lose_session();
                return self.send_connect(now);
            }
            tracing::warn!(code = error.code, message = %error.message, "kurento connect failed; reconnecting");
            return self.drop_socket(now);
        }
        let result = response.result.unwrap_or(Value::Null);
        let Some(session_id) = result.get("sessionId").and_then(Value::as_str).map(str::to_owned) else {
            tracing::warn!("kurento connect answered without a sessionId; reconnecting");
            return self.drop_socket(now);
        };
        let server_id = result.get("serverId").and_then(Value::as_str).map(str::to_owned);
        let resumed = match &self.session {
            None => false,
            Some(old) => {
                let restarted = matches!((&old.server_id, &server_id), (Some(a), Some(b)) if a != b);
                if old.id != session_id || restarted {
                    self.lose_session();
                    false
                } else {
                    true
                }
            }
        };
        self.session = Some(Session { id: session_id.clone(), server_id: server_id.clone() });
        self.link = Link::Up;
        self.failed_attempts = 0;
        self.next_ping = Some(now + self.timing.ping_interval);
        self.report(LinkState::Connected { session_id, server_id, resumed });
        let waiting: Vec<u64> = self.calls.iter().filter(|(_, c)| c.sent_at.is_none()).map(|(id, _)| *id).collect();
        for id in waiting {
            self.send_call(id, now);
        }
    }

    /// The session is gone: its objects, subscriptions and pending calls with it.
    fn lose_session(&mut self) {
        if let Some(old) = self.session.take() {
            tracing::warn!(session_id = %old.id, "kurento session lost; objects must be recreated");
            self.fail_all(ClientError::SessionLost);
            self.subscribers.clear();
            self.report(LinkState::SessionLost { session_id: old.id });
        }
    }

    fn route_event(&mut self, notification: Value) {
        let value = notification.get("params").and_then(|p| p.get("value")).cloned().unwrap_or(Value::Null);
        let event: EventValue = match serde_json::from_value(value) {
            Ok(e) => e,
            Err(e) => return tracing::warn!(error = %e, "malformed onEvent from the media server"),
        };
        let key = (event.object, event.kind);
        let Some(sinks) = self.subscribers.get_mut(&key) else {
            return tracing::debug!(object = %key.0, event = %key.1, "event without local subscriber");
        };
        sinks.retain(|sink| match sink.try_send(event.data.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.events_dropped += 1;
                tracing::warn!(object = %key.0, event = %key.1, dropped = self.events_dropped, "a subscriber is {EVENT_BUFFER} events behind; event dropped");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        if sinks.is_empty() {
            self.subscribers.remove(&key);
        }
    }

    fn send_connect(&mut self, now: Instant) {
        let id = self.take_id();
        let mut params = Map::new();
        if let Some(session) = &self.session {
            params.insert("sessionId".into(), session.id.clone().into());
        }
        self.link = Link::Handshaking { id, deadline: now + self.timing.request_timeout };
        self.send(id, "connect", params);
    }

    fn send_call(&mut self, id: u64, now: Instant) {
        let Some(call) = self.calls.get_mut(&id) else { return };
        call.sent_at = Some(now);
        call.first_sent_at.get_or_insert(now);
        let (method, params) = (call.method.clone(), call.params.clone());
        self.send(id, &method, params);
    }

    fn send(&mut self, id: u64, method: &str, mut params: Map<String, Value>) {
        if method != "connect" {
            if let Some(session) = &self.session {
                params.insert("sessionId".into(), session.id.clone().into());
            }
        }
        let request = Request::new(id, method, Value::Object(params));
        let text = serde_json::to_string(&request).expect("a Request of JSON values always serializes");
        self.outputs.push_back(Output::Send(text));
    }

    fn drop_socket(&mut self, now: Instant) {
        self.outputs.push_back(Output::Close);
        self.link_lost(now);
    }

    fn link_lost(&mut self, now: Instant) {
        self.ping = None;
        self.next_ping = None;
        let in_flight: Vec<u64> = self.calls.iter().filter(|(_, c)| c.sent_at.is_some()).map(|(id, _)| *id).collect();
        for id in in_flight {
            let resendable =
                self.calls[&id].first_sent_at.is_some_and(|sent| now.duration_since(sent) < REQUEST_CACHE_TTL);
            if resendable {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.sent_at = None;
                }
            } else if let Some(call) = self.calls.remove(&id) {
                let _ = call.reply.send(Err(ClientError::Disconnected));
            }
        }
        let backoff =
            self.timing.backoff_min.saturating_mul(1 << self.failed_attempts.min(16)).min(self.timing.backoff_max);
        self.failed_attempts += 1;
        self.link = Link::Down { retry_at: now + backoff };
        self.report(LinkState::Disconnected);
    }

    fn fail_all(&mut self, error: ClientError) {
        for (_, call) in std::mem::take(&mut self.calls) {
            let _ = call.reply.send(Err(error.clone()));
        }
    }

    fn take_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn report(&mut self, state: LinkState) {
        if self.last_state.as_ref() != Some(&state) {
            self.last_state = Some(state.clone());
            self.outputs.push_back(Output::State(state));
        }
    }
}

#[cfg(test)]
mod tests;
