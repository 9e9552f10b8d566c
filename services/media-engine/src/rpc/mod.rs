//! The Kurento JSON-RPC dispatcher: sessions, socket binding, the request cache, the object
//! registry, subscriptions, event routing and garbage collection (PROTOCOL.md §2–§6, §12).
//!
//! A frame is parsed once into a [`Request`]; `invoke` operations are typed by the model
//! generated from our descriptors ([`model`]) and each handled in its own function.
//!
//! It is socket-free: a connection is an id plus a channel of outgoing text frames, and time is
//! passed in. Invariant: no client input panics; every failure is a JSON-RPC error object.

mod element;
mod invoke;
pub mod model;
mod negotiate;
mod notify;
mod objects;
pub mod params;
mod request;
mod server_manager;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use camview_proto::kurento::{jsonrpc_codes as jc, KurentoErrorCode as K, Response, RpcError};
use serde_json::{json, Map, Value};

pub use model::Class;
pub use request::{Frame, Request};

use crate::config::Settings;
use crate::events::EventTx;
use crate::media::player::Player;
use crate::media::rtp_sink::RtpSink;
use crate::media::rtp_source::RtpSource;
use crate::media::webrtc::{Viewer, WebRtcMux};
use crate::media::MediaCounters;
use crate::server::ConnTx;

pub const SERVER_MANAGER: &str = "manager_ServerManager";

/// What the media objects need from the engine.
#[derive(Clone)]
pub struct MediaCtx {
    pub cfg: Arc<Settings>,
    pub mux: Arc<WebRtcMux>,
    pub events: EventTx,
    pub counters: Arc<MediaCounters>,
}

struct Conn {
    tx: ConnTx,
    session: Option<String>,
}

struct Session {
    conn: Option<u64>,
    /// Seen since the last collector run (two-phase mark, PROTOCOL.md §3.2).
    in_use: bool,
}

struct Sub {
    session: String,
    object: String,
    kind: String,
}

pub(crate) enum ObjMedia {
    None,
    /// `negotiated`: (local, remote) SDP; `offer`: set by `generateOffer`.
    Rtp {
        negotiated: Option<(String, String)>,
        source: Option<Arc<RtpSource>>,
        offer: Option<negotiate::RtpOffer>,
        /// Set when the peer's offer was receive-only: this endpoint sends its connected
        /// source's RTP to the peer.
        sink: Option<Arc<RtpSink>>,
        /// The camera's G.711/Opus audio (`processOffer` with an audio line).
        audio: Option<Arc<RtpSource>>,
    },
    WebRtc(Arc<Viewer>),
    /// A PlayerEndpoint (an RTSP camera).
    Player(Arc<Player>),
}

impl ObjMedia {
    /// The camera stream this element feeds: a negotiated RtpEndpoint's, or a described
    /// PlayerEndpoint's.
    pub(crate) fn feed(&self) -> Option<Arc<RtpSource>> {
        match self {
            ObjMedia::Rtp { source: Some(s), .. } => Some(s.clone()),
            ObjMedia::Player(p) => p.source(),
            _ => None,
        }
    }
}

pub(crate) struct Obj {
    pub class: Class,
    pub parent: Option<String>,
    pub children: Vec<String>,
    /// Values set on plain properties (unset ones read their default).
    pub props: HashMap<model::Property, model::SetProperty>,
    pub tags: Vec<(String, String)>,
    pub refs: HashSet<String>,
    pub creation_time: i64,
    /// (sink id, media type) this element feeds.
    pub sinks: Vec<(String, model::MediaType)>,
    pub media: ObjMedia,
}

/// Counts for tests and monitoring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreStats {
    pub sessions: usize,
    pub connections: usize,
    pub objects: usize,
    pub pipelines: usize,
    pub subscriptions: usize,
    pub cached_responses: usize,
}

pub struct Core {
    ctx: MediaCtx,
    server_id: String,
    sessions: HashMap<String, Session>,
    conns: HashMap<u64, Conn>,
    cache: HashMap<(String, String), (Instant, String)>,
    cache_inserts: u64,
    objects: HashMap<String, Obj>,
    subs: HashMap<String, Sub>,
}

type RpcResult = Result<Value, RpcError>;

pub(crate) use crate::error::{kerr, not_found};

pub(crate) fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Core {
    pub fn new(ctx: MediaCtx) -> Self {
        Core {
            ctx,
            server_id: uuid::Uuid::new_v4().to_string(),
            sessions: HashMap::new(),
            conns: HashMap::new(),
            cache: HashMap::new(),
            cache_inserts: 0,
            objects: HashMap::new(),
            subs: HashMap::new(),
        }
    }

    pub fn server_id(&self) -> &str {
        &self.server_id
    }

    pub fn stats(&self) -> CoreStats {
        CoreStats {
            sessions: self.sessions.len(),
            connections: self.conns.len(),
            objects: self.objects.len(),
            pipelines: self.objects.values().filter(|o| o.class == Class::MediaPipeline).count(),
            subscriptions: self.subs.len(),
            cached_responses: self.cache.len(),
        }
    }

    /// Sessions with a connected socket (the `camview_engine_sessions` gauge).
    pub fn connected_sessions(&self) -> u64 {
        self.sessions.values().filter(|s| s.conn.is_some()).count() as u64
    }

    /// Live media objects per class (the `camview_engine_media_objects` gauge); every media
    /// class appears, with 0 when none is alive.
    pub fn media_objects(&self) -> [(&'static str, u64); 4] {
        let mut counts = [Class::MediaPipeline, Class::RtpEndpoint, Class::WebRtcEndpoint, Class::PlayerEndpoint]
            .map(|c| (c.name(), 0u64));
        for o in self.objects.values() {
            if let Some(slot) = counts.iter_mut().find(|(name, _)| *name == o.class.name()) {
                slot.1 += 1;
            }
        }
        counts
    }

    /// Camera sources (RtpEndpoints that are not sinks, PlayerEndpoints) and viewers
    /// (WebRtcEndpoints): the load a node heartbeat reports.
    pub fn node_counts(&self) -> (u32, u32) {
        let (mut streams, mut viewers) = (0u32, 0u32);
        for o in self.objects.values() {
            match &o.media {
                ObjMedia::Rtp { sink: None, .. } | ObjMedia::Player(_) => streams = streams.saturating_add(1),
                ObjMedia::WebRtc(_) => viewers = viewers.saturating_add(1),
                _ => {}
            }
        }
        (streams, viewers)
    }

    pub fn add_conn(&mut self, id: u64, tx: ConnTx) {
        self.conns.insert(id, Conn { tx, session: None });
    }

    /// The socket closed: its session stays (for resume) until the collector drops it.
    pub fn remove_conn(&mut self, id: u64) {
        if let Some(c) = self.conns.remove(&id) {
            if let Some(s) = c.session.and_then(|s| self.sessions.get_mut(&s)) {
                if s.conn == Some(id) {
                    s.conn = None;
                    s.in_use = true;
                }
            }
        }
    }

    fn touch_session(&mut self, sid: &str) {
        self.sessions.entry(sid.to_string()).or_insert(Session { conn: None, in_use: true }).in_use = true;
    }

    fn bind(&mut self, conn: u64, sid: &str) {
        self.touch_session(sid);
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let previous = c.session.replace(sid.to_string());
        if let Some(p) = previous.filter(|p| p != sid) {
            if let Some(s) = self.sessions.get_mut(&p) {
                if s.conn == Some(conn) {
                    s.conn = None;
                }
            }
        }
        let s = self.sessions.get_mut(sid).expect("touch_session inserted it");
        if let Some(old) = s.conn.replace(conn).filter(|o| *o != conn) {
            if let Some(oc) = self.conns.get_mut(&old) {
                oc.session = None;
            }
        }
    }

    /// Handles one text frame from connection `conn`; returns the response frame, if any.
    pub fn handle(&mut self, conn: u64, text: &str, now: Instant) -> Option<String> {
        let Frame { id, method, mut params } = match Frame::parse(text) {
            Ok(f) => f,
            Err((id, e)) => return Some(error_frame(id, e)),
        };
        let id_v = id.clone().unwrap_or(Value::Null);
        let bound = self.conns.get(&conn).and_then(|c| c.session.clone());
        let sid = match params.as_ref().and_then(|p| p.get("sessionId")) {
            None | Some(Value::Null) => bound,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Some(error_frame(id_v, request::should_be_top("sessionId", "string"))),
        };
        if let (Some(p), Some(s)) = (params.as_mut(), sid.as_ref()) {
            p.insert("sessionId".into(), json!(s));
        }
        let ttl = self.ctx.cfg.request_cache_ttl;
        let cache_key = sid.as_ref().zip(id.as_ref()).map(|(s, i)| (s.clone(), i.to_string()));
        if let Some(k) = &cache_key {
            if let Some((t, resp)) = self.cache.get(k) {
                if now.duration_since(*t) < ttl {
                    let resp = resp.clone();
                    self.bind(conn, &k.0);
                    return Some(resp);
                }
            }
        }
        let result = self.dispatch(&method, params, sid.clone());
        let (resp, result_sid) = match result {
            Ok(r) => {
                let rs = r.get("sessionId").and_then(Value::as_str).map(str::to_string);
                if let Some(s) = &rs {
                    self.bind(conn, s);
                }
                (frame(Response::ok(id_v, r)), rs)
            }
            Err(e) => {
                if id.is_some() {
                    count_error(&e);
                }
                (frame(Response::err(id_v, e)), None)
            }
        };
        if let (Some(s), Some(i)) = (result_sid.or(sid), id.as_ref()) {
            self.cache_insert((s, i.to_string()), now, resp.clone());
        }
        id.is_some().then_some(resp)
    }

    fn cache_insert(&mut self, key: (String, String), now: Instant, resp: String) {
        self.cache_inserts += 1;
        if self.cache_inserts.is_multiple_of(256) {
            self.purge_cache(now);
        }
        self.cache.insert(key, (now, resp));
    }

    fn purge_cache(&mut self, now: Instant) {
        let ttl = self.ctx.cfg.request_cache_ttl;
        self.cache.retain(|_, (t, _)| now.duration_since(*t) < ttl);
    }

    fn dispatch(&mut self, method: &str, params: Option<Map<String, Value>>, sid: Option<String>) -> RpcResult {
        // Any request of a session keeps it alive, even one that fails to parse.
        let sid = match (request::SESSION_METHODS.contains(&method), &params) {
            (true, Some(_)) => {
                let sid = sid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                self.touch_session(&sid);
                Some(sid)
            }
            _ => sid,
        };
        match (Request::from_frame(method, params.as_ref())?, sid) {
            (Request::Ping, sid) => Ok(self.ping(sid)),
            (Request::Connect, sid) => self.connect_session(sid),
            (Request::KeepAlive, sid) => self.keep_alive(sid),
            (request, Some(sid)) => self.dispatch_in_session(request, sid),
            // Not reached: requests about objects carry params, so a session was touched above.
            (_, None) => Err(request::invalid_params("'params' is required")),
        }
    }

    fn ping(&mut self, sid: Option<String>) -> Value {
        match sid {
            Some(s) => {
                self.touch_session(&s);
                json!({"sessionId": s, "value": "pong"})
            }
            None => json!({"value": "pong"}),
        }
    }

    fn connect_session(&mut self, sid: Option<String>) -> RpcResult {
        let s = match sid {
            Some(s) if self.sessions.contains_key(&s) => s,
            Some(_) => return Err(kerr(K::InvalidSession, "Invalid session")),
            None => uuid::Uuid::new_v4().to_string(),
        };
        self.touch_session(&s);
        Ok(json!({"serverId": self.server_id, "sessionId": s}))
    }

    fn keep_alive(&mut self, sid: Option<String>) -> RpcResult {
        match sid {
            Some(s) if self.sessions.contains_key(&s) => {
                self.touch_session(&s);
                Ok(json!({"sessionId": s}))
            }
            _ => Err(kerr(K::InvalidSession, "Invalid session")),
        }
    }

    /// Requests about objects: the answer carries the session id (and `value`, if any).
    fn dispatch_in_session(&mut self, request: Request, sid: String) -> RpcResult {
        let value = match request {
            Request::Create(ctor) => Some(self.create(&sid, ctor)?),
            Request::Invoke { object, operation, params } => {
                Some(self.invoke(&sid, &object, &operation, params.as_ref())?)
            }
            Request::Describe { object } => {
                let mut d = self.describe(&sid, &object)?;
                d.insert("sessionId".into(), json!(sid));
                return Ok(Value::Object(d));
            }
            Request::Subscribe { object, event } => Some(self.subscribe(&sid, &object, &event)?),
            Request::Unsubscribe { subscription } => {
                self.subs.remove(&subscription);
                None
            }
            Request::Release { object } => {
                self.release(&object);
                None
            }
            Request::CloseSession { release } => {
                self.close_session(&sid, release);
                Some(Value::Null)
            }
            Request::Ping | Request::Connect | Request::KeepAlive => unreachable!("handled by dispatch"),
        };
        let mut r = json!({"sessionId": sid});
        if let Some(v) = value {
            r["value"] = v;
        }
        Ok(r)
    }

    /// One collector run (PROTOCOL.md §3.2): a session without a socket that was not seen since
    /// the previous run is dropped with the objects only it referenced.
    pub fn collect_garbage(&mut self, now: Instant) {
        self.purge_cache(now);
        let mut dead = vec![];
        for (sid, s) in self.sessions.iter_mut() {
            if s.conn.is_some() {
                continue;
            }
            if s.in_use {
                s.in_use = false;
            } else {
                dead.push(sid.clone());
            }
        }
        for sid in dead {
            self.sessions.remove(&sid);
            self.close_session(&sid, false);
        }
    }
}

/// An error response, counted on `camview_errors_total` (every caller sends it).
fn error_frame(id: Value, e: RpcError) -> String {
    count_error(&e);
    frame(Response::err(id, e))
}

/// Counts an error answered to a client by its Kurento type (`data.type`) or JSON-RPC code name.
fn count_error(e: &RpcError) {
    let code = match (e.kind(), e.code) {
        (Some(kind), _) => kind,
        (None, jc::PARSE_ERROR) => "PARSE_ERROR",
        (None, jc::INVALID_REQUEST) => "INVALID_REQUEST",
        (None, jc::METHOD_NOT_FOUND) => "METHOD_NOT_FOUND",
        (None, jc::INVALID_PARAMS) => "INVALID_PARAMS",
        (None, jc::INTERNAL_ERROR) => "INTERNAL_ERROR",
        (None, _) => "SERVER_ERROR",
    };
    camview_common::telemetry::record_error(code);
}

fn frame(r: Response) -> String {
    serde_json::to_string(&r).expect("a Response always serialises")
}
