//! Typed media events to Kurento `onEvent` notifications (PROTOCOL.md §8): the only place the
//! engine writes event JSON.

use std::collections::HashSet;

use camview_proto::kurento::Notification;
use serde_json::{json, Map, Value};

use super::{now_millis, Core};
use crate::events::{EngineEvent, MediaEvent};

fn flow(flowing: bool) -> Value {
    json!({"state": if flowing { "FLOWING" } else { "NOT_FLOWING" }, "padName": "default", "mediaType": "VIDEO"})
}

fn state_change(connected: bool) -> Value {
    let (old, new) = if connected { ("DISCONNECTED", "CONNECTED") } else { ("CONNECTED", "DISCONNECTED") };
    json!({"oldState": old, "newState": new})
}

fn link(sink: &str, media_type: &str) -> Value {
    json!({"sink": sink, "mediaType": media_type, "sourceMediaDescription": "default", "sinkMediaDescription": "default"})
}

/// The event's own fields (the envelope is added by [`Core::route_event`]).
pub(crate) fn event_data(event: &MediaEvent) -> Map<String, Value> {
    let data = match event {
        MediaEvent::Error { description, code } => {
            json!({"description": description, "errorCode": code.code(), "type": code.symbol()})
        }
        MediaEvent::ElementConnected { sink, media_type } | MediaEvent::ElementDisconnected { sink, media_type } => {
            link(sink, media_type.as_str())
        }
        MediaEvent::MediaFlowInStateChanged { flowing } | MediaEvent::MediaFlowOutStateChanged { flowing } => {
            flow(*flowing)
        }
        MediaEvent::MediaStateChanged { connected } | MediaEvent::ConnectionStateChanged { connected } => {
            state_change(*connected)
        }
        MediaEvent::IceComponentStateChanged { state } => {
            json!({"streamId": 1, "componentId": 1, "state": state.as_str()})
        }
        MediaEvent::IceCandidateFound { candidate, sdp_mid } => json!({"candidate": {
            "__module__": "kurento", "__type__": "IceCandidate", "candidate": candidate, "sdpMid": sdp_mid, "sdpMLineIndex": 0}}),
        MediaEvent::NewCandidatePairSelected { local_candidate, remote_candidate } => json!({"candidatePair": {
            "__module__": "kurento", "__type__": "IceCandidatePair", "streamId": "1", "componentId": 1,
            "localCandidate": local_candidate, "remoteCandidate": remote_candidate}}),
        MediaEvent::MediaSessionStarted | MediaEvent::IceGatheringDone => json!({}),
    };
    match data {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl Core {
    /// Wraps an event in Kurento's `onEvent` envelope and sends it once to every session
    /// subscribed to (object, type) that has a socket.
    pub fn route_event(&mut self, ev: EngineEvent) {
        let Some(obj) = self.objects.get(&ev.object) else { return };
        let kind = ev.event.name();
        let sessions: HashSet<&str> = self
            .subs
            .values()
            .filter(|s| s.object == ev.object && s.kind == kind)
            .map(|s| s.session.as_str())
            .collect();
        if sessions.is_empty() {
            return;
        }
        let mut data = event_data(&ev.event);
        data.insert("source".into(), json!(ev.object));
        let send_tags = obj.props.get("sendTagsInEvents").and_then(Value::as_bool).unwrap_or(false);
        let tags: Vec<Value> =
            if send_tags { obj.tags.iter().map(|(k, v)| json!({"key": k, "value": v})).collect() } else { vec![] };
        data.insert("tags".into(), json!(tags));
        data.insert("timestampMillis".into(), json!(now_millis().to_string()));
        data.entry("type").or_insert(json!(kind));
        let note = Notification {
            jsonrpc: "2.0".into(),
            method: "onEvent".into(),
            params: json!({"value": {"data": data, "object": ev.object, "type": kind}}),
        };
        let text = serde_json::to_string(&note).expect("a Value always serialises");
        for s in sessions {
            if let Some(c) = self.sessions.get(s).and_then(|s| s.conn).and_then(|c| self.conns.get(&c)) {
                let _ = c.tx.send(text.clone());
            }
        }
    }
}
