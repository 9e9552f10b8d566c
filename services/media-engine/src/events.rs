//! Events raised by media objects. Media code sends them on a channel; the RPC layer adds the
//! Kurento envelope (`source`, `tags`, `timestampMillis`, `type`) and routes them to the
//! subscribed sessions. Media code never takes the RPC lock, so there is no lock-order issue.

use serde_json::{json, Map, Value};
use tokio::sync::mpsc::UnboundedSender;

#[derive(Debug, Clone)]
pub struct EngineEvent {
    pub object: String,
    pub kind: &'static str,
    pub data: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct EventTx {
    tx: UnboundedSender<EngineEvent>,
}

impl EventTx {
    pub fn new(tx: UnboundedSender<EngineEvent>) -> Self {
        EventTx { tx }
    }

    /// Raises `kind` on `object` with event-specific fields `data` (a JSON object).
    pub fn emit(&self, object: &str, kind: &'static str, data: Value) {
        let data = match data {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        // The receiver lives as long as the engine; after shutdown events are moot.
        let _ = self.tx.send(EngineEvent { object: object.to_string(), kind, data });
    }

    pub fn flow(&self, object: &str, kind: &'static str, flowing: bool) {
        self.emit(
            object,
            kind,
            json!({"state": if flowing {"FLOWING"} else {"NOT_FLOWING"}, "padName": "default", "mediaType": "VIDEO"}),
        );
    }

    pub fn state_change(&self, object: &str, kind: &'static str, connected: bool) {
        let (old, new) = if connected { ("DISCONNECTED", "CONNECTED") } else { ("CONNECTED", "DISCONNECTED") };
        self.emit(object, kind, json!({"oldState": old, "newState": new}));
    }
}
