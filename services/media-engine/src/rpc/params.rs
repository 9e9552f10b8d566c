//! The runtime of the generated request types (`model.rs`): reading typed parameters out of a
//! JSON object, with Kurento's messages ("'x' parameter is required", "... should be a string").

use camview_proto::kurento::{KurentoErrorCode as K, RpcError};
use serde_json::{Map, Value};

use super::kerr;

pub fn marshall(msg: impl Into<String>) -> RpcError {
    kerr(K::MarshallError, msg)
}

/// `'name' parameter should be a <word>` (Kurento says "a integer", "a IceCandidate").
pub fn should_be(name: &str, word: &str) -> RpcError {
    marshall(format!("'{name}' parameter should be a {word}"))
}

pub fn invalid_value(ty: &str, value: &str) -> RpcError {
    marshall(format!("Invalid value '{value}' for {ty}"))
}

/// A value of a KMD type, read from one parameter.
pub trait FromParam: Sized {
    fn from_param(name: &str, value: &Value) -> Result<Self, RpcError>;
}

impl FromParam for String {
    fn from_param(name: &str, value: &Value) -> Result<Self, RpcError> {
        value.as_str().map(str::to_owned).ok_or_else(|| should_be(name, "string"))
    }
}

impl FromParam for bool {
    fn from_param(name: &str, value: &Value) -> Result<Self, RpcError> {
        value.as_bool().ok_or_else(|| should_be(name, "boolean"))
    }
}

impl FromParam for i32 {
    fn from_param(name: &str, value: &Value) -> Result<Self, RpcError> {
        value.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(|| should_be(name, "integer"))
    }
}

impl FromParam for i64 {
    fn from_param(name: &str, value: &Value) -> Result<Self, RpcError> {
        value.as_i64().ok_or_else(|| should_be(name, "integer"))
    }
}

impl FromParam for f32 {
    fn from_param(name: &str, value: &Value) -> Result<Self, RpcError> {
        value.as_f64().map(|f| f as f32).ok_or_else(|| should_be(name, "float"))
    }
}

impl FromParam for f64 {
    fn from_param(name: &str, value: &Value) -> Result<Self, RpcError> {
        value.as_f64().ok_or_else(|| should_be(name, "double"))
    }
}

impl<T: FromParam> FromParam for Vec<T> {
    fn from_param(name: &str, value: &Value) -> Result<Self, RpcError> {
        let Value::Array(items) = value else { return Err(should_be(name, "array")) };
        items.iter().map(|v| T::from_param(name, v)).collect()
    }
}

/// The parameters of one operation, constructor or complex value; `None` when the request
/// carried none (`operationParams` absent).
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    map: Option<&'a Map<String, Value>>,
}

impl<'a> Params<'a> {
    pub fn new(map: Option<&'a Map<String, Value>>) -> Self {
        Params { map }
    }

    /// A mandatory parameter: absent or null is an error.
    pub fn required<T: FromParam>(&self, name: &str) -> Result<T, RpcError> {
        let map = self.map.ok_or_else(|| marshall("'operationParams' is required"))?;
        match map.get(name) {
            None | Some(Value::Null) => Err(marshall(format!("'{name}' parameter is required"))),
            Some(v) => T::from_param(name, v),
        }
    }

    /// An optional parameter: absent or null is `None`.
    pub fn optional<T: FromParam>(&self, name: &str) -> Result<Option<T>, RpcError> {
        match self.map.and_then(|m| m.get(name)) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => T::from_param(name, v).map(Some),
        }
    }

    /// The error for an operation the object's class does not have.
    pub fn unknown_operation(&self, operation: &str) -> RpcError {
        kerr(
            K::MalformedTransaction,
            format!("Method '{operation}' with {} parameters not found", self.map.map_or(0, Map::len)),
        )
    }
}
