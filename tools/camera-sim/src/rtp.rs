//! RTP for H.264 (RFC 3550, RFC 6184 packetization-mode=1), sans-IO.
//!
//! The [`Packetizer`] turns one access unit (a list of NAL units sharing a timestamp) into RTP
//! packets: single NAL unit packets, FU-A fragments for NAL units larger than the payload MTU and,
//! optionally, STAP-A aggregates of consecutive small units (SPS + PPS). Invariants: every packet's
//! payload is at most `mtu` bytes, sequence numbers increase by one per packet modulo 2^16, and
//! only the last packet of an access unit carries the marker bit.
//!
//! The [`Depacketizer`] is the inverse, for tests and for other crates checking what a media
//! server forwards. It never panics on malformed input.

use thiserror::Error;

use crate::h264::{NAL_FU_A, NAL_STAP_A};

/// Size of an RTP header without CSRCs or extensions.
pub const RTP_HEADER_LEN: usize = 12;

/// Why a datagram could not be used as H.264 RTP.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RtpError {
    #[error("packet of {0} bytes is shorter than its RTP header")]
    Truncated(usize),
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    #[error("empty RTP payload")]
    EmptyPayload,
    #[error("malformed STAP-A aggregate")]
    BadStapA,
    #[error("FU-A fragment too short")]
    BadFuA,
    #[error("unsupported NAL unit type {0} for packetization-mode=1")]
    UnsupportedNalType(u8),
}

/// The fixed header fields of an RTP packet and a borrowed payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses a datagram, skipping CSRCs, a header extension and padding.
    pub fn parse(buf: &'a [u8]) -> Result<Self, RtpError> {
        if buf.len() < RTP_HEADER_LEN {
            return Err(RtpError::Truncated(buf.len()));
        }
        let version = buf[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let padding = buf[0] & 0x20 != 0;
        let extension = buf[0] & 0x10 != 0;
        let csrc_count = usize::from(buf[0] & 0x0f);
        let mut start = RTP_HEADER_LEN + 4 * csrc_count;
        if extension {
            let ext = buf.get(start..start + 4).ok_or(RtpError::Truncated(buf.len()))?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        let mut end = buf.len();
        if padding {
            end = end.saturating_sub(usize::from(buf[buf.len() - 1]));
        }
        if start > end {
            return Err(RtpError::Truncated(buf.len()));
        }
        Ok(Self {
            marker: buf[1] & 0x80 != 0,
            payload_type: buf[1] & 0x7f,
            sequence: u16::from_be_bytes([buf[2], buf[3]]),
            timestamp: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            payload: &buf[start..end],
        })
    }
}

/// Splits access units into RTP packets; owns the sequence number.
#[derive(Debug, Clone)]
pub struct Packetizer {
    ssrc: u32,
    payload_type: u8,
    next_sequence: u16,
    mtu: usize,
    stap_a: bool,
}

impl Packetizer {
    /// `mtu` is the largest RTP payload in bytes; values below 16 are raised to 16 so that
    /// FU-A fragments always carry data.
    pub fn new(ssrc: u32, initial_sequence: u16, payload_type: u8, mtu: usize) -> Self {
        Self {
            ssrc,
            payload_type: payload_type & 0x7f,
            next_sequence: initial_sequence,
            mtu: mtu.max(16),
            stap_a: false,
        }
    }

    /// Aggregates consecutive small NAL units (SPS + PPS before an IDR) into STAP-A packets.
    pub fn with_stap_a(mut self, enabled: bool) -> Self {
        self.stap_a = enabled;
        self
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    pub fn set_payload_type(&mut self, payload_type: u8) {
        self.payload_type = payload_type & 0x7f;
    }

    /// Sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.next_sequence
    }

    /// Packetizes one access unit. Empty NAL units are skipped; an access unit without any
    /// data yields no packets.
    pub fn packetize<N: AsRef<[u8]>>(&mut self, nals: &[N], timestamp: u32) -> Vec<Vec<u8>> {
        let nals: Vec<&[u8]> = nals.iter().map(AsRef::as_ref).filter(|n| !n.is_empty()).collect();
        let mut payloads: Vec<Vec<u8>> = Vec::new();
        let mut i = 0;
        while i < nals.len() {
            let run = if self.stap_a { self.stap_a_run(&nals[i..]) } else { 1 };
            if run >= 2 {
                payloads.push(stap_a(&nals[i..i + run]));
                i += run;
                continue;
            }
            let nal = nals[i];
            if nal.len() <= self.mtu {
                payloads.push(nal.to_vec());
            } else {
                self.fragment(nal, &mut payloads);
            }
            i += 1;
        }
        let last = payloads.len().saturating_sub(1);
        payloads.into_iter().enumerate().map(|(k, payload)| self.packet(&payload, timestamp, k == last)).collect()
    }

    /// How many leading units fit into one STAP-A packet.
    fn stap_a_run(&self, nals: &[&[u8]]) -> usize {
        let mut size = 1;
        let mut count = 0;
        for nal in nals {
            size += 2 + nal.len();
            if size > self.mtu || nal.len() > usize::from(u16::MAX) {
                break;
            }
            count += 1;
        }
        count
    }

    fn fragment(&self, nal: &[u8], out: &mut Vec<Vec<u8>>) {
        let header = nal[0];
        let indicator = (header & 0xe0) | NAL_FU_A;
        let chunks: Vec<&[u8]> = nal[1..].chunks(self.mtu - 2).collect();
        let last = chunks.len() - 1;
        for (k, chunk) in chunks.iter().enumerate() {
            let mut fu_header = header & 0x1f;
            if k == 0 {
                fu_header |= 0x80;
            }
            if k == last {
                fu_header |= 0x40;
            }
            let mut payload = Vec::with_capacity(2 + chunk.len());
            payload.extend_from_slice(&[indicator, fu_header]);
            payload.extend_from_slice(chunk);
            out.push(payload);
        }
    }

    fn packet(&mut self, payload: &[u8], timestamp: u32, marker: bool) -> Vec<u8> {
        let mut buf = Vec::with_capacity(RTP_HEADER_LEN + payload.len());
        buf.push(0x80);
        buf.push(if marker { 0x80 } else { 0 } | self.payload_type);
        buf.extend_from_slice(&self.next_sequence.to_be_bytes());
        buf.extend_from_slice(&timestamp.to_be_bytes());
        buf.extend_from_slice(&self.ssrc.to_be_bytes());
        buf.extend_from_slice(payload);
        self.next_sequence = self.next_sequence.wrapping_add(1);
        buf
    }
}

fn stap_a(nals: &[&[u8]]) -> Vec<u8> {
    let forbidden = nals.iter().fold(0, |acc, n| acc | (n[0] & 0x80));
    let nri = nals.iter().map(|n| n[0] & 0x60).max().unwrap_or(0);
    let mut payload = vec![forbidden | nri | NAL_STAP_A];
    for nal in nals {
        // stap_a_run only admits units shorter than 64 KiB.
        payload.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        payload.extend_from_slice(nal);
    }
    payload
}

/// One reassembled access unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessUnit {
    pub timestamp: u32,
    pub nals: Vec<Vec<u8>>,
    /// False when a sequence gap or a broken fragment lost part of it.
    pub complete: bool,
}

/// Reassembles NAL units from RTP payloads and yields an access unit per marker bit (or when the
/// timestamp changes without one).
#[derive(Debug, Default)]
pub struct Depacketizer {
    nals: Vec<Vec<u8>>,
    fragment: Option<Vec<u8>>,
    timestamp: Option<u32>,
    last_sequence: Option<u16>,
    complete: bool,
}

impl Depacketizer {
    pub fn new() -> Self {
        Self { complete: true, ..Self::default() }
    }

    /// Feeds one packet. Returns the finished access unit(s): a timestamp change without a
    /// marker flushes the previous unit first, so at most two come out.
    pub fn push(&mut self, packet: &RtpPacket<'_>) -> Result<Vec<AccessUnit>, RtpError> {
        let mut done = Vec::new();
        if self.timestamp.is_some_and(|ts| ts != packet.timestamp) {
            done.extend(self.flush());
        }
        if let Some(last) = self.last_sequence {
            if packet.sequence != last.wrapping_add(1) {
                self.complete = false;
                self.fragment = None;
            }
        }
        self.last_sequence = Some(packet.sequence);
        self.timestamp = Some(packet.timestamp);
        let result = self.payload(packet.payload);
        if result.is_err() {
            self.complete = false;
        }
        if packet.marker {
            done.extend(self.flush());
        }
        result.map(|()| done)
    }

    fn payload(&mut self, payload: &[u8]) -> Result<(), RtpError> {
        let first = *payload.first().ok_or(RtpError::EmptyPayload)?;
        match first & 0x1f {
            1..=23 => self.nals.push(payload.to_vec()),
            NAL_STAP_A => {
                let mut rest = &payload[1..];
                while !rest.is_empty() {
                    let len = match rest {
                        [hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
                        _ => return Err(RtpError::BadStapA),
                    };
                    let nal = rest.get(2..2 + len).filter(|n| !n.is_empty()).ok_or(RtpError::BadStapA)?;
                    self.nals.push(nal.to_vec());
                    rest = &rest[2 + len..];
                }
            }
            NAL_FU_A => {
                let [indicator, header, data @ ..] = payload else { return Err(RtpError::BadFuA) };
                let (start, end) = (header & 0x80 != 0, header & 0x40 != 0);
                if start {
                    if self.fragment.is_some() {
                        self.complete = false;
                    }
                    let mut nal = vec![(indicator & 0xe0) | (header & 0x1f)];
                    nal.extend_from_slice(data);
                    self.fragment = Some(nal);
                } else if let Some(nal) = self.fragment.as_mut() {
                    nal.extend_from_slice(data);
                } else {
                    return Err(RtpError::BadFuA);
                }
                if end {
                    if let Some(nal) = self.fragment.take() {
                        self.nals.push(nal);
                    }
                }
            }
            other => return Err(RtpError::UnsupportedNalType(other)),
        }
        Ok(())
    }

    fn flush(&mut self) -> Option<AccessUnit> {
        let timestamp = self.timestamp.take()?;
        if self.fragment.take().is_some() {
            self.complete = false;
        }
        let unit = AccessUnit { timestamp, nals: std::mem::take(&mut self.nals), complete: self.complete };
        self.complete = true;
        (!unit.nals.is_empty()).then_some(unit)
    }
}

#[cfg(test)]
#[path = "rtp_tests.rs"]
mod tests;
