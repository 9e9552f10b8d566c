//! One viewer as its worker owns it: the str0m `Rtc` (RTP mode) and the forwarding state, with
//! no lock. The RPC side sees it through `ViewerShared` (atomics) and events.
//!
//! Invariants: after every input the `Rtc` is drained (`Worker::drain`), so transmits and the
//! timer are never stale; datagrams str0m refuses while ICE is still settling are held (bounded)
//! and fed again after the next accepted input, never silently dropped.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use str0m::media::{KeyframeRequestKind, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use super::egress::Egress;
use super::seq::SeqMap;
use crate::events::{EventTx, IceComponentState, MediaEvent};
use crate::media::packet::{Cached, RtpPacket};
use crate::media::rtp_source::RtpSource;
use crate::media::webrtc::{setup_audio_tx, setup_tx, AudioTx, Tx, ViewerShared};
use crate::supervise::lock;

/// Datagrams held while str0m does not accept them yet, at most.
const MAX_EARLY: usize = 4;
/// Fast-start packets given to str0m between two drains.
const START_CHUNK: usize = 8;
/// How long a held datagram may wait for str0m to accept it.
const EARLY_TTL: Duration = Duration::from_secs(2);

/// A datagram str0m refused when it arrived (see `Peer::receive`).
struct Early {
    at: Instant,
    local: SocketAddr,
    remote: SocketAddr,
    data: Vec<u8>,
}

/// What a negotiated viewer brings to its worker.
pub struct NewPeer {
    pub key: u64,
    pub id: Arc<str>,
    pub rtc: Box<Rtc>,
    pub tx: Option<Tx>,
    pub shared: Arc<ViewerShared>,
    /// The selected pair's local side, as Kurento reports it.
    pub local_candidate: String,
    pub source: Option<Weak<RtpSource>>,
    pub audio_source: Option<Weak<RtpSource>>,
    /// Range mode: this viewer's own sockets (duplicates for sending).
    pub sockets: Vec<std::net::UdpSocket>,
}

/// Whether `Peer::receive` took a datagram.
pub enum Fed {
    Handled,
    /// Held or dropped: nothing to drain.
    NotHandled,
}

pub struct Peer {
    pub id: Arc<str>,
    pub rtc: Box<Rtc>,
    tx: Option<Tx>,
    pub shared: Arc<ViewerShared>,
    local_candidate: String,
    pub source: Option<Weak<RtpSource>>,
    pub source_key: Option<u64>,
    /// The camera's audio source, sent as is on `audio_tx`.
    pub audio_source_key: Option<u64>,
    audio_tx: Option<AudioTx>,
    audio_seq: SeqMap,
    audio_ts_offset: u32,
    pub locals: Vec<SocketAddr>,
    connected: bool,
    pair_selected: bool,
    started: bool,
    flow_in: bool,
    flow_out: bool,
    /// Output sequence numbers, following the camera's (see `seq.rs`).
    seq: SeqMap,
    ts_offset: u32,
    remote_addr: Option<SocketAddr>,
    early: Vec<Early>,
    /// Fast-start packets not yet given to str0m, then the live ones behind them.
    backlog: VecDeque<Cached>,
    /// When the worker's timer wakes this `Rtc` (its entry in the worker's timer set).
    pub deadline: Option<Instant>,
    /// Queued in the worker's list of `Rtc`s to drain.
    pub dirty: bool,
    /// RTP was written since the last drain.
    pub wrote: bool,
}

impl Peer {
    pub fn new(p: NewPeer, locals: Vec<SocketAddr>) -> Peer {
        Peer {
            id: p.id,
            rtc: p.rtc,
            tx: p.tx,
            shared: p.shared,
            local_candidate: p.local_candidate,
            source_key: p.source.as_ref().and_then(Weak::upgrade).map(|s| s.key),
            source: p.source,
            audio_source_key: p.audio_source.as_ref().and_then(Weak::upgrade).map(|s| s.key),
            audio_tx: None,
            audio_seq: SeqMap::new(rand::random()),
            audio_ts_offset: rand::random(),
            locals,
            connected: false,
            pair_selected: false,
            started: false,
            flow_in: false,
            flow_out: false,
            seq: SeqMap::new(rand::random()),
            ts_offset: rand::random(),
            remote_addr: None,
            early: vec![],
            backlog: VecDeque::new(),
            deadline: None,
            dirty: false,
            wrote: false,
        }
    }

    /// One datagram from the peer. The peer's DTLS ClientHello follows the answer to its STUN
    /// check at once, before this side's own (triggered) check of that address succeeded, and
    /// str0m refuses it until then: dropping it would cost the peer's 1 s retransmission timer,
    /// so it is held (routed here by the peer's STUN, bounded) and fed once str0m takes it.
    pub fn receive(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        data: &[u8],
        refused: &mut u64,
    ) -> Fed {
        #[cfg(feature = "test-support")]
        if data.windows(crate::testing::POISON_VIEWER.len()).any(|w| w == crate::testing::POISON_VIEWER) {
            panic!("test-support: a poisoned datagram for viewer {}", self.id);
        }
        match self.feed(now, local, remote, data) {
            Some(true) => {}
            Some(false) => {
                if self.early.len() < MAX_EARLY {
                    self.early.push(Early { at: now, local, remote, data: data.to_vec() });
                } else {
                    *refused += 1;
                }
                return Fed::NotHandled;
            }
            None => return Fed::NotHandled,
        }
        if !self.pair_selected && data.first().is_some_and(|b| *b < 2) {
            // A STUN check during the join: let ICE answer with its own (triggered) check now
            // rather than at its next paced tick (Ta = 50 ms), which the DTLS handshake waits for.
            let _ = self.rtc.handle_input(Input::Timeout(now));
        }
        self.replay_early(now, refused);
        Fed::Handled
    }

    /// Feeds the held datagrams str0m accepts now; drops those held too long.
    pub fn replay_early(&mut self, now: Instant, refused: &mut u64) {
        if self.early.is_empty() {
            return;
        }
        for e in std::mem::take(&mut self.early) {
            match self.feed(now, e.local, e.remote, &e.data) {
                Some(false) if now.duration_since(e.at) < EARLY_TTL => self.early.push(e),
                Some(false) => *refused += 1,
                _ => {}
            }
        }
    }

    /// `Some(true)`: handled; `Some(false)`: str0m does not accept it (yet); `None`: invalid.
    fn feed(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, data: &[u8]) -> Option<bool> {
        let contents = data.try_into().ok()?;
        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source: remote, destination: local, contents });
        if !self.rtc.accepts(&input) {
            return Some(false);
        }
        self.rtc.handle_input(input).ok()?;
        self.remote_addr = Some(remote);
        Some(true)
    }

    pub fn set_source(&mut self, source: Option<&Arc<RtpSource>>) {
        self.source = source.map(Arc::downgrade);
        self.source_key = source.map(|s| s.key);
        self.seq.new_source();
        self.started = false;
        self.flow_in = false;
        self.shared.flow_in.store(false, Ordering::Relaxed);
    }

    pub fn set_audio_source(&mut self, source: Option<&Arc<RtpSource>>) {
        self.audio_source_key = source.map(|s| s.key);
        self.audio_seq.new_source();
    }

    /// A packet of the camera's audio, written as is (no fast start: audio has no keyframes).
    fn on_audio(&mut self, pkt: &RtpPacket, now: Instant) -> (u64, u64) {
        let Some(tx) = self.audio_tx.as_ref().filter(|_| self.connected) else { return (0, 0) };
        let Some(seq) = self.audio_seq.camera(pkt.seq) else { return (0, 0) };
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx(&tx.ssrc) else { return (0, 0) };
        let ts = pkt.ts.wrapping_add(self.audio_ts_offset);
        stream.write_rtp(RtpWrite::new(tx.pt, seq.into(), ts, now, pkt.payload.clone()).marker(pkt.marker));
        self.wrote = true;
        let written = (1, pkt.payload.len() as u64);
        self.count_sent(written);
        written
    }

    fn upgrade_source(&self) -> Option<Arc<RtpSource>> {
        self.source.as_ref().and_then(Weak::upgrade)
    }

    pub fn on_event(&mut self, events: &EventTx, e: Event) {
        match e {
            Event::IceConnectionStateChange(s) => {
                let state = match s {
                    IceConnectionState::New => return,
                    IceConnectionState::Checking => IceComponentState::Connecting,
                    IceConnectionState::Connected => IceComponentState::Connected,
                    IceConnectionState::Completed => IceComponentState::Ready,
                    IceConnectionState::Disconnected => IceComponentState::Disconnected,
                };
                let ice = |state| MediaEvent::IceComponentStateChanged { state };
                if matches!(state, IceComponentState::Connected | IceComponentState::Ready) && !self.pair_selected {
                    // str0m may go from checking straight to completed; Kurento always reports
                    // the selected pair and CONNECTED before READY.
                    self.pair_selected = true;
                    let remote = self
                        .remote_addr
                        .map(|a| format!("candidate:1 1 UDP 1 {} {} typ prflx", a.ip(), a.port()))
                        .unwrap_or_default();
                    let local_candidate = self.local_candidate.clone();
                    let pair = MediaEvent::NewCandidatePairSelected { local_candidate, remote_candidate: remote };
                    events.emit(&self.id, pair);
                    if state == IceComponentState::Ready {
                        events.emit(&self.id, ice(IceComponentState::Connected));
                    }
                }
                self.shared.set_ice_state(state.as_str());
                events.emit(&self.id, ice(state));
                if state == IceComponentState::Disconnected && self.connected {
                    self.connected = false;
                    self.shared.connected.store(false, Ordering::Relaxed);
                    events.emit(&self.id, MediaEvent::MediaStateChanged { connected: false });
                    events.emit(&self.id, MediaEvent::ConnectionStateChanged { connected: false });
                }
            }
            Event::Connected => {
                self.connected = true;
                self.shared.connected.store(true, Ordering::Relaxed);
                events.emit(&self.id, MediaEvent::ConnectionStateChanged { connected: true });
                events.emit(&self.id, MediaEvent::MediaStateChanged { connected: true });
                if let Some(src) = self.upgrade_source() {
                    if lock(&src.cache).is_empty() {
                        src.request_keyframe();
                    }
                }
            }
            // The browser closed its DTLS (it closed the peer connection): str0m goes inert
            // and its ICE reports nothing more, so report the viewer gone as ICE would.
            Event::Closed => self.on_event(events, Event::IceConnectionStateChange(IceConnectionState::Disconnected)),
            Event::MediaAdded(m) if m.kind == MediaKind::Video && self.tx.is_none() => {
                self.tx = setup_tx(&mut self.rtc, m.mid);
                self.shared.set_tx(self.tx.as_ref());
            }
            Event::MediaAdded(m) if m.kind == MediaKind::Audio && self.audio_tx.is_none() => {
                self.audio_tx = setup_audio_tx(&mut self.rtc, m.mid);
            }
            Event::KeyframeRequest(k) => {
                let stats = &self.shared.stats;
                match k.kind {
                    KeyframeRequestKind::Pli => stats.plis_received.fetch_add(1, Ordering::Relaxed),
                    KeyframeRequestKind::Fir => stats.firs_received.fetch_add(1, Ordering::Relaxed),
                };
                if let Some(src) = self.upgrade_source() {
                    src.request_keyframe();
                }
            }
            _ => {}
        }
    }

    /// A packet of the connected stream; returns how many packets (and payload bytes) were
    /// written. A viewer starts with the source's fast-start cache up to this packet: the cache
    /// may already hold later ones (the source runs ahead of the worker), which follow as their
    /// own commands and must not be sent twice.
    pub fn on_rtp(&mut self, events: &EventTx, source: &RtpSource, pkt: &RtpPacket, now: Instant) -> (u64, u64) {
        if source.audio.is_some() && self.audio_source_key == Some(source.key) {
            return self.on_audio(pkt, now);
        }
        if !self.connected || self.source_key != Some(source.key) {
            return (0, 0);
        }
        let Some(codec) = self.tx.as_ref().map(|t| t.codec) else { return (0, 0) };
        if codec != source.codec() {
            return (0, 0);
        }
        if !self.flow_in {
            self.flow_in = true;
            self.shared.flow_in.store(true, Ordering::Relaxed);
            events.emit(&self.id, MediaEvent::MediaFlowInStateChanged { flowing: true });
        }
        let mut written = (0, 0);
        if !self.started {
            let (mut snapshot, truncated) = {
                let c = lock(&source.cache);
                (c.snapshot(), c.truncated())
            };
            snapshot.retain(|c| c.pkt.index <= pkt.index);
            // Parameter sets re-timed ahead of a keyframe alone are no start.
            if snapshot.iter().all(|c| c.ts_override.is_some()) {
                self.shared.stats.dropped_before_start.fetch_add(1, Ordering::Relaxed);
                source.request_keyframe();
                return written;
            }
            if truncated {
                source.request_keyframe();
            }
            self.started = true;
            self.shared.stats.fast_start_packets.fetch_add(snapshot.len() as u64, Ordering::Relaxed);
            let holds_pkt = snapshot.iter().any(|c| c.ts_override.is_none() && c.pkt.index == pkt.index);
            self.backlog.extend(snapshot);
            if !holds_pkt {
                self.backlog.push_back(Cached { pkt: pkt.clone(), ts_override: None });
            }
            written = self.feed_backlog(now);
        } else if !self.backlog.is_empty() {
            // Behind the fast start still on its way.
            self.backlog.push_back(Cached { pkt: pkt.clone(), ts_override: None });
        } else {
            self.write(pkt, None, now, &mut written);
            self.count_sent(written);
        }
        if !self.flow_out {
            self.flow_out = true;
            self.shared.flow_out.store(true, Ordering::Relaxed);
            events.emit(&self.id, MediaEvent::MediaFlowOutStateChanged { flowing: true });
        }
        written
    }

    /// Writes the next few packets of the fast start (str0m queues what it is given until the
    /// next drain, and its queue keeps its largest size: a whole GOP at once would cost every
    /// viewer that much memory for good). Returns what was written.
    pub fn feed_backlog(&mut self, now: Instant) -> (u64, u64) {
        let mut written = (0, 0);
        if self.backlog.is_empty() {
            return written;
        }
        for _ in 0..START_CHUNK {
            let Some(c) = self.backlog.pop_front() else { break };
            self.write(&c.pkt, c.ts_override, now, &mut written);
        }
        if self.backlog.is_empty() {
            self.backlog = VecDeque::new();
        }
        self.count_sent(written);
        written
    }

    fn count_sent(&self, (packets, bytes): (u64, u64)) {
        let stats = &self.shared.stats;
        stats.packets_sent.fetch_add(packets, Ordering::Relaxed);
        stats.bytes_sent.fetch_add(bytes, Ordering::Relaxed);
    }

    fn write(&mut self, pkt: &RtpPacket, ts_override: Option<u32>, now: Instant, written: &mut (u64, u64)) {
        // A re-timed parameter set is a packet of ours; any other keeps the camera's steps.
        let seq = match ts_override {
            Some(_) => self.seq.synthesized(),
            None => match self.seq.camera(pkt.seq) {
                Some(seq) => seq,
                None => return, // a repeat of the newest packet
            },
        };
        let ts = ts_override.unwrap_or(pkt.ts).wrapping_add(self.ts_offset);
        let Some(tx) = self.tx.as_ref() else { return };
        let mut api = self.rtc.direct_api();
        let Some(stream) = api.stream_tx(&tx.ssrc) else { return };
        // The payload is the camera packet's, shared (an `Arc` clone), not copied.
        stream.write_rtp(
            RtpWrite::new(tx.pt.pt(), seq.into(), ts, now, pkt.payload.clone()).marker(pkt.marker).nackable(true),
        );
        self.wrote = true;
        written.0 += 1;
        written.1 += pkt.payload.len() as u64;
    }

    /// Its worker closed it after a fault: what the RPC side reads says so, and a connected
    /// viewer reports the disconnection as it would on its own.
    pub fn closed_by_fault(&self, events: &EventTx) {
        self.shared.set_ice_state("DISCONNECTED");
        self.shared.flow_in.store(false, Ordering::Relaxed);
        self.shared.flow_out.store(false, Ordering::Relaxed);
        if self.shared.connected.swap(false, Ordering::Relaxed) {
            events.emit(&self.id, MediaEvent::MediaStateChanged { connected: false });
            events.emit(&self.id, MediaEvent::ConnectionStateChanged { connected: false });
        }
    }

    /// The source went silent: report flow stopped.
    pub fn on_source_silent(&mut self, events: &EventTx) {
        if self.flow_in {
            self.flow_in = false;
            self.shared.flow_in.store(false, Ordering::Relaxed);
            events.emit(&self.id, MediaEvent::MediaFlowInStateChanged { flowing: false });
        }
        if self.flow_out {
            self.flow_out = false;
            self.shared.flow_out.store(false, Ordering::Relaxed);
            events.emit(&self.id, MediaEvent::MediaFlowOutStateChanged { flowing: false });
        }
    }
}

/// Drains every output of one `Rtc`: transmits are gathered, events handled, the fast start
/// fed a chunk at a time, and its timer entry moved to the new deadline.
pub fn drain_one(
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
