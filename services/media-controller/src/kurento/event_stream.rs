//! Typed event streams handed out by `subscribe`.

use super::object::KurentoEvent;
use super::{ClientError, KurentoClient};
use futures::Stream;
use serde_json::Value;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Events of one type from one object, decoded. Ends when the session is lost, the client
/// shuts down, or the object is released and the client forgets it.
#[derive(Debug)]
pub struct EventStream<E> {
    object: String,
    subscription: String,
    client: KurentoClient,
    rx: mpsc::Receiver<Value>,
    _event: PhantomData<fn() -> E>,
}

impl<E: KurentoEvent> EventStream<E> {
    pub(crate) fn new(client: KurentoClient, object: String, subscription: String, rx: mpsc::Receiver<Value>) -> Self {
        Self { object, subscription, client, rx, _event: PhantomData }
    }

    /// The server's subscription id.
    pub fn subscription_id(&self) -> &str {
        &self.subscription
    }

    /// The next event; `None` once the stream has ended. Payloads that do not match the
    /// descriptor are logged and skipped rather than ending the stream.
    pub async fn recv(&mut self) -> Option<E> {
        loop {
            let data = self.rx.recv().await?;
            if let Some(event) = self.decode(data) {
                return Some(event);
            }
        }
    }

    /// Stops delivery on the server too. Dropping the stream only stops local delivery.
    pub async fn unsubscribe(self) -> Result<(), ClientError> {
        self.client.unsubscribe(&self.object, &self.subscription).await
    }

    fn decode(&self, data: Value) -> Option<E> {
        match serde_json::from_value(data) {
            Ok(event) => Some(event),
            Err(e) => {
                tracing::warn!(object = %self.object, event = E::NAME, error = %e, "event does not match its descriptor");
                None
            }
        }
    }
}

impl<E: KurentoEvent> Stream for EventStream<E> {
    type Item = E;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        let this = self.get_mut();
        loop {
            match this.rx.poll_recv(cx) {
                Poll::Ready(Some(data)) => {
                    if let Some(event) = this.decode(data) {
                        return Poll::Ready(Some(event));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
