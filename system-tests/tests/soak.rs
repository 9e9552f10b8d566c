//! The soak: the split stack under viewers joining and leaving at random (some leave politely,
//! some just close their socket) while the camera pauses and resumes, for `SOAK_SECONDS`
//! (default one hour). Not run by `cargo test` (ignored); run it with
//!
//! ```sh
//! SOAK_SECONDS=3600 cargo test -p camview-system-tests --test soak -- --ignored --nocapture
//! ```
//!
//! Every 30 s it prints each service's RSS, open file descriptors and threads. At the end every
//! viewer leaves; it then checks that no slot leaked (the stream counts no viewer) and that
//! descriptors and threads came back to what they were after the warm-up, and prints how RSS
//! moved.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use camview_system_tests::{Stack, StackOptions, PATIENCE};

const CAMERA: &str = "camsoak";

/// RSS (KiB), open descriptors and threads of a process.
fn usage(pid: u32) -> Option<(u64, usize, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some((field("VmRSS:")?, fds, field("Threads:")?))
}

fn sample(stack: &Stack) -> HashMap<&'static str, (u64, usize, u64)> {
    stack
        .pids()
        .into_iter()
        .filter(|(name, _)| *name != "camera")
        .filter_map(|(name, pid)| Some((name, usage(pid)?)))
        .collect()
}

/// A small deterministic generator (xorshift), seeded by `SOAK_SEED`.
struct Dice(u64);
impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "an hour by default: run on purpose (see the module docs)"]
async fn an_hour_of_random_joins_leaves_and_camera_pauses_leaks_nothing() {
    let seconds: u64 = std::env::var("SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(3600);
    let max_viewers: usize = std::env::var("SOAK_VIEWERS").ok().and_then(|s| s.parse().ok()).unwrap_or(8);
    let mut dice = Dice(std::env::var("SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15));
    let mut stack = Stack::start_with(StackOptions::default().all(&[("SIGNALING_LIVENESS_TTL_SECONDS", "3")])).await;
    stack.start_stream(CAMERA).await;
    stack.start_camera(CAMERA);

    // Each viewer runs in its own task until its flag says go; then it leaves or just closes.
    let mut viewers: Vec<(Arc<AtomicBool>, bool, tokio::task::JoinHandle<()>)> = Vec::new();
    let started = Instant::now();
    let mut baseline = None;
    let mut next_sample = Instant::now();
    let (mut joins, mut leaves, mut pauses) = (0u64, 0u64, 0u64);
    let mut camera_paused = false;
    while started.elapsed() < Duration::from_secs(seconds) {
        match dice.roll(10) {
            0..=4 if viewers.len() < max_viewers => {
                let mut viewer = stack.viewer().await;
                if viewer.join(CAMERA, PATIENCE).await.is_ok() {
                    joins += 1;
                    let stop = Arc::new(AtomicBool::new(false));
                    let flag = stop.clone();
                    let polite = dice.roll(2) == 0;
                    let task = tokio::spawn(async move {
                        let _ = viewer
                            .drive_until(Duration::from_secs(24 * 3600), "the soak", |_| flag.load(Ordering::Relaxed))
                            .await;
                        if polite {
                            let _ = viewer.leave().await;
                        }
                        viewer.close().await;
                    });
                    viewers.push((stop, polite, task));
                }
            }
            0..=7 if !viewers.is_empty() => {
                let (stop, _, task) = viewers.swap_remove(dice.roll(viewers.len() as u64) as usize);
                stop.store(true, Ordering::Relaxed);
                let _ = task.await;
                leaves += 1;
            }
            8 if dice.roll(20) == 0 => {
                if camera_paused {
                    stack.start_camera(CAMERA);
                } else {
                    stack.service("camera").stop(Duration::from_secs(5)).await;
                    pauses += 1;
                }
                camera_paused = !camera_paused;
            }
            _ => {}
        }
        if Instant::now() >= next_sample {
            let now = sample(&stack);
            eprintln!(
                "[{:>5}s] joins {joins} leaves {leaves} pauses {pauses} viewers {} | {now:?}",
                started.elapsed().as_secs(),
                viewers.len()
            );
            if baseline.is_none() && started.elapsed() > Duration::from_secs(30) {
                baseline = Some(now);
            }
            next_sample += Duration::from_secs(30);
        }
        tokio::time::sleep(Duration::from_millis(200)).await; // the pace of the random actions
    }
    for (stop, _, task) in viewers.drain(..) {
        stop.store(true, Ordering::Relaxed);
        let _ = task.await;
    }
    // Sockets closed without `leave` are released when signaling notices the close.
    let deadline = Instant::now() + PATIENCE;
    while stack.viewer_count(CAMERA).await != 0 {
        assert!(
            Instant::now() < deadline,
            "viewer slots leaked: {} left\n{}",
            stack.viewer_count(CAMERA).await,
            stack.all_output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await; // polling the API
    }
    let end = sample(&stack);
    eprintln!("end: joins {joins} leaves {leaves} pauses {pauses} | {end:?}");
    if let Some(base) = baseline {
        for (name, (rss0, fds0, threads0)) in base {
            let Some((rss1, fds1, threads1)) = end.get(name).copied() else { continue };
            eprintln!("{name}: RSS {rss0} -> {rss1} KiB, fds {fds0} -> {fds1}, threads {threads0} -> {threads1}");
            assert!(fds1 <= fds0 + 8, "{name} leaks file descriptors: {fds0} -> {fds1}");
            assert!(threads1 <= threads0 + 4, "{name} leaks threads: {threads0} -> {threads1}");
        }
    }
}
