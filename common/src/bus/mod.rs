//! The bus: a durable command queue to the media-controller plus one pub/sub channel per
//! service instance for replies and events.
//!
//! Invariants every implementation keeps (checked by the contract suite):
//! - a pushed command stays in the queue until acknowledged; a consumer that restarts
//!   under the same name (a new bus handle) first gets back what it read but did not
//!   acknowledge; within one handle each command is handed out once;
//! - a published envelope reaches every current subscriber of that instance channel, and
//!   no other channel;
//! - [`BusClient::request`] fails with [`BusError::Timeout`] when no reply comes in time.

mod client;
pub mod memory;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;
use camview_proto::bus::Envelope;

pub use client::{envelope, BusClient};
pub use memory::MemoryBus;
pub use redis::RedisBus;

/// Most commands waiting in the queue (pushed and not yet acknowledged); a push beyond it is
/// refused to its sender ([`BusError::QueueFull`]), never made room for by dropping another.
pub const COMMAND_QUEUE_MAX_LEN: usize = 10_000;

/// Envelopes buffered per subscription before the subscriber must catch up.
pub const SUBSCRIPTION_CAPACITY: usize = 1024;

/// Splits a delivery id (`<ms>-<seq>`, the Redis Stream id format) into its numbers.
pub(crate) fn parse_delivery_id(id: &str) -> Result<(u64, u64), BusError> {
    id.split_once('-')
        .and_then(|(ms, seq)| Some((ms.parse().ok()?, seq.parse().ok()?)))
        .ok_or_else(|| BusError::Malformed(format!("delivery id {id:?} is not <ms>-<seq>")))
}

/// One command read from the queue, to be acknowledged once handled.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// Queue position (Redis Stream entry id), passed back to [`Bus::ack_command`].
    pub delivery_id: String,
    pub envelope: Envelope,
}

/// Envelopes published to one instance channel, in order.
pub type Subscription = tokio::sync::mpsc::Receiver<Envelope>;

/// Errors of the bus layer.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("the bus is unavailable: {0}")]
    Unavailable(String),
    #[error("no reply to {kind} within {after:?}")]
    Timeout { kind: &'static str, after: Duration },
    #[error("malformed bus message: {0}")]
    Malformed(String),
    #[error("the bus client is closed")]
    Closed,
    #[error("the media-controller's command queue is full ({max} commands waiting)")]
    QueueFull { max: usize },
}

/// Transport of bus envelopes. See the module docs for the invariants.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Appends a command to the media-controller's durable queue; refuses it with
    /// [`BusError::QueueFull`] while [`COMMAND_QUEUE_MAX_LEN`] commands are unacknowledged.
    async fn push_command(&self, envelope: &Envelope) -> Result<(), BusError>;

    /// Returns up to `max` commands for `consumer`: first those it read earlier but never
    /// acknowledged (e.g. before a restart: the first reads of a new handle), then new
    /// ones, waiting up to `block` when there are none. Only one consumer name is used at
    /// a time (the lease holder). A command read and not acknowledged is not handed out
    /// again by the same handle, so handling may run concurrently with the next read.
    async fn read_commands(&self, consumer: &str, max: usize, block: Duration) -> Result<Vec<Delivery>, BusError>;

    /// Marks a command as handled so it is never delivered again.
    /// Fails with [`BusError::Malformed`] for an id that is not `<ms>-<seq>`.
    async fn ack_command(&self, delivery_id: &str) -> Result<(), BusError>;

    /// Publishes an envelope on `instance_id`'s channel.
    async fn publish(&self, instance_id: &str, envelope: &Envelope) -> Result<(), BusError>;

    /// Publishes a reply: like [`Bus::publish`], but while nobody listens on the channel (the
    /// requester's subscription is reconnecting after a Redis restart) it tries again for a
    /// moment, since the requester is waiting for exactly this message.
    async fn publish_reply(&self, instance_id: &str, envelope: &Envelope) -> Result<(), BusError> {
        self.publish(instance_id, envelope).await
    }

    /// Receives what is published on `instance_id`'s channel from now on; implementations
    /// resubscribe by themselves after a connection loss.
    async fn subscribe(&self, instance_id: &str) -> Result<Subscription, BusError>;
}
