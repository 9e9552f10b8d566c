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

/// A JSON-RPC 2.0 frame's envelope (PROTOCOL.md §4): `id` (absent for a notification),
/// `method` and the `params` object.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub id: Option<Value>,
    pub method: String,
    pub params: Option<Map<String, Value>>,
}

impl Frame {
    /// The error carries the id to answer with (null when the frame has none usable).
    pub fn parse(text: &str) -> Result<Frame, (Value, RpcError)> {
        let invalid = || (Value::Null, RpcError::plain(jc::INVALID_REQUEST, "Invalid JSON-RPC request."));
        let v: Value =
            serde_json::from_str(text).map_err(|_| (Value::Null, RpcError::plain(jc::PARSE_ERROR, "Parse error")))?;
        let Value::Object(mut req) = v else { return Err(invalid()) };
        if req.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(invalid());
        }
        let id = req.remove("id");
        if id.as_ref().is_some_and(|i| i.is_object() || i.is_array()) {
            return Err(invalid());
        }
        let Some(Value::String(method)) = req.remove("method") else { return Err(invalid()) };
        let params = match req.remove("params") {
            None | Some(Value::Null) => None,
            Some(Value::Object(p)) => Some(p),
            Some(_) => {
                return Err((id.unwrap_or(Value::Null), invalid_params("'params' should be an object")));
            }
        };
        Ok(Frame { id, method, params })
    }
}

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

#[cfg(test)]
mod tests {
    use super::super::model::RtpEndpointConstructor;
    use super::*;

    fn request(method: &str, params: Value) -> Result<Request, RpcError> {
        Request::from_frame(method, params.as_object())
    }

    #[test]
    fn a_frame_is_parsed_once_into_a_typed_request() {
        let frame = Frame::parse(r#"{"jsonrpc":"2.0","id":3,"method":"create","params":{"type":"kurento.RtpEndpoint","constructorParams":{"mediaPipeline":"p","useIpv6":false}}}"#).unwrap();
        assert_eq!((frame.id, frame.method.as_str()), (Some(json!(3)), "create"));
        let create = Request::from_frame(&frame.method, frame.params.as_ref()).unwrap();
        let ctor = RtpEndpointConstructor { media_pipeline: "p".into(), crypto: None, use_ipv6: Some(false) };
        assert_eq!(create, Request::Create(Constructor::RtpEndpoint(ctor)));
        let invoke = request("invoke", json!({"object": "o", "operation": "getName"})).unwrap();
        assert_eq!(invoke, Request::Invoke { object: "o".into(), operation: "getName".into(), params: None });
    }

    #[test]
    fn bad_frames_and_requests_get_kurentos_errors() {
        let (id, e) = Frame::parse(r#"{"jsonrpc":"2.0","id":4,"method":"ping","params":[1]}"#).unwrap_err();
        assert_eq!((id, e.code), (json!(4), jc::INVALID_PARAMS));
        assert_eq!(Frame::parse("{").unwrap_err().1.code, jc::PARSE_ERROR);
        assert_eq!(
            Frame::parse(r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#).unwrap_err().1.code,
            jc::INVALID_REQUEST
        );
        let e = request("create", json!({"type": "MediaElement"})).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (40108, "Factory 'MediaElement' not found"));
        let e = request("invoke", json!({"object": "o", "operation": "getName", "operationParams": 1})).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), (40001, "'operationParams' should be an object"));
        assert_eq!(Request::from_frame("release", None).unwrap_err().code, jc::INVALID_PARAMS);
        assert_eq!(request("fly", json!({})).unwrap_err().code, jc::METHOD_NOT_FOUND);
    }
}
