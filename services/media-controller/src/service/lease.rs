//! Whether this controller holds the lease, from the outcomes of its renewals (sans-IO).
//!
//! A renewal started at `t` that succeeded makes the lease ours until at least `t + ttl`:
//! Redis set the key's expiry after `t`, so nobody else can take it before then. A renewal
//! that could not reach Redis therefore does not end the leadership at once, only once that
//! time has passed: a Redis blip shorter than the lease costs no failover, no standby time
//! and no reconciliation. While renewals fail, they are retried four times as often, so the
//! lease is renewed soon after Redis is back.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct LeaseHold {
    ttl: Duration,
    /// The lease is ours until then (the last successful renewal's start + ttl).
    valid_until: Option<Instant>,
    last_failed: bool,
}

/// What a renewal attempt answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewal {
    Held,
    TakenByAnother,
    Unreachable,
}

impl LeaseHold {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, valid_until: None, last_failed: false }
    }

    /// Records a renewal started at `started` and answers whether we lead at `now`.
    pub fn on_renewal(&mut self, started: Instant, outcome: Renewal, now: Instant) -> bool {
        self.last_failed = outcome == Renewal::Unreachable;
        match outcome {
            Renewal::Held => self.valid_until = Some(started + self.ttl),
            Renewal::TakenByAnother => self.valid_until = None,
            Renewal::Unreachable => {}
        }
        self.leads_at(now)
    }

    /// Until when the lease is surely ours, if it is.
    pub fn valid_until(&self) -> Option<Instant> {
        self.valid_until
    }

    pub fn leads_at(&self, now: Instant) -> bool {
        self.valid_until.is_some_and(|t| now < t)
    }

    /// When to try the next renewal: a third of the TTL, a twelfth while Redis is unreachable.
    pub fn next_renewal_in(&self) -> Duration {
        if self.last_failed {
            self.ttl / 12
        } else {
            self.ttl / 3
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(6);

    #[test]
    fn an_unreachable_redis_keeps_the_lease_until_it_could_have_expired_then_ends_it() {
        let t0 = Instant::now();
        let mut lease = LeaseHold::new(TTL);
        assert!(lease.on_renewal(t0, Renewal::Held, t0));
        assert!(lease.on_renewal(t0 + Duration::from_secs(2), Renewal::Unreachable, t0 + Duration::from_secs(2)));
        assert_eq!(lease.next_renewal_in(), Duration::from_millis(500), "retried sooner while failing");
        assert!(lease.on_renewal(t0 + Duration::from_secs(5), Renewal::Unreachable, t0 + Duration::from_millis(5900)));
        assert!(
            !lease.on_renewal(t0 + Duration::from_secs(6), Renewal::Unreachable, t0 + Duration::from_secs(6)),
            "past the TTL another may hold it"
        );
        assert!(lease.on_renewal(t0 + Duration::from_secs(7), Renewal::Held, t0 + Duration::from_secs(7)));
        assert_eq!(lease.next_renewal_in(), Duration::from_secs(2));
    }

    #[test]
    fn a_lease_taken_by_another_ends_the_leadership_at_once() {
        let t0 = Instant::now();
        let mut lease = LeaseHold::new(TTL);
        assert!(lease.on_renewal(t0, Renewal::Held, t0));
        assert!(!lease.on_renewal(t0 + Duration::from_secs(1), Renewal::TakenByAnother, t0 + Duration::from_secs(1)));
    }

    #[test]
    fn no_renewal_yet_means_no_leadership() {
        let t0 = Instant::now();
        let mut lease = LeaseHold::new(TTL);
        assert!(!lease.leads_at(t0));
        assert!(!lease.on_renewal(t0, Renewal::Unreachable, t0));
    }
}
