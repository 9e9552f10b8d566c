//! Server and camera processes: spawned (optionally pinned to a CPU with `taskset`), logs kept
//! in files, killed when dropped; and CPU/RSS samples from `/proc/<pid>`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ProcError {
    #[error("cannot start {name} ({program}): {source}")]
    Spawn { name: String, program: String, source: std::io::Error },
    #[error("cannot create log file {path}: {source}")]
    Log { path: PathBuf, source: std::io::Error },
    #[error("cannot read /proc/{pid}: {source}")]
    Proc { pid: u32, source: std::io::Error },
    #[error("cannot parse /proc/{pid}/{file}")]
    Parse { pid: u32, file: &'static str },
    #[error("cannot pin this process to CPU {cpus} with taskset: {reason}")]
    Pin { cpus: String, reason: String },
}

/// A child process that dies with this handle.
pub struct Proc {
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `program` with `env` added, stdout and stderr into `<log_dir>/<name>.log`, pinned
    /// to `cpus` (a `taskset -c` list) when given.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        cpus: Option<&str>,
        log_dir: &Path,
    ) -> Result<Proc, ProcError> {
        let log = log_dir.join(format!("{name}.log"));
        let file = File::create(&log).map_err(|source| ProcError::Log { path: log.clone(), source })?;
        let err = file.try_clone().map_err(|source| ProcError::Log { path: log.clone(), source })?;
        let mut cmd = match cpus {
            Some(c) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(c).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.args(args).envs(env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null()).stdout(file).stderr(err);
        let child = cmd.spawn().map_err(|source| ProcError::Spawn {
            name: name.into(),
            program: program.display().to_string(),
            source,
        })?;
        Ok(Proc { name: name.into(), child, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last `lines` lines of its log, for error messages.
    pub fn tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pins every thread of this process to `cpus` (threads created later inherit it).
pub fn pin_self(cpus: &str) -> Result<(), ProcError> {
    let out = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .output()
        .map_err(|e| ProcError::Pin { cpus: cpus.into(), reason: e.to_string() })?;
    if !out.status.success() {
        return Err(ProcError::Pin { cpus: cpus.into(), reason: String::from_utf8_lossy(&out.stderr).trim().into() });
    }
    Ok(())
}

/// CPU time and resident memory of one process at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Instant,
    /// utime + stime of every thread, in clock ticks.
    pub ticks: u64,
    pub rss_kb: u64,
}

/// Linux reports `/proc/<pid>/stat` times in USER_HZ, which is 100 on every Linux ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`.
pub fn sample(pid: u32) -> Result<Sample, ProcError> {
    let at = Instant::now();
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|source| ProcError::Proc { pid, source })?;
    let ticks = parse_ticks(&stat).ok_or(ProcError::Parse { pid, file: "stat" })?;
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|source| ProcError::Proc { pid, source })?;
    let rss_kb = parse_rss_kb(&status).ok_or(ProcError::Parse { pid, file: "status" })?;
    Ok(Sample { at, ticks, rss_kb })
}

/// CPU used between two samples, as a percentage of one core.
pub fn cpu_percent(from: &Sample, to: &Sample) -> f64 {
    let secs = to.at.saturating_duration_since(from.at).as_secs_f64().max(1e-9);
    (to.ticks.saturating_sub(from.ticks)) as f64 / TICKS_PER_SECOND / secs * 100.0
}

/// Fields 14 and 15 (utime, stime) of `/proc/<pid>/stat`, counted after the `)` that ends the
/// command name (which may hold spaces).
fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn parse_rss_kb(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until `check` holds, polling every 50 ms, for at most `limit`.
pub async fn wait_until<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_utime_plus_stime_even_with_spaces_in_the_name() {
        let stat = "1234 (camview media) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 100 1000 200";
        assert_eq!(parse_ticks(stat), Some(300));
    }

    #[test]
    fn rss_is_read_from_status() {
        assert_eq!(parse_rss_kb("Name:\tx\nVmRSS:\t   12345 kB\nThreads: 3\n"), Some(12345));
        assert_eq!(parse_rss_kb("Name:\tx\n"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(std::process::id()).unwrap();
        assert!(s.rss_kb > 0);
        let later = Sample { at: s.at + Duration::from_secs(2), ticks: s.ticks + 100, rss_kb: s.rss_kb };
        assert!((cpu_percent(&s, &later) - 50.0).abs() < 1e-6);
    }
}
