//! Request/reply and event routing on top of any [`Bus`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camview_proto::bus::{Envelope, Message};
use tokio::sync::{mpsc, oneshot};

use super::{Bus, BusError};
use crate::clock::now_rfc3339;

/// Builds an envelope with a fresh id, carrying the current span's trace context so the
/// receiver continues the sender's trace.
pub fn envelope(message: Message, reply_to: Option<String>, correlation_id: Option<String>) -> Envelope {
    Envelope {
        id: uuid::Uuid::new_v4().to_string(),
        sent_at: now_rfc3339(),
        reply_to,
        correlation_id,
        traceparent: crate::telemetry::current_traceparent(),
        expires_at: None,
        message,
    }
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Message>>>>;

/// A service instance's view of the bus: it owns the instance channel, matches replies to
/// requests by `correlation_id`, and hands every other envelope to the owner as an event.
/// Every envelope arriving on the instance channel is counted in `camview_bus_lag_seconds`
/// here, so owners do not record it again (only consumers of the command queue do).
pub struct BusClient {
    bus: Arc<dyn Bus>,
    instance_id: String,
    pending: Pending,
}

impl BusClient {
    /// Subscribes to `instance_id`'s channel and starts routing. Envelopes that are not
    /// replies to a pending request come out of the returned receiver.
    pub async fn start(
        bus: Arc<dyn Bus>,
        instance_id: impl Into<String>,
    ) -> Result<(Arc<Self>, mpsc::Receiver<Envelope>), BusError> {
        let instance_id = instance_id.into();
        let mut sub = bus.subscribe(&instance_id).await?;
        let pending: Pending = Arc::default();
        let (events_tx, events_rx) = mpsc::channel(1024);
        let routing = pending.clone();
        tokio::spawn(async move {
            while let Some(env) = sub.recv().await {
                crate::telemetry::record_bus_lag(&env);
                let waiter =
                    env.correlation_id.as_ref().and_then(|c| routing.lock().expect("pending lock poisoned").remove(c));
                match waiter {
                    Some(tx) => {
                        let _ = tx.send(env.message); // the requester may have timed out
                    }
                    None => {
                        // Replies keep flowing even when the owner ignores events.
                        if !events_tx.is_closed() && events_tx.send(env).await.is_err() {
                            tracing::debug!("bus events receiver dropped; events are discarded");
                        }
                    }
                }
            }
        });
        Ok((Arc::new(Self { bus, instance_id, pending }), events_rx))
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// Sends a command and waits for its reply, or fails with [`BusError::Timeout`].
    pub async fn request(&self, message: Message, timeout: Duration) -> Result<Message, BusError> {
        self.request_envelope(envelope(message, None, None), timeout).await
    }

    /// Like [`BusClient::request`] with a prepared envelope (e.g. carrying `traceparent`; when
    /// it carries none, the current span's is used).
    pub async fn request_envelope(&self, mut env: Envelope, timeout: Duration) -> Result<Message, BusError> {
        let kind = env.message.kind();
        if env.traceparent.is_none() {
            env.traceparent = crate::telemetry::current_traceparent();
        }
        env.reply_to = Some(self.instance_id.clone());
        if env.expires_at.is_none() {
            env.expires_at = Some(crate::clock::rfc3339_after(timeout));
        }
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending lock poisoned").insert(env.id.clone(), tx);
        if let Err(e) = self.bus.push_command(&env).await {
            self.pending.lock().expect("pending lock poisoned").remove(&env.id);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => Err(BusError::Closed),
            Err(_) => {
                self.pending.lock().expect("pending lock poisoned").remove(&env.id);
                Err(BusError::Timeout { kind, after: timeout })
            }
        }
    }

    /// Sends a command without waiting for a reply.
    pub async fn send(&self, message: Message) -> Result<(), BusError> {
        self.bus.push_command(&envelope(message, Some(self.instance_id.clone()), None)).await
    }

    /// Answers `request` on its sender's channel.
    pub async fn reply(bus: &dyn Bus, request: &Envelope, message: Message) -> Result<(), BusError> {
        let Some(to) = &request.reply_to else { return Ok(()) };
        let mut env = envelope(message, None, Some(request.id.clone()));
        if env.traceparent.is_none() {
            env.traceparent = request.traceparent.clone();
        }
        bus.publish_reply(to, &env).await
    }
}
