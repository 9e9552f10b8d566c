//! Runtime support the generated code builds on: handle and event traits, parameter maps and
//! result decoding. The only place where Kurento values are turned into JSON and back.

use super::{ClientError, KurentoClient};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

/// A typed handle to a server-side object.
pub trait RemoteObject {
    /// The KMD class name, as sent in `create`.
    const TYPE_NAME: &'static str;
    fn object_id(&self) -> &str;
    fn client(&self) -> &KurentoClient;
}

/// An event payload with its KMD name, as used in `subscribe` and `onEvent`.
pub trait KurentoEvent: DeserializeOwned + Send + 'static {
    const NAME: &'static str;
}

/// Marks that objects of class `C` raise this event (generated from the descriptors), so
/// `subscribe` only compiles for events the server would accept.
pub trait EmittedBy<C>: KurentoEvent {}

/// `constructorParams` / `operationParams` under construction.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Params(Map<String, Value>);

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn put(&mut self, name: &str, value: impl Serialize) {
        // Generated parameter types are strings, numbers, enums and string-keyed structs.
        let value = serde_json::to_value(value).expect("generated parameter types always serialize to JSON");
        self.0.insert(name.to_owned(), value);
    }

    /// Optional parameters are omitted when `None` so the server applies its default.
    pub fn put_opt(&mut self, name: &str, value: Option<impl Serialize>) {
        if let Some(v) = value {
            self.put(name, v);
        }
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

/// Decodes `result.value`; an absent value decodes like `null`.
pub fn decode<T: DeserializeOwned>(operation: &str, value: Option<Value>) -> Result<T, ClientError> {
    serde_json::from_value(value.unwrap_or(Value::Null))
        .map_err(|e| ClientError::Decode { operation: operation.to_owned(), reason: e.to_string() })
}

/// Void operations answer `"value": null` (KMS) or no value at all (documented form).
pub fn decode_void(_value: Option<Value>) -> Result<(), ClientError> {
    Ok(())
}
