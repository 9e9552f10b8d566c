//! One Kurento JSON-RPC request (PROTOCOL.md §4), parsed once from the frame's `method` and
//! `params`. `create` is typed completely here (the class names its constructor); `invoke`
//! carries the operation's name and raw parameters, typed into an [`Operation`] by
//! [`Operation::parse`] once the object's class is known (an unknown object is 40101 whatever
//! its parameters).
//!
//! [`Operation`]: super::model::Operation
//! [`Operation::parse`]: super::model::Operation::parse

use camview_proto::kurento::{jsonrpc_codes as jc, KurentoErrorCode as K, RpcError};
use serde_json::{json, Map, Value};

use super::kerr;
use super::model::{Class, Constructor};
use super::params::Params;

/// Methods about objects: they run in a session (one is opened if the frame names none).
pub(crate) const SESSION_METHODS: &[&str] =
    &["create", "invoke", "describe", "subscribe", "unsubscribe", "release", "closeSession"];

#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Ping,
    Connect,
    KeepAlive,
    Create(Constructor),
    Invoke { object: String, operation: String, params: Option<Map<String, Value>> },
    Describe { object: String },
    Subscribe { object: String, event: String },
    Unsubscribe { subscription: String },
    Release { object: String },
    CloseSession { release: bool },
}

impl Request {
    /// `params` is the frame's `params` object (with the session id the connection is bound to).
    pub fn from_frame(method: &str, params: Option<&Map<String, Value>>) -> Result<Request, RpcError> {
        let p = || params.ok_or_else(|| invalid_params("'params' is required"));
        Ok(match method {
            "ping" => Request::Ping,
            "connect" => Request::Connect,
            "keepAlive" => Request::KeepAlive,
            "create" => Request::Create(constructor(p()?)?),
            "invoke" => {
                let p = p()?;
                let object = req_str(p, "object")?;
                let operation = req_str(p, "operation")?;
                let params = match p.get("operationParams") {
                    None | Some(Value::Null) => None,
                    Some(Value::Object(m)) => Some(m.clone()),
                    Some(_) => return Err(kerr(K::MarshallError, "'operationParams' should be an object")),
                };
                Request::Invoke { object, operation, params }
            }
            "describe" => Request::Describe { object: req_str(p()?, "object")? },
            "subscribe" => {
                let p = p()?;
                let event = req_str(p, "type")?;
                Request::Subscribe { object: req_str(p, "object")?, event }
            }
            "unsubscribe" => Request::Unsubscribe { subscription: req_str(p()?, "subscription")? },
            "release" => Request::Release { object: req_str(p()?, "object")? },
            "closeSession" => {
                Request::CloseSession { release: p()?.get("release").and_then(Value::as_bool).unwrap_or(false) }
            }
            _ => return Err(RpcError::plain(jc::METHOD_NOT_FOUND, "Method not found.")),
        })
    }
}

/// `create`: `type` names a creatable class; `constructorParams` (absent means none) are typed.
fn constructor(p: &Map<String, Value>) -> Result<Constructor, RpcError> {
    let ty = req_str(p, "type")?;
    let not_available = || kerr(K::MediaObjectNotAvailable, format!("Factory '{ty}' not found"));
    let class = Class::from_name(&ty).ok_or_else(not_available)?;
    let empty = Map::new();
    let ctor = match p.get("constructorParams") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(_) => return Err(kerr(K::MarshallError, "'constructorParams' should be an object")),
    };
    Constructor::parse(class, &Params::new(Some(ctor)))?.ok_or_else(not_available)
}

/// A top-level string parameter (`object`, `operation`, ...): errors without Kurento data.
pub(crate) fn req_str(p: &Map<String, Value>, name: &str) -> Result<String, RpcError> {
    match p.get(name) {
        None | Some(Value::Null) => Err(RpcError::plain(jc::SERVER_ERROR, format!("'{name}' parameter is required"))),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(should_be_top(name, "string")),
    }
}

pub(crate) fn should_be_top(name: &str, word: &str) -> RpcError {
    RpcError::plain(jc::SERVER_ERROR, format!("'{name}' parameter should be a {word}"))
}

pub(crate) fn invalid_params(msg: &str) -> RpcError {
    RpcError { code: jc::INVALID_PARAMS, message: msg.into(), data: Some(json!({"type": "INVALID_PARAMS"})) }
}
