//! SDP negotiation of endpoints: `processOffer`, `generateOffer`, `processAnswer`
//! (PROTOCOL.md §6, §7.2–§7.4).

use std::net::{IpAddr, Ipv4Addr, UdpSocket};

use camview_proto::kurento::{KurentoErrorCode as K, RpcError};
use serde_json::json;

use super::model::{MediaType, Property, SetProperty};
use super::{kerr, now_millis, Core, ObjMedia, RpcResult};
use crate::error::{already_negotiated, answer_error, offer_error, parse};
use crate::events::MediaEvent;
use crate::media::ports;
use crate::media::rtp_sink::RtpSink;
use crate::media::rtp_source::RtpSource;
use crate::media::webrtc::{AnswerError, OfferError};
use crate::sdp::{self, CameraVideo};

/// An RtpEndpoint's generated offer: its SDP and the RTP/RTCP sockets it names, held until the
/// answer arrives (then `sockets` is `None`).
pub(crate) struct RtpOffer {
    pub sdp: String,
    sockets: Option<(UdpSocket, UdpSocket)>,
    ssrc: u32,
}

impl Core {
    /// `externalIPv4` (property, else KMS_EXTERNAL_IPV4), announced as a server-reflexive
    /// candidate beside the host ones.
    fn announced_ipv4(&self, object: &str) -> Option<IpAddr> {
        let announced = match self.objects[object].props.get(&Property::ExternalIPv4) {
            Some(SetProperty::ExternalIPv4(s)) => s.parse::<Ipv4Addr>().ok(),
            _ => self.ctx.cfg.announced_ipv4,
        };
        announced.map(IpAddr::V4)
    }

    pub(super) fn process_offer(&mut self, object: &str, offer: &str) -> RpcResult {
        if self.is_negotiated(object) {
            return Err(already_negotiated());
        }
        match &self.objects[object].media {
            ObjMedia::WebRtc(v) => {
                let v = v.clone();
                let stream = self.stream_for(object);
                let answer =
                    v.process_offer(offer, stream.as_ref(), self.announced_ipv4(object)).map_err(offer_error)?;
                self.ctx.events.emit(object, MediaEvent::MediaSessionStarted);
                Ok(json!(answer))
            }
            ObjMedia::Rtp { .. } => {
                let parsed = parse(offer, "offer")?;
                let cfg = self.ctx.cfg.clone();
                let probe = sdp::rtp_answer(&parsed, cfg.external_ip, 0, 0, 0);
                let ssrc: u32 = rand::random();
                let version = now_millis() as u64 / 1000;
                if probe.video.as_ref().is_some_and(|v| v.peer_receives_only) {
                    return self.process_receive_only_offer(object, offer, &parsed, ssrc, version);
                }
                let (answer, source) = match probe.video {
                    None => (sdp::rtp_answer(&parsed, cfg.external_ip, 0, ssrc, version), None),
                    Some(_) => {
                        let (rtp, rtcp) = self.bind_rtp_pair(K::SdpEndPointProcessOfferError)?;
                        let port =
                            rtp.local_addr().map_err(|e| kerr(K::SdpEndPointProcessOfferError, e.to_string()))?.port();
                        // The camera's G.711/Opus audio gets its own port pair (as Kurento's).
                        let audio_pair = match probe.audio_codec {
                            Some(_) => Some(self.bind_rtp_pair(K::SdpEndPointProcessOfferError)?),
                            None => None,
                        };
                        let audio_port = audio_pair.as_ref().and_then(|(a, _)| a.local_addr().ok()).map(|a| a.port());
                        let a = sdp::rtp_answer_av(&parsed, cfg.external_ip, port, audio_port, ssrc, version);
                        let video = a.video.clone().expect("the same offer was accepted by the probe");
                        let code = K::SdpEndPointProcessOfferError;
                        (a, Some((self.start_rtp_source(object, video, rtp, rtcp, ssrc, code)?, audio_pair)))
                    }
                };
                let (source, audio) = match (source, &answer.audio) {
                    (Some((video, Some((rtp, rtcp)))), Some(a)) => {
                        let audio = self.start_audio_source(object, a.clone(), rtp, rtcp, ssrc.wrapping_add(1))?;
                        (Some(video), Some(audio))
                    }
                    (Some((video, _)), _) => (Some(video), None),
                    (None, _) => (None, None),
                };
                let answer = answer.sdp;
                self.rtp_negotiated(object, answer.clone(), offer.to_string(), source, None);
                self.rtp_audio_negotiated(object, audio);
                Ok(json!(answer))
            }
            ObjMedia::None | ObjMedia::Player(_) => {
                Err(kerr(K::MalformedTransaction, "Method 'processOffer' with 1 parameters not found"))
            }
        }
    }

    pub(super) fn generate_offer(&mut self, object: &str) -> RpcResult {
        if self.is_negotiated(object) {
            return Err(already_negotiated());
        }
        match &self.objects[object].media {
            ObjMedia::WebRtc(v) => {
                let v = v.clone();
                let stream = self.stream_for(object);
                let offer = v.generate_offer(stream.as_ref(), self.announced_ipv4(object)).map_err(|e| match e {
                    OfferError::AlreadyNegotiated => already_negotiated(),
                    OfferError::Parse(m) | OfferError::Process(m) => kerr(K::SdpEndPointGenerateOfferError, m),
                })?;
                Ok(json!(offer))
            }
            ObjMedia::Rtp { .. } => {
                let (rtp, rtcp) = self.bind_rtp_pair(K::SdpEndPointGenerateOfferError)?;
                let port = rtp.local_addr().map_err(|e| kerr(K::SdpEndPointGenerateOfferError, e.to_string()))?.port();
                let ssrc: u32 = rand::random();
                let offer = sdp::rtp_offer(self.ctx.cfg.external_ip, port, ssrc, now_millis() as u64 / 1000);
                if let ObjMedia::Rtp { offer: slot, .. } =
                    &mut self.objects.get_mut(object).expect("looked up above").media
                {
                    *slot = Some(RtpOffer { sdp: offer.clone(), sockets: Some((rtp, rtcp)), ssrc });
                }
                Ok(json!(offer))
            }
            ObjMedia::None | ObjMedia::Player(_) => {
                Err(kerr(K::MalformedTransaction, "Method 'generateOffer' with 0 parameters not found"))
            }
        }
    }

    pub(super) fn process_answer(&mut self, object: &str, answer: &str) -> RpcResult {
        match &self.objects[object].media {
            ObjMedia::WebRtc(v) => {
                let local = v.clone().process_answer(answer).map_err(answer_error)?;
                self.ctx.events.emit(object, MediaEvent::MediaSessionStarted);
                Ok(json!(local))
            }
            ObjMedia::Rtp { offer: None, .. } => Err(answer_error(AnswerError::NotOffered)),
            ObjMedia::Rtp { negotiated: Some(_), .. } => Err(answer_error(AnswerError::AlreadyProcessed)),
            ObjMedia::Rtp { offer: Some(_), .. } => {
                let video = sdp::rtp_answer_video(&parse(answer, "answer")?).ok_or_else(|| {
                    kerr(
                        K::SdpEndPointProcessAnswerError,
                        "the answer accepts no H264 or VP8 video (or its video port is 0)",
                    )
                })?;
                let Some(ObjMedia::Rtp { offer: Some(o), .. }) = self.objects.get_mut(object).map(|o| &mut o.media)
                else {
                    return Err(answer_error(AnswerError::NotOffered));
                };
                let (sdp_offer, ssrc) = (o.sdp.clone(), o.ssrc);
                let (rtp, rtcp) = o.sockets.take().ok_or_else(|| {
                    kerr(K::SdpEndPointProcessAnswerError, "the offer's ports were spent by a failed answer")
                })?;
                let source = self.start_rtp_source(object, video, rtp, rtcp, ssrc, K::SdpEndPointProcessAnswerError)?;
                let spent = RtpOffer { sdp: sdp_offer.clone(), sockets: None, ssrc };
                self.rtp_negotiated(object, sdp_offer.clone(), answer.to_string(), Some(source), Some(spent));
                Ok(json!(sdp_offer))
            }
            ObjMedia::None | ObjMedia::Player(_) => {
                Err(kerr(K::MalformedTransaction, "Method 'processAnswer' with 1 parameters not found"))
            }
        }
    }

    /// A receive-only offer (a snapshot tap, another node's RtpEndpoint): this endpoint
    /// becomes a sink that sends its connected source's RTP to the offer's address
    /// (`media::rtp_sink`), from the port its answer names.
    fn process_receive_only_offer(
        &mut self,
        object: &str,
        offer: &str,
        parsed: &sdp::Offer,
        ssrc: u32,
        version: u64,
    ) -> RpcResult {
        let code = K::SdpEndPointProcessOfferError;
        let cfg = self.ctx.cfg.clone();
        let (rtp, rtcp) = self.bind_rtp_pair(code)?;
        let port = rtp.local_addr().map_err(|e| kerr(code, e.to_string()))?.port();
        let a = sdp::rtp_answer(parsed, cfg.external_ip, port, ssrc, version);
        let video = a.video.expect("the same offer was accepted by the probe");
        let dest = video
            .rtp_remote
            .ok_or_else(|| kerr(code, "a receive-only offer must name a unicast address (c=) and port to send to"))?;
        let counters = self.ctx.counters.clone();
        let sink = RtpSink::start(object.to_string(), video.codec, video.pt, dest, ssrc, rtp, rtcp, counters)
            .map_err(|e| kerr(code, format!("cannot start the RTP sender: {e}")))?;
        self.objects.get_mut(object).expect("looked up by the caller").media = ObjMedia::Rtp {
            negotiated: Some((a.sdp.clone(), offer.to_string())),
            source: None,
            offer: None,
            sink: Some(sink),
            audio: None,
        };
        let feeders: Vec<String> = self
            .objects
            .iter()
            .filter(|(_, o)| o.sinks.iter().any(|(s, t)| s == object && *t == MediaType::Video))
            .map(|(k, _)| k.clone())
            .collect();
        for f in feeders {
            self.link_rtp_sink(&f, object);
        }
        self.ctx.events.emit(object, MediaEvent::MediaSessionStarted);
        Ok(json!(a.sdp))
    }

    fn bind_rtp_pair(&self, code: K) -> Result<(UdpSocket, UdpSocket), RpcError> {
        let cfg = &self.ctx.cfg;
        ports::bind_rtp_pair(cfg.rtp_bind_ip, cfg.min_port, cfg.max_port)
            .map_err(|e| kerr(code, format!("cannot bind an RTP port: {e}")))
    }

    fn start_rtp_source(
        &self,
        object: &str,
        video: CameraVideo,
        rtp: UdpSocket,
        rtcp: UdpSocket,
        ssrc: u32,
        code: K,
    ) -> Result<std::sync::Arc<RtpSource>, RpcError> {
        let cfg = &self.ctx.cfg;
        RtpSource::start(
            object.to_string(),
            video,
            None,
            rtp,
            rtcp,
            ssrc,
            cfg.flow_timeout,
            cfg.gop_cache_packets,
            self.ctx.events.clone(),
            self.ctx.counters.clone(),
            self.ctx.mux.workers.clone(),
        )
        .map_err(|e| kerr(code, format!("cannot start the RTP receiver: {e}")))
    }

    fn start_audio_source(
        &self,
        object: &str,
        audio: crate::audio::CameraAudio,
        rtp: UdpSocket,
        rtcp: UdpSocket,
        ssrc: u32,
    ) -> Result<std::sync::Arc<RtpSource>, RpcError> {
        let cfg = &self.ctx.cfg;
        let (events, counters, workers) =
            (self.ctx.events.clone(), self.ctx.counters.clone(), self.ctx.mux.workers.clone());
        RtpSource::start_audio(object.to_string(), audio, rtp, rtcp, ssrc, cfg.flow_timeout, events, counters, workers)
            .map_err(|e| kerr(K::SdpEndPointProcessOfferError, format!("cannot start the audio receiver: {e}")))
    }

    /// Records the camera's audio source and feeds the viewers already connected for audio.
    fn rtp_audio_negotiated(&mut self, object: &str, audio: Option<std::sync::Arc<RtpSource>>) {
        let Some(src) = audio else { return };
        let sinks: Vec<String> =
            self.objects[object].sinks.iter().filter(|(_, t)| *t == MediaType::Audio).map(|(s, _)| s.clone()).collect();
        for s in sinks {
            if let Some(ObjMedia::WebRtc(v)) = self.objects.get(&s).map(|o| &o.media) {
                src.add_viewer(v);
                v.set_audio_source(Some(&src));
            }
        }
        if let Some(ObjMedia::Rtp { audio, .. }) = self.objects.get_mut(object).map(|o| &mut o.media) {
            *audio = Some(src);
        }
    }

    /// Records a finished RtpEndpoint negotiation and feeds the already connected viewers.
    fn rtp_negotiated(
        &mut self,
        object: &str,
        local: String,
        remote: String,
        source: Option<std::sync::Arc<RtpSource>>,
        offer: Option<RtpOffer>,
    ) {
        let sinks: Vec<String> =
            self.objects[object].sinks.iter().filter(|(_, t)| *t == MediaType::Video).map(|(s, _)| s.clone()).collect();
        if let Some(src) = &source {
            for s in &sinks {
                if let Some(ObjMedia::WebRtc(v)) = self.objects.get(s).map(|o| &o.media) {
                    src.add_viewer(v);
                    v.set_source(Some(src));
                }
            }
        }
        self.objects.get_mut(object).expect("looked up by the caller").media =
            ObjMedia::Rtp { negotiated: Some((local, remote)), source, offer, sink: None, audio: None };
        for s in &sinks {
            self.link_rtp_sink(object, s);
        }
        self.ctx.events.emit(object, MediaEvent::MediaSessionStarted);
    }
}
