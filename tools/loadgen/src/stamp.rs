//! Glass-to-glass stamps: an H.264 SEI NAL unit (user_data_unregistered) carrying the time the
//! camera relay sent the access unit, as its own RTP packet just before the access unit.
//!
//! Neither the engine nor Janus' streaming plugin forwards the camera's RTP header extensions
//! (both write their own headers), but both forward every RTP packet of the camera's payload
//! type untouched, so the stamp rides in the payload. Decoders skip SEI messages they do not
//! know. The time is written as 16 ASCII hex digits, so the payload never holds two zero bytes
//! in a row and needs no emulation-prevention bytes.

use std::sync::OnceLock;
use std::time::Instant;

/// Microseconds since the first call in this process: the clock the relay stamps with and the
/// viewers read (same process, so no clock sync is involved).
pub fn now_micros() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// Identifies our SEI message (any other `user_data_unregistered` is not a stamp). No zero
/// byte, so no emulation prevention.
const UUID: [u8; 16] = *b"camview-loadgen1";
/// NAL header (forbidden 0, nal_ref_idc 0, type 6 = SEI), payload type 5, payload size.
const PREFIX: [u8; 3] = [0x06, 0x05, 0x20];
/// `rbsp_trailing_bits`.
const TRAILER: u8 = 0x80;
/// Length of the SEI NAL unit: prefix, UUID, 16 hex digits, trailer.
pub const SEI_LEN: usize = PREFIX.len() + UUID.len() + 16 + 1;

/// The SEI NAL unit for `micros` (microseconds on the run's clock).
pub fn sei(micros: u64) -> [u8; SEI_LEN] {
    let mut out = [0u8; SEI_LEN];
    out[..3].copy_from_slice(&PREFIX);
    out[3..19].copy_from_slice(&UUID);
    out[19..35].copy_from_slice(format!("{micros:016x}").as_bytes());
    out[35] = TRAILER;
    out
}

/// The stamp in an RTP payload, if the payload is exactly one of our SEI NAL units.
pub fn read(payload: &[u8]) -> Option<u64> {
    if payload.len() != SEI_LEN || payload[..3] != PREFIX || payload[3..19] != UUID || payload[35] != TRAILER {
        return None;
    }
    let hex = std::str::from_utf8(&payload[19..35]).ok()?;
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_and_has_no_start_code_emulation() {
        for micros in [0, 1, 0x00ff_0000_0000_00ff, u64::MAX] {
            let nal = sei(micros);
            assert_eq!(read(&nal), Some(micros));
            assert!(!nal.windows(2).any(|w| w == [0, 0]), "{nal:?}");
            assert_eq!(nal[0] & 0x1f, 6, "an SEI NAL unit");
        }
    }

    #[test]
    fn media_and_other_sei_are_not_stamps() {
        assert_eq!(read(&[0x65, 0x88, 0x84]), None);
        let mut other = sei(7);
        other[5] ^= 1;
        assert_eq!(read(&other), None);
        assert_eq!(read(&sei(7)[..SEI_LEN - 1]), None);
    }
}
