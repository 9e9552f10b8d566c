//! Validation of what a browser sends: camera ids, SDP offers, ICE candidates.
//!
//! Invariant: a value that passes is bounded in size and safe to put in a Redis key, a
//! bus envelope and a log line; nothing here panics on any input.

use camview_proto::stream::IceCandidate;
use camview_proto::CameraId;

use crate::error::SessionError;

pub use camview_proto::viewer_input::{MAX_CANDIDATE_BYTES, MAX_M_LINE_INDEX, MAX_SDP_BYTES, MAX_SDP_MID_LEN};

/// The camera-id rule of every entry point ([`CameraId`]).
pub fn parse_camera_id(raw: &str) -> Result<CameraId, SessionError> {
    CameraId::parse(raw).map_err(SessionError::InvalidCameraId)
}

/// An SDP offer: starts with `v=0`, has at least one `m=` line, bounded, no NUL bytes.
pub fn validate_sdp_offer(sdp: &str) -> Result<(), SessionError> {
    camview_proto::viewer_input::check_sdp_offer(sdp).map_err(SessionError::InvalidSdp)
}

/// Whether `c` is an end-of-candidates marker (an empty candidate), which is dropped.
pub fn is_end_of_candidates(c: &IceCandidate) -> bool {
    c.candidate.trim().is_empty()
}

/// A browser ICE candidate: `candidate:<foundation> <component> <transport> <priority>
/// <address> <port> typ <type> ...`, with `sdpMid` or `sdpMLineIndex`.
pub fn validate_candidate(c: &IceCandidate) -> Result<(), SessionError> {
    camview_proto::viewer_input::check_candidate(c).map_err(SessionError::InvalidCandidate)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const OFFER: &str =
        "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n";

    pub(crate) fn candidate(line: &str) -> IceCandidate {
        IceCandidate { candidate: line.into(), sdp_mid: Some("0".into()), sdp_m_line_index: Some(0) }
    }

    #[test]
    fn camera_ids_follow_the_api_rules() {
        assert!(parse_camera_id("56C1CADCF1FA4C6CAEBA3E2FD85EFEBF").is_ok());
        assert!(parse_camera_id("cam_1-a").is_ok());
        for bad in ["", "a b", "../x", "cam:1", &"x".repeat(65), "caméra"] {
            assert!(matches!(parse_camera_id(bad), Err(SessionError::InvalidCameraId(_))), "{bad:?}");
        }
    }

    #[test]
    fn an_offer_needs_a_version_line_and_a_media_line() {
        assert!(validate_sdp_offer(OFFER).is_ok());
        for bad in ["", "hello", "v=0\r\ns=-\r\n", "o=- 1 2 IN IP4 x\r\nm=video 9 x 96\r\n"] {
            assert!(matches!(validate_sdp_offer(bad), Err(SessionError::InvalidSdp(_))), "{bad:?}");
        }
        let huge = format!("{OFFER}{}", "a=x\r\n".repeat(MAX_SDP_BYTES / 5));
        assert!(validate_sdp_offer(&huge).is_err());
    }

    #[test]
    fn browser_candidates_pass_and_garbage_does_not() {
        assert!(validate_candidate(&candidate(
            "candidate:842163049 1 udp 1677729535 192.0.2.3 49203 typ srflx raddr 0.0.0.0 rport 0 generation 0"
        ))
        .is_ok());
        assert!(validate_candidate(&candidate("a=candidate:1 1 UDP 2015363327 127.0.0.1 40128 typ host")).is_ok());
        for bad in [
            "hello",
            "candidate:",
            "candidate:1 1 udp x 1.2.3.4 5 typ host",
            "candidate:1 1 udp 1 1.2.3.4 70000 typ host",
            "candidate:1 1 udp 1 1.2.3.4 5 host x",
        ] {
            assert!(matches!(validate_candidate(&candidate(bad)), Err(SessionError::InvalidCandidate(_))), "{bad:?}");
        }
        let no_mid = IceCandidate {
            candidate: "candidate:1 1 udp 1 1.2.3.4 5 typ host".into(),
            sdp_mid: None,
            sdp_m_line_index: None,
        };
        assert!(validate_candidate(&no_mid).is_err());
        assert!(is_end_of_candidates(&candidate("")));
    }
}
