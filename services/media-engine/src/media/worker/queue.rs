//! The command queue of one worker: bounded, with a policy per kind of command when it is full.
//!
//! - `QUEUE` commands at most wait for a worker. Media (camera packets, viewers' datagrams, flow
//!   changes) may use it only while more than `HEADROOM` slots are free; beyond that it is
//!   dropped, newest first, and counted (`camview_engine_queue_full_total{queue="worker"}`): a
//!   worker that far behind loses packets as a congested network would, and the viewers recover
//!   by NACK and PLI. The headroom keeps room for the commands below while media floods.
//! - Commands an RPC asks for (a viewer going live, a remote candidate) are refused when the
//!   queue is full: the RPC answers with a clear error and nothing changed, so it can be retried.
//! - Commands whose loss would leak state (a viewer's removal, its source change) are never lost:
//!   when the queue is full they wait in the worker's `pending` list, which the worker empties
//!   after each round of commands. It holds at most one removal per viewer and the source
//!   changes RPCs asked for while the worker was that far behind (each RPC is one request of a
//!   client; nothing in the media path adds to it). While it is not empty, such commands queue
//!   behind it, so their order is kept.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{channel, Receiver, Sender};

use super::Cmd;
use crate::supervise::{lock, Faults};

/// Commands waiting for one worker, at most.
pub const QUEUE: usize = 16384;
/// Slots media leaves free for the commands of RPCs.
pub const HEADROOM: usize = 1024;

/// The sending side of one worker's queue.
pub struct Queue {
    tx: Sender<Cmd>,
    pending: Arc<Mutex<Vec<Cmd>>>,
}

/// The worker's side.
pub struct Inbox {
    pub rx: Receiver<Cmd>,
    pub pending: Arc<Mutex<Vec<Cmd>>>,
}

/// The worker's queue is full: the command that did not fit.
pub struct Overloaded(pub Box<Cmd>);

pub fn queue() -> (Queue, Inbox) {
    let (tx, rx) = channel(QUEUE);
    let pending = Arc::new(Mutex::new(vec![]));
    (Queue { tx, pending: pending.clone() }, Inbox { rx, pending })
}

impl Queue {
    /// Media: dropped (and counted) unless more than `HEADROOM` slots are free.
    pub fn media(&self, cmd: Cmd, faults: &Faults) {
        if self.tx.capacity() <= HEADROOM {
            faults.full("worker", 1);
            return;
        }
        if let Err(TrySendError::Full(_)) = self.tx.try_send(cmd) {
            faults.full("worker", 1);
        }
        // Closed: the worker stopped with the engine; the command is moot.
    }

    /// An RPC's command: refused when the queue is full.
    pub fn control(&self, cmd: Cmd, faults: &Faults) -> Result<(), Overloaded> {
        match self.tx.try_send(cmd) {
            Ok(()) | Err(TrySendError::Closed(_)) => Ok(()),
            Err(TrySendError::Full(cmd)) => {
                faults.full("worker", 1);
                Err(Overloaded(Box::new(cmd)))
            }
        }
    }

    /// A command that must not be lost: queued, or else kept in `pending`.
    pub fn state(&self, cmd: Cmd) {
        let mut pending = lock(&self.pending);
        if !pending.is_empty() {
            pending.push(cmd);
            return;
        }
        if let Err(TrySendError::Full(cmd)) = self.tx.try_send(cmd) {
            pending.push(cmd);
        }
    }
}

impl Inbox {
    /// Commands that found the queue full, in order.
    pub fn take_pending(&self) -> Vec<Cmd> {
        let mut p = lock(&self.pending);
        if p.is_empty() {
            return vec![];
        }
        std::mem::take(&mut *p)
    }
}

/// Viewers per worker, for placing new ones.
pub struct Load(Vec<AtomicUsize>);

impl Load {
    pub fn new(n: usize) -> Self {
        Load((0..n).map(|_| AtomicUsize::new(0)).collect())
    }

    /// The worker with the fewest viewers, counting the new one.
    pub fn place(&self) -> usize {
        let w = (0..self.0.len()).min_by_key(|i| self.0[*i].load(Ordering::Relaxed)).unwrap_or(0);
        self.0[w].fetch_add(1, Ordering::Relaxed);
        w
    }

    pub fn unplace(&self, w: usize) {
        let _ = self.0[w].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_leaves_headroom_rpc_commands_are_refused_when_full_and_removals_are_never_lost() {
        let faults = Faults::default();
        let (q, mut inbox) = queue();
        for _ in 0..QUEUE {
            q.media(Cmd::SourceSilent(1), &faults);
        }
        assert_eq!(q.tx.capacity(), HEADROOM, "media stops at the headroom");
        assert_eq!(faults.full_of("worker"), HEADROOM as u64, "and counts what it dropped");
        for _ in 0..HEADROOM {
            assert!(q.control(Cmd::Remove(9), &faults).is_ok());
        }
        let refused = q.control(Cmd::Remove(7), &faults).err().map(|Overloaded(c)| *c);
        assert!(matches!(refused, Some(Cmd::Remove(7))), "full: refused, the command handed back");
        q.state(Cmd::Remove(8));
        q.state(Cmd::Remove(9));
        let pending: Vec<u64> =
            inbox.take_pending().into_iter().map(|c| if let Cmd::Remove(k) = c { k } else { 0 }).collect();
        assert_eq!(pending, [8, 9], "kept in order");
        assert!(inbox.take_pending().is_empty());
        assert!(inbox.rx.try_recv().is_ok());
    }
}
