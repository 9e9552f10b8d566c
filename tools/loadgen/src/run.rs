//! One measured run against one target: start it, feed it the camera, sample it idle, join N
//! viewers at the join rate, let them settle, then measure a window and take every figure from
//! that same window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::camera::Camera;
use crate::procs::{self, Sample};
use crate::report::{Figures, Percentiles};
use crate::targets::{Kind, ServerSettings, Target, TargetError};
use crate::viewers::{Pool, ReceiveMode, ViewerReport};

#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSettings {
    pub viewers: usize,
    /// Joins started per second.
    pub join_rate: f64,
    /// Length of the measurement window.
    pub duration: Duration,
    /// After the last join: how long viewers may take to receive media.
    pub join_timeout: Duration,
    /// Between all viewers receiving and the window, and for the idle sample.
    pub settle: Duration,
    pub workers: usize,
    pub receive: ReceiveMode,
    /// Pause of a viewer worker after a read, letting datagrams queue (adds at most this much
    /// to the measured times).
    pub coalesce: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Camera(#[from] crate::camera::CameraError),
    #[error(transparent)]
    Proc(#[from] procs::ProcError),
    #[error(transparent)]
    Pool(#[from] crate::viewers::PoolError),
    #[error("{0}")]
    ServerDied(String),
}

pub async fn run(kind: Kind, servers: &ServerSettings, camera: &Camera, s: &RunSettings) -> Result<Figures, RunError> {
    eprintln!("[{}] starting", kind.name());
    let mut target = Target::start(kind, servers).await?;
    camera.send_to(vec![target.rtp_destination()]);
    target.wait_stream_ready().await?;
    tokio::time::sleep(s.settle).await;
    let pids: Vec<(String, u32)> = target.processes().iter().map(|p| (p.name.clone(), p.pid())).collect();
    let idle_from = sample_all(&pids)?;
    tokio::time::sleep(s.settle.max(Duration::from_secs(1))).await;
    let idle_to = sample_all(&pids)?;

    let pool = Arc::new(Pool::start(s.workers, target.addressing(), s.receive, s.coalesce)?);
    let target = {
        if let Some(dead) = target.dead_processes() {
            return Err(RunError::ServerDied(dead));
        }
        Arc::new(target)
    };
    eprintln!("[{}] joining {} viewers at {}/s", kind.name(), s.viewers, s.join_rate);
    let joins = join_all(&target, &pool, s).await;
    let failed_joins: Vec<String> = joins.iter().filter_map(|j| j.as_ref().err().cloned()).collect();
    let joined = joins.len() - failed_joins.len();
    if let Some(e) = failed_joins.first() {
        eprintln!("[{}] {} joins failed, first: {e}", kind.name(), failed_joins.len());
    }
    let all_in = procs::wait_until(s.join_timeout, || async {
        pool.progress().await.is_ok_and(|p| p.receiving + p.failed >= joined)
    })
    .await;
    let progress = pool.progress().await?;
    eprintln!(
        "[{}] {} joined, {} connected, {} receiving{}",
        kind.name(),
        joined,
        progress.connected,
        progress.receiving,
        if all_in { "" } else { " (join timeout)" }
    );
    tokio::time::sleep(s.settle).await;

    let drops_from = crate::report::udp_drops(&progress.ports);
    let me = std::process::id();
    let (cam_from, load_from, self_from) = (camera.count(), sample_all(&pids)?, procs::sample(me)?);
    pool.start_window();
    tokio::time::sleep(s.duration).await;
    let (cam_to, load_to, self_to) = (camera.count(), sample_all(&pids)?, procs::sample(me)?);
    let viewers = pool.report().await?;
    let drops_to = crate::report::udp_drops(&pool.progress().await?.ports);
    camera.send_to(Vec::new());
    let mut target = Arc::into_inner(target);
    let died = target.as_mut().and_then(Target::dead_processes);
    if let Some(dead) = died {
        return Err(RunError::ServerDied(dead));
    }
    drop(pool);
    drop(target);

    let secs = cam_to.at.saturating_duration_since(cam_from.at).as_secs_f64();
    let camera_packets = cam_to.packets - cam_from.packets;
    let mut f = Figures::new(kind, s.viewers);
    f.joined = joined;
    f.join_errors = failed_joins.len();
    f.first_join_error = failed_joins.into_iter().next();
    f.connected = viewers.iter().filter(|v| v.offer_to_connected_ms.is_some()).count();
    f.receiving = viewers.iter().filter(|v| v.window_packets > 0).count();
    f.window_seconds = secs;
    f.camera_pps = camera_packets as f64 / secs;
    f.camera_kbps = (cam_to.bytes - cam_from.bytes) as f64 * 8.0 / 1000.0 / secs;
    f.camera_fps = (cam_to.frames - cam_from.frames) as f64 / secs;
    f.server_cpu_idle_pct = cpu_sum(&idle_from, &idle_to);
    f.server_cpu_pct = cpu_sum(&load_from, &load_to);
    f.per_process = pids
        .iter()
        .enumerate()
        .map(|(i, (name, _))| (name.clone(), procs::cpu_percent(&load_from[i], &load_to[i]), load_to[i].rss_kb))
        .collect();
    f.rss_idle_kb = idle_to.iter().map(|s| s.rss_kb).sum();
    f.rss_loaded_kb = load_to.iter().map(|s| s.rss_kb).sum();
    f.loadgen_cpu_pct = procs::cpu_percent(&self_from, &self_to);
    f.loadgen_socket_drops = drops_to.saturating_sub(drops_from);
    viewer_figures(&mut f, &viewers, camera_packets, secs);
    Ok(f)
}

/// Starts a join every 1/rate seconds, each in its own task; returns every outcome.
async fn join_all(target: &Arc<Target>, pool: &Arc<Pool>, s: &RunSettings) -> Vec<Result<(), String>> {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(s.viewers);
    for i in 0..s.viewers {
        let due = start + Duration::from_secs_f64(i as f64 / s.join_rate.max(0.001));
        tokio::time::sleep_until(due.into()).await;
        let (t, p) = (target.clone(), pool.clone());
        tasks.push(tokio::spawn(async move { t.join(&p).await }));
    }
    let mut out = Vec::with_capacity(tasks.len());
    for t in tasks {
        out.push(t.await.unwrap_or_else(|e| Err(format!("join task: {e}"))));
    }
    out
}

fn sample_all(pids: &[(String, u32)]) -> Result<Vec<Sample>, procs::ProcError> {
    pids.iter().map(|(_, pid)| procs::sample(*pid)).collect()
}

fn cpu_sum(from: &[Sample], to: &[Sample]) -> f64 {
    from.iter().zip(to).map(|(a, b)| procs::cpu_percent(a, b)).sum()
}

fn viewer_figures(f: &mut Figures, viewers: &[ViewerReport], camera_packets: u64, secs: f64) {
    let counted: Vec<&ViewerReport> = viewers.iter().filter(|v| v.offer_to_connected_ms.is_some()).collect();
    let n = counted.len().max(1) as f64;
    f.rss_per_viewer_kb = (f.rss_loaded_kb as f64 - f.rss_idle_kb as f64) / counted.len().max(1) as f64;
    f.cpu_per_viewer_pct = (f.server_cpu_pct - f.server_cpu_idle_pct) / counted.len().max(1) as f64;
    let pps: Vec<f64> = counted.iter().map(|v| v.window_packets as f64 / secs).collect();
    f.viewer_pps_mean = pps.iter().sum::<f64>() / n;
    f.viewer_kbps_mean = counted.iter().map(|v| v.window_bytes as f64 * 8.0 / 1000.0 / secs).sum::<f64>() / n;
    f.viewer_pps_min = pps.iter().copied().fold(f64::INFINITY, f64::min);
    if pps.is_empty() {
        f.viewer_pps_min = 0.0;
    }
    // Loss against what the camera sent in the same window (stamps included, as servers
    // forward them too); packets in flight at the window's edges make this +-1 packet.
    let losses: Vec<f64> = counted
        .iter()
        .map(|v| (1.0 - v.window_packets as f64 / camera_packets.max(1) as f64).max(0.0) * 100.0)
        .collect();
    f.loss_pct_mean = losses.iter().sum::<f64>() / n;
    f.loss_pct_max = losses.iter().copied().fold(0.0, f64::max);
    f.viewers_over_1pct_loss = losses.iter().filter(|l| **l > 1.0).count();
    f.seq_gaps = counted.iter().map(|v| v.window_seq_gaps).sum();
    f.duplicates = counted.iter().map(|v| v.window_duplicates).sum();
    let received: u64 = counted.iter().map(|v| v.window_packets).sum();
    f.seq_gap_loss_pct = f.seq_gaps as f64 * 100.0 / (received + f.seq_gaps).max(1) as f64;
    f.offer_to_answer_ms = Percentiles::of(viewers.iter().map(|v| v.offer_to_answer_ms).collect());
    f.offer_to_connected_ms = Percentiles::of(viewers.iter().filter_map(|v| v.offer_to_connected_ms).collect());
    f.offer_to_first_rtp_ms = Percentiles::of(viewers.iter().filter_map(|v| v.offer_to_first_rtp_ms).collect());
    f.glass_to_glass_ms =
        Percentiles::of(counted.iter().flat_map(|v| v.glass_us.iter().map(|us| f64::from(*us) / 1000.0)).collect());
    f.viewer_errors = viewers.iter().filter(|v| v.error.is_some()).count();
    f.first_viewer_error = viewers.iter().find_map(|v| v.error.clone());
}
