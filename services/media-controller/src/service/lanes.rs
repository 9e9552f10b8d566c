//! Runs work in lanes, the order the controller keeps: a camera's stream-level work (start,
//! stop, a camera that moved) runs alone and in order on that camera; a viewer's work (join,
//! candidates, leave) runs in order for that viewer, after the camera's earlier stream-level
//! work, and in parallel with other viewers' work; different cameras are independent. At most
//! `limit` pieces of work are in flight in all.
//!
//! So a viewer's candidates follow its `AddViewer`, a stop follows the start and waits for the
//! joins before it, a slow media call on one camera never delays another, and a popular
//! camera's joins do not queue behind each other. `push` waits for a free slot when `limit` are
//! in flight: the command reader stops reading, the commands wait in the durable queue (bounded
//! memory), and their senders' deadlines decide whether they still run.
//!
//! A panic in one piece of work is caught, logged and counted; the lane goes on with the next.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use futures::future::{join_all, BoxFuture, FutureExt, Shared};
use tokio::sync::Semaphore;

/// Finished lanes are forgotten when more than this many are remembered.
const PRUNE_ABOVE: usize = 256;

type Tail = Shared<BoxFuture<'static, ()>>;

/// Which lane a piece of work runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaneKey<'a> {
    /// Alone on the camera: after all its earlier work, before any later.
    Camera(&'a str),
    /// After the viewer's earlier work and the camera's earlier stream-level work.
    Viewer { camera: &'a str, viewer: &'a str },
}

/// The tails of one camera: its last stream-level work, and each viewer's last work since.
#[derive(Default)]
struct CameraLane {
    exclusive: Option<Tail>,
    viewers: HashMap<String, Tail>,
}

impl CameraLane {
    fn finished(&self) -> bool {
        self.exclusive.as_ref().is_none_or(|t| t.peek().is_some()) && self.viewers.values().all(|t| t.peek().is_some())
    }
}

pub struct Lanes {
    cameras: HashMap<String, CameraLane>,
    slots: Arc<Semaphore>,
    panics: Arc<AtomicU64>,
    on_panic: Arc<dyn Fn() + Send + Sync>,
}

impl Lanes {
    /// `on_panic` runs after a piece of work panicked (the caller counts it).
    pub fn new(limit: usize, on_panic: impl Fn() + Send + Sync + 'static) -> Self {
        Self {
            cameras: HashMap::new(),
            slots: Arc::new(Semaphore::new(limit.max(1))),
            panics: Arc::default(),
            on_panic: Arc::new(on_panic),
        }
    }

    /// Queues `work` in its lane (see [`LaneKey`]), after waiting for a free slot.
    pub async fn push(&mut self, key: LaneKey<'_>, work: impl Future<Output = ()> + Send + 'static) {
        let slot = self.slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        let camera = match key {
            LaneKey::Camera(c) | LaneKey::Viewer { camera: c, .. } => c,
        };
        let lane = self.cameras.entry(camera.to_owned()).or_default();
        let before: Vec<Tail> = match key {
            LaneKey::Camera(_) => {
                lane.exclusive.take().into_iter().chain(lane.viewers.drain().map(|(_, t)| t)).collect()
            }
            LaneKey::Viewer { viewer, .. } => lane.exclusive.iter().chain(lane.viewers.get(viewer)).cloned().collect(),
        };
        let panics = self.panics.clone();
        let on_panic = self.on_panic.clone();
        let name = camera.to_owned();
        let run = async move {
            join_all(before).await;
            if AssertUnwindSafe(work).catch_unwind().await.is_err() {
                panics.fetch_add(1, Ordering::Relaxed);
                on_panic();
                tracing::error!(camera = name, "a command panicked; its lane goes on with the next one");
            }
            drop(slot);
        }
        .boxed()
        .shared();
        tokio::spawn(run.clone());
        match key {
            LaneKey::Camera(_) => lane.exclusive = Some(run),
            LaneKey::Viewer { viewer, .. } => {
                lane.viewers.insert(viewer.to_owned(), run);
                if lane.viewers.len() > PRUNE_ABOVE {
                    lane.viewers.retain(|_, t| t.peek().is_none());
                }
            }
        }
        if self.cameras.len() > PRUNE_ABOVE {
            self.cameras.retain(|_, lane| !lane.finished());
        }
    }

    /// Waits until every piece of work pushed so far has finished.
    pub async fn drain(&mut self) {
        for (_, lane) in self.cameras.drain() {
            join_all(lane.exclusive.into_iter().chain(lane.viewers.into_values())).await;
        }
    }

    /// Work that panicked since the start.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
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
            .push(LaneKey::Camera("cam1"), async move {
                let _ = held.await;
                l.lock().unwrap().push("cam1 first");
            })
            .await;
        let l = log.clone();
        lanes.push(LaneKey::Camera("cam1"), async move { l.lock().unwrap().push("cam1 second") }).await;
        let (done_tx, done_rx) = oneshot::channel();
        let l = log.clone();
        lanes
            .push(LaneKey::Camera("cam2"), async move {
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
    async fn viewers_of_one_camera_run_in_parallel_each_in_order_and_the_cameras_own_work_waits_for_them() {
        let mut lanes = Lanes::new(8, || {});
        let log: Arc<Mutex<Vec<&'static str>>> = Arc::default();
        let push_log =
            |lanes: &mut Lanes, key: LaneKey<'static>, what: &'static str, hold: Option<oneshot::Receiver<()>>| {
                let l = log.clone();
                let fut = lanes.push(key, async move {
                    if let Some(hold) = hold {
                        let _ = hold.await;
                    }
                    l.lock().unwrap().push(what);
                });
                futures::executor::block_on(fut);
            };
        let v1 = LaneKey::Viewer { camera: "cam1", viewer: "v1" };
        let v2 = LaneKey::Viewer { camera: "cam1", viewer: "v2" };
        let (release_v1, held_v1) = oneshot::channel::<()>();
        push_log(&mut lanes, v1, "v1 join", Some(held_v1));
        push_log(&mut lanes, v1, "v1 candidate", None);
        let (v2_done, v2_ran) = oneshot::channel();
        let l = log.clone();
        lanes
            .push(v2, async move {
                l.lock().unwrap().push("v2 join");
                let _ = v2_done.send(());
            })
            .await;
        tokio::time::timeout(Duration::from_secs(2), v2_ran).await.expect("v2 is not held up by v1").unwrap();
        push_log(&mut lanes, LaneKey::Camera("cam1"), "stop", None);
        push_log(&mut lanes, v2, "v2 after stop", None);
        assert_eq!(*log.lock().unwrap(), ["v2 join"], "the stop waits for v1's join");
        release_v1.send(()).unwrap();
        lanes.drain().await;
        assert_eq!(*log.lock().unwrap(), ["v2 join", "v1 join", "v1 candidate", "stop", "v2 after stop"]);
    }

    #[tokio::test]
    async fn push_waits_for_a_free_slot_when_the_limit_is_in_flight() {
        let mut lanes = Lanes::new(1, || {});
        let (release, held) = oneshot::channel::<()>();
        lanes
            .push(LaneKey::Camera("cam1"), async move {
                let _ = held.await;
            })
            .await;
        let blocked =
            tokio::time::timeout(Duration::from_millis(100), lanes.push(LaneKey::Camera("cam2"), async {})).await;
        assert!(blocked.is_err(), "a second push waits while the only slot is taken");
        release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(2), lanes.push(LaneKey::Camera("cam2"), async {}))
            .await
            .expect("the slot is free again");
        lanes.drain().await;
    }

    #[tokio::test]
    async fn a_panicking_command_is_counted_and_its_lane_goes_on() {
        let mut lanes = Lanes::new(4, || {});
        lanes.push(LaneKey::Camera("cam1"), async { panic!("bad input") }).await;
        let (tx, rx) = oneshot::channel();
        lanes
            .push(LaneKey::Camera("cam1"), async move {
                let _ = tx.send(());
            })
            .await;
        tokio::time::timeout(Duration::from_secs(2), rx).await.expect("the next command ran").unwrap();
        lanes.drain().await;
        assert_eq!(lanes.panics(), 1);
    }
}
