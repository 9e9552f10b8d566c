//! Media elements: connections between them (`connect`, `disconnect`, `get*Connections`), flow
//! state, stats, and which camera stream a viewer carries (PROTOCOL.md §7.1).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use camview_proto::kurento::KurentoErrorCode as K;
use serde_json::{json, Map, Value};

use super::model::{Class, MediaType};
use super::{not_found, now_millis, Core, Obj, ObjMedia, RpcResult};
use crate::events::MediaEvent;
use crate::media::rtp_source::RtpSource;

/// `connect` without a media type links these, in this order.
const ALL_MEDIA: [MediaType; 3] = [MediaType::Audio, MediaType::Video, MediaType::Data];

fn types_or_all(media_type: Option<MediaType>) -> Vec<MediaType> {
    media_type.map_or_else(|| ALL_MEDIA.to_vec(), |t| vec![t])
}

fn connection_data(source: &str, sink: &str, t: MediaType) -> Value {
    json!({"__module__": "kurento", "__type__": "ElementConnectionData", "source": source, "sink": sink,
        "type": t.as_str(), "sourceDescription": "default", "sinkDescription": "default"})
}

impl Core {
    fn is_element(&self, id: &str) -> bool {
        self.objects.get(id).is_some_and(|o| o.class.is_a(Class::MediaElement))
    }

    pub(super) fn connect_op(&mut self, source: &str, sink: &str, media_type: Option<MediaType>) -> RpcResult {
        if !self.is_element(sink) {
            return Err(not_found(sink));
        }
        self.connect(source, sink, &types_or_all(media_type));
        Ok(Value::Null)
    }

    pub(super) fn disconnect_op(&mut self, source: &str, sink: &str, media_type: Option<MediaType>) -> RpcResult {
        if !self.is_element(sink) {
            return Err(not_found(sink));
        }
        self.disconnect(source, sink, &types_or_all(media_type));
        Ok(Value::Null)
    }

    pub(super) fn sink_connections(&self, object: &str, filter: Option<MediaType>) -> Value {
        let links = self.objects[object].sinks.iter().filter(|(_, t)| filter.is_none_or(|f| f == *t));
        json!(links.map(|(sink, t)| connection_data(object, sink, *t)).collect::<Vec<_>>())
    }

    pub(super) fn source_connections(&self, object: &str, filter: Option<MediaType>) -> Value {
        let links = self.objects.iter().flat_map(|(src, o)| {
            o.sinks.iter().filter(|(s, t)| s == object && filter.is_none_or(|f| f == *t)).map(move |(_, t)| (src, *t))
        });
        json!(links.map(|(src, t)| connection_data(src, object, t)).collect::<Vec<_>>())
    }

    /// `isMediaFlowingIn` (`inbound`) or `isMediaFlowingOut`; only video ever flows.
    pub(super) fn is_flowing(&self, object: &str, media_type: MediaType, inbound: bool) -> bool {
        if media_type != MediaType::Video {
            return false;
        }
        match &self.objects[object].media {
            ObjMedia::Rtp { source: Some(s), .. } => s.is_flowing(),
            ObjMedia::Rtp { sink: Some(s), .. } if !inbound => s.has_source(),
            ObjMedia::Player(p) => p.is_flowing(),
            ObjMedia::WebRtc(v) if inbound => v.flow_in(),
            ObjMedia::WebRtc(v) => v.flow_out(),
            _ => false,
        }
    }

    /// An offer was processed or generated (a second negotiation is 40208).
    pub(super) fn is_negotiated(&self, object: &str) -> bool {
        match &self.objects[object].media {
            ObjMedia::Rtp { negotiated, offer, .. } => negotiated.is_some() || offer.is_some(),
            ObjMedia::WebRtc(v) => v.local_sdp().is_some(),
            ObjMedia::None | ObjMedia::Player(_) => false,
        }
    }

    /// The camera stream a WebRtcEndpoint will carry: its connected VIDEO source, else the
    /// single negotiated RtpEndpoint of its pipeline.
    pub(super) fn stream_for(&self, sink: &str) -> Option<Arc<RtpSource>> {
        let src_of = |o: &Obj| o.media.feed();
        if let Some(s) = self
            .objects
            .values()
            .filter(|o| o.sinks.iter().any(|(s, t)| s == sink && *t == MediaType::Video))
            .find_map(src_of)
        {
            return Some(s);
        }
        let pipe = self.objects.get(sink)?.parent.clone()?;
        let sources: Vec<_> =
            self.objects[&pipe].children.iter().filter_map(|c| self.objects.get(c)).filter_map(src_of).collect();
        (sources.len() == 1).then(|| sources[0].clone())
    }

    pub(super) fn connect(&mut self, source: &str, sink: &str, types: &[MediaType]) {
        for &t in types {
            // A sink has at most one source per media type: the new one replaces the old.
            let old: Vec<String> = self
                .objects
                .iter()
                .filter(|(_, o)| o.sinks.iter().any(|(s, mt)| s == sink && *mt == t))
                .map(|(k, _)| k.clone())
                .collect();
            for o in old.iter().filter(|o| *o != source) {
                self.disconnect(o, sink, &[t]);
            }
            let src = self.objects.get_mut(source).expect("checked by the caller");
            if !src.sinks.iter().any(|(s, mt)| s == sink && *mt == t) {
                src.sinks.push((sink.to_string(), t));
                self.ctx.events.emit(source, MediaEvent::ElementConnected { sink: sink.to_string(), media_type: t });
            }
        }
        if types.contains(&MediaType::Video) {
            if let (ObjMedia::Rtp { source: Some(src), .. }, ObjMedia::WebRtc(v)) =
                (&self.objects[source].media, &self.objects[sink].media)
            {
                if let Some(c) = v.negotiated_codec().filter(|c| *c != src.codec()) {
                    // Kurento would transcode; this engine only forwards, so say so where the
                    // controller listens for trouble.
                    let description = format!(
                        "the viewer negotiated {} but the camera sends {}; transcoding is not supported",
                        c.name(),
                        src.codec().name()
                    );
                    self.ctx.events.emit(sink, MediaEvent::Error { description, code: K::ConnectError });
                }
                src.add_viewer(v);
                v.set_source(Some(src));
            }
            self.link_rtp_sink(source, sink);
            if let (ObjMedia::Player(p), ObjMedia::WebRtc(v)) = (&self.objects[source].media, &self.objects[sink].media)
            {
                p.add_viewer(v);
            }
        }
        if types.contains(&MediaType::Audio) {
            if let (ObjMedia::Rtp { audio: Some(src), .. }, ObjMedia::WebRtc(v)) =
                (&self.objects[source].media, &self.objects[sink].media)
            {
                src.add_viewer(v);
                v.set_audio_source(Some(src));
            }
            if let (ObjMedia::Player(p), ObjMedia::WebRtc(v)) = (&self.objects[source].media, &self.objects[sink].media)
            {
                p.add_audio_viewer(v);
            }
        }
    }

    /// Feeds RtpEndpoint `sink` (negotiated receive-only, see `media::rtp_sink`) from
    /// `source` (a negotiated RtpEndpoint, or a PlayerEndpoint whose camera is described) when
    /// both are ready; a codec the sink did not negotiate is reported as an `Error` event (this
    /// engine never transcodes) and nothing is sent.
    pub(super) fn link_rtp_sink(&self, source: &str, sink: &str) {
        let (Some(src), Some(ObjMedia::Rtp { sink: Some(out), .. })) =
            (self.objects.get(source).and_then(|o| camera_stream(&o.media)), self.objects.get(sink).map(|o| &o.media))
        else {
            return;
        };
        let src = &src;
        if out.codec != src.codec() {
            let description = format!(
                "the RtpEndpoint negotiated {} but its source sends {}; transcoding is not supported",
                out.codec.name(),
                src.codec().name()
            );
            self.ctx.events.emit(sink, MediaEvent::Error { description, code: K::ConnectError });
            return;
        }
        src.add_sink(out);
        out.set_source(Some(src));
    }

    pub(super) fn disconnect(&mut self, source: &str, sink: &str, types: &[MediaType]) {
        let Some(src) = self.objects.get_mut(source) else { return };
        let before = src.sinks.len();
        src.sinks.retain(|(s, t)| !(s == sink && types.contains(t)));
        if src.sinks.len() != before {
            for &t in types {
                self.ctx.events.emit(source, MediaEvent::ElementDisconnected { sink: sink.to_string(), media_type: t });
            }
        }
        if types.contains(&MediaType::Video) {
            if let (Some(ObjMedia::Rtp { source: Some(src), .. }), Some(ObjMedia::WebRtc(v))) =
                (self.objects.get(source).map(|o| &o.media), self.objects.get(sink).map(|o| &o.media))
            {
                src.remove_viewer(&v.id);
                v.set_source(None);
            }
            if let (Some(src), Some(ObjMedia::Rtp { sink: Some(out), .. })) = (
                self.objects.get(source).and_then(|o| camera_stream(&o.media)),
                self.objects.get(sink).map(|o| &o.media),
            ) {
                src.remove_sink(&out.id);
                out.set_source(None);
            }
            if let (Some(ObjMedia::Player(p)), Some(ObjMedia::WebRtc(v))) =
                (self.objects.get(source).map(|o| &o.media), self.objects.get(sink).map(|o| &o.media))
            {
                p.remove_viewer(&v.id);
                v.set_source(None);
            }
        }
        if types.contains(&MediaType::Audio) {
            if let (Some(ObjMedia::Rtp { audio: Some(src), .. }), Some(ObjMedia::WebRtc(v))) =
                (self.objects.get(source).map(|o| &o.media), self.objects.get(sink).map(|o| &o.media))
            {
                src.remove_viewer(&v.id);
                v.set_audio_source(None);
            }
            if let (Some(ObjMedia::Player(p)), Some(ObjMedia::WebRtc(v))) =
                (self.objects.get(source).map(|o| &o.media), self.objects.get(sink).map(|o| &o.media))
            {
                p.remove_audio_viewer(&v.id);
                v.set_audio_source(None);
            }
        }
    }

    pub(super) fn stats_of(&self, object: &str, filter: Option<MediaType>) -> Value {
        let ts = now_millis();
        let mut out = Map::new();
        let id = format!("{object}_stats");
        let media = &self.objects[object].media;
        match (media, media.feed()) {
            (ObjMedia::Rtp { .. } | ObjMedia::Player(_), Some(s)) if filter.is_none_or(|f| f == MediaType::Video) => {
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
            (ObjMedia::WebRtc(v), _) => {
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
        if let (ObjMedia::Player(p), None | Some(MediaType::Audio)) = (media, filter) {
            if let Some(audio) = p.camera_audio() {
                out.insert(
                    format!("{id}_inbound_audio"),
                    player_audio_stats(&id, ts, &audio, p.audio_source().as_deref()),
                );
            }
        }
        out.insert(id.clone(), json!({"__module__": "kurento", "__type__": "EndpointStats", "id": id, "type": "endpoint", "timestampMillis": ts}));
        Value::Object(out)
    }
}

/// A PlayerEndpoint's camera audio as `getStats` reports it: its `codecId` is the camera's
/// `rtpmap` encoding (`PCMU/8000`, `mpeg4-generic/48000/2`), which tells the controller what the
/// stream's audio is; counters are zero for audio that is only described (AAC).
fn player_audio_stats(
    id: &str,
    ts: i64,
    audio: &crate::media::player::CameraAudioInfo,
    src: Option<&RtpSource>,
) -> Value {
    let count = |f: fn(&crate::media::rtp_source::SourceStats) -> u64| src.map_or(0, |s| f(&s.stats));
    json!({"__module__": "kurento", "__type__": "RTCInboundRTPStreamStats", "id": format!("{id}_inbound_audio"), "type": "inboundrtp", "timestampMillis": ts,
        "ssrc": count(|s| u64::from(s.ssrc.load(Ordering::Relaxed))).to_string(), "codecId": audio.encoding, "isRemote": false, "mediaTrackId": "audio", "kind": "audio",
        "packetsReceived": count(|s| s.packets.load(Ordering::Relaxed)), "bytesReceived": count(|s| s.bytes.load(Ordering::Relaxed)),
        "packetsLost": 0, "jitter": 0, "fractionLost": 0, "pliCount": 0, "firCount": 0, "nackCount": 0, "remb": 0, "sliCount": 0,
        "forwarded": audio.codec.is_some(), "viewers": src.map_or(0, |s| s.viewer_count())})
}

/// The camera stream an element carries: a negotiated RtpEndpoint's, or a PlayerEndpoint's
/// once its camera is described.
pub(super) fn camera_stream(media: &ObjMedia) -> Option<std::sync::Arc<crate::media::rtp_source::RtpSource>> {
    match media {
        ObjMedia::Rtp { source: Some(src), .. } => Some(src.clone()),
        ObjMedia::Player(p) => p.source(),
        _ => None,
    }
}
