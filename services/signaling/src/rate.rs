//! Per-connection message rate limit: a token bucket with time passed in.
//!
//! Invariant: the bucket never holds more than `burst` tokens, and `take` never panics
//! whatever instants it is given (time going backwards adds nothing).

use std::time::Instant;

/// Outcome of one incoming message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Handle the message.
    Allow,
    /// Drop it and tell the client once per streak.
    Limit { first_in_streak: bool },
    /// Too many dropped in a row: close the socket.
    Abuse,
}

#[derive(Debug, Clone)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
    streak: u32,
    close_after: u32,
}

impl RateLimiter {
    pub fn new(per_second: u32, burst: u32, close_after: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last: None,
            streak: 0,
            close_after,
        }
    }

    pub fn check(&mut self, now: Instant) -> Verdict {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.streak = 0;
            return Verdict::Allow;
        }
        self.streak = self.streak.saturating_add(1);
        if self.streak > self.close_after {
            Verdict::Abuse
        } else {
            Verdict::Limit { first_in_streak: self.streak == 1 }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_passes_then_messages_are_limited_then_the_socket_is_closed() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(1, 3, 2);
        assert_eq!([r.check(t0), r.check(t0), r.check(t0)], [Verdict::Allow; 3]);
        assert_eq!(r.check(t0), Verdict::Limit { first_in_streak: true });
        assert_eq!(r.check(t0), Verdict::Limit { first_in_streak: false });
        assert_eq!(r.check(t0), Verdict::Abuse);
    }

    #[test]
    fn tokens_come_back_with_time_up_to_the_burst() {
        let t0 = Instant::now();
        let mut r = RateLimiter::new(10, 2, 5);
        r.check(t0);
        r.check(t0);
        assert!(matches!(r.check(t0), Verdict::Limit { .. }));
        assert_eq!(r.check(t0 + Duration::from_millis(100)), Verdict::Allow);
        let later = t0 + Duration::from_secs(60);
        assert_eq!([r.check(later), r.check(later)], [Verdict::Allow; 2]);
        assert!(matches!(r.check(later), Verdict::Limit { first_in_streak: true }));
        // time going backwards neither panics nor refills
        assert!(matches!(r.check(t0), Verdict::Limit { .. }));
    }
}
