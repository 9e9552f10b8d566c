//! One worker thread: owns its viewers' `Rtc`s, their sockets and timers; one mio poll loop.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io::{ErrorKind, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};
use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use str0m::net::{Protocol, Receive};
use str0m::{Event, IceConnectionState, Input, Output, Rtc};

use super::stats::{Progress, ViewerStats};
use super::{add_candidate, fast, Addressing, Command, PoolError, ReceiveMode};

const WAKER: Token = Token(usize::MAX);
/// Datagrams per `recvmmsg`.
const BATCH: usize = 32;
/// Receive buffer asked for each socket (the kernel caps it at net.core.rmem_max).
const RECV_BUFFER: usize = 8 << 20;
/// Longest sleep without a timer due, so Stop is noticed even if a wake is lost.
const MAX_SLEEP: Duration = Duration::from_millis(100);

pub struct NewViewer {
    pub id: u32,
    pub rtc: Rtc,
    pub local: SocketAddr,
    pub socket: Option<UdpSocket>,
    pub started: Instant,
    pub answered: Instant,
}

struct Sock {
    io: mio::net::UdpSocket,
    state: UdpSocketState,
    port: u16,
}

struct Viewer {
    id: u32,
    rtc: Rtc,
    local: SocketAddr,
    sock: usize,
    stats: ViewerStats,
    timeout: Instant,
    dead: bool,
}

pub struct Worker {
    poll: Poll,
    commands: mpsc::Receiver<Command>,
    socks: Vec<Sock>,
    viewers: Vec<Viewer>,
    by_id: HashMap<u32, usize>,
    by_local: HashMap<SocketAddr, usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    bufs: Vec<Vec<u8>>,
    mode: ReceiveMode,
    coalesce: Duration,
}

impl Worker {
    /// The worker, its waker and (in Shared mode) the shared socket's port.
    pub fn new(
        addressing: Addressing,
        mode: ReceiveMode,
        coalesce: Duration,
        commands: mpsc::Receiver<Command>,
    ) -> Result<(Worker, Arc<Waker>, u16), PoolError> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let mut w = Worker {
            poll,
            commands,
            socks: Vec::new(),
            viewers: Vec::new(),
            by_id: HashMap::new(),
            by_local: HashMap::new(),
            timers: BinaryHeap::new(),
            bufs: Vec::new(),
            mode,
            coalesce,
        };
        let mut port = 0;
        if addressing == Addressing::Shared {
            let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            port = s.local_addr()?.port();
            w.add_socket(s)?;
        }
        let gro = w.socks.first().map_or(1, |s| s.state.gro_segments()).max(1);
        w.bufs = (0..BATCH).map(|_| vec![0u8; 2048 * gro.max(32)]).collect();
        Ok((w, waker, port))
    }

    fn add_socket(&mut self, s: UdpSocket) -> Result<usize, PoolError> {
        s.set_nonblocking(true)?;
        let port = s.local_addr()?.port();
        let mut io = mio::net::UdpSocket::from_std(s);
        let state = UdpSocketState::new(UdpSockRef::from(&io))?;
        // Best effort: the kernel caps it, and a smaller buffer shows up as counted drops.
        let _ = state.set_recv_buffer_size(UdpSockRef::from(&io), RECV_BUFFER);
        let idx = self.socks.len();
        self.poll.registry().register(&mut io, Token(idx), Interest::READABLE)?;
        self.socks.push(Sock { io, state, port });
        Ok(idx)
    }

    pub fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        loop {
            let wait = self
                .timers
                .peek()
                .map_or(MAX_SLEEP, |Reverse((t, _))| t.saturating_duration_since(Instant::now()).min(MAX_SLEEP));
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() != ErrorKind::Interrupted {
                    tracing::error!(error = %e, "viewer worker: poll failed");
                    return;
                }
            }
            let mut read = false;
            for ev in events.iter() {
                if ev.token() != WAKER {
                    self.read_socket(ev.token().0);
                    read = true;
                }
            }
            // A server sends one camera packet to every viewer in a burst; waking for each
            // datagram of the burst costs more than the datagram. Let the next ones queue.
            if read && !self.coalesce.is_zero() {
                std::thread::sleep(self.coalesce);
            }
            if !self.commands() {
                return;
            }
            self.expire_timers();
        }
    }

    /// Handles queued commands; false on Stop.
    fn commands(&mut self) -> bool {
        while let Ok(c) = self.commands.try_recv() {
            match c {
                Command::Add(v) => {
                    if let Err(e) = self.add_viewer(*v) {
                        tracing::warn!(error = %e, "viewer not added");
                    }
                }
                Command::Candidate(id, c) => {
                    if let Some(&i) = self.by_id.get(&id) {
                        if add_candidate(&mut self.viewers[i].rtc, &c).is_ok() {
                            self.drain(i);
                        }
                    }
                }
                Command::StartWindow => self.viewers.iter_mut().for_each(|v| v.stats.start_window()),
                Command::Report(reply) => {
                    let _ = reply.send(self.viewers.iter().map(|v| v.stats.report(v.id)).collect());
                }
                Command::Progress(reply) => {
                    let _ = reply.send(self.progress());
                }
                Command::Stop => return false,
            }
        }
        true
    }

    fn progress(&self) -> Progress {
        let mut p = Progress {
            viewers: self.viewers.len(),
            ports: self.socks.iter().map(|s| s.port).collect(),
            ..Progress::default()
        };
        for v in &self.viewers {
            p.connected += usize::from(v.stats.connected.is_some());
            p.receiving += usize::from(v.stats.first_rtp.is_some());
            p.failed += usize::from(v.dead);
        }
        p
    }

    fn add_viewer(&mut self, v: NewViewer) -> Result<(), PoolError> {
        let sock = match v.socket {
            Some(s) => self.add_socket(s)?,
            None => 0,
        };
        let idx = self.viewers.len();
        self.viewers.push(Viewer {
            id: v.id,
            rtc: v.rtc,
            local: v.local,
            sock,
            stats: ViewerStats::new(v.started, v.answered),
            timeout: Instant::now(),
            dead: false,
        });
        self.by_id.insert(v.id, idx);
        self.by_local.insert(v.local, idx);
        self.drain(idx);
        Ok(())
    }

    /// Reads the socket until it would block, feeding each datagram to its viewer.
    fn read_socket(&mut self, sock: usize) {
        let mut metas = [RecvMeta::default(); BATCH];
        loop {
            let n = {
                let s = &self.socks[sock];
                let mut slices: Vec<IoSliceMut> = self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                match s.state.recv(UdpSockRef::from(&s.io), &mut slices, &mut metas) {
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "viewer socket receive failed");
                        return;
                    }
                }
            };
            let now = Instant::now();
            for (i, meta) in metas.iter().enumerate().take(n) {
                let port = self.socks[sock].port;
                let Some(dst) = meta.dst_ip.map(|ip| SocketAddr::new(ip, port)) else { continue };
                let Some(&idx) = self.by_local.get(&dst) else { continue };
                let buf = std::mem::take(&mut self.bufs[i]);
                for datagram in buf[..meta.len].chunks(meta.stride.max(1)) {
                    self.receive(idx, now, meta.addr, dst, datagram);
                }
                self.bufs[i] = buf;
            }
        }
    }

    fn receive(&mut self, idx: usize, now: Instant, source: SocketAddr, destination: SocketAddr, datagram: &[u8]) {
        let v = &mut self.viewers[idx];
        if v.dead {
            return;
        }
        if self.mode == ReceiveMode::Count {
            if let Some(seq) = fast::countable(datagram, v.stats.decrypted, v.stats.media_ssrc) {
                let seq = fast::extend(v.stats.max_seq, seq);
                v.stats.on_counted(now, datagram.len(), seq);
                return;
            }
        }
        let Ok(contents) = datagram.try_into() else { return };
        let input = Input::Receive(now, Receive { proto: Protocol::Udp, source, destination, contents });
        if let Err(e) = v.rtc.handle_input(input) {
            v.stats.error.get_or_insert(e.to_string());
            return;
        }
        // RTP sizes: the wire size is known here, the packet arrives in drain() as an event.
        self.drain_with(idx, datagram.len());
    }

    fn expire_timers(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((t, idx))) = self.timers.peek() {
            if t > now {
                break;
            }
            self.timers.pop();
            let v = &mut self.viewers[idx];
            if v.dead || v.timeout != t {
                continue; // superseded by a later timeout
            }
            if let Err(e) = v.rtc.handle_input(Input::Timeout(now)) {
                v.stats.error.get_or_insert(e.to_string());
            }
            self.drain(idx);
        }
    }

    fn drain(&mut self, idx: usize) {
        self.drain_with(idx, 0);
    }

    /// Sends what the viewer's `Rtc` has to send and records its events; `wire_len` is the size
    /// of the datagram just handed to it (the size an RTP event it raises came in).
    fn drain_with(&mut self, idx: usize, wire_len: usize) {
        let v = &mut self.viewers[idx];
        let mode = self.mode;
        loop {
            match v.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    if t != v.timeout {
                        v.timeout = t;
                        self.timers.push(Reverse((t, idx)));
                    }
                    return;
                }
                Ok(Output::Transmit(t)) => {
                    let s = &self.socks[v.sock];
                    let tx = Transmit {
                        destination: t.destination,
                        ecn: None,
                        contents: &t.contents,
                        segment_size: None,
                        src_ip: Some(v.local.ip()),
                    };
                    // A failed send is a lost datagram: ICE, DTLS and NACK retransmit.
                    let _ = s.state.send(UdpSockRef::from(&s.io), &tx);
                }
                Ok(Output::Event(e)) => match e {
                    Event::RtpPacket(p) => {
                        if mode == ReceiveMode::Count && v.stats.decrypted == 0 {
                            if let Some(rx) = v.rtc.direct_api().stream_rx(&p.header.ssrc) {
                                rx.suppress_nack(true);
                            }
                        }
                        v.stats.on_rtp(Instant::now(), wire_len, *p.header.ssrc, *p.seq_no, &p.payload);
                    }
                    Event::Connected => {
                        v.stats.connected.get_or_insert(Instant::now());
                    }
                    Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                        v.stats.error.get_or_insert("ICE disconnected".into());
                    }
                    _ => {}
                },
                Err(e) => {
                    v.stats.error.get_or_insert(e.to_string());
                    v.dead = true;
                    return;
                }
            }
        }
    }
}
