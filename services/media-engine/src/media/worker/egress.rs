//! Batched egress of one worker: datagrams are gathered into one reused buffer while the worker
//! drains its `Rtc`s, and consecutive datagrams to the same peer go out as one GSO `sendmsg`
//! (quinn-udp; one datagram per call where the kernel has no UDP GSO).
//!
//! Invariant: nothing is sent while gathering, so the worker's state is never borrowed across an
//! await; `flush` sends everything gathered, in order, and empties the buffer.

use std::io;
use std::net::SocketAddr;

use quinn_udp::{Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Largest GSO send (the kernel's limit is 64 KiB of payload).
const MAX_GSO_BYTES: usize = 60_000;

/// Flush when this much is gathered, so a big fan-out does not grow the buffer without bound.
pub const FLUSH_AT: usize = 256 * 1024;

struct Sock {
    local: SocketAddr,
    io: UdpSocket,
    state: UdpSocketState,
    /// Viewers using it (range mode); shared sockets are never dropped.
    users: usize,
    shared: bool,
}

/// One `sendmsg`: `count` segments of `seg` bytes (the last may be shorter) to `dest`.
struct Batch {
    sock: usize,
    dest: SocketAddr,
    start: usize,
    len: usize,
    seg: usize,
    count: usize,
    /// A shorter segment ended the batch.
    closed: bool,
}

pub struct Egress {
    socks: Vec<Sock>,
    buf: Vec<u8>,
    batches: Vec<Batch>,
    max_segments: usize,
    /// Datagrams the kernel refused (other than a full buffer, which is waited out).
    pub send_errors: u64,
}

impl Egress {
    pub fn new() -> Self {
        Egress { socks: vec![], buf: Vec::with_capacity(64 * 1024), batches: vec![], max_segments: 1, send_errors: 0 }
    }

    /// Registers a sending socket (a duplicate of the one that receives) on this thread's runtime.
    pub fn add_socket(&mut self, s: std::net::UdpSocket, shared: bool) -> io::Result<()> {
        let local = s.local_addr()?;
        if let Some(x) = self.socks.iter_mut().find(|x| x.local == local) {
            x.users += 1;
            return Ok(());
        }
        s.set_nonblocking(true)?;
        let state = UdpSocketState::new((&s).into())?;
        self.max_segments = if self.socks.is_empty() {
            state.max_gso_segments()
        } else {
            self.max_segments.min(state.max_gso_segments())
        }
        .max(1);
        self.socks.push(Sock { local, io: UdpSocket::from_std(s)?, state, users: 1, shared });
        Ok(())
    }

    /// A viewer of a range-mode socket left; the socket goes with its last user.
    pub fn release_socket(&mut self, local: SocketAddr) {
        // Gathered batches name sockets by index: unused ones are dropped after the next flush.
        if let Some(x) = self.socks.iter_mut().find(|x| x.local == local && !x.shared) {
            x.users = x.users.saturating_sub(1);
        }
    }

    pub fn gathered(&self) -> usize {
        self.buf.len()
    }

    /// Gathers one datagram from local address `source` to `dest`.
    pub fn push(&mut self, source: SocketAddr, dest: SocketAddr, data: &[u8]) {
        let Some(sock) = self.socks.iter().position(|x| x.local == source) else {
            self.send_errors += 1;
            return;
        };
        let start = self.buf.len();
        self.buf.extend_from_slice(data);
        if let Some(b) = self.batches.last_mut() {
            let fits = b.sock == sock
                && b.dest == dest
                && !b.closed
                && b.count < self.max_segments
                && b.len + data.len() <= MAX_GSO_BYTES;
            if fits && data.len() <= b.seg {
                b.len += data.len();
                b.count += 1;
                b.closed = data.len() < b.seg;
                return;
            }
        }
        self.batches.push(Batch { sock, dest, start, len: data.len(), seg: data.len(), count: 1, closed: false });
    }

    /// Drops everything gathered (after a panic in the worker's loop).
    pub fn discard(&mut self) {
        self.batches.clear();
        self.buf.clear();
    }

    /// Sends everything gathered.
    pub async fn flush(&mut self) {
        for b in self.batches.drain(..) {
            let s = &self.socks[b.sock];
            let t = Transmit {
                destination: b.dest,
                ecn: None,
                contents: &self.buf[b.start..b.start + b.len],
                segment_size: (b.count > 1).then_some(b.seg),
                src_ip: None,
            };
            if s.io.async_io(Interest::WRITABLE, || s.state.send((&s.io).into(), &t)).await.is_err() {
                // Unreachable peers and the like: the datagrams are lost, as on the network.
                self.send_errors += b.count as u64;
            }
        }
        self.buf.clear();
        self.socks.retain(|s| s.shared || s.users > 0);
    }
}
