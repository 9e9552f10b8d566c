//! Kurento JSON-RPC 2.0 envelopes, shared by the media-engine (server side) and the
//! media-controller (client side). Method-specific params and results live with their
//! users: the controller's are generated from the kmd descriptors.
//!
//! See `shared/kurento/PROTOCOL.md` §2 for the envelope rules this mirrors.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `"2.0"`, the only accepted `jsonrpc` value.
pub const JSONRPC_VERSION: &str = "2.0";

/// A request from client to server. `id` is any JSON scalar and is echoed verbatim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub jsonrpc: String,
    pub id: Value,
    pub method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
}

impl Request {
    pub fn new(id: u64, method: impl Into<String>, params: Value) -> Self {
        Self { jsonrpc: JSONRPC_VERSION.into(), id: Value::from(id), method: method.into(), params: Some(params) }
    }
}

/// A response: exactly one of `result` and `error` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: Value,
    pub jsonrpc: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RpcError>,
}

impl Response {
    pub fn ok(id: Value, result: Value) -> Self {
        Self { id, jsonrpc: JSONRPC_VERSION.into(), result: Some(result), error: None }
    }

    pub fn err(id: Value, error: RpcError) -> Self {
        Self { id, jsonrpc: JSONRPC_VERSION.into(), result: None, error: Some(error) }
    }
}

/// A JSON-RPC error object; Kurento errors carry `data: {"type": "<SYMBOLIC_NAME>"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with a Kurento symbolic type in `data.type`.
    pub fn kurento(code: KurentoErrorCode, message: impl Into<String>) -> Self {
        Self { code: code.code(), message: message.into(), data: Some(serde_json::json!({"type": code.symbol()})) }
    }

    /// A plain JSON-RPC error without `data`.
    pub fn plain(code: i64, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), data: None }
    }

    /// The symbolic type in `data.type`, if any.
    pub fn kind(&self) -> Option<&str> {
        self.data.as_ref()?.get("type")?.as_str()
    }
}

/// Server -> client notification (`onEvent`), without `id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub jsonrpc: String,
    pub method: String,
    pub params: Value,
}

/// `params.value` of an `onEvent` notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventValue {
    pub data: Value,
    pub object: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// JSON-RPC level codes (PROTOCOL.md §9).
pub mod jsonrpc_codes {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL_ERROR: i64 = -32603;
    pub const SERVER_ERROR: i64 = -32000;
}

macro_rules! kurento_codes {
    ($($variant:ident = ($code:literal, $symbol:literal)),+ $(,)?) => {
        /// Kurento error codes with their `data.type` symbols (PROTOCOL.md §9): the one table both
        /// the engine (answering) and the controller's client (reading) use.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum KurentoErrorCode { $($variant),+ }

        impl KurentoErrorCode {
            pub const ALL: &'static [KurentoErrorCode] = &[$(KurentoErrorCode::$variant),+];
            pub fn code(self) -> i64 { match self { $(KurentoErrorCode::$variant => $code),+ } }
            pub fn symbol(self) -> &'static str { match self { $(KurentoErrorCode::$variant => $symbol),+ } }
            pub fn from_code(code: i64) -> Option<Self> {
                match code { $($code => Some(KurentoErrorCode::$variant),)+ _ => None }
            }
        }
    };
}

kurento_codes! {
    MarshallError = (40001, "MARSHALL_ERROR"),
    UnexpectedError = (40003, "UNEXPECTED_ERROR"),
    ConnectError = (40004, "CONNECT_ERROR"),
    UnsupportedMediaType = (40005, "UNSUPPORTED_MEDIA_TYPE"),
    NotImplemented = (40006, "NOT_IMPLEMENTED"),
    InvalidSession = (40007, "INVALID_SESSION"),
    MalformedTransaction = (40008, "MALFORMED_TRANSACTION"),
    NotEnoughResources = (40009, "NOT_ENOUGH_RESOURCES"),
    MediaObjectTypeNotFound = (40100, "MEDIA_OBJECT_TYPE_NOT_FOUND"),
    MediaObjectNotFound = (40101, "MEDIA_OBJECT_NOT_FOUND"),
    MediaObjectConstructorNotFound = (40104, "MEDIA_OBJECT_CONSTRUCTOR_NOT_FOUND"),
    MediaObjectMethodNotFound = (40105, "MEDIA_OBJECT_METHOD_NOT_FOUND"),
    MediaObjectEventNotSupported = (40106, "MEDIA_OBJECT_EVENT_NOT_SUPPORTED"),
    MediaObjectIllegalParamError = (40107, "MEDIA_OBJECT_ILLEGAL_PARAM_ERROR"),
    MediaObjectNotAvailable = (40108, "MEDIA_OBJECT_NOT_AVAILABLE"),
    MediaObjectNotFoundTransactionNoCommit = (40109, "MEDIA_OBJECT_NOT_FOUND_TRANSACTION_NO_COMMIT"),
    MediaObjectTagKeyNotFound = (40110, "MEDIA_OBJECT_TAG_KEY_NOT_FOUND"),
    MediaObjectOperationNotSupported = (40111, "MEDIA_OBJECT_OPERATION_NOT_SUPPORTED"),
    SdpCreateError = (40200, "SDP_CREATE_ERROR"),
    SdpParseError = (40201, "SDP_PARSE_ERROR"),
    SdpEndPointNoLocalSdpError = (40202, "SDP_END_POINT_NO_LOCAL_SDP_ERROR"),
    SdpEndPointNoRemoteSdpError = (40203, "SDP_END_POINT_NO_REMOTE_SDP_ERROR"),
    SdpEndPointGenerateOfferError = (40204, "SDP_END_POINT_GENERATE_OFFER_ERROR"),
    SdpEndPointProcessOfferError = (40205, "SDP_END_POINT_PROCESS_OFFER_ERROR"),
    SdpEndPointProcessAnswerError = (40206, "SDP_END_POINT_PROCESS_ANSWER_ERROR"),
    SdpConfigurationError = (40207, "SDP_CONFIGURATION_ERROR"),
    SdpEndPointAlreadyNegotiated = (40208, "SDP_END_POINT_ALREADY_NEGOTIATED"),
    SdpEndPointNotOfferGenerated = (40209, "SDP_END_POINT_NOT_OFFER_GENERATED"),
    SdpEndPointAnswerAlreadyProcessed = (40210, "SDP_END_POINT_ANSWER_ALREADY_PROCCESED"),
    SdpEndPointCannotCreateSession = (40211, "SDP_END_POINT_CANNOT_CREATE_SESSON"),
    HttpEndPointRegistrationError = (40300, "HTTP_END_POINT_REGISTRATION_ERROR"),
    IceGatherCandidatesError = (40400, "ICE_GATHER_CANDIDATES_ERROR"),
    IceAddCandidateError = (40401, "ICE_ADD_CANDIDATE_ERROR"),
    ServerManagerErrorKmdNotFound = (40500, "SERVER_MANAGER_ERROR_KMD_NOT_FOUND"),
    UriPathFileNotFound = (40600, "URI_PATH_FILE_NOT_FOUND"),
    PlayerSeekFail = (40700, "PLAYER_SEEK_FAIL"),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roundtrip;
    use serde_json::json;

    #[test]
    fn request_and_responses_round_trip() {
        let req =
            Request::new(7, "invoke", json!({"object": "P/W1", "operation": "gatherCandidates", "sessionId": "sid-1"}));
        assert_eq!(serde_json::to_value(&req).unwrap()["jsonrpc"], "2.0");
        roundtrip(&req);
        roundtrip(&Response::ok(json!(7), json!({"sessionId": "sid-1", "value": null})));
        let err =
            Response::err(json!(7), RpcError::kurento(KurentoErrorCode::MediaObjectNotFound, "Object 'abc' not found"));
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"id":7,"jsonrpc":"2.0","error":{"code":40101,"message":"Object 'abc' not found","data":{"type":"MEDIA_OBJECT_NOT_FOUND"}}})
        );
        assert_eq!(roundtrip(&err).error.unwrap().kind(), Some("MEDIA_OBJECT_NOT_FOUND"));
    }

    #[test]
    fn on_event_notification_round_trips() {
        let n = Notification {
            jsonrpc: "2.0".into(),
            method: "onEvent".into(),
            params: json!({"value": {"data": {"source": "P/W1", "tags": [], "timestampMillis": "1", "type": "IceGatheringDone"}, "object": "P/W1", "type": "IceGatheringDone"}}),
        };
        roundtrip(&n);
        let v: EventValue = serde_json::from_value(n.params["value"].clone()).unwrap();
        assert_eq!(v.kind, "IceGatheringDone");
        roundtrip(&v);
    }

    #[test]
    fn kurento_codes_map_both_ways() {
        for c in KurentoErrorCode::ALL {
            assert_eq!(KurentoErrorCode::from_code(c.code()), Some(*c));
        }
        assert_eq!(KurentoErrorCode::from_code(1), None);
    }
}
