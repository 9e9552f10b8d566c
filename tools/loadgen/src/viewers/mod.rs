//! Receive-only WebRTC viewers: str0m `Rtc`s in RTP mode, many per worker thread.
//!
//! A viewer is made and negotiated by the caller ([`PendingViewer`]: offer or answer, remote
//! candidates), then handed to a worker ([`Pool::activate`]) that owns it outright with its
//! sockets and timers (str0m's `chat.rs` pattern: one loop owns every `Rtc`). Workers count
//! what arrives and never keep media.
//!
//! Addressing: with [`Addressing::Shared`] every viewer of a worker shares ONE UDP socket bound
//! to `0.0.0.0:port` and has its own loopback address (`127.1.x.y`); datagrams are read in
//! batches (`recvmmsg`, quinn-udp) and routed by their destination address (`IP_PKTINFO`).
//! With [`Addressing::PerViewer`] each viewer has its own socket on one given address (Janus
//! needs its viewers on the address of its ICE interface).

mod fast;
mod stats;
mod worker;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, Rtc, RtcError};
use tokio::sync::oneshot;

pub use stats::{Progress, ViewerReport};

/// How viewers get their local address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// One socket per worker; viewer n is `127.1.0.0 + n + 1` on that socket's port.
    Shared,
    /// One socket per viewer on this address, ephemeral port.
    PerViewer(Ipv4Addr),
}

/// How viewers treat arriving SRTP media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReceiveMode {
    /// Every packet through str0m (decrypted, NACKs for losses), as a browser.
    Full,
    /// Large media packets counted from their clear header once SRTP is up (see `fast`);
    /// the viewer sends no NACK (str0m would ask again for every packet only counted).
    Count,
}

/// A viewer being negotiated; owned by the task that signals for it.
pub struct PendingViewer {
    pub id: u32,
    rtc: Rtc,
    local: SocketAddr,
    /// Its own socket in [`Addressing::PerViewer`] mode.
    socket: Option<UdpSocket>,
    pending: Option<SdpPendingOffer>,
    started: Instant,
}

impl PendingViewer {
    /// A recvonly video offer with this viewer's host candidate; starts the join clock.
    pub fn offer(&mut self) -> String {
        let mut api = self.rtc.sdp_api();
        api.add_media(MediaKind::Video, Direction::RecvOnly, None, None, None);
        let (offer, pending) = api.apply().expect("adding a media always makes an offer");
        self.pending = Some(pending);
        self.started = Instant::now();
        offer.to_sdp_string()
    }

    /// Applies the answer to [`PendingViewer::offer`].
    pub fn accept(&mut self, answer: &str) -> Result<(), RtcError> {
        let answer = SdpAnswer::from_sdp_string(answer)?;
        let pending = self.pending.take().expect("accept follows offer");
        self.rtc.sdp_api().accept_answer(pending, answer)
    }

    /// Answers the server's offer (Janus offers); the join clock starts when the caller asked
    /// for the offer, see [`PendingViewer::start_clock`].
    pub fn answer(&mut self, offer: &str) -> Result<String, RtcError> {
        let offer = SdpOffer::from_sdp_string(offer)?;
        Ok(self.rtc.sdp_api().accept_offer(offer)?.to_sdp_string())
    }

    /// Starts the join clock now (for servers that send the offer).
    pub fn start_clock(&mut self) {
        self.started = Instant::now();
    }

    /// This viewer's host candidate as an SDP `candidate:` value.
    pub fn candidate(&self) -> String {
        host_candidate(self.local).to_sdp_string()
    }

    /// A candidate the server trickled (an SDP `candidate:` value, with or without `a=`).
    pub fn add_remote_candidate(&mut self, candidate: &str) -> Result<(), RtcError> {
        add_candidate(&mut self.rtc, candidate)
    }
}

fn add_candidate(rtc: &mut Rtc, candidate: &str) -> Result<(), RtcError> {
    let c = candidate.trim().trim_start_matches("a=");
    rtc.add_remote_candidate(Candidate::from_sdp_string(c)?);
    Ok(())
}

fn host_candidate(local: SocketAddr) -> Candidate {
    Candidate::host(local, "udp").expect("a host candidate for a bound loopback address")
}

/// A viewer handed to a worker.
#[derive(Debug, Clone, Copy)]
pub struct ViewerRef {
    pub id: u32,
    worker: usize,
}

enum Command {
    Add(Box<worker::NewViewer>),
    Candidate(u32, String),
    StartWindow,
    Report(oneshot::Sender<Vec<ViewerReport>>),
    Progress(oneshot::Sender<Progress>),
    Stop,
}

struct WorkerHandle {
    commands: mpsc::Sender<Command>,
    waker: Arc<mio::Waker>,
    /// The shared socket's port (Shared mode).
    port: u16,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WorkerHandle {
    fn send(&self, c: Command) {
        // A worker only ends on Stop or when its loop fails, which it logs.
        let _ = self.commands.send(c);
        let _ = self.waker.wake();
    }
}

/// The viewers' worker threads.
pub struct Pool {
    workers: Vec<WorkerHandle>,
    addressing: Addressing,
    next_id: AtomicU32,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("viewer sockets: {0}")]
    Io(#[from] std::io::Error),
    #[error("a viewer worker stopped")]
    WorkerGone,
}

impl Pool {
    /// `coalesce`: how long a worker lets datagrams queue after reading (see the worker).
    pub fn start(
        workers: usize,
        addressing: Addressing,
        mode: ReceiveMode,
        coalesce: Duration,
    ) -> Result<Pool, PoolError> {
        let mut handles = Vec::new();
        for n in 0..workers.max(1) {
            let (tx, rx) = mpsc::channel();
            let (worker, waker, port) = worker::Worker::new(addressing, mode, coalesce, rx)?;
            let thread = std::thread::Builder::new().name(format!("viewers-{n}")).spawn(move || worker.run())?;
            handles.push(WorkerHandle { commands: tx, waker, port, thread: Some(thread) });
        }
        Ok(Pool { workers: handles, addressing, next_id: AtomicU32::new(0) })
    }

    /// A new viewer with its local address (and socket) chosen, not yet negotiated.
    pub fn new_viewer(&self) -> Result<PendingViewer, PoolError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let worker = &self.workers[id as usize % self.workers.len()];
        let (local, socket) = match self.addressing {
            Addressing::Shared => {
                let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(127, 1, 0, 0)) + id + 1);
                (SocketAddr::new(IpAddr::V4(ip), worker.port), None)
            }
            Addressing::PerViewer(ip) => {
                let s = UdpSocket::bind((ip, 0))?;
                (s.local_addr()?, Some(s))
            }
        };
        let mut rtc = Rtc::builder().set_rtp_mode(true).clear_codecs().enable_h264(true).build(Instant::now());
        rtc.add_local_candidate(host_candidate(local));
        Ok(PendingViewer { id, rtc, local, socket, pending: None, started: Instant::now() })
    }

    /// Hands a negotiated viewer to its worker; `answered` is when the server's SDP arrived.
    pub fn activate(&self, v: PendingViewer, answered: Instant) -> ViewerRef {
        let worker = v.id as usize % self.workers.len();
        let new =
            worker::NewViewer { id: v.id, rtc: v.rtc, local: v.local, socket: v.socket, started: v.started, answered };
        self.workers[worker].send(Command::Add(Box::new(new)));
        ViewerRef { id: v.id, worker }
    }

    /// A candidate the server trickled after activation.
    pub fn add_candidate(&self, v: ViewerRef, candidate: String) {
        self.workers[v.worker].send(Command::Candidate(v.id, candidate));
    }

    /// From now on, counters and glass-to-glass samples go into the measurement window.
    pub fn start_window(&self) {
        for w in &self.workers {
            w.send(Command::StartWindow);
        }
    }

    /// Every viewer's figures (window figures since [`Pool::start_window`]).
    pub async fn report(&self) -> Result<Vec<ViewerReport>, PoolError> {
        let mut all = Vec::new();
        for w in &self.workers {
            let (tx, rx) = oneshot::channel();
            w.send(Command::Report(tx));
            all.extend(rx.await.map_err(|_| PoolError::WorkerGone)?);
        }
        all.sort_by_key(|r| r.id);
        Ok(all)
    }

    /// How many viewers are connected and receiving media.
    pub async fn progress(&self) -> Result<Progress, PoolError> {
        let mut total = Progress::default();
        for w in &self.workers {
            let (tx, rx) = oneshot::channel();
            w.send(Command::Progress(tx));
            total.add(&rx.await.map_err(|_| PoolError::WorkerGone)?);
        }
        Ok(total)
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.send(Command::Stop);
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}
