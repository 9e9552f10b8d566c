//! Coalescing of keyframe requests, sans-IO.
//!
//! Receivers repeat PLIs until a keyframe arrives, and several receivers may ask at once. An IDR
//! costs many times a P frame, so requests are merged: at most one forced IDR per `min_gap`, and
//! a request that arrives while the gap runs is served when it ends rather than dropped (the
//! requester may have lost the previous IDR). Any IDR sent, forced or periodic, satisfies every
//! request made before it.

use std::time::{Duration, Instant};

/// Default spacing of forced IDRs.
pub const DEFAULT_MIN_GAP: Duration = Duration::from_millis(200);

#[derive(Debug, Clone)]
pub struct KeyframeLimiter {
    min_gap: Duration,
    last_idr: Option<Instant>,
    pending: bool,
}

impl KeyframeLimiter {
    pub fn new(min_gap: Duration) -> Self {
        Self { min_gap, last_idr: None, pending: false }
    }

    /// Records a request (PLI, FIR or an API call).
    pub fn request(&mut self) {
        self.pending = true;
    }

    /// Whether a request is waiting to be served.
    pub fn is_pending(&self) -> bool {
        self.pending
    }

    /// Whether the frame encoded at `now` must be forced to be an IDR.
    pub fn should_force(&self, now: Instant) -> bool {
        self.pending && self.last_idr.is_none_or(|last| now.saturating_duration_since(last) >= self.min_gap)
    }

    /// Records that an IDR went out at `now`, which answers every pending request.
    pub fn idr_sent(&mut self, now: Instant) {
        self.pending = false;
        self.last_idr = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_forces_the_next_frame_when_no_idr_went_out_recently() {
        let t0 = Instant::now();
        let mut k = KeyframeLimiter::new(DEFAULT_MIN_GAP);
        assert!(!k.should_force(t0));
        k.request();
        assert!(k.should_force(t0));
        k.idr_sent(t0);
        assert!(!k.should_force(t0 + Duration::from_millis(1)));
    }

    #[test]
    fn a_burst_of_requests_within_the_gap_yields_one_deferred_idr() {
        let t0 = Instant::now();
        let mut k = KeyframeLimiter::new(DEFAULT_MIN_GAP);
        k.request();
        k.idr_sent(t0);
        for ms in [10, 50, 150] {
            k.request();
            assert!(!k.should_force(t0 + Duration::from_millis(ms)), "at {ms} ms");
        }
        assert!(k.should_force(t0 + Duration::from_millis(200)));
        k.idr_sent(t0 + Duration::from_millis(200));
        assert!(!k.should_force(t0 + Duration::from_millis(1000)), "the burst was served by one IDR");
    }

    #[test]
    fn a_periodic_idr_satisfies_a_pending_request() {
        let t0 = Instant::now();
        let mut k = KeyframeLimiter::new(DEFAULT_MIN_GAP);
        k.idr_sent(t0);
        k.request();
        assert!(k.is_pending());
        k.idr_sent(t0 + Duration::from_millis(100));
        assert!(!k.is_pending());
        assert!(!k.should_force(t0 + Duration::from_secs(5)));
    }
}
