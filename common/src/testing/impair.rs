//! The sans-IO core of the impairment relay ([`super::relay`]): what a bad network does to a
//! stream of datagrams, decided per datagram by a seeded RNG so that a seed replays the same
//! decisions. This kernel has no netem; this is its userspace stand-in.
//!
//! Per datagram, in this order: drop (`loss_percent`), else duplicate (`duplicate_percent`:
//! one extra copy), else-or-also hold back (`reorder_percent`: kept until the next datagram
//! has been scheduled, then released right after it, or after [`HOLD_LIMIT`] if none comes),
//! and delay every copy by `delay` plus a uniform `0..=jitter` (jitter alone may reorder, as
//! netem's does). Invariant: nothing accepted is ever lost: every datagram not dropped comes
//! out of [`Impairer::poll`] once per copy.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A held-back datagram goes out after this long even if no other datagram follows.
pub const HOLD_LIMIT: Duration = Duration::from_millis(100);

/// What the network does, per direction. `Default` is a perfect network.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Impairment {
    /// Datagrams dropped, in percent (0..=100).
    pub loss_percent: f64,
    /// Datagrams sent twice, in percent.
    pub duplicate_percent: f64,
    /// Datagrams held back behind the next one, in percent.
    pub reorder_percent: f64,
    /// Added to every datagram's transit.
    pub delay: Duration,
    /// Up to this much more, uniformly.
    pub jitter: Duration,
}

impl Impairment {
    /// Everything dropped: a link outage.
    pub fn blackout() -> Self {
        Impairment { loss_percent: 100.0, ..Impairment::default() }
    }
}

/// What the impairer did so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImpairCounters {
    /// Datagrams put in.
    pub received: u64,
    pub dropped: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Datagrams held back behind a later one.
    pub reordered: u64,
    /// Datagrams (copies included) handed out by `poll`.
    pub forwarded: u64,
}

/// One direction's impairment state: datagrams in, datagrams out when due.
pub struct Impairer {
    config: Impairment,
    rng: StdRng,
    /// Due time and arrival order -> datagram; a `BTreeMap` pops them in due order, ties in
    /// arrival order.
    queue: BTreeMap<(Instant, u64), Vec<u8>>,
    next_id: u64,
    /// The held-back datagram, its copies and when it goes out regardless.
    held: Option<(Vec<u8>, u32, Instant)>,
    counters: ImpairCounters,
}

impl Impairer {
    /// Same `seed`, same inputs (datagrams and times): same outputs.
    pub fn new(config: Impairment, seed: u64) -> Self {
        Impairer {
            config,
            rng: StdRng::seed_from_u64(seed),
            queue: BTreeMap::new(),
            next_id: 0,
            held: None,
            counters: ImpairCounters::default(),
        }
    }

    /// Changes what happens to datagrams from now on (those in flight keep their fate).
    pub fn set(&mut self, config: Impairment) {
        self.config = config;
    }

    pub fn config(&self) -> Impairment {
        self.config
    }

    pub fn counters(&self) -> ImpairCounters {
        self.counters
    }

    /// Takes one datagram that arrived at `now`.
    pub fn input(&mut self, now: Instant, datagram: Vec<u8>) {
        self.counters.received += 1;
        if self.chance(self.config.loss_percent) {
            self.counters.dropped += 1;
            return;
        }
        let copies = if self.chance(self.config.duplicate_percent) {
            self.counters.duplicated += 1;
            2
        } else {
            1
        };
        if self.held.is_none() && self.chance(self.config.reorder_percent) {
            self.counters.reordered += 1;
            self.held = Some((datagram, copies, now + HOLD_LIMIT));
            return;
        }
        let due = self.schedule(now, datagram, copies);
        if let Some((held, copies, _)) = self.held.take() {
            // Right behind the datagram that overtook it (same due time, later id).
            self.schedule_at(due, held, copies);
        }
    }

    /// The next datagram due at `now`, if any; call until `None`.
    pub fn poll(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.held.as_ref().is_some_and(|(_, _, limit)| *limit <= now) {
            if let Some((held, copies, _)) = self.held.take() {
                self.schedule(now, held, copies);
            }
        }
        let first = *self.queue.keys().next()?;
        if first.0 > now {
            return None;
        }
        self.counters.forwarded += 1;
        self.queue.remove(&first)
    }

    /// When [`Impairer::poll`] next has something (or a held datagram times out).
    pub fn next_due(&self) -> Option<Instant> {
        let queued = self.queue.keys().next().map(|k| k.0);
        let held = self.held.as_ref().map(|h| h.2);
        match (queued, held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Datagrams not yet handed out (held one included).
    pub fn in_flight(&self) -> usize {
        self.queue.len() + self.held.as_ref().map_or(0, |h| h.1 as usize)
    }

    fn chance(&mut self, percent: f64) -> bool {
        percent > 0.0 && self.rng.gen::<f64>() * 100.0 < percent
    }

    /// Schedules `copies` of `datagram` after the configured delay; returns its due time.
    fn schedule(&mut self, now: Instant, datagram: Vec<u8>, copies: u32) -> Instant {
        let jitter_ms = self.config.jitter.as_millis() as u64;
        let jitter =
            if jitter_ms > 0 { Duration::from_millis(self.rng.gen_range(0..=jitter_ms)) } else { Duration::ZERO };
        let due = now + self.config.delay + jitter;
        self.schedule_at(due, datagram, copies);
        due
    }

    fn schedule_at(&mut self, due: Instant, datagram: Vec<u8>, copies: u32) {
        for _ in 1..copies {
            self.queue.insert((due, self.next_id), datagram.clone());
            self.next_id += 1;
        }
        self.queue.insert((due, self.next_id), datagram);
        self.next_id += 1;
    }
}

#[cfg(test)]
#[path = "impair_tests.rs"]
mod tests;
