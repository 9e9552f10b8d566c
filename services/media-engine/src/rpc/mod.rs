//! The Kurento JSON-RPC dispatcher: sessions, socket binding, the request cache, the object
//! registry, subscriptions, event routing and garbage collection (PROTOCOL.md §2–§6, §12).
//!
//! It is socket-free: a connection is an id plus a channel of outgoing text frames, and time is
//! passed in. Invariant: no client input panics; every failure is a JSON-RPC error object.

mod classes;
mod invoke;
mod negotiate;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use camview_proto::kurento::{jsonrpc_codes as jc, KurentoErrorCode as K, Notification, Response, RpcError};
use serde_json::{json, Map, Value};

pub use classes::Class;

use crate::config::Config;
use crate::events::{EngineEvent, EventTx};
use crate::media::rtp_source::RtpSource;
use crate::media::webrtc::{Viewer, WebRtcMux};
use crate::media::MediaCounters;
use crate::server::ConnTx;

pub const SERVER_MANAGER: &str = "manager_ServerManager";

/// What the media objects need from the engine.
#[derive(Clone)]
pub struct MediaCtx {
    pub cfg: Arc<Config>,
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
    },
    WebRtc(Arc<Viewer>),
}

pub(crate) struct Obj {
    pub class: Class,
    pub parent: Option<String>,
    pub children: Vec<String>,
    pub props: Map<String, Value>,
    pub tags: Vec<(String, String)>,
    pub refs: HashSet<String>,
    pub creation_time: i64,
    /// (sink id, media type) this element feeds.
    pub sinks: Vec<(String, &'static str)>,
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

pub(crate) fn kerr(code: K, msg: impl Into<String>) -> RpcError {
    RpcError::kurento(code, msg)
}

fn required(name: &str) -> RpcError {
    RpcError::plain(jc::SERVER_ERROR, format!("'{name}' parameter is required"))
}

fn should_be(name: &str, word: &str) -> RpcError {
    RpcError::plain(jc::SERVER_ERROR, format!("'{name}' parameter should be a {word}"))
}

fn req_str<'a>(p: &'a Map<String, Value>, name: &str) -> Result<&'a str, RpcError> {
    match p.get(name) {
        None | Some(Value::Null) => Err(required(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(should_be(name, "string")),
    }
}

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
    pub fn media_objects(&self) -> [(&'static str, u64); 3] {
        let mut counts = [Class::MediaPipeline, Class::RtpEndpoint, Class::WebRtcEndpoint].map(|c| (c.name(), 0u64));
        for o in self.objects.values() {
            if let Some(slot) = counts.iter_mut().find(|(name, _)| *name == o.class.name()) {
                slot.1 += 1;
            }
        }
        counts
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
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => return Some(error_frame(Value::Null, RpcError::plain(jc::PARSE_ERROR, "Parse error"))),
        };
        let invalid =
            || Some(error_frame(Value::Null, RpcError::plain(jc::INVALID_REQUEST, "Invalid JSON-RPC request.")));
        let Value::Object(req) = v else { return invalid() };
        if req.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return invalid();
        }
        let id = req.get("id").cloned();
        if id.as_ref().is_some_and(|i| i.is_object() || i.is_array()) {
            return invalid();
        }
        let Some(method) = req.get("method").and_then(Value::as_str) else { return invalid() };
        let id_v = id.clone().unwrap_or(Value::Null);
        let mut params = match req.get("params") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => Some(p.clone()),
            Some(_) => return Some(error_frame(id_v, invalid_params("'params' should be an object"))),
        };
        let bound = self.conns.get(&conn).and_then(|c| c.session.clone());
        let sid = match params.as_ref().and_then(|p| p.get("sessionId")) {
            None | Some(Value::Null) => bound,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Some(error_frame(id_v, should_be("sessionId", "string"))),
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
        let result = self.dispatch(method, params, sid.clone());
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
        match method {
            "ping" => {
                if let Some(s) = &sid {
                    self.touch_session(s);
                    return Ok(json!({"sessionId": s, "value": "pong"}));
                }
                Ok(json!({"value": "pong"}))
            }
            "connect" => match sid {
                Some(s) if self.sessions.contains_key(&s) => {
                    self.touch_session(&s);
                    Ok(json!({"serverId": self.server_id, "sessionId": s}))
                }
                Some(_) => Err(kerr(K::InvalidSession, "Invalid session")),
                None => {
                    let s = uuid::Uuid::new_v4().to_string();
                    self.touch_session(&s);
                    Ok(json!({"serverId": self.server_id, "sessionId": s}))
                }
            },
            "keepAlive" => match sid {
                Some(s) if self.sessions.contains_key(&s) => {
                    self.touch_session(&s);
                    Ok(json!({"sessionId": s}))
                }
                _ => Err(kerr(K::InvalidSession, "Invalid session")),
            },
            "create" | "invoke" | "describe" | "subscribe" | "unsubscribe" | "release" | "closeSession" => {
                let p = params.ok_or_else(|| invalid_params("'params' is required"))?;
                let sid = sid.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
                self.touch_session(&sid);
                let value = match method {
                    "create" => Some(self.create(&sid, &p)?),
                    "invoke" => Some(self.invoke_request(&sid, &p)?),
                    "describe" => {
                        let mut d = self.describe(&sid, req_str(&p, "object")?)?;
                        d.insert("sessionId".into(), json!(sid));
                        return Ok(Value::Object(d));
                    }
                    "subscribe" => Some(self.subscribe(&sid, &p)?),
                    "unsubscribe" => {
                        let sub = req_str(&p, "subscription")?;
                        self.subs.remove(sub);
                        None
                    }
                    "release" => {
                        self.release(req_str(&p, "object")?);
                        None
                    }
                    _ => {
                        let release_all = p.get("release").and_then(Value::as_bool).unwrap_or(false);
                        self.close_session(&sid, release_all);
                        Some(Value::Null)
                    }
                };
                let mut r = json!({"sessionId": sid});
                if let Some(v) = value {
                    r["value"] = v;
                }
                Ok(r)
            }
            _ => Err(RpcError::plain(jc::METHOD_NOT_FOUND, "Method not found.")),
        }
    }

    fn create(&mut self, sid: &str, p: &Map<String, Value>) -> RpcResult {
        let ty = req_str(p, "type")?;
        let class = Class::from_name(ty)
            .ok_or_else(|| kerr(K::MediaObjectNotAvailable, format!("Factory '{ty}' not found")))?;
        let ctor = match p.get("constructorParams") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(kerr(K::MarshallError, "'constructorParams' should be an object")),
        };
        let uuid = uuid::Uuid::new_v4();
        let (id, parent, media) = match class {
            Class::MediaPipeline => (format!("{uuid}_kurento.MediaPipeline"), None, ObjMedia::None),
            _ => {
                let pipe = match ctor.get("mediaPipeline") {
                    None | Some(Value::Null) => {
                        return Err(kerr(K::MarshallError, "'mediaPipeline' parameter is required"))
                    }
                    Some(Value::String(s)) => s.clone(),
                    Some(_) => return Err(kerr(K::MarshallError, "'mediaPipeline' parameter should be a string")),
                };
                if !self.objects.get(&pipe).is_some_and(|o| o.class == Class::MediaPipeline) {
                    return Err(kerr(K::MediaObjectNotFound, format!("Object '{pipe}' not found")));
                }
                for flag in ["useIpv6", "recvonly", "sendonly", "useDataChannels"] {
                    if ctor.get(flag).is_some_and(|v| !v.is_boolean() && !v.is_null()) {
                        return Err(kerr(K::MarshallError, format!("'{flag}' parameter should be a boolean")));
                    }
                }
                let id = format!("{pipe}/{uuid}_kurento.{}", class.name());
                let media = match class {
                    Class::RtpEndpoint => {
                        if ctor.get("crypto").is_some_and(|c| c.as_object().is_some_and(|m| !m.is_empty())) {
                            return Err(kerr(
                                K::MediaObjectIllegalParamError,
                                "SRTP (crypto) is not supported by this engine",
                            ));
                        }
                        ObjMedia::Rtp { negotiated: None, source: None, offer: None }
                    }
                    _ => {
                        let v = Viewer::new(id.clone(), &self.ctx.mux, self.ctx.events.clone())
                            .map_err(|e| kerr(K::NotEnoughResources, format!("cannot bind a WebRTC port: {e}")))?;
                        ObjMedia::WebRtc(v)
                    }
                };
                (id, Some(pipe), media)
            }
        };
        if let Some(pp) = parent.as_ref().and_then(|p| self.objects.get_mut(p)) {
            pp.children.push(id.clone());
        }
        self.objects.insert(
            id.clone(),
            Obj {
                class,
                parent,
                children: vec![],
                props: Map::new(),
                tags: vec![],
                refs: HashSet::from([sid.to_string()]),
                creation_time: now_millis() / 1000,
                sinks: vec![],
                media,
            },
        );
        Ok(json!(id))
    }

    fn describe(&mut self, sid: &str, object: &str) -> Result<Map<String, Value>, RpcError> {
        let class = if object == SERVER_MANAGER {
            Class::ServerManager
        } else {
            let o = self.objects.get_mut(object).ok_or_else(|| not_found(object))?;
            o.refs.insert(sid.to_string());
            o.class
        };
        let mut m = Map::new();
        m.insert("hierarchy".into(), json!(class.hierarchy()));
        m.insert("qualifiedType".into(), json!(format!("kurento.{}", class.name())));
        m.insert("type".into(), json!(class.name()));
        Ok(m)
    }

    fn subscribe(&mut self, sid: &str, p: &Map<String, Value>) -> RpcResult {
        let kind = req_str(p, "type")?;
        let object = req_str(p, "object")?;
        let class = if object == SERVER_MANAGER {
            Class::ServerManager
        } else {
            let o = self.objects.get_mut(object).ok_or_else(|| not_found(object))?;
            o.refs.insert(sid.to_string());
            o.class
        };
        if !class.supports_event(kind) {
            return Err(kerr(K::MediaObjectEventNotSupported, format!("Event '{kind}' not supported")));
        }
        let sub = uuid::Uuid::new_v4().to_string();
        self.subs
            .insert(sub.clone(), Sub { session: sid.to_string(), object: object.to_string(), kind: kind.to_string() });
        Ok(json!(sub))
    }

    /// Releases `id` and, for a pipeline, its children. Unknown ids are ignored (Kurento
    /// swallows those errors).
    pub(crate) fn release(&mut self, id: &str) {
        let Some(obj) = self.objects.remove(id) else { return };
        for child in &obj.children {
            self.release(child);
        }
        if let Some(p) = obj.parent.as_ref().and_then(|p| self.objects.get_mut(p)) {
            p.children.retain(|c| c != id);
        }
        // Drop every connection to or from this element.
        let feeders: Vec<String> =
            self.objects.iter().filter(|(_, o)| o.sinks.iter().any(|(s, _)| s == id)).map(|(k, _)| k.clone()).collect();
        for f in feeders {
            if let Some(o) = self.objects.get_mut(&f) {
                o.sinks.retain(|(s, _)| s != id);
            }
            if let (Some(ObjMedia::Rtp { source: Some(src), .. }), ObjMedia::WebRtc(_)) =
                (self.objects.get(&f).map(|o| &o.media), &obj.media)
            {
                src.remove_viewer(id);
            }
        }
        for (sink, _) in &obj.sinks {
            if let Some(ObjMedia::WebRtc(v)) = self.objects.get(sink).map(|o| &o.media) {
                v.set_source(None);
            }
        }
        match &obj.media {
            ObjMedia::Rtp { source: Some(src), .. } => src.stop(),
            ObjMedia::WebRtc(v) => v.stop(),
            _ => {}
        }
        self.subs.retain(|_, s| s.object != id);
    }

    fn close_session(&mut self, sid: &str, release_all: bool) {
        let ids: Vec<String> =
            self.objects.iter().filter(|(_, o)| o.refs.contains(sid)).map(|(k, _)| k.clone()).collect();
        for id in ids {
            let Some(o) = self.objects.get_mut(&id) else { continue };
            o.refs.remove(sid);
            if release_all || o.refs.is_empty() {
                self.release(&id);
            }
        }
        self.subs.retain(|_, s| s.session != sid);
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

    /// Wraps an event in Kurento's `onEvent` envelope and sends it once to every session
    /// subscribed to (object, type) that has a socket.
    pub fn route_event(&mut self, ev: EngineEvent) {
        let Some(obj) = self.objects.get(&ev.object) else { return };
        let sessions: HashSet<&str> = self
            .subs
            .values()
            .filter(|s| s.object == ev.object && s.kind == ev.kind)
            .map(|s| s.session.as_str())
            .collect();
        if sessions.is_empty() {
            return;
        }
        let mut data = ev.data;
        data.insert("source".into(), json!(ev.object));
        let send_tags = obj.props.get("sendTagsInEvents").and_then(Value::as_bool).unwrap_or(false);
        let tags: Vec<Value> =
            if send_tags { obj.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect() } else { vec![] };
        data.insert("tags".into(), json!(tags));
        data.insert("timestampMillis".into(), json!(now_millis().to_string()));
        data.entry("type").or_insert(json!(ev.kind));
        let note = Notification {
            jsonrpc: "2.0".into(),
            method: "onEvent".into(),
            params: json!({"value": {"data": data, "object": ev.object, "type": ev.kind}}),
        };
        let text = serde_json::to_string(&note).expect("a Value always serialises");
        for s in sessions {
            if let Some(c) = self.sessions.get(s).and_then(|s| s.conn).and_then(|c| self.conns.get(&c)) {
                let _ = c.tx.send(text.clone());
            }
        }
    }
}

fn invalid_params(msg: &str) -> RpcError {
    RpcError { code: jc::INVALID_PARAMS, message: msg.into(), data: Some(json!({"type": "INVALID_PARAMS"})) }
}

pub(crate) fn not_found(id: &str) -> RpcError {
    kerr(K::MediaObjectNotFound, format!("Object '{id}' not found"))
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
