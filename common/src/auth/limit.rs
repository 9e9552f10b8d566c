//! Rate limits keyed by client address or username, with time passed in (sans-IO).
//!
//! - [`KeyedBuckets`]: a token bucket per key (REST requests, WebSocket upgrades).
//! - [`FailureBackoff`]: exponential back-off after repeated failures (logins).
//!
//! Invariants: memory is bounded: at most `max_keys` keys are tracked, and when full the
//! entries that would allow a request anyway are evicted first; a key over its limit is
//! never evicted before it has cooled down, so flooding with fresh keys cannot lift a ban.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Whole seconds to announce in `Retry-After` for a wait: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

/// A token bucket per key: `burst` at once, `per_second` sustained.
#[derive(Debug)]
pub struct KeyedBuckets<K> {
    per_second: f64,
    burst: f64,
    max_keys: usize,
    buckets: HashMap<K, (f64, Instant)>,
}

impl<K: Hash + Eq + Clone> KeyedBuckets<K> {
    pub fn new(per_second: u32, burst: u32, max_keys: usize) -> Self {
        Self {
            per_second: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            max_keys: max_keys.max(1),
            buckets: HashMap::new(),
        }
    }

    /// Takes one token for `key`: `Ok` if allowed, or `Err(wait)` until the next token.
    pub fn take(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.max_keys {
            self.evict_full(now);
            if self.buckets.len() >= self.max_keys {
                // Every tracked key is limited: refuse newcomers until some cool down.
                return Err(Duration::from_secs_f64(1.0 / self.per_second));
            }
        }
        let (per_second, burst) = (self.per_second, self.burst);
        let (tokens, at) = self.buckets.entry(key.clone()).or_insert((burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * per_second).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / per_second))
        }
    }

    /// Drops buckets that have refilled completely: they hold no information.
    fn evict_full(&mut self, now: Instant) {
        let (per_second, burst) = (self.per_second, self.burst);
        self.buckets
            .retain(|_, (tokens, at)| *tokens + now.saturating_duration_since(*at).as_secs_f64() * per_second < burst);
    }

    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// Exponential back-off after failures: the first `free` failures cost nothing, each
/// further one doubles the wait from `base` up to `max`; a success clears the key.
#[derive(Debug)]
pub struct FailureBackoff<K> {
    free: u32,
    base: Duration,
    max: Duration,
    max_keys: usize,
    entries: HashMap<K, (u32, Instant)>,
}

impl<K: Hash + Eq + Clone> FailureBackoff<K> {
    pub fn new(free: u32, base: Duration, max: Duration, max_keys: usize) -> Self {
        Self { free, base, max, max_keys: max_keys.max(1), entries: HashMap::new() }
    }

    /// `Err(wait)` while `key` must wait before its next attempt.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        match self.entries.get(key) {
            Some((_, until)) if *until > now => Err(*until - now),
            _ => Ok(()),
        }
    }

    /// Records a failure; returns the wait it imposes (zero while failures are free).
    pub fn fail(&mut self, key: &K, now: Instant) -> Duration {
        if !self.entries.contains_key(key) && self.entries.len() >= self.max_keys {
            // Forget keys that are allowed again and have been quiet for the longest wait.
            let max = self.max;
            self.entries.retain(|_, (_, until)| *until + max > now);
        }
        let (free, base, max) = (self.free, self.base, self.max);
        let (count, until) = self.entries.entry(key.clone()).or_insert((0, now));
        *count = count.saturating_add(1);
        let wait = if *count <= free {
            Duration::ZERO
        } else {
            let doublings = (*count - free - 1).min(20);
            (base * 2u32.pow(doublings)).min(max)
        };
        *until = now + wait;
        wait
    }

    pub fn succeed(&mut self, key: &K) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::from_millis(2100)), 3);
        assert_eq!(retry_after_secs(Duration::from_millis(3001)), 4);
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let mut b = KeyedBuckets::new(2, 3, 100);
        let t = Instant::now();
        for _ in 0..3 {
            assert!(b.take(&"a", t).is_ok());
        }
        let wait = b.take(&"a", t).unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(b.take(&"b", t).is_ok(), "keys are independent");
        assert!(b.take(&"a", t + Duration::from_millis(500)).is_ok());
    }

    #[test]
    fn fresh_keys_cannot_evict_a_limited_one() {
        let mut b = KeyedBuckets::new(1, 1, 2);
        let t = Instant::now();
        assert!(b.take(&0, t).is_ok());
        assert!(b.take(&0, t).is_err());
        for k in 1..100 {
            let _ = b.take(&k, t);
        }
        assert!(b.take(&0, t).is_err(), "still limited");
        assert!(b.tracked() <= 2);
    }

    #[test]
    fn failures_back_off_exponentially_and_success_clears() {
        let mut f = FailureBackoff::new(3, Duration::from_secs(1), Duration::from_secs(60), 100);
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(f.fail(&"ip", t), Duration::ZERO);
        }
        assert_eq!(f.fail(&"ip", t), Duration::from_secs(1));
        assert_eq!(f.check(&"ip", t), Err(Duration::from_secs(1)));
        assert_eq!(f.fail(&"ip", t), Duration::from_secs(2));
        assert_eq!(f.fail(&"ip", t), Duration::from_secs(4));
        for _ in 0..20 {
            f.fail(&"ip", t);
        }
        assert_eq!(f.check(&"ip", t), Err(Duration::from_secs(60)), "capped");
        f.succeed(&"ip");
        assert!(f.check(&"ip", t).is_ok());
    }
}
