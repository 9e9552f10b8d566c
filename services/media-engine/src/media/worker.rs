//! The packet path: a fixed set of worker threads (`ENGINE_WORKERS`, one per core by default),
//! each owning its viewers outright.
//!
//! A viewer is negotiated on the RPC side (its `Rtc` built there) and then handed to the least
//! loaded worker, which alone touches it from then on: no lock on the packet path. A camera's
//! packet (payload shared, an `Arc<[u8]>` that str0m takes as is) is handed once to each worker
//! that has viewers of that camera; the worker writes it into each of its viewers' `Rtc`s, drains
//! them, and sends the result in batches (`egress`). Each worker has one timer: the earliest
//! deadline of its `Rtc`s (a sorted set), not one task per viewer.
//!
//! Each worker is an OS thread running a single-threaded tokio runtime (its sockets are
//! registered there); commands reach it over one channel, in order, so a viewer is always added
//! before the first datagram routed to it.

mod egress;
pub mod peer;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::{Candidate, Input, Output};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio_util::sync::CancellationToken;

use super::packet::RtpPacket;
use super::rtp_source::RtpSource;
use super::MediaCounters;
use crate::events::EventTx;
use egress::Egress;
use peer::{Fed, NewPeer, Peer};

/// Commands a worker takes at most per round before it drains and sends.
const ROUND: usize = 256;

/// How long a worker waits for the rest of a frame before sending what it has.
const FRAME_HOLD: Duration = Duration::from_millis(2);

pub enum Cmd {
    /// A negotiated viewer goes live on this worker.
    Add(Box<NewPeer>),
    Remove(u64),
    /// A datagram from a viewer's peer (routed by the WebRTC mux).
    Datagram {
        key: u64,
        local: SocketAddr,
        remote: SocketAddr,
        data: Vec<u8>,
    },
    Candidate(u64, Candidate),
    SetSource(u64, Option<Arc<RtpSource>>),
    /// A camera packet for every viewer of `source` on this worker.
    Rtp {
        source: Arc<RtpSource>,
        pkt: RtpPacket,
    },
    SourceSilent(u64),
}

/// The running workers, as the RPC side and the camera readers see them.
pub struct Workers {
    txs: Vec<UnboundedSender<Cmd>>,
    /// Viewers per worker, for placing new ones.
    load: Vec<AtomicUsize>,
}

impl Workers {
    /// Starts `n` worker threads; `shared` are the shared WebRTC sockets (each worker sends on
    /// its own duplicate of them). They end with `cancel`.
    pub fn start(
        n: usize,
        shared: &[std::net::UdpSocket],
        events: EventTx,
        counters: Arc<MediaCounters>,
        cancel: CancellationToken,
    ) -> std::io::Result<Arc<Workers>> {
        let mut txs = vec![];
        for idx in 0..n.max(1) {
            let (tx, rx) = unbounded_channel();
            let socks = shared.iter().map(|s| s.try_clone()).collect::<std::io::Result<Vec<_>>>()?;
            let (events, counters, cancel) = (events.clone(), counters.clone(), cancel.clone());
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            std::thread::Builder::new().name(format!("media-worker-{idx}")).spawn(move || {
                rt.block_on(async move {
                    let mut egress = Egress::new();
                    for s in socks {
                        if let Err(e) = egress.add_socket(s, true) {
                            tracing::error!(worker = idx, error = %e, "cannot use a shared WebRTC socket");
                        }
                    }
                    Worker {
                        events,
                        counters,
                        egress,
                        peers: HashMap::new(),
                        by_source: HashMap::new(),
                        timers: BTreeSet::new(),
                        dirty: vec![],
                        out: (0, 0),
                        refused: 0,
                        frame_hold: None,
                    }
                    .run(rx, cancel)
                    .await
                })
            })?;
            txs.push(tx);
        }
        let load = txs.iter().map(|_| AtomicUsize::new(0)).collect();
        Ok(Arc::new(Workers { txs, load }))
    }

    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// The worker a new viewer goes to: the one with the fewest viewers.
    pub fn place(&self) -> usize {
        let w = (0..self.load.len()).min_by_key(|i| self.load[*i].load(Ordering::Relaxed)).unwrap_or(0);
        self.load[w].fetch_add(1, Ordering::Relaxed);
        w
    }

    /// A viewer placed on `w` is gone.
    pub fn unplace(&self, w: usize) {
        let _ = self.load[w].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub fn send(&self, w: usize, cmd: Cmd) {
        // A worker only stops with the engine; commands after that are moot.
        let _ = self.txs[w].send(cmd);
    }
}

struct Worker {
    events: EventTx,
    counters: Arc<MediaCounters>,
    egress: Egress,
    peers: HashMap<u64, Peer>,
    /// Viewers of each camera (by `RtpSource::key`) on this worker.
    by_source: HashMap<u64, Vec<u64>>,
    timers: BTreeSet<(Instant, u64)>,
    /// Viewers given input since they were last drained.
    dirty: Vec<u64>,
    /// RTP packets and payload bytes written this round (added to the shared counters once).
    out: (u64, u64),
    refused: u64,
    /// Drain no earlier than this: the rest of a frame is on its way.
    frame_hold: Option<Instant>,
}

impl Worker {
    async fn run(mut self, mut rx: UnboundedReceiver<Cmd>, cancel: CancellationToken) {
        let far = || Instant::now() + Duration::from_secs(3600);
        let sleep = tokio::time::sleep_until(far().into());
        tokio::pin!(sleep);
        loop {
            let next = self.timers.first().map(|t| t.0).unwrap_or_else(far);
            sleep.as_mut().reset(self.frame_hold.map_or(next, |h| h.min(next)).into());
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.handle(cmd, Instant::now());
                    for _ in 1..ROUND {
                        match rx.try_recv() {
                            Ok(cmd) => self.handle(cmd, Instant::now()),
                            Err(_) => break,
                        }
                    }
                }
                _ = &mut sleep => {}
            }
            // Also after a round of commands: a steady stream of them must not starve timers.
            let now = Instant::now();
            self.fire_timers(now);
            if self.frame_hold.is_some_and(|h| now < h) {
                continue;
            }
            self.frame_hold = None;
            self.drain_dirty().await;
            self.send().await;
        }
    }

    fn mark(&mut self, key: u64) {
        if let Some(p) = self.peers.get_mut(&key) {
            if !p.dirty {
                p.dirty = true;
                self.dirty.push(key);
            }
        }
    }

    fn handle(&mut self, cmd: Cmd, now: Instant) {
        match cmd {
            Cmd::Add(p) => {
                let key = p.key;
                let mut p = *p;
                let mut locals = vec![];
                for s in std::mem::take(&mut p.sockets) {
                    locals.extend(s.local_addr().ok());
                    if let Err(e) = self.egress.add_socket(s, false) {
                        tracing::warn!(viewer = %p.id, error = %e, "cannot send on the viewer's socket");
                    }
                }
                let peer = Peer::new(p, locals);
                if let Some(s) = peer.source_key {
                    self.by_source.entry(s).or_default().push(key);
                }
                self.peers.insert(key, peer);
                self.mark(key);
            }
            Cmd::Remove(key) => {
                let Some(mut p) = self.peers.remove(&key) else { return };
                self.unindex(key, p.source_key);
                if let Some(d) = p.deadline {
                    self.timers.remove(&(d, key));
                }
                p.rtc.disconnect();
                let _ = drain_one(&mut p, key, now, &self.events, &mut self.egress, &mut self.timers, &mut self.out);
                for l in &p.locals {
                    self.egress.release_socket(*l);
                }
            }
            Cmd::Datagram { key, local, remote, data } => {
                let Some(p) = self.peers.get_mut(&key) else { return };
                if let Fed::Handled = p.receive(now, local, remote, &data, &mut self.refused) {
                    self.mark(key);
                }
            }
            Cmd::Candidate(key, c) => {
                if let Some(p) = self.peers.get_mut(&key) {
                    p.rtc.add_remote_candidate(c);
                    self.mark(key);
                }
            }
            Cmd::SetSource(key, source) => {
                let Some(p) = self.peers.get_mut(&key) else { return };
                let old = p.source_key;
                p.set_source(source.as_ref());
                let new = p.source_key;
                self.unindex(key, old);
                if let Some(s) = new {
                    self.by_source.entry(s).or_default().push(key);
                }
            }
            Cmd::Rtp { source, pkt } => {
                let Some(keys) = self.by_source.get(&source.key) else { return };
                // A camera sends a frame's packets back to back: hold the drain until the frame's
                // last (marker) packet, or FRAME_HOLD, so each viewer gets the frame in one GSO send.
                self.frame_hold = match pkt.marker {
                    true => None,
                    false => Some(self.frame_hold.unwrap_or(now + FRAME_HOLD)),
                };
                for key in keys {
                    let Some(p) = self.peers.get_mut(key) else { continue };
                    let (n, bytes) = p.on_rtp(&self.events, &source, &pkt, now);
                    if n > 0 {
                        self.out.0 += n;
                        self.out.1 += bytes;
                        if !p.dirty {
                            p.dirty = true;
                            self.dirty.push(*key);
                        }
                    }
                }
            }
            Cmd::SourceSilent(source) => {
                let Some(keys) = self.by_source.get(&source) else { return };
                for key in keys {
                    if let Some(p) = self.peers.get_mut(key) {
                        p.on_source_silent(&self.events);
                    }
                }
            }
        }
    }

    fn unindex(&mut self, key: u64, source: Option<u64>) {
        let Some(s) = source else { return };
        if let Some(v) = self.by_source.get_mut(&s) {
            v.retain(|k| *k != key);
            if v.is_empty() {
                self.by_source.remove(&s);
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        while let Some(&(t, key)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            let Some(p) = self.peers.get_mut(&key) else { continue };
            p.deadline = None;
            if !p.rtc.is_alive() {
                continue;
            }
            let _ = p.rtc.handle_input(Input::Timeout(now));
            p.replay_early(now, &mut self.refused);
            self.mark(key);
        }
    }

    /// Drains every viewer given input this round, flushing the egress when it fills up.
    async fn drain_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for key in &dirty {
            let Some(p) = self.peers.get_mut(key) else { continue };
            p.dirty = false;
            let _ = drain_one(p, *key, Instant::now(), &self.events, &mut self.egress, &mut self.timers, &mut self.out);
            if self.egress.gathered() >= egress::FLUSH_AT {
                self.send().await;
            }
        }
        // Keep the list's allocation for the next round.
        self.dirty = dirty;
        self.dirty.clear();
    }

    /// Sends what was gathered; the counters include it before it leaves.
    async fn send(&mut self) {
        self.flush_counters();
        self.egress.flush().await;
    }

    fn flush_counters(&mut self) {
        if self.out.0 > 0 {
            MediaCounters::add(&self.counters.rtp_packets_out, self.out.0);
            MediaCounters::add(&self.counters.rtp_bytes_out, self.out.1);
            self.out = (0, 0);
        }
        if self.refused > 0 {
            MediaCounters::add(&self.counters.webrtc_refused_in, self.refused);
            self.refused = 0;
        }
    }
}

/// Drains every output of one `Rtc`: transmits are gathered, events handled, the fast start
/// fed a chunk at a time, and its timer entry moved to the new deadline.
fn drain_one(
    p: &mut Peer,
    key: u64,
    now: Instant,
    events: &EventTx,
    egress: &mut Egress,
    timers: &mut BTreeSet<(Instant, u64)>,
    out: &mut (u64, u64),
) -> Result<(), str0m::RtcError> {
    // str0m sends what `write_rtp` queued only after time moves on: move it now rather than at
    // the next timer tick.
    if std::mem::take(&mut p.wrote) {
        p.rtc.handle_input(Input::Timeout(now))?;
    }
    loop {
        match p.rtc.poll_output()? {
            Output::Timeout(t) => {
                let (n, bytes) = p.feed_backlog(now);
                if n > 0 {
                    out.0 += n;
                    out.1 += bytes;
                    p.wrote = false;
                    p.rtc.handle_input(Input::Timeout(now))?;
                    continue;
                }
                if p.deadline != Some(t) {
                    if let Some(old) = p.deadline.take() {
                        timers.remove(&(old, key));
                    }
                    if p.rtc.is_alive() {
                        timers.insert((t, key));
                        p.deadline = Some(t);
                    }
                }
                return Ok(());
            }
            Output::Transmit(t) => egress.push(t.source, t.destination, &t.contents),
            Output::Event(e) => p.on_event(events, e),
        }
    }
}
