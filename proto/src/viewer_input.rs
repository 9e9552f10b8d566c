//! The checks of what a viewer sends, whatever the transport (signaling's WebSocket, the api's
//! WHEP resource): SDP offers and ICE candidates. Each answers the reason a value is refused,
//! and each transport wraps it in its own error.
//!
//! Invariant: a value that passes is bounded in size and safe to put in a bus envelope and a
//! log line; nothing here panics on any input.

use crate::stream::IceCandidate;

/// Largest SDP offer accepted (a real browser offer is a few KiB).
pub const MAX_SDP_BYTES: usize = 48 * 1024;
/// Longest ICE candidate line.
pub const MAX_CANDIDATE_BYTES: usize = 1024;
/// Longest `sdpMid`.
pub const MAX_SDP_MID_LEN: usize = 64;
/// Highest `sdpMLineIndex` accepted.
pub const MAX_M_LINE_INDEX: u32 = 64;

/// An SDP offer: starts with `v=0`, has at least one `m=` line, bounded, no NUL bytes.
pub fn check_sdp_offer(sdp: &str) -> Result<(), &'static str> {
    if sdp.len() > MAX_SDP_BYTES {
        return Err("offer is larger than 48 KiB");
    }
    if !sdp.starts_with("v=0") {
        return Err("an SDP starts with v=0");
    }
    if sdp.contains('\0') {
        return Err("offer contains a NUL byte");
    }
    if !sdp.lines().any(|l| l.starts_with("m=")) {
        return Err("offer has no m= line");
    }
    Ok(())
}

/// A browser ICE candidate: `candidate:<foundation> <component> <transport> <priority>
/// <address> <port> typ <type> ...`, with `sdpMid` or `sdpMLineIndex`.
pub fn check_candidate(c: &IceCandidate) -> Result<(), &'static str> {
    let line = c.candidate.strip_prefix("a=").unwrap_or(&c.candidate);
    if line.len() > MAX_CANDIDATE_BYTES {
        return Err("candidate is longer than 1024 bytes");
    }
    if line.bytes().any(|b| b.is_ascii_control()) {
        return Err("candidate contains control characters");
    }
    let Some(rest) = line.strip_prefix("candidate:") else {
        return Err("a candidate starts with candidate:");
    };
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    if fields.len() < 8 || fields[6] != "typ" {
        return Err("expected foundation component transport priority address port typ type");
    }
    if fields[1].parse::<u8>().is_err() || fields[3].parse::<u32>().is_err() || fields[5].parse::<u16>().is_err() {
        return Err("component, priority and port must be numbers");
    }
    if c.sdp_mid.is_none() && c.sdp_m_line_index.is_none() {
        return Err("sdpMid or sdpMLineIndex is required");
    }
    if c.sdp_mid.as_ref().is_some_and(|m| m.len() > MAX_SDP_MID_LEN || m.bytes().any(|b| b.is_ascii_control())) {
        return Err("sdpMid is too long or has control characters");
    }
    if c.sdp_m_line_index.is_some_and(|i| i > MAX_M_LINE_INDEX) {
        return Err("sdpMLineIndex is out of range");
    }
    Ok(())
}
