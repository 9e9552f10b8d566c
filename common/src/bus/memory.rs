//! In-process bus for the all-in-one binary: a queue with a pending list standing in for
//! the Redis Stream and its consumer group, and mpsc senders standing in for pub/sub.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use camview_proto::bus::Envelope;
use tokio::sync::{mpsc, Notify};

use super::{parse_delivery_id, Bus, BusError, Delivery, Subscription, COMMAND_QUEUE_MAX_LEN, SUBSCRIPTION_CAPACITY};

/// In-process [`Bus`]. [`MemoryBus::reopen`] gives another handle on the same queue and
/// channels, which behaves like a restarted process reconnecting.
pub struct MemoryBus {
    shared: Arc<Shared>,
    /// Per consumer, how far this handle has handed out its unacknowledged backlog.
    recovery: Mutex<HashMap<String, Recovery>>,
}

/// Where a consumer stands in re-reading its backlog, as with `XREADGROUP ... 0` paging.
#[derive(Clone, Copy)]
enum Recovery {
    /// Backlog entries after this sequence number are still to be handed out.
    After(u64),
    /// Backlog done: only new commands from now on.
    Done,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    pushed: Notify,
}

#[derive(Default)]
struct State {
    next_seq: u64,
    /// Pushed, never read.
    queue: VecDeque<(u64, Envelope)>,
    /// Read, not acknowledged: sequence -> (consumer, envelope).
    pending: BTreeMap<u64, (String, Envelope)>,
    channels: HashMap<String, Vec<mpsc::Sender<Envelope>>>,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryBus {
    pub fn new() -> Self {
        Self { shared: Arc::default(), recovery: Mutex::default() }
    }

    /// Another handle on the same queue and channels; its first read for a consumer
    /// returns what that consumer read earlier without acknowledging.
    pub fn reopen(&self) -> Self {
        Self { shared: self.shared.clone(), recovery: Mutex::default() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated in a way that
        // matters more than losing the bus, so recover the guard.
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes this consumer's backlog while this handle has not handed it all out, then
    /// new commands.
    fn take(&self, consumer: &str, max: usize) -> Vec<Delivery> {
        let mut recovery = self.recovery.lock().unwrap_or_else(|p| p.into_inner());
        let mut state = self.state();
        let cursor = recovery.entry(consumer.to_owned()).or_insert(Recovery::After(0));
        if let Recovery::After(after) = *cursor {
            let backlog: Vec<(u64, Envelope)> = state
                .pending
                .range(after + 1..)
                .filter(|(_, (owner, _))| owner == consumer)
                .take(max)
                .map(|(seq, (_, env))| (*seq, env.clone()))
                .collect();
            if let Some((last, _)) = backlog.last() {
                *cursor = Recovery::After(*last);
                return backlog
                    .into_iter()
                    .map(|(seq, envelope)| Delivery { delivery_id: delivery_id(seq), envelope })
                    .collect();
            }
            *cursor = Recovery::Done;
        }
        let n = max.min(state.queue.len());
        let taken: Vec<(u64, Envelope)> = state.queue.drain(..n).collect();
        taken
            .into_iter()
            .map(|(seq, env)| {
                state.pending.insert(seq, (consumer.to_owned(), env.clone()));
                Delivery { delivery_id: delivery_id(seq), envelope: env }
            })
            .collect()
    }
}

fn delivery_id(seq: u64) -> String {
    format!("0-{seq}")
}

#[async_trait]
impl Bus for MemoryBus {
    async fn push_command(&self, envelope: &Envelope) -> Result<(), BusError> {
        {
            let mut state = self.state();
            if state.queue.len() + state.pending.len() >= COMMAND_QUEUE_MAX_LEN {
                return Err(BusError::QueueFull { max: COMMAND_QUEUE_MAX_LEN });
            }
            state.next_seq += 1;
            let seq = state.next_seq;
            state.queue.push_back((seq, envelope.clone()));
        }
        self.shared.pushed.notify_waiters();
        Ok(())
    }

    async fn read_commands(&self, consumer: &str, max: usize, block: Duration) -> Result<Vec<Delivery>, BusError> {
        let max = max.max(1);
        let deadline = tokio::time::Instant::now() + block;
        loop {
            // Register interest before looking, so a push in between is not missed.
            let pushed = self.shared.pushed.notified();
            tokio::pin!(pushed);
            pushed.as_mut().enable();
            let got = self.take(consumer, max);
            if !got.is_empty() {
                return Ok(got);
            }
            if tokio::time::timeout_at(deadline, pushed).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    async fn ack_command(&self, delivery_id: &str) -> Result<(), BusError> {
        let (_, seq) = parse_delivery_id(delivery_id)?;
        self.state().pending.remove(&seq);
        Ok(())
    }

    async fn publish(&self, instance_id: &str, envelope: &Envelope) -> Result<(), BusError> {
        let mut state = self.state();
        let Some(senders) = state.channels.get_mut(instance_id) else { return Ok(()) };
        senders.retain(|tx| !tx.is_closed());
        for tx in senders.iter() {
            // Never block the publisher on a slow subscriber: like Redis pub/sub, a
            // subscriber that cannot keep up loses messages.
            if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(envelope.clone()) {
                tracing::warn!(instance_id, kind = envelope.message.kind(), "subscriber is full; dropped an envelope");
            }
        }
        if senders.is_empty() {
            state.channels.remove(instance_id);
        }
        Ok(())
    }

    async fn subscribe(&self, instance_id: &str) -> Result<Subscription, BusError> {
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        self.state().channels.entry(instance_id.to_owned()).or_default().push(tx);
        Ok(rx)
    }
}
