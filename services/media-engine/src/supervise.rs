//! Fault containment: the counters of contained panics, task restarts and full queues (read by
//! the metrics), poison-tolerant locking, and the supervisors that restart a task serving many
//! (socket readers, camera loops, the WebSocket accept loop, the event router, the collector,
//! worker threads) after a panic.
//!
//! Invariants: a panic never stops a task that serves many for good (it is restarted, after a
//! short backoff that grows while it keeps panicking), and a lock that a panic poisoned is used
//! as is by the next holder: every state behind an engine lock is valid between two statements
//! that mutate it (the lock holders only insert, remove or replace whole values), so the worst a
//! panic leaves behind is one half-done request, never a broken invariant elsewhere.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// Locks `m`, taking over a lock poisoned by a panic (see the module doc).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// [`lock`] for reading an `RwLock`.
pub fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

/// [`lock`] for writing an `RwLock`.
pub fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}

/// Counts of faults by label: panics contained (`place`), tasks restarted (`task`), and
/// messages a full queue refused (`queue`). Off the hot path: touched only when something failed.
#[derive(Debug, Default)]
pub struct Faults {
    panics: Mutex<BTreeMap<&'static str, u64>>,
    restarts: Mutex<BTreeMap<&'static str, u64>>,
    full: Mutex<BTreeMap<&'static str, u64>>,
}

impl Faults {
    /// A panic was contained at `place` (`viewer`, `rpc`, ...).
    pub fn panicked(&self, place: &'static str) {
        *lock(&self.panics).entry(place).or_default() += 1;
    }

    /// Task `task` panicked and was restarted.
    pub fn restarted(&self, task: &'static str) {
        *lock(&self.restarts).entry(task).or_default() += 1;
    }

    /// `n` messages did not fit in `queue` (what happened to them is the queue's policy).
    pub fn full(&self, queue: &'static str, n: u64) {
        *lock(&self.full).entry(queue).or_default() += n;
    }

    pub fn panics(&self) -> Vec<(&'static str, u64)> {
        lock(&self.panics).iter().map(|(k, v)| (*k, *v)).collect()
    }

    pub fn restarts(&self) -> Vec<(&'static str, u64)> {
        lock(&self.restarts).iter().map(|(k, v)| (*k, *v)).collect()
    }

    pub fn queue_full(&self) -> Vec<(&'static str, u64)> {
        lock(&self.full).iter().map(|(k, v)| (*k, *v)).collect()
    }

    fn get(m: &Mutex<BTreeMap<&'static str, u64>>, k: &str) -> u64 {
        lock(m).get(k).copied().unwrap_or(0)
    }

    pub fn panics_at(&self, place: &str) -> u64 {
        Self::get(&self.panics, place)
    }

    pub fn restarts_of(&self, task: &str) -> u64 {
        Self::get(&self.restarts, task)
    }

    pub fn full_of(&self, queue: &str) -> u64 {
        Self::get(&self.full, queue)
    }
}

/// The message of a caught panic, for the log.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> &str {
    p.downcast_ref::<&str>().copied().or_else(|| p.downcast_ref::<String>().map(String::as_str)).unwrap_or("?")
}

/// Waits between restarts: none after a task ran for a while, then 10 ms doubling to 1 s while
/// it keeps panicking at once (a task that panics on every start must not spin a core).
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// A task that ran this long before panicking restarts at once.
const HEALTHY_RUN: Duration = Duration::from_secs(10);

impl Backoff {
    pub fn new() -> Self {
        Backoff { next: Duration::ZERO }
    }

    /// How long to wait before restarting a task that started at `started`.
    pub fn after_panic(&mut self, started: Instant) -> Duration {
        if started.elapsed() >= HEALTHY_RUN {
            self.next = Duration::ZERO;
        }
        let wait = self.next;
        self.next = (self.next * 2).clamp(BACKOFF_MIN, BACKOFF_MAX);
        wait
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

/// Spawns `make()` as a task and restarts it (a fresh `make()`) whenever it panics, until it
/// returns or `cancel` fires; each restart is counted under `task` and logged.
pub fn spawn_supervised<F, Fut>(
    task: &'static str,
    faults: std::sync::Arc<Faults>,
    cancel: CancellationToken,
    mut make: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut backoff = Backoff::new();
        loop {
            let started = Instant::now();
            match tokio::spawn(make()).await {
                Ok(()) => return,
                Err(e) if e.is_panic() => {
                    let p = e.into_panic();
                    tracing::error!(task, panic = panic_message(p.as_ref()), "task panicked; restarting it");
                    faults.restarted(task);
                }
                // Cancelled: the runtime is shutting down.
                Err(_) => return,
            }
            let wait = backoff.after_panic(started);
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_poisoned_lock_is_taken_over_with_its_value() {
        let m = Arc::new(Mutex::new(7));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), 7);
    }

    #[test]
    fn backoff_grows_while_a_task_panics_at_once_and_is_capped() {
        let mut b = Backoff::new();
        let now = Instant::now();
        let waits: Vec<_> = (0..10).map(|_| b.after_panic(now)).collect();
        assert_eq!(waits[0], Duration::ZERO, "the first restart is immediate");
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*waits.last().unwrap(), BACKOFF_MAX);
    }

    #[tokio::test]
    async fn a_supervised_task_that_panics_is_restarted_and_counted_until_it_returns() {
        let faults = Arc::new(Faults::default());
        let runs = Arc::new(AtomicU32::new(0));
        let r = runs.clone();
        let h = spawn_supervised("test-task", faults.clone(), CancellationToken::new(), move || {
            let r = r.clone();
            async move {
                if r.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("boom");
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(10), h).await.expect("the task ends").expect("no panic escapes");
        assert_eq!(runs.load(Ordering::SeqCst), 3, "two panics, then a clean run");
        assert_eq!(faults.restarts_of("test-task"), 2);
    }
}
