//! Figures of a run, the side-by-side table and the JSON document.

use std::fmt::Write as _;

use crate::targets::Kind;

/// p50/p99/max of a set of samples (milliseconds), with their count.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    pub fn of(mut v: Vec<f64>) -> Percentiles {
        if v.is_empty() {
            return Percentiles::default();
        }
        v.sort_by(f64::total_cmp);
        // Nearest rank.
        let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Percentiles { count: v.len(), p50: at(0.50), p99: at(0.99), max: v[v.len() - 1] }
    }
}

/// Every figure of one target's run, all from the same measurement window.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Figures {
    pub target: Kind,
    pub viewers_requested: usize,
    pub joined: usize,
    pub join_errors: usize,
    pub first_join_error: Option<String>,
    /// ICE and DTLS up.
    pub connected: usize,
    /// Received at least one packet in the window.
    pub receiving: usize,
    pub window_seconds: f64,
    pub camera_pps: f64,
    pub camera_kbps: f64,
    pub camera_fps: f64,
    /// Sum over the server's processes, % of one core.
    pub server_cpu_idle_pct: f64,
    pub server_cpu_pct: f64,
    /// (CPU loaded - CPU idle) / connected viewers.
    pub cpu_per_viewer_pct: f64,
    /// (process, CPU % of a core, RSS KB) while loaded.
    pub per_process: Vec<(String, f64, u64)>,
    pub rss_idle_kb: u64,
    pub rss_loaded_kb: u64,
    /// (RSS loaded - RSS idle) / connected viewers.
    pub rss_per_viewer_kb: f64,
    pub viewer_pps_mean: f64,
    pub viewer_pps_min: f64,
    /// Received RTP bytes (UDP payload, i.e. SRTP packets) per viewer, kbit/s.
    pub viewer_kbps_mean: f64,
    pub loss_pct_mean: f64,
    pub loss_pct_max: f64,
    pub viewers_over_1pct_loss: usize,
    /// Sequence numbers the server skipped (sent but lost on the way), summed over viewers.
    pub seq_gaps: u64,
    /// seq_gaps / (packets received + seq_gaps), %: loss after the server numbered the
    /// packets. Unlike the loss against the camera, a server's backlog cannot hide it.
    pub seq_gap_loss_pct: f64,
    /// Packets received twice (retransmitted though they had arrived), summed over viewers.
    pub duplicates: u64,
    pub offer_to_answer_ms: Percentiles,
    pub offer_to_connected_ms: Percentiles,
    pub offer_to_first_rtp_ms: Percentiles,
    pub glass_to_glass_ms: Percentiles,
    pub viewer_errors: usize,
    pub first_viewer_error: Option<String>,
    pub loadgen_cpu_pct: f64,
    /// Datagrams the kernel dropped on the viewers' sockets in the window (loadgen too slow).
    pub loadgen_socket_drops: u64,
}

impl Figures {
    pub fn new(target: Kind, viewers: usize) -> Figures {
        Figures {
            target,
            viewers_requested: viewers,
            joined: 0,
            join_errors: 0,
            first_join_error: None,
            connected: 0,
            receiving: 0,
            window_seconds: 0.0,
            camera_pps: 0.0,
            camera_kbps: 0.0,
            camera_fps: 0.0,
            server_cpu_idle_pct: 0.0,
            server_cpu_pct: 0.0,
            cpu_per_viewer_pct: 0.0,
            per_process: Vec::new(),
            rss_idle_kb: 0,
            rss_loaded_kb: 0,
            rss_per_viewer_kb: 0.0,
            viewer_pps_mean: 0.0,
            viewer_pps_min: 0.0,
            viewer_kbps_mean: 0.0,
            loss_pct_mean: 0.0,
            loss_pct_max: 0.0,
            viewers_over_1pct_loss: 0,
            seq_gaps: 0,
            seq_gap_loss_pct: 0.0,
            duplicates: 0,
            offer_to_answer_ms: Percentiles::default(),
            offer_to_connected_ms: Percentiles::default(),
            offer_to_first_rtp_ms: Percentiles::default(),
            glass_to_glass_ms: Percentiles::default(),
            viewer_errors: 0,
            first_viewer_error: None,
            loadgen_cpu_pct: 0.0,
            loadgen_socket_drops: 0,
        }
    }
}

/// A table row: its label and how to show a run's figure.
type Row = (&'static str, Box<dyn Fn(&Figures) -> String>);

/// The side-by-side table: one column per target.
pub fn table(runs: &[Figures]) -> String {
    let pct = |p: &Percentiles| {
        if p.count == 0 {
            "-".to_string()
        } else if p.p99 < 10.0 {
            format!("{:.1} / {:.1}", p.p50, p.p99)
        } else {
            format!("{:.0} / {:.0}", p.p50, p.p99)
        }
    };
    let rows: Vec<Row> = vec![
        ("viewers requested / joined", Box::new(|f| format!("{} / {}", f.viewers_requested, f.joined))),
        ("connected / receiving media", Box::new(|f| format!("{} / {}", f.connected, f.receiving))),
        ("camera pkt/s, kbit/s", Box::new(|f| format!("{:.1}, {:.0}", f.camera_pps, f.camera_kbps))),
        (
            "server CPU % of a core (idle)",
            Box::new(|f| format!("{:.1} ({:.1})", f.server_cpu_pct, f.server_cpu_idle_pct)),
        ),
        ("CPU per viewer, % of a core", Box::new(|f| format!("{:.3}", f.cpu_per_viewer_pct))),
        (
            "viewers per core (extrapolated)",
            Box::new(|f| {
                if f.cpu_per_viewer_pct > 0.0 {
                    format!("{:.0}", 100.0 / f.cpu_per_viewer_pct)
                } else {
                    "-".into()
                }
            }),
        ),
        (
            "RSS idle -> loaded, MB",
            Box::new(|f| format!("{:.1} -> {:.1}", f.rss_idle_kb as f64 / 1024.0, f.rss_loaded_kb as f64 / 1024.0)),
        ),
        ("memory per viewer, KB", Box::new(|f| format!("{:.1}", f.rss_per_viewer_kb))),
        ("viewer pkt/s mean (min)", Box::new(|f| format!("{:.1} ({:.1})", f.viewer_pps_mean, f.viewer_pps_min))),
        ("viewer kbit/s mean", Box::new(|f| format!("{:.0}", f.viewer_kbps_mean))),
        ("loss vs camera % mean (max)", Box::new(|f| format!("{:.2} ({:.2})", f.loss_pct_mean, f.loss_pct_max))),
        ("viewers with loss > 1%", Box::new(|f| f.viewers_over_1pct_loss.to_string())),
        ("seq gaps / duplicates (all viewers)", Box::new(|f| format!("{} / {}", f.seq_gaps, f.duplicates))),
        ("loss by sequence gaps %", Box::new(|f| format!("{:.3}", f.seq_gap_loss_pct))),
        ("offer->answer ms p50 / p99", Box::new(move |f| pct(&f.offer_to_answer_ms))),
        ("offer->connected ms p50 / p99", Box::new(move |f| pct(&f.offer_to_connected_ms))),
        ("offer->first RTP ms p50 / p99", Box::new(move |f| pct(&f.offer_to_first_rtp_ms))),
        ("glass-to-glass ms p50 / p99", Box::new(move |f| pct(&f.glass_to_glass_ms))),
        ("glass-to-glass samples", Box::new(|f| f.glass_to_glass_ms.count.to_string())),
        ("loadgen CPU %, socket drops", Box::new(|f| format!("{:.1}, {}", f.loadgen_cpu_pct, f.loadgen_socket_drops))),
        ("join / viewer errors", Box::new(|f| format!("{} / {}", f.join_errors, f.viewer_errors))),
    ];
    let label_w = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let cells: Vec<Vec<String>> = rows.iter().map(|(_, get)| runs.iter().map(get).collect()).collect();
    let col_w: Vec<usize> = (0..runs.len())
        .map(|i| cells.iter().map(|r| r[i].len()).chain([runs[i].target.name().len()]).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    let _ = write!(out, "| {:label_w$} |", "");
    for (i, f) in runs.iter().enumerate() {
        let _ = write!(out, " {:>w$} |", f.target.name(), w = col_w[i]);
    }
    let _ = write!(out, "\n|{}|", "-".repeat(label_w + 2));
    for w in &col_w {
        let _ = write!(out, "{}:|", "-".repeat(w + 1));
    }
    for ((label, _), row) in rows.iter().zip(&cells) {
        let _ = write!(out, "\n| {label:label_w$} |");
        for (i, c) in row.iter().enumerate() {
            let _ = write!(out, " {:>w$} |", c, w = col_w[i]);
        }
    }
    out.push('\n');
    for f in runs {
        if let Some(e) = &f.first_join_error {
            let _ = writeln!(out, "{}: first join error: {e}", f.target.name());
        }
        if let Some(e) = &f.first_viewer_error {
            let _ = writeln!(out, "{}: first viewer error: {e}", f.target.name());
        }
    }
    out
}

/// Drops counted by the kernel on UDP sockets bound to `ports` (`/proc/net/udp`, this netns).
pub fn udp_drops(ports: &[u16]) -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/net/udp") else { return 0 };
    let ports: std::collections::HashSet<u16> = ports.iter().copied().collect();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            ports.contains(&port).then(|| f.last()?.parse::<u64>().ok()).flatten()
        })
        .sum()
}

/// CPU model, core count and kernel, for the record.
pub fn machine() -> serde_json::Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(str::trim)
        .unwrap_or("unknown");
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    // Other work on the machine skews every figure; the record says how busy it was.
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    serde_json::json!({
        "cpu": model,
        // Not available_parallelism(): this process is pinned to the load generator's CPUs.
        "cores": cpuinfo.lines().filter(|l| l.starts_with("processor")).count(),
        "kernel": kernel.trim(),
        "loadavg_at_end": loadavg.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let p = Percentiles::of((1..=100).map(f64::from).rev().collect());
        assert_eq!((p.count, p.p50, p.p99, p.max), (100, 50.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(vec![]).count, 0);
        assert_eq!(Percentiles::of(vec![3.0]).p99, 3.0);
    }

    #[test]
    fn the_table_has_a_column_per_target() {
        let t = table(&[Figures::new(Kind::Engine, 5), Figures::new(Kind::Janus, 5)]);
        assert!(t.lines().next().unwrap().contains("engine") && t.contains("janus"), "{t}");
        assert!(t.contains("glass-to-glass ms p50 / p99"));
    }
}
