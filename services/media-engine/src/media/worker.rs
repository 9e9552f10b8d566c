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
mod queue;
mod seq;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use camview_proto::kurento::KurentoErrorCode;
use str0m::{Candidate, Input};
use tokio_util::sync::CancellationToken;

use super::packet::RtpPacket;
use super::rtp_source::RtpSource;
use super::MediaCounters;
use crate::events::{EventTx, MediaEvent};
use crate::supervise::{panic_message, Backoff};
use egress::Egress;
use peer::{drain_one, Fed, NewPeer, Peer};
pub use queue::Overloaded;
use queue::{Inbox, Load, Queue};

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
    /// A viewer's audio source changed (connected for audio, or released).
    SetAudioSource(u64, Option<Arc<RtpSource>>),
    /// A camera packet for every viewer of `source` on this worker.
    Rtp {
        source: Arc<RtpSource>,
        pkt: RtpPacket,
    },
    SourceSilent(u64),
    /// Test support: panics in the worker's own loop, outside any viewer's handling.
    #[cfg(feature = "test-support")]
    Panic,
}

/// The running workers, as the RPC side and the camera readers see them.
pub struct Workers {
    queues: Vec<Queue>,
    load: Load,
    counters: Arc<MediaCounters>,
}

impl Workers {
    /// Starts `n` worker threads; `shared` are the shared WebRTC sockets (each worker sends on
    /// its own duplicate of them). They end with `cancel`. A worker whose own loop panics is
    /// restarted on its thread with its viewers (counted as `task="worker"`); a panic in one
    /// viewer's handling closes that viewer only (`Worker::fail`).
    pub fn start(
        n: usize,
        shared: &[std::net::UdpSocket],
        events: EventTx,
        counters: Arc<MediaCounters>,
        cancel: CancellationToken,
    ) -> std::io::Result<Arc<Workers>> {
        let mut queues = vec![];
        for idx in 0..n.max(1) {
            let (q, inbox) = queue::queue();
            let socks = shared.iter().map(|s| s.try_clone()).collect::<std::io::Result<Vec<_>>>()?;
            let (events, counters, cancel) = (events.clone(), counters.clone(), cancel.clone());
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            std::thread::Builder::new().name(format!("media-worker-{idx}")).spawn(move || {
                let worker = {
                    let _rt = rt.enter();
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
                };
                supervise_worker(idx, &rt, worker, inbox, &cancel);
            })?;
            queues.push(q);
        }
        let load = Load::new(queues.len());
        Ok(Arc::new(Workers { queues, load, counters }))
    }

    pub fn len(&self) -> usize {
        self.queues.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// The worker a new viewer goes to: the one with the fewest viewers.
    pub fn place(&self) -> usize {
        self.load.place()
    }

    /// A viewer placed on `w` is gone.
    pub fn unplace(&self, w: usize) {
        self.load.unplace(w)
    }

    /// Media (camera packets, datagrams, flow changes): dropped and counted when the worker is
    /// far behind (see `queue`).
    pub fn send_media(&self, w: usize, cmd: Cmd) {
        self.queues[w].media(cmd, &self.counters.faults);
    }

    /// An RPC's command (a viewer going live, a candidate): refused when the queue is full.
    pub fn send_control(&self, w: usize, cmd: Cmd) -> Result<(), Overloaded> {
        self.queues[w].control(cmd, &self.counters.faults)
    }

    /// A removal or source change: never lost (see `queue`).
    pub fn send_state(&self, w: usize, cmd: Cmd) {
        self.queues[w].state(cmd);
    }
}

/// Runs the worker on its thread; a panic in its own loop (outside any viewer's handling) is
/// logged, counted, and the loop restarted with the same viewers and queue.
fn supervise_worker(
    idx: usize,
    rt: &tokio::runtime::Runtime,
    mut worker: Worker,
    mut inbox: Inbox,
    cancel: &CancellationToken,
) {
    let mut backoff = Backoff::new();
    loop {
        let started = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| rt.block_on(worker.run(&mut inbox, cancel)))) {
            Ok(()) => return,
            Err(p) => {
                tracing::error!(
                    worker = idx,
                    panic = panic_message(p.as_ref()),
                    "media worker panicked; restarting it"
                );
                worker.counters.faults.restarted("worker");
                worker.after_panic();
            }
        }
        std::thread::sleep(backoff.after_panic(started));
        if cancel.is_cancelled() {
            return;
        }
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
    async fn run(&mut self, inbox: &mut Inbox, cancel: &CancellationToken) {
        let far = || Instant::now() + Duration::from_secs(3600);
        let sleep = tokio::time::sleep_until(far().into());
        tokio::pin!(sleep);
        loop {
            let next = self.timers.first().map(|t| t.0).unwrap_or_else(far);
            sleep.as_mut().reset(self.frame_hold.map_or(next, |h| h.min(next)).into());
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                cmd = inbox.rx.recv() => {
                    let Some(cmd) = cmd else { break };
                    self.handle(cmd, Instant::now());
                    for _ in 1..ROUND {
                        match inbox.rx.try_recv() {
                            Ok(cmd) => self.handle(cmd, Instant::now()),
                            Err(_) => break,
                        }
                    }
                    for cmd in inbox.take_pending() {
                        self.handle(cmd, Instant::now());
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

    /// After a panic in the worker's own loop: what was gathered but not sent is dropped (as
    /// network loss), and the timer set and drain list are rebuilt from the viewers.
    fn after_panic(&mut self) {
        self.egress.discard();
        self.frame_hold = None;
        self.dirty.clear();
        self.timers.clear();
        for (key, p) in self.peers.iter_mut() {
            p.dirty = true;
            self.dirty.push(*key);
            if let Some(d) = p.deadline {
                self.timers.insert((d, *key));
            }
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

    /// Runs `f` for viewer `key`; if it panics, that viewer is closed (`fail`) and nothing else.
    fn guarded(&mut self, key: u64, place: &'static str, f: impl FnOnce(&mut Self)) {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| f(self))) {
            self.fail(key, place, p.as_ref());
        }
    }

    /// A panic while handling viewer `key`: its state is dropped, its sockets released, and it
    /// gets an `Error` event (the controller renegotiates it); other viewers never notice.
    fn fail(&mut self, key: u64, place: &'static str, panic: &(dyn std::any::Any + Send)) {
        self.counters.faults.panicked("viewer");
        let Some(p) = self.peers.remove(&key) else { return };
        tracing::error!(viewer = %p.id, place, panic = panic_message(panic), "handling a viewer panicked; closing that viewer");
        self.unindex(key, p.source_key);
        self.unindex(key, p.audio_source_key);
        if let Some(d) = p.deadline {
            self.timers.remove(&(d, key));
        }
        self.dirty.retain(|k| *k != key);
        for l in &p.locals {
            self.egress.release_socket(*l);
        }
        p.closed_by_fault(&self.events);
        let description = format!(
            "the media engine failed while handling this endpoint ({place}) and closed it; release it and create a new one"
        );
        self.events.emit(&p.id, MediaEvent::Error { description, code: KurentoErrorCode::UnexpectedError });
        // Its `Rtc` may be in any state: dropping it must not take the worker down either.
        let _ = catch_unwind(AssertUnwindSafe(move || drop(p)));
    }

    fn handle(&mut self, cmd: Cmd, now: Instant) {
        match cmd {
            Cmd::Add(p) => {
                let key = p.key;
                self.guarded(key, "add", |w| w.add(*p));
            }
            Cmd::Remove(key) => self.guarded(key, "remove", |w| w.remove(key, now)),
            Cmd::Datagram { key, local, remote, data } => self.guarded(key, "datagram", |w| {
                let Some(p) = w.peers.get_mut(&key) else { return };
                if let Fed::Handled = p.receive(now, local, remote, &data, &mut w.refused) {
                    w.mark(key);
                }
            }),
            Cmd::Candidate(key, c) => self.guarded(key, "candidate", |w| {
                if let Some(p) = w.peers.get_mut(&key) {
                    p.rtc.add_remote_candidate(c);
                    w.mark(key);
                }
            }),
            Cmd::SetSource(key, source) => self.guarded(key, "source", |w| {
                let Some(p) = w.peers.get_mut(&key) else { return };
                let old = p.source_key;
                p.set_source(source.as_ref());
                let new = p.source_key;
                w.unindex(key, old);
                if let Some(s) = new {
                    w.by_source.entry(s).or_default().push(key);
                }
            }),
            Cmd::SetAudioSource(key, source) => self.guarded(key, "source", |w| {
                let Some(p) = w.peers.get_mut(&key) else { return };
                let old = p.audio_source_key;
                p.set_audio_source(source.as_ref());
                let new = p.audio_source_key;
                w.unindex(key, old);
                if let Some(s) = new {
                    w.by_source.entry(s).or_default().push(key);
                }
            }),
            Cmd::Rtp { source, pkt } => self.rtp(&source, &pkt, now),
            Cmd::SourceSilent(source) => {
                let Some(keys) = self.by_source.get(&source) else { return };
                let mut failed = vec![];
                for key in keys {
                    if let Some(p) = self.peers.get_mut(key) {
                        if let Err(e) = catch_unwind(AssertUnwindSafe(|| p.on_source_silent(&self.events))) {
                            failed.push((*key, e));
                        }
                    }
                }
                for (key, e) in failed {
                    self.fail(key, "flow", e.as_ref());
                }
            }
            #[cfg(feature = "test-support")]
            Cmd::Panic => panic!("test-support: the worker's own loop panics"),
        }
    }

    fn add(&mut self, mut p: NewPeer) {
        let key = p.key;
        let mut locals = vec![];
        for s in std::mem::take(&mut p.sockets) {
            locals.extend(s.local_addr().ok());
            if let Err(e) = self.egress.add_socket(s, false) {
                tracing::warn!(viewer = %p.id, error = %e, "cannot send on the viewer's socket");
            }
        }
        let peer = Peer::new(p, locals);
        for s in [peer.source_key, peer.audio_source_key].into_iter().flatten() {
            self.by_source.entry(s).or_default().push(key);
        }
        self.peers.insert(key, peer);
        self.mark(key);
    }

    fn remove(&mut self, key: u64, now: Instant) {
        let Some(mut p) = self.peers.remove(&key) else { return };
        self.unindex(key, p.source_key);
        self.unindex(key, p.audio_source_key);
        if let Some(d) = p.deadline {
            self.timers.remove(&(d, key));
        }
        for l in &p.locals {
            self.egress.release_socket(*l);
        }
        p.rtc.disconnect();
        let _ = drain_one(&mut p, key, now, &self.events, &mut self.egress, &mut self.timers, &mut self.out);
    }

    /// A camera packet for each of this worker's viewers of `source`; a viewer whose handling
    /// panics is closed after the others got the packet.
    fn rtp(&mut self, source: &Arc<RtpSource>, pkt: &RtpPacket, now: Instant) {
        let Some(keys) = self.by_source.get(&source.key) else { return };
        // A camera sends a frame's packets back to back: hold the drain until the frame's
        // last (marker) packet, or FRAME_HOLD, so each viewer gets the frame in one GSO send.
        if source.audio.is_none() {
            self.frame_hold = match pkt.marker {
                true => None,
                false => Some(self.frame_hold.unwrap_or(now + FRAME_HOLD)),
            };
        }
        let mut failed = vec![];
        for key in keys {
            let Some(p) = self.peers.get_mut(key) else { continue };
            match catch_unwind(AssertUnwindSafe(|| p.on_rtp(&self.events, source, pkt, now))) {
                Ok((n, bytes)) if n > 0 => {
                    self.out.0 += n;
                    self.out.1 += bytes;
                    if !p.dirty {
                        p.dirty = true;
                        self.dirty.push(*key);
                    }
                }
                Ok(_) => {}
                Err(e) => failed.push((*key, e)),
            }
        }
        for (key, e) in failed {
            self.fail(key, "rtp", e.as_ref());
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
            self.guarded(key, "timer", |w| {
                let Some(p) = w.peers.get_mut(&key) else { return };
                p.deadline = None;
                if !p.rtc.is_alive() {
                    return;
                }
                let _ = p.rtc.handle_input(Input::Timeout(now));
                p.replay_early(now, &mut w.refused);
                w.mark(key);
            });
        }
    }

    /// Drains every viewer given input this round, flushing the egress when it fills up.
    async fn drain_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for key in &dirty {
            let key = *key;
            self.guarded(key, "egress", |w| {
                let Some(p) = w.peers.get_mut(&key) else { return };
                p.dirty = false;
                let _ = drain_one(p, key, Instant::now(), &w.events, &mut w.egress, &mut w.timers, &mut w.out);
            });
            if self.egress.gathered() >= egress::FLUSH_AT {
                self.send().await;
            }
        }
        // Keep the list's allocation for the next round (unless a failure pushed to it).
        if self.dirty.is_empty() {
            self.dirty = dirty;
            self.dirty.clear();
        }
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
