//! The engine's own CPU use, as `ServerManager.getUsedCpu` reports it and the node heartbeat
//! publishes it: percent of all the machine's cores, from the process' user + system time in
//! `/proc/self/stat`, averaged over the last sampling period.
//!
//! [`CpuSampler`] is sans-IO (it takes the time and the tick count); [`run_cpu_meter`] is the
//! thin loop that reads the file once per period and stores the result in a [`CpuGauge`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

/// How often the meter samples `/proc/self/stat`.
pub const CPU_SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// `/proc` reports times in `USER_HZ` ticks, 100 per second on every Linux ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// The last measured CPU use, shared lock-free between the meter and its readers.
#[derive(Debug, Default)]
pub struct CpuGauge(AtomicU64);

impl CpuGauge {
    /// Percent of all cores, 0.0 until the first period was measured.
    pub fn percent(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    pub fn set(&self, percent: f64) {
        self.0.store(percent.to_bits(), Ordering::Relaxed);
    }
}

/// The process' user + system time in ticks, from the text of `/proc/self/stat`; `None` if
/// the text is not such a line. The command name (field 2) may hold spaces and parentheses, so
/// fields are counted after its last `)`.
pub fn process_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After the name: state is field 3, utime field 14, stime field 15.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Turns successive tick counts into CPU percent of `cores` cores.
#[derive(Debug)]
pub struct CpuSampler {
    cores: f64,
    last: Option<(Instant, u64)>,
}

impl CpuSampler {
    pub fn new(cores: usize) -> Self {
        Self { cores: cores.max(1) as f64, last: None }
    }

    /// The CPU percent since the previous sample (`None` for the first one, or when no time
    /// passed), clamped to 0..=100.
    pub fn sample(&mut self, now: Instant, ticks: u64) -> Option<f64> {
        let previous = self.last.replace((now, ticks));
        let (then, before) = previous?;
        let elapsed = now.checked_duration_since(then)?.as_secs_f64();
        if elapsed <= 0.0 {
            return None;
        }
        let busy = ticks.saturating_sub(before) as f64 / TICKS_PER_SECOND;
        Some((busy / elapsed / self.cores * 100.0).clamp(0.0, 100.0))
    }
}

/// Samples `/proc/self/stat` every [`CPU_SAMPLE_PERIOD`] into `gauge` until `stop`. Where the
/// file cannot be read (not Linux), the gauge stays at 0 and one debug line says why.
pub async fn run_cpu_meter(gauge: std::sync::Arc<CpuGauge>, stop: CancellationToken) {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut sampler = CpuSampler::new(cores);
    let mut tick = tokio::time::interval(CPU_SAMPLE_PERIOD);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let ticks = match tokio::fs::read_to_string("/proc/self/stat").await.ok().as_deref().and_then(process_ticks) {
            Some(ticks) => ticks,
            None => {
                tracing::debug!("no /proc/self/stat: CPU use is reported as 0");
                break;
            }
        };
        if let Some(percent) = sampler.sample(Instant::now(), ticks) {
            gauge.set(percent);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (camview media) engine) S 1 4242 4242 0 -1 4194560 1200 0 0 0 250 50 0 0 20 0 9 0 100 0 0";

    #[test]
    fn process_ticks_adds_user_and_system_time_after_a_name_with_spaces_and_parentheses() {
        assert_eq!(process_ticks(STAT), Some(300));
        assert_eq!(process_ticks("4242 (x) S 1"), None);
        assert_eq!(process_ticks("garbage"), None);
    }

    #[test]
    fn cpu_percent_is_the_busy_share_of_every_core_over_the_period() {
        let mut s = CpuSampler::new(4);
        let t0 = Instant::now();
        assert_eq!(s.sample(t0, 1000), None, "the first sample has nothing to compare with");
        // 2 s of CPU in 1 s on 4 cores: half the machine.
        assert_eq!(s.sample(t0 + Duration::from_secs(1), 1200), Some(50.0));
        assert_eq!(s.sample(t0 + Duration::from_secs(2), 1200), Some(0.0));
        assert_eq!(s.sample(t0 + Duration::from_secs(2), 1300), None, "no time passed");
        assert_eq!(s.sample(t0 + Duration::from_secs(3), 9999), Some(100.0), "clamped");
    }
}
