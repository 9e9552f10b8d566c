//! SDP negotiation of a viewer: `processOffer` (the browser offers) and
//! `generateOffer` + `processAnswer` (the engine offers). Either way the result is the same
//! `Rtc`, so forwarding does not care who offered.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::{Rtc, RtcConfig};

use super::{OfferError, Viewer};
use crate::audio::AudioCodec;
use crate::codec_params::H265Ptl;
use crate::media::rtp_source::RtpSource;
use crate::sdp::{self, VideoCodec};

/// Why `process_answer` failed, as a Kurento error.
#[derive(Debug)]
pub enum AnswerError {
    /// 40209: no offer was generated.
    NotOffered,
    /// 40210: the answer was already processed.
    AlreadyProcessed,
    /// 40201
    Parse(String),
    /// 40206
    Process(String),
}

/// H.264 payload type of generated offers (VP8 keeps str0m's 96, RTX 97).
const OFFER_H264_PT: u8 = 102;
const DEFAULT_PROFILE_LEVEL_ID: u32 = 0x42e01f;

/// Constrained baseline, baseline, main and high (level 3.1), each a distinct profile to str0m:
/// what a viewer may offer instead of the camera's own profile.
const H264_FALLBACK_PROFILES: [u32; 4] = [0x42e01f, 0x42001f, 0x4d001f, 0x64001f];

/// H.265 payload type of generated offers and answers (str0m's default H.265 one).
const H265_PT: u8 = 49;

/// What the camera sends, as far as a viewer's SDP cares.
#[derive(Clone, Copy)]
struct Camera {
    codec: VideoCodec,
    profile_level_id: Option<u32>,
    packetization_mode: u8,
    h265: H265Ptl,
}

fn camera_of(source: Option<&Arc<RtpSource>>) -> Option<Camera> {
    source.map(|s| Camera {
        codec: s.codec(),
        profile_level_id: s.profile_level_id(),
        packetization_mode: s.video.packetization_mode,
        h265: s.h265_ptl().unwrap_or(H265Ptl::DEFAULT),
    })
}

/// The start of the error message when a browser lacks the camera's codec: the controller
/// reports it to the viewer as `codec_unsupported`.
pub const CODEC_UNSUPPORTED: &str = "codec_unsupported";

/// The first codec the engine forwards in an SDP's first video line.
fn first_codec(sdp_text: &str) -> Option<VideoCodec> {
    sdp::parse_offer(sdp_text)
        .ok()
        .and_then(|a| sdp::offered_video_codecs(&a).into_iter().find_map(|c| VideoCodec::from_name(&c)))
}

/// Whether a browser offer has an audio line with `codec`.
fn offers_audio(offer: &sdp::Offer, codec: AudioCodec) -> bool {
    offer
        .media
        .iter()
        .filter(|m| m.media == "audio" && m.port != 0)
        .any(|m| m.fmts.iter().filter_map(|pt| m.rtpmap(pt)).any(|(name, _)| name.eq_ignore_ascii_case(codec.name())))
}

impl Viewer {
    /// Negotiates with a browser offer. `source` is the stream this viewer will carry, when
    /// known, so the answer names the camera's real codec parameters.
    pub fn process_offer(
        &self,
        offer: &str,
        source: Option<&Arc<RtpSource>>,
        announced_ipv4: Option<IpAddr>,
    ) -> Result<String, OfferError> {
        #[cfg(feature = "test-support")]
        if offer.contains(crate::testing::POISON_OFFER) {
            let _held = self.lock();
            panic!("test-support: a poisoned offer, under the negotiation lock");
        }
        let parsed = sdp::parse_offer(offer).map_err(|e| match e {
            sdp::SdpError::Empty => OfferError::Parse("Empty offer not valid".into()),
            sdp::SdpError::Parse(m) => OfferError::Parse(m),
        })?;
        let mut g = self.lock();
        if g.local_sdp.is_some() {
            return Err(OfferError::AlreadyNegotiated);
        }
        let offered = sdp::offered_video_codecs(&parsed);
        let camera = camera_of(source);
        if let Some(Camera { codec, .. }) = camera {
            if !offered.iter().any(|c| c == codec.name()) {
                return Err(OfferError::Process(format!(
                    "{CODEC_UNSUPPORTED}: the browser offer has no {} payload type, and the camera sends {}; transcoding is not supported",
                    codec.name(),
                    codec.name()
                )));
            }
        }
        // The camera's audio, when the browser offers its codec; else str0m rejects audio lines.
        let audio = g.audio_source.as_ref().and_then(std::sync::Weak::upgrade).and_then(|a| a.audio);
        let audio = audio.filter(|c| offers_audio(&parsed, *c));
        g.candidates = self.candidates(announced_ipv4);
        let accept = |h264_fallback: bool| -> Result<(Rtc, String), OfferError> {
            let mut rtc = self.answer_config(camera, audio, h264_fallback).build(Instant::now());
            for c in &g.candidates {
                rtc.add_local_candidate(c.clone());
            }
            let sdp_offer = SdpOffer::from_sdp_string(offer).map_err(|e| OfferError::Parse(e.to_string()))?;
            let answer = rtc.sdp_api().accept_offer(sdp_offer).map_err(|e| OfferError::Process(e.to_string()))?;
            Ok((rtc, answer.to_sdp_string()))
        };
        let (mut rtc, mut answer) = accept(false)?;
        if camera.is_some_and(|c| c.codec == VideoCodec::H264) && first_codec(&answer) != Some(VideoCodec::H264) {
            // A browser that offers H.264 but not the camera's profile still gets the stream
            // (browsers decode every common profile), told the camera's real profile below.
            (rtc, answer) = accept(true)?;
        }
        if let Some(c) = camera.filter(|c| first_codec(&answer) != Some(c.codec)) {
            // The browser named the codec, but no variant of it str0m could match (an H.265
            // profile or tier the camera does not send).
            return Err(OfferError::Process(format!(
                "{CODEC_UNSUPPORTED}: the browser offer has no {} payload type matching the camera's profile; transcoding is not supported",
                c.codec.name()
            )));
        }
        match camera {
            Some(c) if c.codec == VideoCodec::H264 => {
                let plid = c.profile_level_id.unwrap_or(DEFAULT_PROFILE_LEVEL_ID);
                answer = sdp::force_h264_fmtp(&answer, plid, c.packetization_mode);
            }
            Some(c) if c.codec == VideoCodec::H265 => answer = sdp::force_h265_fmtp(&answer, c.h265),
            _ => {}
        }
        if !g.gather_requested {
            answer = sdp::strip_candidates(&answer);
        }
        g.mid = sdp::first_mid(&parsed).unwrap_or_else(|| "0".into());
        g.answer_codec = first_codec(&answer);
        g.rtc = Some(Box::new(rtc));
        self.go_live(&mut g).map_err(OfferError::Process)?;
        g.local_sdp = Some(answer.clone());
        g.remote_sdp = Some(offer.to_string());
        Ok(answer)
    }

    /// The `Rtc` configuration answering a browser: the camera's video codec (its own H.264
    /// profile, or with `h264_fallback` the common ones instead), and its audio codec.
    fn answer_config(&self, camera: Option<Camera>, audio: Option<AudioCodec>, h264_fallback: bool) -> RtcConfig {
        let mut cfg = self.mux.rtc_config();
        match camera {
            Some(c) if c.codec == VideoCodec::H264 && h264_fallback => {
                for (pt, plid) in (96u8..).step_by(2).zip(H264_FALLBACK_PROFILES) {
                    cfg.codec_config().add_h264(pt.into(), None, c.packetization_mode == 1, plid);
                }
            }
            Some(c) if c.codec == VideoCodec::H264 => cfg.codec_config().add_h264(
                96.into(),
                None,
                c.packetization_mode == 1,
                c.profile_level_id.unwrap_or(DEFAULT_PROFILE_LEVEL_ID),
            ),
            Some(c) if c.codec == VideoCodec::H265 => {
                let H265Ptl { profile_id, tier_flag, level_id } = c.h265;
                cfg.codec_config().add_h265(H265_PT.into(), None, profile_id, tier_flag, level_id)
            }
            Some(_) => cfg = cfg.enable_vp8(true),
            None => cfg = cfg.enable_h264(true).enable_vp8(true),
        }
        match audio {
            Some(AudioCodec::Pcmu) => cfg.enable_pcmu(true, false),
            Some(AudioCodec::Pcma) => cfg.enable_pcma(true, false),
            Some(AudioCodec::Opus) => cfg.enable_opus(true, false),
            None => cfg,
        }
    }

    /// `generateOffer`: one `sendonly` video line with the codecs this viewer can be fed
    /// (the camera's, when the stream is known; else H.264 packetization-mode=1 and VP8),
    /// ICE credentials and fingerprint. Candidates follow `gatherCandidates` (trickle).
    pub fn generate_offer(
        &self,
        source: Option<&Arc<RtpSource>>,
        announced_ipv4: Option<IpAddr>,
    ) -> Result<String, OfferError> {
        let mut g = self.lock();
        if g.local_sdp.is_some() {
            return Err(OfferError::AlreadyNegotiated);
        }
        let camera = camera_of(source);
        let mut cfg: RtcConfig = self.mux.rtc_config();
        let h264 = |cfg: &mut RtcConfig, plid: Option<u32>| {
            cfg.codec_config().add_h264(OFFER_H264_PT.into(), None, true, plid.unwrap_or(DEFAULT_PROFILE_LEVEL_ID))
        };
        match camera {
            Some(c) if c.codec == VideoCodec::H264 => h264(&mut cfg, c.profile_level_id),
            Some(c) if c.codec == VideoCodec::H265 => {
                let H265Ptl { profile_id, tier_flag, level_id } = c.h265;
                cfg.codec_config().add_h265(H265_PT.into(), None, profile_id, tier_flag, level_id)
            }
            Some(_) => cfg = cfg.enable_vp8(true),
            None => {
                h264(&mut cfg, None);
                cfg = cfg.enable_vp8(true);
            }
        }
        let mut rtc = cfg.build(Instant::now());
        g.candidates = self.candidates(announced_ipv4);
        for c in &g.candidates {
            rtc.add_local_candidate(c.clone());
        }
        let mut api = rtc.sdp_api();
        let mid = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().ok_or_else(|| OfferError::Process("str0m produced no offer".into()))?;
        let mut offer = offer.to_sdp_string();
        if !g.gather_requested {
            offer = sdp::strip_candidates(&offer);
        }
        g.mid = mid.to_string();
        g.rtc = Some(Box::new(rtc));
        g.pending_offer = Some(pending);
        g.offer_generated = true;
        g.local_sdp = Some(offer.clone());
        // The viewer goes to its worker with the answer (`processAnswer`): until then ICE has
        // no remote credentials to check against.
        if g.gather_requested && !g.gathered {
            self.emit_candidates(&mut g);
        }
        Ok(offer)
    }

    /// `processAnswer`: applies the peer's answer to the generated offer; returns the local
    /// descriptor (the offer). From here on the viewer is like one negotiated by `processOffer`.
    pub fn process_answer(&self, answer: &str) -> Result<String, AnswerError> {
        let mut g = self.lock();
        if !g.offer_generated {
            return Err(AnswerError::NotOffered);
        }
        if g.remote_sdp.is_some() {
            return Err(AnswerError::AlreadyProcessed);
        }
        sdp::parse_offer(answer).map_err(|e| match e {
            sdp::SdpError::Empty => AnswerError::Parse("Empty answer not valid".into()),
            sdp::SdpError::Parse(m) => AnswerError::Parse(format!("Error parsing SDP answer: {m}")),
        })?;
        let parsed = SdpAnswer::from_sdp_string(answer)
            .map_err(|e| AnswerError::Parse(format!("Error parsing SDP answer: {e}")))?;
        let pending = g.pending_offer.take().ok_or_else(|| {
            AnswerError::Process("the offer was spent by a failed answer; create a new endpoint".into())
        })?;
        let mid = Mid::from(g.mid.as_str());
        let Some(rtc) = g.rtc.as_mut() else { return Err(AnswerError::Process("the endpoint has no session".into())) };
        rtc.sdp_api().accept_answer(pending, parsed).map_err(|e| AnswerError::Process(e.to_string()))?;
        // str0m announces `MediaAdded` only for m-lines the remote side offered.
        g.tx = super::setup_tx(rtc, mid);
        g.answer_codec = first_codec(answer);
        self.go_live(&mut g).map_err(AnswerError::Process)?;
        g.remote_sdp = Some(answer.to_string());
        Ok(g.local_sdp.clone().unwrap_or_default())
    }
}
