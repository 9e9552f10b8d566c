//! `invoke` (PROTOCOL.md §5–§7): the operation is typed by [`Operation::parse`] against the
//! object's class, then handled by one small function per operation (properties and tags here,
//! elements in `element.rs`, negotiation in `negotiate.rs`, the server manager in
//! `server_manager.rs`).

use std::sync::Arc;

use camview_proto::kurento::KurentoErrorCode as K;
use serde_json::{json, Map, Value};

use super::model::{AddIceCandidateParams, AddTagParams, Class, Operation, Property, SetProperty};
use super::params::Params;
use super::{kerr, not_found, Core, ObjMedia, RpcResult, SERVER_MANAGER};
use crate::config::Settings;
use crate::media::player::Player;

impl Core {
    pub(super) fn invoke(
        &mut self,
        sid: &str,
        object: &str,
        operation: &str,
        params: Option<&Map<String, Value>>,
    ) -> RpcResult {
        let params = Params::new(params);
        if object == SERVER_MANAGER {
            let op = Operation::parse(Class::ServerManager, operation, &params)?;
            return self.invoke_server_manager(op, operation, &params);
        }
        let o = self.objects.get_mut(object).ok_or_else(|| not_found(object))?;
        o.refs.insert(sid.to_string());
        let op = Operation::parse(o.class, operation, &params)?;
        match op {
            Operation::Get(p) => self.get_property(object, p, operation, &params),
            Operation::Set(v) => self.set_property(object, v),
            Operation::AddTag(p) => self.add_tag(object, p),
            Operation::RemoveTag(p) => self.remove_tag(object, &p.key),
            Operation::GetTag(p) => self.get_tag(object, &p.key),
            Operation::GetTags => Ok(self.get_tags(object)),
            // There is no GStreamer graph to show.
            Operation::GetGstreamerDot(_) | Operation::DumpGstreamerDot(_) => Ok(json!("")),
            Operation::Connect(p) => self.connect_op(object, &p.sink, p.media_type),
            Operation::Disconnect(p) => self.disconnect_op(object, &p.sink, p.media_type),
            Operation::GetSourceConnections(p) => Ok(self.source_connections(object, p.media_type)),
            Operation::GetSinkConnections(p) => Ok(self.sink_connections(object, p.media_type)),
            Operation::IsMediaFlowingIn(p) => Ok(json!(self.is_flowing(object, p.media_type, true))),
            Operation::IsMediaFlowingOut(p) => Ok(json!(self.is_flowing(object, p.media_type, false))),
            // Media is forwarded, never re-encoded.
            Operation::IsMediaTranscoding(_) => Ok(json!(false)),
            Operation::GetStats(p) => Ok(self.stats_of(object, p.media_type)),
            Operation::RequestKeyframe => self.request_keyframe(object),
            Operation::ProcessOffer(p) => self.process_offer(object, &p.offer),
            Operation::GenerateOffer(_) => self.generate_offer(object),
            Operation::ProcessAnswer(p) => self.process_answer(object, &p.answer),
            Operation::GetLocalSessionDescriptor => self.session_descriptor(object, true),
            Operation::GetRemoteSessionDescriptor => self.session_descriptor(object, false),
            Operation::GatherCandidates => self.gather_candidates(object, operation, &params),
            Operation::AddIceCandidate(p) => self.add_ice_candidate(object, p, operation, &params),
            Operation::Play => self.player_op(object, operation, &params, Player::play),
            Operation::Pause | Operation::Stop => self.player_op(object, operation, &params, |p| p.stop()),
            Operation::CreateDataChannel(_) | Operation::CloseDataChannel(_) => {
                Err(kerr(K::MediaObjectOperationNotSupported, "Data channels are not supported by this engine"))
            }
            // Declared by the server manager only, handled above.
            Operation::GetCpuCount | Operation::GetUsedCpu(_) | Operation::GetUsedMemory => {
                Err(params.unknown_operation(operation))
            }
        }
    }

    fn get_property(&self, object: &str, p: Property, operation: &str, params: &Params) -> RpcResult {
        let o = &self.objects[object];
        Ok(match p {
            Property::Id => json!(object),
            Property::MediaPipeline => json!(o.parent.clone().unwrap_or_else(|| object.to_string())),
            Property::Parent => o.parent.clone().map_or(Value::Null, |p| json!(p)),
            Property::Children => json!(o.children),
            Property::CreationTime => json!(o.creation_time),
            Property::MediaState | Property::ConnectionState => {
                let connected = match &o.media {
                    ObjMedia::Rtp { source: Some(s), .. } => {
                        s.rtcp_seen() || (p == Property::ConnectionState && s.is_flowing())
                    }
                    ObjMedia::WebRtc(v) => v.is_connected(),
                    ObjMedia::Player(p) => p.is_flowing(),
                    _ => false,
                };
                json!(if connected { "CONNECTED" } else { "DISCONNECTED" })
            }
            Property::IceConnectionState => match &o.media {
                ObjMedia::WebRtc(v) => {
                    json!([{"__module__": "kurento", "__type__": "IceConnection", "streamId": "1", "componentId": 1, "state": v.ice_state()}])
                }
                _ => return Err(params.unknown_operation(operation)),
            },
            Property::ICECandidatePairs => json!([]),
            Property::Info | Property::Pipelines | Property::Sessions | Property::Metadata => {
                return Err(params.unknown_operation(operation))
            }
            Property::Name => o.props.get(&p).map_or_else(|| json!(object), SetProperty::to_value),
            stored => o.props.get(&stored).map_or_else(|| default_value(stored, &self.ctx.cfg), SetProperty::to_value),
        })
    }

    fn set_property(&mut self, object: &str, value: SetProperty) -> RpcResult {
        let o = self.objects.get_mut(object).expect("looked up by invoke");
        o.props.insert(value.property(), value);
        Ok(Value::Null)
    }

    fn add_tag(&mut self, object: &str, p: AddTagParams) -> RpcResult {
        let o = self.objects.get_mut(object).expect("looked up by invoke");
        o.tags.retain(|(k, _)| *k != p.key);
        o.tags.push((p.key, p.value));
        Ok(Value::Null)
    }

    fn remove_tag(&mut self, object: &str, key: &str) -> RpcResult {
        self.objects.get_mut(object).expect("looked up by invoke").tags.retain(|(k, _)| k != key);
        Ok(Value::Null)
    }

    fn get_tag(&self, object: &str, key: &str) -> RpcResult {
        let tags = &self.objects[object].tags;
        let found = tags.iter().find(|(k, _)| k == key).map(|(_, v)| json!(v));
        found.ok_or_else(|| kerr(K::MediaObjectTagKeyNotFound, format!("Tag '{key}' not found")))
    }

    fn get_tags(&self, object: &str) -> Value {
        let tags = &self.objects[object].tags;
        json!(tags
            .iter()
            .map(|(k, v)| json!({"__module__": "kurento", "__type__": "Tag", "key": k, "value": v}))
            .collect::<Vec<_>>())
    }

    fn request_keyframe(&self, object: &str) -> RpcResult {
        match &self.objects[object].media {
            ObjMedia::WebRtc(v) if v.request_keyframe() => Ok(Value::Null),
            _ => Err(kerr(
                K::MediaObjectOperationNotSupported,
                "Keyframe request failed (must be requested from a subscriber element)",
            )),
        }
    }

    fn session_descriptor(&self, object: &str, local: bool) -> RpcResult {
        let sdp = match &self.objects[object].media {
            ObjMedia::Rtp { negotiated: Some((l, r)), .. } => Some(if local { l.clone() } else { r.clone() }),
            ObjMedia::Rtp { offer: Some(o), .. } if local => Some(o.sdp.clone()),
            ObjMedia::WebRtc(v) if local => v.local_sdp(),
            ObjMedia::WebRtc(v) => v.remote_sdp(),
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

    /// `play`, `pause` and `stop` of a PlayerEndpoint (the only UriEndpoint).
    fn player_op(&self, object: &str, operation: &str, params: &Params, op: impl Fn(&Arc<Player>)) -> RpcResult {
        let ObjMedia::Player(p) = &self.objects[object].media else { return Err(params.unknown_operation(operation)) };
        op(p);
        Ok(Value::Null)
    }

    fn gather_candidates(&self, object: &str, operation: &str, params: &Params) -> RpcResult {
        let ObjMedia::WebRtc(v) = &self.objects[object].media else { return Err(params.unknown_operation(operation)) };
        v.gather_candidates();
        Ok(Value::Null)
    }

    fn add_ice_candidate(&self, object: &str, p: AddIceCandidateParams, operation: &str, params: &Params) -> RpcResult {
        let ObjMedia::WebRtc(v) = &self.objects[object].media else { return Err(params.unknown_operation(operation)) };
        v.add_ice_candidate(&p.candidate.candidate)
            .map_err(|e| kerr(K::IceAddCandidateError, format!("Error adding candidate: {e}")))?;
        Ok(Value::Null)
    }
}

/// What a stored property reads before anyone sets it (`name` defaults to the object id).
fn default_value(p: Property, cfg: &Settings) -> Value {
    match p {
        Property::EncoderBitrate => json!(300000),
        Property::MinVideoSendBandwidth => json!(100),
        Property::MaxVideoSendBandwidth => json!(500),
        Property::Mtu => json!(1200),
        Property::MinEncoderBitrate
        | Property::MaxEncoderBitrate
        | Property::MaxAudioRecvBandwidth
        | Property::MaxVideoRecvBandwidth
        | Property::MinVideoRecvBandwidth => json!(0),
        Property::SendTagsInEvents | Property::LatencyStats => json!(false),
        Property::IceTcp => json!(true),
        Property::StunServerAddress => json!(cfg.stun_address),
        Property::StunServerPort => json!(cfg.stun_port),
        Property::TurnUrl => json!(cfg.turn_url),
        Property::ExternalIPv4 => json!(cfg.announced_ipv4.map(|ip| ip.to_string()).unwrap_or_default()),
        Property::ExternalIPv6 | Property::NetworkInterfaces => json!(""),
        _ => Value::Null,
    }
}
