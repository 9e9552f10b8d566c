//! The object registry: `create` (typed constructors), `describe`, `subscribe`, `release` and
//! `closeSession` (PROTOCOL.md §5, §8, §3.3).

use std::collections::{HashMap, HashSet};

use camview_proto::kurento::{KurentoErrorCode as K, RpcError};
use serde_json::{json, Map, Value};

use super::model::{Class, Constructor};
use super::{kerr, not_found, now_millis, Core, Obj, ObjMedia, RpcResult, Sub, SERVER_MANAGER};
use crate::media::player::{Player, PlayerDeps};
use crate::media::webrtc::Viewer;

impl Core {
    pub(super) fn create(&mut self, sid: &str, ctor: Constructor) -> RpcResult {
        let uuid = uuid::Uuid::new_v4();
        let class = ctor.class();
        let (id, parent, media) = match ctor {
            Constructor::MediaPipeline(_) => (format!("{uuid}_kurento.MediaPipeline"), None, ObjMedia::None),
            Constructor::RtpEndpoint(p) => {
                self.check_pipeline(&p.media_pipeline)?;
                if p.crypto.is_some_and(|c| c.key.is_some() || c.key_base64.is_some() || c.crypto.is_some()) {
                    return Err(kerr(K::MediaObjectIllegalParamError, "SRTP (crypto) is not supported by this engine"));
                }
                let id = format!("{}/{uuid}_kurento.RtpEndpoint", p.media_pipeline);
                (
                    id,
                    Some(p.media_pipeline),
                    ObjMedia::Rtp { negotiated: None, source: None, offer: None, sink: None, audio: None },
                )
            }
            Constructor::PlayerEndpoint(p) => {
                self.check_pipeline(&p.media_pipeline)?;
                let id = format!("{}/{uuid}_kurento.PlayerEndpoint", p.media_pipeline);
                let player = Player::new(id.clone(), &p.uri, self.player_deps())
                    .map_err(|e| kerr(K::MediaObjectIllegalParamError, format!("Cannot play this URI: {e}")))?;
                (id, Some(p.media_pipeline), ObjMedia::Player(player))
            }
            Constructor::WebRtcEndpoint(p) => {
                self.check_pipeline(&p.media_pipeline)?;
                let id = format!("{}/{uuid}_kurento.WebRtcEndpoint", p.media_pipeline);
                let v = Viewer::new(id.clone(), &self.ctx.mux, self.ctx.events.clone())
                    .map_err(|e| kerr(K::NotEnoughResources, format!("cannot bind a WebRTC port: {e}")))?;
                (id, Some(p.media_pipeline), ObjMedia::WebRtc(v))
            }
        };
        if let Some(pp) = parent.as_ref().and_then(|p| self.objects.get_mut(p)) {
            pp.children.push(id.clone());
        }
        self.objects.insert(
            id.clone(),
            Obj {
                class,
                parent,
                children: vec![],
                props: HashMap::new(),
                tags: vec![],
                refs: HashSet::from([sid.to_string()]),
                creation_time: now_millis() / 1000,
                sinks: vec![],
                media,
            },
        );
        Ok(json!(id))
    }

    fn player_deps(&self) -> PlayerDeps {
        PlayerDeps {
            flow_timeout: self.ctx.cfg.flow_timeout,
            gop_cache_packets: self.ctx.cfg.gop_cache_packets,
            events: self.ctx.events.clone(),
            counters: self.ctx.counters.clone(),
            workers: self.ctx.mux.workers.clone(),
            transport: self.ctx.cfg.rtsp_transport,
        }
    }

    fn check_pipeline(&self, pipe: &str) -> Result<(), RpcError> {
        match self.objects.get(pipe) {
            Some(o) if o.class == Class::MediaPipeline => Ok(()),
            _ => Err(kerr(K::MediaObjectNotFound, format!("Object '{pipe}' not found"))),
        }
    }

    /// The class of `object`, now also referenced by session `sid` (the server manager is
    /// everyone's and counts no references).
    fn reference(&mut self, sid: &str, object: &str) -> Result<Class, RpcError> {
        if object == SERVER_MANAGER {
            return Ok(Class::ServerManager);
        }
        let o = self.objects.get_mut(object).ok_or_else(|| not_found(object))?;
        o.refs.insert(sid.to_string());
        Ok(o.class)
    }

    pub(super) fn describe(&mut self, sid: &str, object: &str) -> Result<Map<String, Value>, RpcError> {
        let class = self.reference(sid, object)?;
        let mut m = Map::new();
        m.insert("hierarchy".into(), json!(class.hierarchy()));
        m.insert("qualifiedType".into(), json!(format!("kurento.{}", class.name())));
        m.insert("type".into(), json!(class.name()));
        Ok(m)
    }

    pub(super) fn subscribe(&mut self, sid: &str, object: &str, kind: &str) -> RpcResult {
        let class = self.reference(sid, object)?;
        if !class.raises(kind) {
            return Err(kerr(K::MediaObjectEventNotSupported, format!("Event '{kind}' not supported")));
        }
        let sub = uuid::Uuid::new_v4().to_string();
        self.subs
            .insert(sub.clone(), Sub { session: sid.to_string(), object: object.to_string(), kind: kind.to_string() });
        Ok(json!(sub))
    }

    /// Releases `id` and, for a pipeline, its children. Unknown ids are ignored (Kurento
    /// swallows those errors).
    pub(crate) fn release(&mut self, id: &str) {
        let Some(obj) = self.objects.remove(id) else { return };
        for child in &obj.children {
            self.release(child);
        }
        if let Some(p) = obj.parent.as_ref().and_then(|p| self.objects.get_mut(p)) {
            p.children.retain(|c| c != id);
        }
        // Drop every connection to or from this element.
        let feeders: Vec<String> =
            self.objects.iter().filter(|(_, o)| o.sinks.iter().any(|(s, _)| s == id)).map(|(k, _)| k.clone()).collect();
        for f in feeders {
            if let Some(o) = self.objects.get_mut(&f) {
                o.sinks.retain(|(s, _)| s != id);
            }
            match (self.objects.get(&f).map(|o| &o.media), &obj.media) {
                (Some(ObjMedia::Rtp { source, audio, .. }), ObjMedia::WebRtc(_)) => {
                    for src in [source, audio].into_iter().flatten() {
                        src.remove_viewer(id);
                    }
                }
                (Some(feeder), ObjMedia::Rtp { .. }) => {
                    if let Some(src) = super::element::camera_stream(feeder) {
                        src.remove_sink(id);
                    }
                }
                _ => {}
            }
            if let Some(ObjMedia::Player(p)) = self.objects.get(&f).map(|o| &o.media) {
                p.remove_viewer(id);
                p.remove_audio_viewer(id);
            }
        }
        for (sink, _) in &obj.sinks {
            match self.objects.get(sink).map(|o| &o.media) {
                Some(ObjMedia::WebRtc(v)) => {
                    v.set_source(None);
                    v.set_audio_source(None);
                }
                Some(ObjMedia::Rtp { sink: Some(s), .. }) => s.set_source(None),
                _ => {}
            }
        }
        match &obj.media {
            ObjMedia::Rtp { source, audio, sink, .. } => {
                [source, audio].into_iter().flatten().for_each(|s| s.stop());
                if let Some(sink) = sink {
                    sink.stop();
                }
            }
            ObjMedia::WebRtc(v) => v.stop(),
            ObjMedia::Player(p) => p.release(),
            _ => {}
        }
        self.subs.retain(|_, s| s.object != id);
    }

    pub(super) fn close_session(&mut self, sid: &str, release_all: bool) {
        let ids: Vec<String> =
            self.objects.iter().filter(|(_, o)| o.refs.contains(sid)).map(|(k, _)| k.clone()).collect();
        for id in ids {
            let Some(o) = self.objects.get_mut(&id) else { continue };
            o.refs.remove(sid);
            if release_all || o.refs.is_empty() {
                self.release(&id);
            }
        }
        self.subs.retain(|_, s| s.session != sid);
    }
}
