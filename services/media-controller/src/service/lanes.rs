//! Runs work in lanes: work with the same key runs in the order it was pushed, one at a time;
//! different keys run in parallel, at most `limit` pieces of work in flight in all.
//!
//! The controller keys commands by camera, so one camera's commands keep their order (a
//! viewer's candidates follow its `AddViewer`, a stop follows the start) while a slow media call
//! on one camera never delays another. `push` waits for a free slot when `limit` are in
//! flight: the command reader stops reading, the commands wait in the durable queue (bounded
//! memory), and their senders' deadlines decide whether they still run.
//!
//! A panic in one piece of work is caught, logged and counted; the lane goes on with the next.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::future::{BoxFuture, FutureExt, Shared};
use tokio::sync::Semaphore;

/// Lanes are forgotten once finished, checked when more than this many are remembered.
const PRUNE_ABOVE: usize = 256;

pub struct Lanes {
    /// The last work pushed on each key; the next one on that key waits for it.
    tails: HashMap<String, Shared<BoxFuture<'static, ()>>>,
    slots: Arc<Semaphore>,
    panics: Arc<AtomicU64>,
    on_panic: Arc<dyn Fn() + Send + Sync>,
}

impl Lanes {
    /// `on_panic` runs after a piece of work panicked (the caller counts it).
    pub fn new(limit: usize, on_panic: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            tails: HashMap::new(),
            slots: Arc::new(Semaphore::new(limit.max(1))),
            panics: Arc::default(),
            on_panic: Arc::new(on_panic),
        }
    }

    /// Queues `work` behind the earlier work of `key`, after waiting for a free slot.
    pub async fn push(&mut self, key: &str, work: impl Future<Output = ()> + Send + 'static) {
        let slot = self.slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        let before = self.tails.get(key).cloned();
        let panics = self.panics.clone();
        let on_panic = self.on_panic.clone();
        let lane = key.to_owned();
        let run = async move {
            if let Some(before) = before {
                before.await;
            }
            if AssertUnwindSafe(work).catch_unwind().await.is_err() {
                panics.fetch_add(1, Ordering::Relaxed);
                on_panic();
                tracing::error!(lane, "a command panicked; its lane goes on with the next one");
            }
            drop(slot);
        }
        .boxed()
        .shared();
        tokio::spawn(run.clone());
        self.tails.insert(key.to_owned(), run);
        if self.tails.len() > PRUNE_ABOVE {
            self.tails.retain(|_, tail| tail.peek().is_none());
        }
    }

    /// Waits until every piece of work pushed so far has finished.
    pub async fn drain(&mut self) {
        for (_, tail) in self.tails.drain() {
            tail.await;
        }
    }

    /// Work that panicked since the start.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Keys whose work has not all finished.
    pub fn busy_lanes(&self) -> usize {
        self.tails.values().filter(|t| t.peek().is_none()).count()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;

    #[tokio::test]
    async fn one_keys_work_runs_in_order_while_another_key_runs_past_it() {
        let mut lanes = Lanes::new(8, || {});
        let log: Arc<Mutex<Vec<&'static str>>> = Arc::default();
        let (release, held) = oneshot::channel::<()>();
        let l = log.clone();
        lanes
            .push("cam1", async move {
                let _ = held.await;
                l.lock().unwrap().push("cam1 first");
            })
            .await;
        let l = log.clone();
        lanes.push("cam1", async move { l.lock().unwrap().push("cam1 second") }).await;
        let (done_tx, done_rx) = oneshot::channel();
        let l = log.clone();
        lanes
            .push("cam2", async move {
                l.lock().unwrap().push("cam2");
                let _ = done_tx.send(());
            })
            .await;
        tokio::time::timeout(Duration::from_secs(2), done_rx).await.expect("cam2 is not held up by cam1").unwrap();
        assert_eq!(*log.lock().unwrap(), ["cam2"]);
        release.send(()).unwrap();
        lanes.drain().await;
        assert_eq!(*log.lock().unwrap(), ["cam2", "cam1 first", "cam1 second"]);
    }

    #[tokio::test]
    async fn push_waits_for_a_free_slot_when_the_limit_is_in_flight() {
        let mut lanes = Lanes::new(1, || {});
        let (release, held) = oneshot::channel::<()>();
        lanes
            .push("cam1", async move {
                let _ = held.await;
            })
            .await;
        let blocked = tokio::time::timeout(Duration::from_millis(100), lanes.push("cam2", async {})).await;
        assert!(blocked.is_err(), "a second push waits while the only slot is taken");
        release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(2), lanes.push("cam2", async {}))
            .await
            .expect("the slot is free again");
        lanes.drain().await;
    }

    #[tokio::test]
    async fn a_panicking_command_is_counted_and_its_lane_goes_on() {
        let mut lanes = Lanes::new(4, || {});
        lanes.push("cam1", async { panic!("bad input") }).await;
        let (tx, rx) = oneshot::channel();
        lanes
            .push("cam1", async move {
                let _ = tx.send(());
            })
            .await;
        tokio::time::timeout(Duration::from_secs(2), rx).await.expect("the next command ran").unwrap();
        lanes.drain().await;
        assert_eq!(lanes.panics(), 1);
    }
}
