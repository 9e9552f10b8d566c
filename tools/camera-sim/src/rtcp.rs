//! RTCP, sans-IO: parsing the compound packets a receiver sends back (RFC 3550, RFC 4585 PLI,
//! RFC 5104 FIR) and building the sender's own reports.
//!
//! A compound packet is validated as a whole: when any part of it is truncated or not version 2
//! the whole datagram is rejected, as RFC 3550 §A.2 asks. Packet types the camera does not act on
//! (receiver reports, NACK, REMB, ...) are reported as [`Rtcp::Other`].

use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

/// Sender report.
pub const PT_SR: u8 = 200;
/// Receiver report.
pub const PT_RR: u8 = 201;
/// Source description.
pub const PT_SDES: u8 = 202;
/// Goodbye.
pub const PT_BYE: u8 = 203;
/// Transport-layer feedback (NACK).
pub const PT_RTPFB: u8 = 205;
/// Payload-specific feedback (PLI, FIR, REMB).
pub const PT_PSFB: u8 = 206;
/// PSFB format of a Picture Loss Indication.
pub const FMT_PLI: u8 = 1;
/// PSFB format of a Full Intra Request.
pub const FMT_FIR: u8 = 4;

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum RtcpError {
    #[error("RTCP packet truncated at byte {0}")]
    Truncated(usize),
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    #[error("empty RTCP datagram")]
    Empty,
}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rtcp {
    /// A receiver lost the picture and asks for a keyframe.
    Pli {
        sender_ssrc: u32,
        media_ssrc: u32,
    },
    /// A full intra request; `sequence` lets the sender ignore repeats.
    Fir {
        sender_ssrc: u32,
        media_ssrc: u32,
        sequence: u8,
    },
    SenderReport(SenderReport),
    /// Anything else, by packet type and format/count field.
    Other {
        packet_type: u8,
        format: u8,
    },
}

impl Rtcp {
    /// Whether this packet asks the sender for a keyframe.
    pub fn wants_keyframe(&self) -> bool {
        matches!(self, Rtcp::Pli { .. } | Rtcp::Fir { .. })
    }
}

/// The sender-info block of an SR (without report blocks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderReport {
    pub ssrc: u32,
    /// 64-bit NTP timestamp: seconds since 1900 in the high half, fraction in the low half.
    pub ntp_time: u64,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

/// Whether a datagram arriving on an RTP port is RTCP (RFC 5761 §4 demultiplexing).
pub fn is_rtcp(buf: &[u8]) -> bool {
    buf.len() >= 8 && (192..=223).contains(&buf[1])
}

/// Parses a compound RTCP datagram.
pub fn parse(buf: &[u8]) -> Result<Vec<Rtcp>, RtcpError> {
    if buf.is_empty() {
        return Err(RtcpError::Empty);
    }
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < buf.len() {
        let header = buf.get(offset..offset + 4).ok_or(RtcpError::Truncated(offset))?;
        let version = header[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion(version));
        }
        let format = header[0] & 0x1f;
        let packet_type = header[1];
        let len = 4 * (usize::from(u16::from_be_bytes([header[2], header[3]])) + 1);
        let packet = buf.get(offset..offset + len).ok_or(RtcpError::Truncated(offset))?;
        let body = &packet[4..];
        out.push(match (packet_type, format) {
            (PT_PSFB, FMT_PLI) if body.len() >= 8 => {
                Rtcp::Pli { sender_ssrc: be32(body, 0), media_ssrc: be32(body, 4) }
            }
            // One FCI entry per requested source; the camera has one, so the first is enough.
            (PT_PSFB, FMT_FIR) if body.len() >= 16 => {
                Rtcp::Fir { sender_ssrc: be32(body, 0), media_ssrc: be32(body, 8), sequence: body[12] }
            }
            (PT_SR, _) if body.len() >= 24 => Rtcp::SenderReport(SenderReport {
                ssrc: be32(body, 0),
                ntp_time: (u64::from(be32(body, 4)) << 32) | u64::from(be32(body, 8)),
                rtp_timestamp: be32(body, 12),
                packet_count: be32(body, 16),
                octet_count: be32(body, 20),
            }),
            (PT_PSFB, FMT_PLI | FMT_FIR) | (PT_SR, _) => return Err(RtcpError::Truncated(offset)),
            _ => Rtcp::Other { packet_type, format },
        });
        offset += len;
    }
    Ok(out)
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Converts a wall-clock time into a 64-bit NTP timestamp.
pub fn ntp_time(at: SystemTime) -> u64 {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// A compound SR + SDES(CNAME) datagram, as RFC 3550 §6.1 requires of every RTCP sent.
pub fn sender_report(report: &SenderReport, cname: &str) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(&[0x80, PT_SR, 0, 6]);
    buf.extend_from_slice(&report.ssrc.to_be_bytes());
    buf.extend_from_slice(&report.ntp_time.to_be_bytes());
    buf.extend_from_slice(&report.rtp_timestamp.to_be_bytes());
    buf.extend_from_slice(&report.packet_count.to_be_bytes());
    buf.extend_from_slice(&report.octet_count.to_be_bytes());

    let cname = &cname.as_bytes()[..cname.len().min(255)];
    // SSRC, CNAME item (type, length, text), end-of-list null, padded to 32 bits.
    let chunk_len = 4 + 2 + cname.len() + 1;
    let padded = chunk_len.div_ceil(4) * 4;
    let words = (padded / 4) as u16;
    buf.extend_from_slice(&[0x81, PT_SDES]);
    buf.extend_from_slice(&words.to_be_bytes());
    buf.extend_from_slice(&report.ssrc.to_be_bytes());
    buf.push(1);
    buf.push(cname.len() as u8);
    buf.extend_from_slice(cname);
    buf.resize(buf.len() + (padded - chunk_len) + 1, 0);
    buf
}

/// A PLI, as a receiver (or a test) sends it.
pub fn pli(sender_ssrc: u32, media_ssrc: u32) -> Vec<u8> {
    let mut buf = vec![0x80 | FMT_PLI, PT_PSFB, 0, 2];
    buf.extend_from_slice(&sender_ssrc.to_be_bytes());
    buf.extend_from_slice(&media_ssrc.to_be_bytes());
    buf
}

/// A FIR with one FCI entry, as a receiver (or a test) sends it.
pub fn fir(sender_ssrc: u32, media_ssrc: u32, sequence: u8) -> Vec<u8> {
    let mut buf = vec![0x80 | FMT_FIR, PT_PSFB, 0, 4];
    buf.extend_from_slice(&sender_ssrc.to_be_bytes());
    buf.extend_from_slice(&0u32.to_be_bytes());
    buf.extend_from_slice(&media_ssrc.to_be_bytes());
    buf.extend_from_slice(&[sequence, 0, 0, 0]);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RR (one report block) + PSFB PLI, as Chrome and Kurento send it.
    const RR_AND_PLI: [u8; 44] = [
        0x81, 0xc9, 0x00, 0x07, 0x00, 0x00, 0x00, 0x01, // RR, 1 block, sender 1
        0x5e, 0xf1, 0xa2, 0x3b, 0x00, 0x00, 0x00, 0x00, // block: ssrc, lost
        0x00, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x05, // ext. seq, jitter
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // LSR, DLSR
        0x81, 0xce, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, // PSFB fmt 1, sender 1
        0x5e, 0xf1, 0xa2, 0x3b, // media ssrc
    ];

    #[test]
    fn a_compound_receiver_report_with_pli_yields_the_pli() {
        let parsed = parse(&RR_AND_PLI).unwrap();
        assert_eq!(
            parsed,
            vec![Rtcp::Other { packet_type: PT_RR, format: 1 }, Rtcp::Pli { sender_ssrc: 1, media_ssrc: 0x5ef1_a23b }]
        );
        assert!(parsed[1].wants_keyframe());
        assert!(is_rtcp(&RR_AND_PLI));
    }

    #[test]
    fn a_fir_yields_its_target_and_sequence_number() {
        let bytes = [
            0x84, 0xce, 0x00, 0x04, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, // PSFB fmt 4, sender 2
            0x5e, 0xf1, 0xa2, 0x3b, 0x07, 0x00, 0x00, 0x00, // FCI: ssrc, seq 7
        ];
        assert_eq!(parse(&bytes).unwrap(), vec![Rtcp::Fir { sender_ssrc: 2, media_ssrc: 0x5ef1_a23b, sequence: 7 }]);
        assert_eq!(parse(&fir(2, 0x5ef1_a23b, 7)).unwrap(), parse(&bytes).unwrap());
        assert_eq!(parse(&pli(9, 10)).unwrap(), vec![Rtcp::Pli { sender_ssrc: 9, media_ssrc: 10 }]);
    }

    #[test]
    fn remb_and_nack_are_ignored_as_other_packets() {
        let remb = [
            0x8f, 0xce, 0x00, 0x05, 0, 0, 0, 1, 0, 0, 0, 0, b'R', b'E', b'M', b'B', 0x01, 0x0a, 0xbc, 0xde, 0x5e, 0xf1,
            0xa2, 0x3b,
        ];
        let nack = [0x81, 0xcd, 0x00, 0x03, 0, 0, 0, 1, 0x5e, 0xf1, 0xa2, 0x3b, 0x00, 0x10, 0x00, 0x00];
        let parsed = parse(&[&remb[..], &nack[..]].concat()).unwrap();
        assert_eq!(
            parsed,
            vec![Rtcp::Other { packet_type: PT_PSFB, format: 15 }, Rtcp::Other { packet_type: PT_RTPFB, format: 1 }]
        );
        assert!(parsed.iter().all(|p| !p.wants_keyframe()));
    }

    #[test]
    fn truncated_and_garbage_datagrams_are_rejected_at_every_length() {
        for cut in 0..RR_AND_PLI.len() {
            let result = parse(&RR_AND_PLI[..cut]);
            // Cutting exactly after the RR leaves a valid single-packet compound.
            if cut == 32 {
                assert_eq!(result.unwrap().len(), 1);
            } else {
                assert!(result.is_err(), "cut at {cut}");
            }
        }
        assert_eq!(parse(&[0x00, 0xc9, 0x00, 0x00]), Err(RtcpError::BadVersion(0)));
        // A PLI whose length field claims fewer words than a PLI needs.
        assert_eq!(parse(&[0x81, 0xce, 0x00, 0x01, 0, 0, 0, 1]), Err(RtcpError::Truncated(0)));
        for seed in 0u32..2000 {
            let junk: Vec<u8> =
                (0..(seed % 64)).map(|i| (seed.wrapping_mul(2_654_435_761).rotate_left(i) >> 24) as u8).collect();
            let _ = parse(&junk);
        }
    }

    #[test]
    fn a_sender_report_round_trips_with_a_padded_cname() {
        let report = SenderReport {
            ssrc: 0xdead_beef,
            ntp_time: ntp_time(SystemTime::now()),
            rtp_timestamp: 90_000,
            packet_count: 12,
            octet_count: 3456,
        };
        for cname in ["", "a", "camera-sim", "camera-sim@host"] {
            let bytes = sender_report(&report, cname);
            assert_eq!(bytes.len() % 4, 0);
            let parsed = parse(&bytes).unwrap();
            assert_eq!(parsed[0], Rtcp::SenderReport(report));
            assert_eq!(parsed[1], Rtcp::Other { packet_type: PT_SDES, format: 1 });
        }
    }

    #[test]
    fn ntp_time_counts_from_1900_with_a_binary_fraction() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1500);
        assert_eq!(ntp_time(t), ((NTP_UNIX_OFFSET + 1) << 32) | (1 << 31));
    }
}
