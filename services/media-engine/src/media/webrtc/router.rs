//! The WebRTC sockets and the routing of their datagrams: a STUN message names its viewer by
//! ICE ufrag, which also teaches the route of its source address; any other datagram follows
//! its (local, remote) address pair. A routed datagram goes to the worker that owns the viewer.
//!
//! Datagrams from viewers are few (ICE, DTLS, RTCP); the routing tables sit behind a mutex that
//! the forwarding path (camera to viewers, in the workers) never takes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use str0m::crypto::dtls::DtlsCert;
use str0m::rtp::{Extension, ExtensionMap};
use str0m::{Rtc, RtcConfig};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::stun_local_ufrag;
use crate::config::{Settings, WebRtcPorts};
use crate::events::EventTx;
use crate::media::worker::{Cmd, Workers};
use crate::media::{ports, MediaCounters};
use crate::supervise::{lock, spawn_supervised};

/// Where a viewer lives: its worker and its key there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub worker: usize,
    pub key: u64,
}

#[derive(Default)]
struct Table {
    by_ufrag: HashMap<String, Route>,
    by_addr: HashMap<(SocketAddr, SocketAddr), Route>,
    /// What each viewer (by key) put in the maps, to take it out again.
    owned: HashMap<u64, (String, Vec<(SocketAddr, SocketAddr)>)>,
}

/// Addresses learned per viewer, at most: STUN naming a viewer's ufrag from ever new source ports
/// must not grow the table without bound. Beyond it the oldest is forgotten (a live viewer's
/// consent checks, every few seconds, teach its address again).
const MAX_ADDRS_PER_VIEWER: usize = 16;

impl Table {
    /// Routes datagrams from `pair` to `r` from now on.
    fn learn(&mut self, pair: (SocketAddr, SocketAddr), r: Route) {
        if self.by_addr.insert(pair, r) == Some(r) {
            return;
        }
        let owned = &mut self.owned.entry(r.key).or_default().1;
        owned.push(pair);
        if owned.len() > MAX_ADDRS_PER_VIEWER {
            let old = owned.remove(0);
            if self.by_addr.get(&old).is_some_and(|x| x.key == r.key) {
                self.by_addr.remove(&old);
            }
        }
    }
}

/// Shares WebRTC UDP sockets between viewers and routes datagrams to their workers.
pub struct WebRtcMux {
    pub(crate) cfg: Arc<Settings>,
    pub(crate) workers: Arc<Workers>,
    shared: OnceLock<Vec<SocketAddr>>,
    table: Mutex<Table>,
    pub(crate) counters: Arc<MediaCounters>,
    pub(crate) cancel: CancellationToken,
    /// One DTLS certificate for every viewer (as Kurento and Janus do): a join does not pay
    /// for generating a key pair.
    dtls_cert: Option<DtlsCert>,
}

impl WebRtcMux {
    /// Binds the shared sockets (shared mode), starts the workers and the socket readers.
    pub fn start(
        cfg: Arc<Settings>,
        events: EventTx,
        counters: Arc<MediaCounters>,
        cancel: CancellationToken,
    ) -> std::io::Result<Arc<Self>> {
        let mut shared = vec![];
        if let WebRtcPorts::Shared(port) = cfg.webrtc_ports {
            let mut port = port;
            for ip in &cfg.webrtc_ips {
                let s = std::net::UdpSocket::bind(SocketAddr::new(*ip, port)).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("ENGINE_WEBRTC_PORT: cannot bind {ip}:{port}: {e}"))
                })?;
                port = s.local_addr()?.port();
                shared.push(s);
            }
        }
        let workers = Workers::start(cfg.workers, &shared, events, counters.clone(), cancel.clone())?;
        let dtls_cert = str0m::crypto::from_feature_flags().dtls_provider.generate_certificate();
        let mux = Arc::new(WebRtcMux {
            cfg,
            workers,
            shared: OnceLock::new(),
            table: Mutex::new(Table::default()),
            counters,
            cancel,
            dtls_cert,
        });
        let mut addrs = vec![];
        for s in shared {
            addrs.push(s.local_addr()?);
            mux.spawn_reader(s, mux.cancel.clone())?;
        }
        let _ = mux.shared.set(addrs);
        Ok(mux)
    }

    /// The str0m settings of every viewer: RTP mode, no codecs yet, the engine's certificate,
    /// and only the `mid` header extension: the engine does no bandwidth estimation, and
    /// transport-wide sequence numbers would cost each viewer a 1,000-packet send register.
    pub(crate) fn rtc_config(&self) -> RtcConfig {
        let mut exts = ExtensionMap::empty();
        exts.set(4, Extension::RtpMid);
        let cfg = Rtc::builder().set_rtp_mode(true).clear_codecs().set_extension_map(exts);
        match &self.dtls_cert {
            Some(c) => cfg.set_dtls_cert(c.clone()),
            None => cfg,
        }
    }

    /// Local addresses of the shared sockets (empty in range mode).
    pub fn shared_addrs(&self) -> Vec<SocketAddr> {
        self.shared.get().cloned().unwrap_or_default()
    }

    /// Starts a reader task for `s` that routes every datagram; it ends with `cancel`. It serves
    /// every viewer of the socket, so it is supervised: restarted after a panic, counted as
    /// `task="webrtc-reader"`.
    fn spawn_reader(self: &Arc<Self>, s: std::net::UdpSocket, cancel: CancellationToken) -> std::io::Result<()> {
        s.set_nonblocking(true)?;
        let sock = Arc::new(UdpSocket::from_std(s)?);
        let local = sock.local_addr()?;
        let weak = Arc::downgrade(self);
        let faults = self.counters.faults.clone();
        spawn_supervised("webrtc-reader", faults, cancel.clone(), move || {
            let (sock, weak, cancel) = (sock.clone(), weak.clone(), cancel.clone());
            async move {
                let mut buf = vec![0u8; 2048];
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        r = sock.recv_from(&mut buf) => {
                            let Ok((n, remote)) = r else { continue };
                            match weak.upgrade() {
                                Some(mux) => mux.route(local, remote, &buf[..n]),
                                None => break,
                            }
                        }
                    }
                }
            }
        });
        Ok(())
    }

    /// Sockets for a new viewer: the shared ones' addresses, or a fresh port from the range
    /// (its reader started here, duplicates returned for the worker to send on).
    pub(crate) fn sockets_for_viewer(
        self: &Arc<Self>,
        viewer_cancel: &CancellationToken,
    ) -> std::io::Result<(Vec<SocketAddr>, Vec<std::net::UdpSocket>)> {
        match self.cfg.webrtc_ports {
            WebRtcPorts::Shared(_) => Ok((self.shared_addrs(), vec![])),
            WebRtcPorts::Range => {
                let mut addrs = vec![];
                let mut dups = vec![];
                for s in ports::bind_any_in_range(&self.cfg.webrtc_ips, self.cfg.min_port, self.cfg.max_port)? {
                    addrs.push(s.local_addr()?);
                    dups.push(s.try_clone()?);
                    self.spawn_reader(s, viewer_cancel.clone())?;
                }
                Ok((addrs, dups))
            }
        }
    }

    /// Routes one datagram of a WebRTC socket to its viewer's worker (the parse here is the
    /// STUN USERNAME only; everything else is the viewer's `Rtc`'s, on its worker).
    pub fn route(&self, local: SocketAddr, remote: SocketAddr, data: &[u8]) {
        #[cfg(feature = "test-support")]
        if data.starts_with(crate::testing::POISON_READER) {
            panic!("test-support: a poisoned datagram for the socket reader");
        }
        MediaCounters::add(&self.counters.webrtc_packets_in, 1);
        let route = {
            let mut t = lock(&self.table);
            match stun_local_ufrag(data) {
                Some(ufrag) => {
                    let r = t.by_ufrag.get(ufrag).copied();
                    if let Some(r) = r {
                        t.learn((local, remote), r);
                    }
                    r
                }
                None => t.by_addr.get(&(local, remote)).copied(),
            }
        };
        match route {
            Some(r) => {
                self.workers.send_media(r.worker, Cmd::Datagram { key: r.key, local, remote, data: data.to_vec() })
            }
            None => MediaCounters::add(&self.counters.webrtc_unknown_in, 1),
        }
    }

    pub(crate) fn register(&self, ufrag: String, r: Route) {
        let mut t = lock(&self.table);
        t.by_ufrag.insert(ufrag.clone(), r);
        t.owned.entry(r.key).or_default().0 = ufrag;
    }

    pub(crate) fn unregister(&self, key: u64) {
        let mut t = lock(&self.table);
        let Some((ufrag, addrs)) = t.owned.remove(&key) else { return };
        if t.by_ufrag.get(&ufrag).is_some_and(|r| r.key == key) {
            t.by_ufrag.remove(&ufrag);
        }
        for a in addrs {
            if t.by_addr.get(&a).is_some_and(|r| r.key == key) {
                t.by_addr.remove(&a);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_viewer_learns_at_most_a_bounded_number_of_addresses_forgetting_the_oldest() {
        let mut t = Table::default();
        let r = Route { worker: 0, key: 7 };
        let local: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let remote = |p: u16| SocketAddr::from(([192, 0, 2, 1], p));
        for p in 0..1000 {
            t.learn((local, remote(p)), r);
        }
        assert_eq!(t.by_addr.len(), MAX_ADDRS_PER_VIEWER);
        assert_eq!(t.owned[&7].1.len(), MAX_ADDRS_PER_VIEWER);
        assert!(t.by_addr.contains_key(&(local, remote(999))), "the newest stays");
        assert!(!t.by_addr.contains_key(&(local, remote(0))), "the oldest went");
        t.learn((local, remote(999)), r);
        assert_eq!(t.owned[&7].1.len(), MAX_ADDRS_PER_VIEWER, "a known address is not counted twice");
    }
}
