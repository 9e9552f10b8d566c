//! `invoke`: methods, getters and setters of the implemented classes (PROTOCOL.md §5–§7).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use camview_proto::kurento::{KurentoErrorCode as K, RpcError};
use serde_json::{json, Map, Value};

use super::classes::{accessor, Class, MEDIA_TYPES};
use super::{kerr, not_found, now_millis, req_str, Core, ObjMedia, RpcResult, SERVER_MANAGER};
use crate::media::rtp_source::RtpSource;

const VERSION: &str = "7.3.0";

fn marshall(msg: impl Into<String>) -> RpcError {
    kerr(K::MarshallError, msg)
}

fn op_str<'a>(p: &'a Map<String, Value>, name: &str) -> Result<&'a str, RpcError> {
    match p.get(name) {
        None | Some(Value::Null) => Err(marshall(format!("'{name}' parameter is required"))),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(marshall(format!("'{name}' parameter should be a string"))),
    }
}

/// An optional `MediaType`; `None` when absent.
fn media_type(p: &Map<String, Value>, name: &str) -> Result<Option<&'static str>, RpcError> {
    match p.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => MEDIA_TYPES
            .iter()
            .find(|t| **t == s)
            .copied()
            .map(Some)
            .ok_or_else(|| marshall(format!("Invalid value '{s}' for MediaType"))),
        Some(_) => Err(marshall(format!("'{name}' parameter should be a string"))),
    }
}

impl Core {
    pub(super) fn invoke_request(&mut self, sid: &str, p: &Map<String, Value>) -> RpcResult {
        let object = req_str(p, "object")?;
        let op = req_str(p, "operation")?;
        let empty = Map::new();
        let params = match p.get("operationParams") {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(_) => return Err(marshall("'operationParams' should be an object")),
        };
        if object == SERVER_MANAGER {
            return self.invoke_server_manager(op, params.unwrap_or(&empty));
        }
        let o = self.objects.get_mut(object).ok_or_else(|| not_found(object))?;
        o.refs.insert(sid.to_string());
        let class = o.class;
        let unknown = || {
            kerr(
                K::MalformedTransaction,
                format!("Method '{op}' with {} parameters not found", params.map_or(0, |m| m.len())),
            )
        };
        let mandatory = |names: &[&str]| -> Result<&Map<String, Value>, RpcError> {
            match params {
                Some(m) => Ok(m),
                None if names.is_empty() => Ok(&empty),
                None => Err(marshall("'operationParams' is required")),
            }
        };

        // Plain properties first.
        if let Some(prop) = class.props().find(|pr| accessor("get", pr.name) == op) {
            let o = &self.objects[object];
            return Ok(o.props.get(prop.name).cloned().unwrap_or_else(|| {
                if prop.name == "name" {
                    json!(object)
                } else {
                    (prop.default)(&self.ctx.cfg)
                }
            }));
        }
        if let Some(prop) = class.props().find(|pr| accessor("set", pr.name) == op) {
            if prop.read_only {
                return Err(unknown());
            }
            let m = mandatory(&[prop.name])?;
            let v = m.get(prop.name).ok_or_else(|| marshall(format!("'{}' parameter is required", prop.name)))?;
            if !prop.ty.matches(v) {
                return Err(marshall(format!("'{}' parameter should be a {}", prop.name, prop.ty.word())));
            }
            self.objects.get_mut(object).expect("looked up above").props.insert(prop.name.into(), v.clone());
            return Ok(Value::Null);
        }

        match op {
            "getId" => return Ok(json!(object)),
            "getMediaPipeline" => {
                let o = &self.objects[object];
                return Ok(json!(o.parent.clone().unwrap_or_else(|| object.to_string())));
            }
            "getParent" => return Ok(self.objects[object].parent.clone().map_or(Value::Null, |p| json!(p))),
            "getChildren" => return Ok(json!(self.objects[object].children)),
            "getCreationTime" => return Ok(json!(self.objects[object].creation_time)),
            "addTag" => {
                let m = mandatory(&["key", "value"])?;
                let (k, v) = (op_str(m, "key")?.to_string(), op_str(m, "value")?.to_string());
                let o = self.objects.get_mut(object).expect("looked up above");
                o.tags.retain(|(x, _)| *x != k);
                o.tags.push((k, v));
                return Ok(Value::Null);
            }
            "removeTag" => {
                let k = op_str(mandatory(&["key"])?, "key")?.to_string();
                self.objects.get_mut(object).expect("looked up above").tags.retain(|(x, _)| *x != k);
                return Ok(Value::Null);
            }
            "getTag" => {
                let k = op_str(mandatory(&["key"])?, "key")?;
                return self.objects[object].tags.iter().find(|(x, _)| x == k).map(|(_, v)| json!(v)).ok_or_else(
                    || kerr(K::from_code(40110).unwrap_or(K::UnexpectedError), format!("Tag '{k}' not found")),
                );
            }
            "getTags" => {
                return Ok(json!(self.objects[object]
                    .tags
                    .iter()
                    .map(|(k, v)| json!({"__module__": "kurento", "__type__": "Tag", "key": k, "value": v}))
                    .collect::<Vec<_>>()))
            }
            "getGstreamerDot" | "dumpGstreamerDot" => return Ok(json!("")),
            _ => {}
        }
        if !class.is_element() {
            return Err(unknown());
        }

        let m = params.unwrap_or(&empty);
        match op {
            "connect" | "disconnect" => {
                let sink = op_str(mandatory(&["sink"])?, "sink")?;
                let types: Vec<&'static str> = match media_type(m, "mediaType")? {
                    Some(t) => vec![t],
                    None => MEDIA_TYPES.to_vec(),
                };
                if !self.objects.get(sink).is_some_and(|s| s.class.is_element()) {
                    return Err(not_found(sink));
                }
                if op == "connect" {
                    self.connect(object, sink, &types);
                } else {
                    self.disconnect(object, sink, &types);
                }
                Ok(Value::Null)
            }
            "getSourceConnections" | "getSinkConnections" => {
                let filter = media_type(m, "mediaType")?;
                let pairs: Vec<(String, String, &'static str)> = if op == "getSinkConnections" {
                    self.objects[object].sinks.iter().map(|(s, t)| (object.to_string(), s.clone(), *t)).collect()
                } else {
                    self.objects
                        .iter()
                        .flat_map(|(src, o)| {
                            o.sinks.iter().filter(|(s, _)| s == object).map(move |(s, t)| (src.clone(), s.clone(), *t))
                        })
                        .collect()
                };
                Ok(json!(pairs
                    .into_iter()
                    .filter(|(_, _, t)| filter.is_none_or(|f| f == *t))
                    .map(|(source, sink, t)| json!({"__module__": "kurento", "__type__": "ElementConnectionData", "source": source, "sink": sink, "type": t, "sourceDescription": "default", "sinkDescription": "default"}))
                    .collect::<Vec<_>>()))
            }
            "isMediaFlowingIn" | "isMediaFlowingOut" => {
                let t = media_type(mandatory(&["mediaType"])?, "mediaType")?
                    .ok_or_else(|| marshall("'mediaType' parameter is required"))?;
                if t != "VIDEO" {
                    return Ok(json!(false));
                }
                Ok(json!(match &self.objects[object].media {
                    ObjMedia::Rtp { source: Some(s), .. } => s.is_flowing(),
                    ObjMedia::WebRtc(v) if op == "isMediaFlowingIn" => v.flow_in(),
                    ObjMedia::WebRtc(v) => v.flow_out(),
                    _ => false,
                }))
            }
            "isMediaTranscoding" => Ok(json!(false)),
            "getMediaState" | "getConnectionState" => {
                let connected = match &self.objects[object].media {
                    ObjMedia::Rtp { source: Some(s), .. } => {
                        s.rtcp_seen() || (op == "getConnectionState" && s.is_flowing())
                    }
                    ObjMedia::WebRtc(v) => v.is_connected(),
                    _ => false,
                };
                Ok(json!(if connected { "CONNECTED" } else { "DISCONNECTED" }))
            }
            "getStats" => {
                media_type(m, "mediaType")?;
                Ok(self.stats_of(object))
            }
            "requestKeyframe" => match &self.objects[object].media {
                ObjMedia::WebRtc(v) if v.request_keyframe() => Ok(Value::Null),
                _ => Err(kerr(
                    K::MediaObjectOperationNotSupported,
                    "Keyframe request failed (must be requested from a subscriber element)",
                )),
            },
            "processOffer" => {
                let offer = op_str(mandatory(&["offer"])?, "offer")?.to_string();
                self.process_offer(object, &offer)
            }
            "generateOffer" => {
                match m.get("options") {
                    None | Some(Value::Null) | Some(Value::Object(_)) => {}
                    Some(_) => return Err(marshall("'options' parameter should be a OfferOptions")),
                }
                self.generate_offer(object)
            }
            "processAnswer" => {
                let answer = op_str(mandatory(&["answer"])?, "answer")?.to_string();
                self.process_answer(object, &answer)
            }
            "getLocalSessionDescriptor" | "getRemoteSessionDescriptor" => {
                let local = op == "getLocalSessionDescriptor";
                let sdp = match &self.objects[object].media {
                    ObjMedia::Rtp { negotiated: Some((l, r)), .. } => Some(if local { l.clone() } else { r.clone() }),
                    ObjMedia::Rtp { offer: Some(o), .. } if local => Some(o.sdp.clone()),
                    ObjMedia::WebRtc(v) => {
                        if local {
                            v.local_sdp()
                        } else {
                            v.remote_sdp()
                        }
                    }
                    _ => None,
                };
                sdp.map(Value::String).ok_or_else(|| {
                    if local {
                        kerr(K::SdpEndPointNoLocalSdpError, "Local SDP not set")
                    } else {
                        kerr(K::SdpEndPointNoRemoteSdpError, "Remote SDP not set")
                    }
                })
            }
            _ if class == Class::WebRtcEndpoint => self.invoke_webrtc(object, op, params, &unknown),
            _ => Err(unknown()),
        }
    }

    fn invoke_webrtc(
        &mut self,
        object: &str,
        op: &str,
        params: Option<&Map<String, Value>>,
        unknown: &dyn Fn() -> RpcError,
    ) -> RpcResult {
        let ObjMedia::WebRtc(v) = &self.objects[object].media else { return Err(unknown()) };
        let v = v.clone();
        match op {
            "gatherCandidates" => {
                v.gather_candidates();
                Ok(Value::Null)
            }
            "addIceCandidate" => {
                let m = params.ok_or_else(|| marshall("'operationParams' is required"))?;
                let c = match m.get("candidate") {
                    Some(Value::Object(c)) => c,
                    None | Some(Value::Null) => return Err(marshall("'candidate' parameter is required")),
                    Some(_) => return Err(marshall("'candidate' parameter should be a IceCandidate")),
                };
                let cand = op_str(c, "candidate")?;
                op_str(c, "sdpMid")?;
                if !c.get("sdpMLineIndex").is_some_and(|i| i.is_i64() || i.is_u64()) {
                    return Err(marshall("'sdpMLineIndex' parameter should be a integer"));
                }
                v.add_ice_candidate(cand)
                    .map_err(|e| kerr(K::IceAddCandidateError, format!("Error adding candidate: {e}")))?;
                Ok(Value::Null)
            }
            "getIceConnectionState" => Ok(
                json!([{"__module__": "kurento", "__type__": "IceConnection", "streamId": "1", "componentId": 1, "state": v.ice_state()}]),
            ),
            "getICECandidatePairs" => Ok(json!([])),
            "createDataChannel" | "closeDataChannel" => {
                Err(kerr(K::MediaObjectOperationNotSupported, "Data channels are not supported by this engine"))
            }
            _ => Err(unknown()),
        }
    }

    /// An offer was processed or generated (a second negotiation is 40208).
    pub(super) fn is_negotiated(&self, object: &str) -> bool {
        match &self.objects[object].media {
            ObjMedia::Rtp { negotiated, offer, .. } => negotiated.is_some() || offer.is_some(),
            ObjMedia::WebRtc(v) => v.local_sdp().is_some(),
            ObjMedia::None => false,
        }
    }

    /// The camera stream a WebRtcEndpoint will carry: its connected VIDEO source, else the
    /// single negotiated RtpEndpoint of its pipeline.
    pub(super) fn stream_for(&self, sink: &str) -> Option<Arc<RtpSource>> {
        let src_of = |o: &super::Obj| match &o.media {
            ObjMedia::Rtp { source: Some(s), .. } => Some(s.clone()),
            _ => None,
        };
        if let Some(s) =
            self.objects.values().filter(|o| o.sinks.iter().any(|(s, t)| s == sink && *t == "VIDEO")).find_map(src_of)
        {
            return Some(s);
        }
        let pipe = self.objects.get(sink)?.parent.clone()?;
        let sources: Vec<_> =
            self.objects[&pipe].children.iter().filter_map(|c| self.objects.get(c)).filter_map(src_of).collect();
        (sources.len() == 1).then(|| sources[0].clone())
    }

    pub(super) fn connect(&mut self, source: &str, sink: &str, types: &[&'static str]) {
        for t in types {
            // A sink has at most one source per media type: the new one replaces the old.
            let old: Vec<String> = self
                .objects
                .iter()
                .filter(|(_, o)| o.sinks.iter().any(|(s, mt)| s == sink && mt == t))
                .map(|(k, _)| k.clone())
                .collect();
            for o in old.iter().filter(|o| *o != source) {
                self.disconnect(o, sink, &[t]);
            }
            let src = self.objects.get_mut(source).expect("checked by the caller");
            if !src.sinks.iter().any(|(s, mt)| s == sink && mt == t) {
                src.sinks.push((sink.to_string(), t));
                self.ctx.events.emit(source, "ElementConnected", json!({"sink": sink, "mediaType": t, "sourceMediaDescription": "default", "sinkMediaDescription": "default"}));
            }
        }
        if types.contains(&"VIDEO") {
            if let (ObjMedia::Rtp { source: Some(src), .. }, ObjMedia::WebRtc(v)) =
                (&self.objects[source].media, &self.objects[sink].media)
            {
                if let Some(c) = v.negotiated_codec().filter(|c| *c != src.codec()) {
                    // Kurento would transcode; this engine only forwards, so say so where the
                    // controller listens for trouble.
                    self.ctx.events.emit(
                        sink,
                        "Error",
                        json!({"description": format!("the viewer negotiated {} but the camera sends {}; transcoding is not supported", c.name(), src.codec().name()), "errorCode": K::ConnectError.code(), "type": "CONNECT_ERROR"}),
                    );
                }
                src.add_viewer(v);
                v.set_source(Some(src));
            }
        }
    }

    fn disconnect(&mut self, source: &str, sink: &str, types: &[&'static str]) {
        let Some(src) = self.objects.get_mut(source) else { return };
        let before = src.sinks.len();
        src.sinks.retain(|(s, t)| !(s == sink && types.contains(t)));
        if src.sinks.len() != before {
            for t in types {
                self.ctx.events.emit(source, "ElementDisconnected", json!({"sink": sink, "mediaType": t, "sourceMediaDescription": "default", "sinkMediaDescription": "default"}));
            }
        }
        if types.contains(&"VIDEO") {
            if let (Some(ObjMedia::Rtp { source: Some(src), .. }), Some(ObjMedia::WebRtc(v))) =
                (self.objects.get(source).map(|o| &o.media), self.objects.get(sink).map(|o| &o.media))
            {
                src.remove_viewer(&v.id);
                v.set_source(None);
            }
        }
    }

    fn stats_of(&self, object: &str) -> Value {
        let ts = now_millis();
        let mut out = Map::new();
        let id = format!("{object}_stats");
        match &self.objects[object].media {
            ObjMedia::Rtp { source: Some(s), .. } => {
                let st = &s.stats;
                out.insert(
                    format!("{id}_inbound"),
                    json!({"__module__": "kurento", "__type__": "RTCInboundRTPStreamStats", "id": format!("{id}_inbound"), "type": "inboundrtp", "timestampMillis": ts,
                        "ssrc": st.ssrc.load(Ordering::Relaxed).to_string(), "codecId": s.codec().name(), "isRemote": false, "mediaTrackId": "video", "kind": "video",
                        "packetsReceived": st.packets.load(Ordering::Relaxed), "bytesReceived": st.bytes.load(Ordering::Relaxed), "packetsLost": 0, "jitter": 0, "fractionLost": 0,
                        "pliCount": st.plis_sent.load(Ordering::Relaxed), "firCount": 0, "nackCount": 0, "remb": 0, "sliCount": 0,
                        "keyframeRequests": st.keyframe_requests.load(Ordering::Relaxed), "invalidPackets": st.garbage.load(Ordering::Relaxed),
                        "foreignPackets": st.foreign.load(Ordering::Relaxed), "viewers": s.viewer_count()}),
                );
            }
            ObjMedia::WebRtc(v) => {
                let st = v.stats();
                out.insert(
                    format!("{id}_outbound"),
                    json!({"__module__": "kurento", "__type__": "RTCOutboundRTPStreamStats", "id": format!("{id}_outbound"), "type": "outboundrtp", "timestampMillis": ts,
                        "ssrc": v.ssrc().map(|s| s.to_string()).unwrap_or_default(), "isRemote": false, "mediaTrackId": "video", "kind": "video",
                        "packetsSent": st.packets_sent.load(Ordering::Relaxed), "bytesSent": st.bytes_sent.load(Ordering::Relaxed),
                        "pliCount": st.plis_received.load(Ordering::Relaxed), "firCount": st.firs_received.load(Ordering::Relaxed), "nackCount": 0, "remb": 0, "sliCount": 0,
                        "fractionLost": 0, "packetsLost": 0, "targetBitrate": 0, "roundTripTime": 0,
                        "fastStartPackets": st.fast_start_packets.load(Ordering::Relaxed)}),
                );
            }
            _ => {}
        }
        out.insert(id.clone(), json!({"__module__": "kurento", "__type__": "EndpointStats", "id": id, "type": "endpoint", "timestampMillis": ts}));
        Value::Object(out)
    }

    fn invoke_server_manager(&mut self, op: &str, params: &Map<String, Value>) -> RpcResult {
        let module = |name: &str, factories: &[&str]| json!({"__module__": "kurento", "__type__": "ModuleInfo", "name": name, "version": VERSION, "generationTime": "camview-media-engine", "factories": factories});
        match op {
            "getInfo" => Ok(json!({
                "__module__": "kurento", "__type__": "ServerInfo", "version": VERSION, "type": "KMS", "capabilities": [],
                "modules": [
                    module("core", &["kurento.MediaPipeline"]),
                    module("elements", &["kurento.RtpEndpoint", "kurento.WebRtcEndpoint"]),
                    module("filters", &[]),
                ],
            })),
            "getPipelines" => Ok(json!(self
                .objects
                .iter()
                .filter(|(_, o)| o.class == Class::MediaPipeline)
                .map(|(k, _)| k.clone())
                .collect::<Vec<_>>())),
            "getSessions" => Ok(json!(self.sessions.keys().cloned().collect::<Vec<_>>())),
            "getMetadata" => Ok(json!("")),
            "getCpuCount" => Ok(json!(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))),
            "getUsedCpu" => {
                if !params.get("interval").is_some_and(Value::is_i64) {
                    return Err(marshall("'interval' parameter should be a integer"));
                }
                Ok(json!(0.0))
            }
            "getUsedMemory" => Ok(json!(0)),
            "getId" => Ok(json!(SERVER_MANAGER)),
            _ => {
                Err(kerr(K::MalformedTransaction, format!("Method '{op}' with {} parameters not found", params.len())))
            }
        }
    }
}
