//! Typed media events to Kurento `onEvent` notifications (PROTOCOL.md §8): the only place the
//! engine writes event JSON.

use std::collections::HashSet;

use camview_proto::kurento::Notification;
use serde_json::{json, Map, Value};

use super::model::{Property, SetProperty};
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
        MediaEvent::MediaSessionStarted | MediaEvent::IceGatheringDone | MediaEvent::EndOfStream => json!({}),
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
        let send_tags = matches!(obj.props.get(&Property::SendTagsInEvents), Some(SetProperty::SendTagsInEvents(true)));
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

#[cfg(test)]
mod tests {
    use super::super::model::Class;
    use super::*;
    use crate::events::{IceComponentState, MediaType};
    use camview_proto::kurento::KurentoErrorCode as K;

    fn data(event: MediaEvent) -> Value {
        Value::Object(event_data(&event))
    }

    #[test]
    fn typed_events_become_kurentos_event_fields() {
        let candidate =
            MediaEvent::IceCandidateFound { candidate: "candidate:1 1 UDP 9 h 5 typ host".into(), sdp_mid: "0".into() };
        assert_eq!(
            data(candidate),
            json!({"candidate": {"__module__": "kurento", "__type__": "IceCandidate",
                "candidate": "candidate:1 1 UDP 9 h 5 typ host", "sdpMid": "0", "sdpMLineIndex": 0}})
        );
        let ice = MediaEvent::IceComponentStateChanged { state: IceComponentState::Ready };
        assert_eq!(data(ice), json!({"streamId": 1, "componentId": 1, "state": "READY"}));
        let flow = MediaEvent::MediaFlowOutStateChanged { flowing: false };
        assert_eq!(data(flow), json!({"state": "NOT_FLOWING", "padName": "default", "mediaType": "VIDEO"}));
        let up = MediaEvent::ConnectionStateChanged { connected: true };
        assert_eq!(data(up), json!({"oldState": "DISCONNECTED", "newState": "CONNECTED"}));
        let link = MediaEvent::ElementConnected { sink: "s".into(), media_type: MediaType::Video };
        assert_eq!(
            data(link),
            json!({"sink": "s", "mediaType": "VIDEO", "sourceMediaDescription": "default", "sinkMediaDescription": "default"})
        );
        let error = MediaEvent::Error { description: "no".into(), code: K::ConnectError };
        assert_eq!(data(error), json!({"description": "no", "errorCode": 40004, "type": "CONNECT_ERROR"}));
        let pair = MediaEvent::NewCandidatePairSelected { local_candidate: "l".into(), remote_candidate: "r".into() };
        assert_eq!(data(pair)["candidatePair"]["localCandidate"], "l");
        assert_eq!(data(MediaEvent::IceGatheringDone), json!({}));
    }

    /// One of each variant with the class that raises it (the match makes a new variant a
    /// compile error here until it is listed).
    fn raised_by(event: &MediaEvent) -> Class {
        match event {
            MediaEvent::Error { .. } => Class::WebRtcEndpoint,
            MediaEvent::ElementConnected { .. }
            | MediaEvent::ElementDisconnected { .. }
            | MediaEvent::MediaFlowInStateChanged { .. }
            | MediaEvent::MediaFlowOutStateChanged { .. }
            | MediaEvent::MediaStateChanged { .. }
            | MediaEvent::MediaSessionStarted => Class::RtpEndpoint,
            MediaEvent::ConnectionStateChanged { .. }
            | MediaEvent::IceComponentStateChanged { .. }
            | MediaEvent::IceCandidateFound { .. }
            | MediaEvent::IceGatheringDone
            | MediaEvent::NewCandidatePairSelected { .. } => Class::WebRtcEndpoint,
            MediaEvent::EndOfStream => Class::PlayerEndpoint,
        }
    }

    #[test]
    fn every_media_event_is_declared_for_the_class_raising_it() {
        let (s, t) = (String::new, || MediaType::Video);
        let all = [
            MediaEvent::Error { description: s(), code: K::ConnectError },
            MediaEvent::ElementConnected { sink: s(), media_type: t() },
            MediaEvent::ElementDisconnected { sink: s(), media_type: t() },
            MediaEvent::MediaSessionStarted,
            MediaEvent::MediaFlowInStateChanged { flowing: true },
            MediaEvent::MediaFlowOutStateChanged { flowing: true },
            MediaEvent::MediaStateChanged { connected: true },
            MediaEvent::ConnectionStateChanged { connected: true },
            MediaEvent::IceComponentStateChanged { state: IceComponentState::Gathering },
            MediaEvent::IceCandidateFound { candidate: s(), sdp_mid: s() },
            MediaEvent::IceGatheringDone,
            MediaEvent::NewCandidatePairSelected { local_candidate: s(), remote_candidate: s() },
            MediaEvent::EndOfStream,
        ];
        for event in all {
            let class = raised_by(&event);
            assert!(class.raises(event.name()), "{} does not raise {}", class.name(), event.name());
        }
    }
}
