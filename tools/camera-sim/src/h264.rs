//! H.264 bitstream helpers: NAL unit types, Annex B splitting and the SDP parameters derived
//! from the real SPS/PPS (RFC 6184 §8.1).
//!
//! Everything here works on byte slices from the network or the encoder and never panics on
//! short or malformed input.

use base64::Engine;

/// NAL unit type of a sequence parameter set.
pub const NAL_SPS: u8 = 7;
/// NAL unit type of a picture parameter set.
pub const NAL_PPS: u8 = 8;
/// NAL unit type of a coded slice of an IDR picture.
pub const NAL_IDR: u8 = 5;
/// NAL unit type of a coded slice of a non-IDR picture.
pub const NAL_SLICE: u8 = 1;
/// RFC 6184 aggregation packet carrying several NAL units of one timestamp.
pub const NAL_STAP_A: u8 = 24;
/// RFC 6184 fragmentation unit of one large NAL unit.
pub const NAL_FU_A: u8 = 28;

/// The 5-bit type of a NAL unit, `None` for an empty slice.
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1f)
}

/// Splits an Annex B byte stream (`00 00 01` / `00 00 00 01` start codes) into NAL units
/// without their start codes. Empty units are skipped.
pub fn split_annex_b(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 2 < stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &start) in starts.iter().enumerate() {
        let mut end = match starts.get(k + 1) {
            Some(&next) => next - 3,
            None => stream.len(),
        };
        // A 4-byte start code leaves one extra zero before the next unit's `00 00 01`.
        while end > start && stream[end - 1] == 0 && starts.get(k + 1).is_some() {
            end -= 1;
        }
        if end > start {
            nals.push(&stream[start..end]);
        }
    }
    nals
}

/// Joins NAL units into an Annex B stream with 4-byte start codes, as decoders expect.
pub fn join_annex_b<'a>(nals: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in nals {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(nal);
    }
    out
}

/// The stream's parameter sets, as the SDP offer announces them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterSets {
    /// SPS NAL unit including its header byte.
    pub sps: Vec<u8>,
    /// PPS NAL unit including its header byte.
    pub pps: Vec<u8>,
}

impl ParameterSets {
    /// `profile_idc`, the constraint flags and `level_idc` of the SPS as six hex digits, e.g. `42c01e`.
    /// `None` when the SPS is too short to hold them.
    pub fn profile_level_id(&self) -> Option<String> {
        let bytes = self.sps.get(1..4)?;
        Some(format!("{:02x}{:02x}{:02x}", bytes[0], bytes[1], bytes[2]))
    }

    /// `sprop-parameter-sets`: base64 of SPS and PPS separated by a comma.
    pub fn sprop_parameter_sets(&self) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        format!("{},{}", b64.encode(&self.sps), b64.encode(&self.pps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annex_b_splitting_handles_three_and_four_byte_start_codes() {
        let stream = [0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x68, 0xce, 0, 0, 0, 1, 0x65, 0x88, 0x80];
        let nals = split_annex_b(&stream);
        assert_eq!(nals, vec![&[0x67, 0x42][..], &[0x68, 0xce][..], &[0x65, 0x88, 0x80][..]]);
        assert_eq!(split_annex_b(&join_annex_b(nals.iter().copied())), nals);
    }

    #[test]
    fn annex_b_splitting_of_garbage_yields_nothing_and_does_not_panic() {
        assert!(split_annex_b(&[]).is_empty());
        assert!(split_annex_b(&[0, 0]).is_empty());
        assert!(split_annex_b(&[0, 0, 1]).is_empty());
        assert!(split_annex_b(&[1, 2, 3, 4]).is_empty());
    }

    #[test]
    fn profile_level_id_and_sprop_come_from_the_parameter_set_bytes() {
        let sets = ParameterSets { sps: vec![0x67, 0x42, 0xc0, 0x1e, 0xda], pps: vec![0x68, 0xce, 0x3c, 0x80] };
        assert_eq!(sets.profile_level_id().as_deref(), Some("42c01e"));
        assert_eq!(sets.sprop_parameter_sets(), "Z0LAHto=,aM48gA==");
        assert_eq!(ParameterSets { sps: vec![0x67], pps: vec![] }.profile_level_id(), None);
        assert_eq!(nal_type(&sets.sps), Some(NAL_SPS));
        assert_eq!(nal_type(&[]), None);
    }
}
