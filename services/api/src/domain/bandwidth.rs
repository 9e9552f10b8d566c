//! Bandwidth limits of a start request.
//!
//! Invariant: a [`Bandwidth`] built here has `1 <= min <= max <= MAX_BANDWIDTH_KBPS`.

use camview_proto::rest::{
    StartStreamRequest, DEFAULT_MAX_BANDWIDTH_KBPS, DEFAULT_MIN_BANDWIDTH_KBPS, MAX_BANDWIDTH_KBPS,
};
use camview_proto::stream::Bandwidth;

/// Why the requested limits were rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BandwidthError {
    #[error("{0} must be a positive number of kbps")]
    NotPositive(&'static str),
    #[error("{0} must be at most {MAX_BANDWIDTH_KBPS} kbps")]
    TooHigh(&'static str),
    #[error("min_bandwidth ({min}) must not exceed max_bandwidth ({max})")]
    MinAboveMax { min: u32, max: u32 },
}

/// Applies the defaults (3000/300 kbps) and checks the bounds.
pub fn bandwidth_from_request(request: &StartStreamRequest) -> Result<Bandwidth, BandwidthError> {
    let max = request.max_bandwidth.unwrap_or(DEFAULT_MAX_BANDWIDTH_KBPS);
    let min = request.min_bandwidth.unwrap_or(DEFAULT_MIN_BANDWIDTH_KBPS.min(max));
    for (name, value) in [("max_bandwidth", max), ("min_bandwidth", min)] {
        if value == 0 {
            return Err(BandwidthError::NotPositive(name));
        }
        if value > MAX_BANDWIDTH_KBPS {
            return Err(BandwidthError::TooHigh(name));
        }
    }
    if min > max {
        return Err(BandwidthError::MinAboveMax { min, max });
    }
    Ok(Bandwidth { max_bandwidth: max, min_bandwidth: min })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(max: Option<u32>, min: Option<u32>) -> StartStreamRequest {
        StartStreamRequest { max_bandwidth: max, min_bandwidth: min, source: None }
    }

    #[test]
    fn an_empty_request_gets_the_defaults() {
        assert_eq!(bandwidth_from_request(&req(None, None)), Ok(Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 }));
    }

    #[test]
    fn explicit_limits_are_kept() {
        assert_eq!(
            bandwidth_from_request(&req(Some(1000), Some(1000))),
            Ok(Bandwidth { max_bandwidth: 1000, min_bandwidth: 1000 })
        );
    }

    #[test]
    fn a_low_max_alone_lowers_the_default_min() {
        assert_eq!(
            bandwidth_from_request(&req(Some(200), None)),
            Ok(Bandwidth { max_bandwidth: 200, min_bandwidth: 200 })
        );
    }

    #[test]
    fn zero_too_high_and_inverted_limits_are_rejected() {
        assert_eq!(bandwidth_from_request(&req(Some(0), None)), Err(BandwidthError::NotPositive("max_bandwidth")));
        assert_eq!(bandwidth_from_request(&req(None, Some(0))), Err(BandwidthError::NotPositive("min_bandwidth")));
        assert_eq!(
            bandwidth_from_request(&req(Some(MAX_BANDWIDTH_KBPS + 1), None)),
            Err(BandwidthError::TooHigh("max_bandwidth"))
        );
        assert_eq!(
            bandwidth_from_request(&req(Some(500), Some(600))),
            Err(BandwidthError::MinAboveMax { min: 600, max: 500 })
        );
    }
}
