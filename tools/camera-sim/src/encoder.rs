//! H.264 encoding of the test pattern with OpenH264 (Constrained Baseline, one slice per picture,
//! periodic IDRs). The wrapper guarantees that SPS and PPS precede every IDR, so a receiver can
//! start decoding at any keyframe, and keeps the latest parameter sets for the SDP offer.

use openh264::encoder::{
    BitRate, Complexity, Encoder, EncoderConfig, FrameRate, IntraFramePeriod, Profile, RateControlMode, UsageType,
};
use openh264::OpenH264API;
use thiserror::Error;

use crate::h264::{nal_type, split_annex_b, ParameterSets, NAL_IDR, NAL_PPS, NAL_SPS};
use crate::pattern::I420Frame;

#[derive(Debug, Error)]
pub enum EncodeError {
    #[error("OpenH264 refused the configuration: {0}")]
    Init(String),
    #[error("OpenH264 failed to encode frame {frame}: {message}")]
    Encode { frame: u64, message: String },
    #[error("the encoder produced an IDR before any SPS/PPS")]
    MissingParameterSets,
}

/// Encoder knobs that may change while the camera runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncoderSettings {
    pub fps: u32,
    pub bitrate_kbps: u32,
    /// Frames between periodic IDRs.
    pub keyframe_period: u32,
}

/// One encoded picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedFrame {
    /// NAL units without start codes, in decoding order.
    pub nals: Vec<Vec<u8>>,
    pub idr: bool,
}

impl EncodedFrame {
    /// Payload bytes of all NAL units.
    pub fn len(&self) -> usize {
        self.nals.iter().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.nals.is_empty()
    }
}

pub struct H264Encoder {
    inner: Encoder,
    settings: EncoderSettings,
    parameter_sets: Option<ParameterSets>,
}

impl std::fmt::Debug for H264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Encoder").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl H264Encoder {
    pub fn new(settings: EncoderSettings) -> Result<Self, EncodeError> {
        let config = EncoderConfig::new()
            .profile(Profile::Baseline)
            .usage_type(UsageType::CameraVideoRealTime)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(settings.bitrate_kbps.saturating_mul(1000)))
            .max_frame_rate(FrameRate::from_hz(settings.fps as f32))
            .intra_frame_period(IntraFramePeriod::from_num_frames(settings.keyframe_period))
            // OpenH264 holds the bitrate only by skipping frames (it says so when this is off);
            // a skipped frame yields no NAL units and is not sent or counted.
            .skip_frames(true)
            // IDRs come only from the period or a request, so keyframe counters are predictable.
            .scene_change_detect(false)
            .complexity(Complexity::Low)
            // The machines running tests are shared; one thread per camera is plenty.
            .num_threads(1);
        let inner = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| EncodeError::Init(e.to_string()))?;
        Ok(Self { inner, settings, parameter_sets: None })
    }

    pub fn settings(&self) -> EncoderSettings {
        self.settings
    }

    /// SPS and PPS of the stream, known after the first IDR.
    pub fn parameter_sets(&self) -> Option<&ParameterSets> {
        self.parameter_sets.as_ref()
    }

    /// Encodes one picture; `force_idr` makes it a keyframe.
    pub fn encode(
        &mut self,
        frame: &I420Frame,
        frame_number: u64,
        force_idr: bool,
    ) -> Result<EncodedFrame, EncodeError> {
        if force_idr {
            self.inner.force_intra_frame();
        }
        let stream = self
            .inner
            .encode(frame)
            .map_err(|e| EncodeError::Encode { frame: frame_number, message: e.to_string() })?
            .to_vec();
        let mut nals: Vec<Vec<u8>> = split_annex_b(&stream).into_iter().map(<[u8]>::to_vec).collect();
        let mut sps = None;
        let mut pps = None;
        for nal in &nals {
            match nal_type(nal) {
                Some(NAL_SPS) => sps = Some(nal.clone()),
                Some(NAL_PPS) => pps = Some(nal.clone()),
                _ => {}
            }
        }
        if let (Some(sps), Some(pps)) = (sps, pps) {
            self.parameter_sets = Some(ParameterSets { sps, pps });
        }
        let idr = nals.iter().any(|n| nal_type(n) == Some(NAL_IDR));
        let has_sps = nals.iter().any(|n| nal_type(n) == Some(NAL_SPS));
        if idr && !has_sps {
            let sets = self.parameter_sets.as_ref().ok_or(EncodeError::MissingParameterSets)?;
            nals.splice(0..0, [sets.sps.clone(), sets.pps.clone()]);
        }
        Ok(EncodedFrame { nals, idr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::h264::join_annex_b;
    use crate::pattern::TestPattern;
    use openh264::decoder::Decoder;
    use openh264::formats::YUVSource;

    fn settings() -> EncoderSettings {
        EncoderSettings { fps: 30, bitrate_kbps: 500, keyframe_period: 5 }
    }

    #[test]
    fn the_first_frame_is_an_idr_led_by_sps_and_pps_and_decodes_at_the_configured_size() {
        let mut pattern = TestPattern::new(320, 240, 30);
        let mut enc = H264Encoder::new(settings()).unwrap();
        let frame = enc.encode(pattern.render(0, 0), 0, false).unwrap();
        assert!(frame.idr);
        let types: Vec<u8> = frame.nals.iter().filter_map(|n| nal_type(n)).collect();
        assert_eq!(&types[..2], &[NAL_SPS, NAL_PPS]);
        let sets = enc.parameter_sets().unwrap();
        assert!(sets.profile_level_id().unwrap().starts_with("42"), "baseline profile");

        let mut dec = Decoder::new().unwrap();
        let picture = dec.decode(&join_annex_b(frame.nals.iter().map(Vec::as_slice))).unwrap().expect("a picture");
        assert_eq!(picture.dimensions(), (320, 240));
    }

    #[test]
    fn idrs_come_with_the_period_and_on_request_each_with_parameter_sets() {
        let mut pattern = TestPattern::new(320, 240, 30);
        let mut enc = H264Encoder::new(settings()).unwrap();
        let mut idrs = Vec::new();
        for n in 0..12 {
            let frame = enc.encode(pattern.render(n, 0), n, n == 7).unwrap();
            if frame.idr {
                assert_eq!(nal_type(&frame.nals[0]), Some(NAL_SPS), "frame {n}");
                idrs.push(n);
            }
        }
        assert!(idrs.contains(&0) && idrs.contains(&5) && idrs.contains(&7), "{idrs:?}");
        assert!(!idrs.contains(&1) && !idrs.contains(&6), "{idrs:?}");
    }
}
