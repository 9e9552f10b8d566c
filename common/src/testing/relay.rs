//! A userspace UDP relay that impairs traffic (see [`super::impair`]) between a client and a
//! fixed upstream, both ways, like a NAT with a bad link: the client is whoever sends the
//! first datagram to [`UdpRelay::addr`]; the relay forwards it from a socket of its own to the
//! upstream, and what the upstream sends back to that socket goes to the client from
//! [`UdpRelay::addr`]. Datagrams from anyone else are counted and ignored.
//!
//! One task per direction, each with its own [`Impairer`] behind a mutex that is never held
//! across I/O. The tasks end when the relay is dropped.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::impair::{ImpairCounters, Impairer, Impairment};

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// Client to upstream.
    Up,
    /// Upstream to client.
    Down,
}

/// A running relay; stops when dropped.
pub struct UdpRelay {
    addr: SocketAddr,
    upstream: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

struct Shared {
    client: OnceLock<SocketAddr>,
    up: Mutex<Impairer>,
    down: Mutex<Impairer>,
    /// Datagrams from neither the client nor the upstream.
    strangers: AtomicU64,
}

impl Shared {
    fn impairer(&self, way: Way) -> MutexGuard<'_, Impairer> {
        let m = match way {
            Way::Up => &self.up,
            Way::Down => &self.down,
        };
        // Nothing under this lock can leave an impairer half-updated: recover a poisoned one.
        m.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl UdpRelay {
    /// A relay on a fresh `127.0.0.1` port towards `upstream`, impairing each way as given.
    /// `seed` seeds the upstream-bound direction; the other uses `seed + 1`.
    pub async fn start(upstream: SocketAddr, up: Impairment, down: Impairment, seed: u64) -> std::io::Result<UdpRelay> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), upstream, up, down, seed).await
    }

    /// [`UdpRelay::start`] listening on `listen` (e.g. one port of an RTP/RTCP pair).
    pub async fn start_on(
        listen: SocketAddr,
        upstream: SocketAddr,
        up: Impairment,
        down: Impairment,
        seed: u64,
    ) -> std::io::Result<UdpRelay> {
        let outer = Arc::new(UdpSocket::bind(listen).await?);
        let inner = Arc::new(UdpSocket::bind(SocketAddr::new(listen.ip(), 0)).await?);
        let addr = outer.local_addr()?;
        let shared = Arc::new(Shared {
            client: OnceLock::new(),
            up: Mutex::new(Impairer::new(up, seed)),
            down: Mutex::new(Impairer::new(down, seed.wrapping_add(1))),
            strangers: AtomicU64::new(0),
        });
        let tasks = vec![
            tokio::spawn(pump(Way::Up, outer.clone(), inner.clone(), upstream, shared.clone())),
            tokio::spawn(pump(Way::Down, inner, outer, upstream, shared.clone())),
        ];
        Ok(UdpRelay { addr, upstream, shared, tasks })
    }

    /// Where the client sends.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The client, once it sent its first datagram.
    pub fn client(&self) -> Option<SocketAddr> {
        self.shared.client.get().copied()
    }

    /// Changes one direction's impairment from now on.
    pub fn set(&self, way: Way, impairment: Impairment) {
        self.shared.impairer(way).set(impairment);
    }

    /// What one direction did so far.
    pub fn counters(&self, way: Way) -> ImpairCounters {
        self.shared.impairer(way).counters()
    }

    /// Datagrams from neither the client nor the upstream, ignored.
    pub fn strangers(&self) -> u64 {
        self.shared.strangers.load(Ordering::Relaxed)
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// One direction: receives on `from`, impairs, sends what is due on `to`.
async fn pump(way: Way, from: Arc<UdpSocket>, to: Arc<UdpSocket>, upstream: SocketAddr, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 65_536];
    let mut due = Vec::new();
    loop {
        let next = shared.impairer(way).next_due();
        let wake = async {
            match next {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = from.recv_from(&mut buf) => {
                // An error (e.g. an ICMP port unreachable reported on a later read) is a lost datagram.
                if let Ok((n, source)) = received {
                    if admit(way, source, upstream, &shared) {
                        shared.impairer(way).input(Instant::now(), buf[..n].to_vec());
                    } else {
                        shared.strangers.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            () = wake => {}
        }
        {
            let now = Instant::now();
            let mut imp = shared.impairer(way);
            while let Some(d) = imp.poll(now) {
                due.push(d);
            }
        }
        let dest = match way {
            Way::Up => Some(upstream),
            Way::Down => shared.client.get().copied(),
        };
        for d in due.drain(..) {
            if let Some(dest) = dest {
                // A failed send is a lost datagram, as on a real network.
                let _ = to.send_to(&d, dest).await;
            }
        }
    }
}

/// Up: the client (learned from the first datagram) only. Down: the upstream only.
fn admit(way: Way, source: SocketAddr, upstream: SocketAddr, shared: &Shared) -> bool {
    match way {
        Way::Up => *shared.client.get_or_init(|| source) == source,
        Way::Down => source == upstream,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn recv(sock: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = [0u8; 64];
        let (n, from) = tokio::time::timeout(Duration::from_secs(5), sock.recv_from(&mut buf))
            .await
            .expect("a datagram within 5 s")
            .expect("recv");
        (buf[..n].to_vec(), from)
    }

    async fn relay_to(server: &UdpSocket, seed: u64) -> UdpRelay {
        UdpRelay::start(server.local_addr().unwrap(), Impairment::default(), Impairment::default(), seed).await.unwrap()
    }

    #[tokio::test]
    async fn datagrams_cross_both_ways_and_the_upstream_sees_only_the_relay() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let relay = relay_to(&server, 1).await;
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(b"ping", relay.addr()).await.unwrap();
        let (data, via) = recv(&server).await;
        assert_eq!(data, b"ping");
        assert_ne!(via, client.local_addr().unwrap(), "the upstream sees the relay's socket");
        assert_eq!(relay.client(), Some(client.local_addr().unwrap()));
        server.send_to(b"pong", via).await.unwrap();
        assert_eq!(recv(&client).await, (b"pong".to_vec(), relay.addr()));
        assert_eq!(relay.counters(Way::Up).forwarded, 1);
        assert_eq!(relay.counters(Way::Down).forwarded, 1);
    }

    #[tokio::test]
    async fn a_stranger_is_ignored_and_a_blackout_drops_until_lifted() {
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let relay = relay_to(&server, 2).await;
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(b"a", relay.addr()).await.unwrap();
        assert_eq!(recv(&server).await.0, b"a");
        stranger.send_to(b"x", relay.addr()).await.unwrap();
        relay.set(Way::Up, Impairment::blackout());
        client.send_to(b"b", relay.addr()).await.unwrap();
        crate::testing::wait_until(Duration::from_secs(5), "the relay read b", || async {
            relay.counters(Way::Up).received == 2
        })
        .await;
        relay.set(Way::Up, Impairment::default());
        client.send_to(b"c", relay.addr()).await.unwrap();
        assert_eq!(recv(&server).await.0, b"c", "b was dropped, c crossed");
        assert_eq!(relay.strangers(), 1);
        assert_eq!(relay.counters(Way::Up).dropped, 1);
    }
}
