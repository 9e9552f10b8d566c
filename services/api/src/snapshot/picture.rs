//! A keyframe into a JPEG (OpenH264 decodes, jpeg-encoder encodes), and when a new one may
//! be made: at most one decode per `min_interval` per camera, and none while the cached
//! picture already shows the latest keyframe.

use std::time::{Duration, Instant};

use openh264::decoder::Decoder;
use openh264::formats::YUVSource;

use super::h264::AccessUnit;

/// JPEG quality (1..=100) of snapshots.
const QUALITY: u8 = 80;

#[derive(Debug, thiserror::Error)]
pub enum PictureError {
    #[error("OpenH264 could not decode the keyframe: {0}")]
    Decode(String),
    #[error("the keyframe decoded to no picture")]
    NoPicture,
    #[error("the picture is too large for JPEG ({0}x{1})")]
    TooLarge(usize, usize),
    #[error("JPEG encoding failed: {0}")]
    Encode(String),
}

/// A snapshot as served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jpeg {
    pub bytes: Vec<u8>,
    pub width: usize,
    pub height: usize,
    /// The keyframe it shows (see `KeyframeKeeper`).
    pub generation: u64,
    /// The RTP timestamp of that keyframe.
    pub rtp_timestamp: u32,
}

/// Decodes one keyframe (SPS, PPS, IDR) into a JPEG. CPU-bound: run it off the async threads.
pub fn keyframe_to_jpeg(unit: &AccessUnit, generation: u64) -> Result<Jpeg, PictureError> {
    let mut decoder = Decoder::new().map_err(|e| PictureError::Decode(e.to_string()))?;
    let stream = unit.annex_b();
    let (rgb, width, height) = {
        let picture = match decoder.decode(&stream).map_err(|e| PictureError::Decode(e.to_string()))? {
            Some(p) => p,
            None => {
                // The decoder holds the frame back; end of stream releases it.
                let mut rest = decoder.flush_remaining().map_err(|e| PictureError::Decode(e.to_string()))?;
                rest.pop().ok_or(PictureError::NoPicture)?
            }
        };
        let (w, h) = picture.dimensions();
        let mut rgb = vec![0u8; w * h * 3];
        picture.write_rgb8(&mut rgb);
        (rgb, w, h)
    };
    let (w16, h16) = match (u16::try_from(width), u16::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => (w, h),
        _ => return Err(PictureError::TooLarge(width, height)),
    };
    let mut bytes = Vec::with_capacity(width * height / 4);
    jpeg_encoder::Encoder::new(&mut bytes, QUALITY)
        .encode(&rgb, w16, h16, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| PictureError::Encode(e.to_string()))?;
    Ok(Jpeg { bytes, width, height, generation, rtp_timestamp: unit.ts })
}

/// Whether a request may decode now: the sans-IO core of the snapshot cache.
#[derive(Debug)]
pub struct DecodePolicy {
    min_interval: Duration,
    last_decode: Option<Instant>,
}

impl DecodePolicy {
    pub fn new(min_interval: Duration) -> Self {
        Self { min_interval, last_decode: None }
    }

    /// True when the latest keyframe (`generation`) is newer than the cached picture's and the
    /// last decode is at least `min_interval` ago; it then counts as a decode at `now`.
    pub fn may_decode(&mut self, cached: Option<u64>, generation: u64, now: Instant) -> bool {
        if cached.is_some_and(|c| c >= generation) {
            return false;
        }
        if self.last_decode.is_some_and(|t| now.saturating_duration_since(t) < self.min_interval) {
            return false;
        }
        self.last_decode = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::h264::tests::x264_packets;
    use crate::snapshot::h264::{parse_rtp, Depacketizer, KeyframeKeeper};

    #[test]
    fn an_x264_keyframe_becomes_a_jpeg_of_the_cameras_size() {
        let (mut d, mut keeper) = (Depacketizer::new(), KeyframeKeeper::default());
        for p in x264_packets() {
            if let Some(u) = d.push(&parse_rtp(p).unwrap()) {
                keeper.push(u);
            }
        }
        let (generation, unit) = keeper.latest().expect("a keyframe");
        let jpeg = keyframe_to_jpeg(unit, generation).expect("decodes and encodes");
        assert_eq!((jpeg.width, jpeg.height, jpeg.generation), (160, 120, 2));
        assert_eq!(&jpeg.bytes[..3], &[0xff, 0xd8, 0xff], "JPEG SOI marker");
        assert_eq!(&jpeg.bytes[jpeg.bytes.len() - 2..], &[0xff, 0xd9], "JPEG EOI marker");
        assert_eq!(sof_size(&jpeg.bytes), Some((160, 120)));
    }

    #[test]
    fn a_damaged_keyframe_is_an_error_not_a_panic() {
        let unit =
            AccessUnit { ts: 1, nals: vec![vec![0x67, 0x42, 0, 0x1e], vec![0x68, 0xff], vec![0x65, 0xff, 0, 1]] };
        assert!(keyframe_to_jpeg(&unit, 1).is_err());
    }

    /// Width and height from a JPEG's SOF0 segment.
    pub(crate) fn sof_size(jpeg: &[u8]) -> Option<(usize, usize)> {
        let mut i = 2;
        while i + 9 < jpeg.len() {
            if jpeg[i] != 0xff {
                return None;
            }
            let len = u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]]) as usize;
            if (0xc0..=0xc2).contains(&jpeg[i + 1]) {
                let h = u16::from_be_bytes([jpeg[i + 5], jpeg[i + 6]]) as usize;
                let w = u16::from_be_bytes([jpeg[i + 7], jpeg[i + 8]]) as usize;
                return Some((w, h));
            }
            i += 2 + len;
        }
        None
    }

    #[test]
    fn at_most_one_decode_per_interval_and_none_for_the_keyframe_already_shown() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut policy = DecodePolicy::new(second);
        assert!(policy.may_decode(None, 1, t0), "the first picture is made at once");
        assert!(!policy.may_decode(None, 1, t0 + second / 2), "a failed decode is not retried within the interval");
        assert!(!policy.may_decode(Some(1), 1, t0 + 5 * second), "the cached picture shows the latest keyframe");
        assert!(!policy.may_decode(Some(1), 2, t0 + second / 2), "a newer keyframe, but within the interval");
        assert!(policy.may_decode(Some(1), 2, t0 + second), "a newer keyframe after the interval");
        assert!(!policy.may_decode(Some(2), 3, t0 + second + second / 10));
        assert!(policy.may_decode(Some(2), 3, t0 + 2 * second));
    }
}
