//! Events raised by media objects. Media code sends them on a channel; the RPC layer adds the
//! Kurento envelope (`source`, `tags`, `timestampMillis`, `type`) and routes them to the
//! subscribed sessions. Media code never takes the RPC lock, so there is no lock-order issue.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::Sender;

use crate::supervise::Faults;

#[derive(Debug, Clone)]
pub struct EngineEvent {
    pub object: String,
    pub kind: &'static str,
    pub data: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub struct EventTx {
    tx: Sender<EngineEvent>,
    faults: Arc<Faults>,
}

impl EventTx {
    /// `tx` is bounded (see `Engine::start_on_with_meter`): when it is full the newest event is
    /// dropped and counted (`queue="events"`).
    pub fn new(tx: Sender<EngineEvent>, faults: Arc<Faults>) -> Self {
        EventTx { tx, faults }
    }

    /// Raises `kind` on `object` with event-specific fields `data` (a JSON object).
    pub fn emit(&self, object: &str, kind: &'static str, data: Value) {
        let data = match data {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        // The receiver lives as long as the engine; after shutdown events are moot.
        if let Err(TrySendError::Full(_)) = self.tx.try_send(EngineEvent { object: object.to_string(), kind, data }) {
            self.faults.full("events", 1);
        }
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
