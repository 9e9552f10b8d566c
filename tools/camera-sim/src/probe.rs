//! A receiving end for tests: depacketizes H.264 RTP and decodes it with OpenH264, so a test can
//! assert that what a camera (or a media server forwarding it) sends is real, decodable video.

use openh264::decoder::Decoder;
use openh264::formats::YUVSource;
use thiserror::Error;

use crate::h264::{join_annex_b, nal_type, NAL_IDR};
use crate::rtp::{Depacketizer, RtpError, RtpPacket};

#[derive(Debug, Error)]
pub enum ProbeError {
    #[error(transparent)]
    Rtp(#[from] RtpError),
    #[error("OpenH264 decoder: {0}")]
    Decoder(String),
}

/// A decoded picture's vital signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodedPicture {
    pub width: usize,
    pub height: usize,
    pub rtp_timestamp: u32,
    /// The access unit carried an IDR slice.
    pub idr: bool,
    /// Mean luma, to tell a real picture from a flat grey one.
    pub mean_luma: u8,
    /// FNV-1a hash of the visible luma, to tell whether consecutive pictures differ.
    pub luma_hash: u64,
}

/// Feed it RTP datagrams; it yields pictures as access units complete.
pub struct H264Probe {
    depacketizer: Depacketizer,
    decoder: Decoder,
    /// Access units seen, decodable or not.
    pub access_units: u64,
    /// Access units carrying an IDR slice.
    pub idr_units: u64,
    /// Access units that failed to decode.
    pub decode_errors: u64,
}

impl std::fmt::Debug for H264Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("H264Probe")
            .field("access_units", &self.access_units)
            .field("idr_units", &self.idr_units)
            .field("decode_errors", &self.decode_errors)
            .finish_non_exhaustive()
    }
}

impl H264Probe {
    pub fn new() -> Result<Self, ProbeError> {
        let decoder = Decoder::new().map_err(|e| ProbeError::Decoder(e.to_string()))?;
        Ok(Self { depacketizer: Depacketizer::new(), decoder, access_units: 0, idr_units: 0, decode_errors: 0 })
    }

    /// Takes one RTP datagram and returns the pictures it completed (usually zero or one).
    /// Undecodable units are counted in `decode_errors`, not returned as errors, because a
    /// decoder joining mid-stream legitimately fails until the first IDR.
    pub fn push(&mut self, datagram: &[u8]) -> Result<Vec<DecodedPicture>, ProbeError> {
        let packet = RtpPacket::parse(datagram)?;
        let mut pictures = Vec::new();
        for unit in self.depacketizer.push(&packet)? {
            self.access_units += 1;
            let idr = unit.nals.iter().any(|n| nal_type(n) == Some(NAL_IDR));
            if idr {
                self.idr_units += 1;
            }
            match self.decoder.decode(&join_annex_b(unit.nals.iter().map(Vec::as_slice))) {
                Ok(Some(picture)) => {
                    let (width, height) = picture.dimensions();
                    let (stride, _, _) = picture.strides();
                    let mut sum: u64 = 0;
                    let mut luma_hash: u64 = 0xcbf2_9ce4_8422_2325;
                    for row in picture.y().chunks(stride.max(1)).take(height) {
                        for &v in row.iter().take(width) {
                            sum += u64::from(v);
                            luma_hash = (luma_hash ^ u64::from(v)).wrapping_mul(0x0100_0000_01b3);
                        }
                    }
                    let mean_luma = (sum / (width * height).max(1) as u64) as u8;
                    pictures.push(DecodedPicture {
                        width,
                        height,
                        rtp_timestamp: unit.timestamp,
                        idr,
                        mean_luma,
                        luma_hash,
                    });
                }
                Ok(None) => {}
                Err(_) => self.decode_errors += 1,
            }
        }
        Ok(pictures)
    }
}
