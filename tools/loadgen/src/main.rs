//! camview-loadgen: N receive-only WebRTC viewers (str0m) against the media engine, the whole
//! stack and Janus, fed by one camera; prints a side-by-side table and writes JSON.
//! Run through `scripts/bench` (network namespace, Janus' ICE device, release binaries);
//! see docs/benchmarks.md.

mod camera;
mod procs;
mod report;
mod run;
mod stamp;
mod targets;
mod viewers;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use camera::{Camera, CameraSettings, Source};
use run::RunSettings;
use targets::{Kind, ServerSettings};

#[derive(Debug, Parser)]
#[command(name = "camview-loadgen", about = "Side-by-side fan-out benchmark: engine, whole stack, Janus")]
struct Args {
    /// Targets, run one after the other with the same camera and settings.
    #[arg(long, env = "BENCH_TARGETS", value_delimiter = ',', default_value = "engine")]
    targets: Vec<Kind>,
    /// Viewers per target.
    #[arg(long, env = "BENCH_VIEWERS", default_value_t = 10)]
    viewers: usize,
    /// Joins started per second.
    #[arg(long, env = "BENCH_JOIN_RATE", default_value_t = 50.0)]
    join_rate: f64,
    /// Measurement window, seconds.
    #[arg(long, env = "BENCH_DURATION", default_value_t = 10.0)]
    duration: f64,
    /// Pause before the idle sample and before the window, seconds.
    #[arg(long, env = "BENCH_SETTLE", default_value_t = 2.0)]
    settle: f64,
    /// How long joined viewers may take to receive media, seconds.
    #[arg(long, env = "BENCH_JOIN_TIMEOUT", default_value_t = 30.0)]
    join_timeout: f64,
    /// Camera encoder.
    #[arg(long, env = "BENCH_CAMERA", value_enum, default_value = "ffmpeg")]
    camera: Source,
    #[arg(long, env = "BENCH_BITRATE_KBPS", default_value_t = 600)]
    bitrate_kbps: u32,
    #[arg(long, env = "BENCH_WIDTH", default_value_t = 640)]
    width: u32,
    #[arg(long, env = "BENCH_HEIGHT", default_value_t = 480)]
    height: u32,
    #[arg(long, env = "BENCH_FPS", default_value_t = 30)]
    fps: u32,
    /// Port of the camera relay on 127.0.0.1 (RTCP on +1).
    #[arg(long, env = "BENCH_CAMERA_PORT", default_value_t = 5004)]
    camera_port: u16,
    /// A glass-to-glass stamp (SEI packet) before every n-th frame; 0 = none.
    #[arg(long, env = "BENCH_STAMP_EVERY", default_value_t = 10)]
    stamp_every: u32,
    /// How viewers receive media: `count` (large SRTP packets counted from their clear
    /// header, the rest through str0m, no NACK) or `full` (every packet decrypted by str0m).
    #[arg(long, env = "BENCH_RECEIVE", value_enum, default_value = "count")]
    receive: viewers::ReceiveMode,
    /// Microseconds a viewer worker lets datagrams queue after reading them: fewer wake-ups
    /// for the burst a server sends per camera packet; adds at most this to measured times.
    #[arg(long, env = "BENCH_COALESCE_US", default_value_t = 1000)]
    coalesce_us: u64,
    /// Viewer worker threads (all on the load generator's CPU). More than one mostly buys
    /// more socket buffer (each worker has its own socket), which rides out moments when
    /// other work on the machine keeps the load generator off its core.
    #[arg(long, env = "BENCH_WORKERS", default_value_t = 4)]
    workers: usize,
    /// Directory of camview-media-engine, camview-api, ... and camera-sim.
    #[arg(long, env = "CAMVIEW_BIN_DIR", default_value = "target/release")]
    bin_dir: PathBuf,
    #[arg(long, env = "BENCH_FFMPEG", default_value = "ffmpeg")]
    ffmpeg: PathBuf,
    #[arg(long, env = "BENCH_JANUS", default_value = "janus")]
    janus: PathBuf,
    /// Janus' ICE interface (an ifb device holding --janus-ip).
    #[arg(long, env = "BENCH_JANUS_IFACE", default_value = "jice0")]
    janus_iface: String,
    #[arg(long, env = "BENCH_JANUS_IP", default_value = "127.0.0.2")]
    janus_ip: Ipv4Addr,
    /// CPUs (taskset list) for the servers; "none" to leave them unpinned.
    #[arg(long, env = "BENCH_SERVER_CPUS", default_value = "1")]
    server_cpus: String,
    /// CPUs for this load generator and the camera; "none" to leave unpinned.
    #[arg(long, env = "BENCH_LOADGEN_CPUS", default_value = "0")]
    loadgen_cpus: String,
    /// Write the figures as JSON here.
    #[arg(long, env = "BENCH_JSON")]
    json: Option<PathBuf>,
    /// Server, camera and Janus logs and configuration.
    #[arg(long, env = "BENCH_LOG_DIR")]
    log_dir: Option<PathBuf>,
}

fn cpus(list: &str) -> Option<String> {
    (list != "none" && !list.is_empty()).then(|| list.to_string())
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Some(c) = cpus(&args.loadgen_cpus) {
        if let Err(e) = procs::pin_self(&c) {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a tokio runtime");
    match rt.block_on(bench(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs every target; Ok(false) when a target failed or no viewer received media.
async fn bench(args: Args) -> anyhow::Result<bool> {
    let log_dir = args
        .log_dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("camview-bench-{}", std::process::id())));
    std::fs::create_dir_all(&log_dir)?;
    let cam = CameraSettings {
        source: args.camera,
        bitrate_kbps: args.bitrate_kbps,
        width: args.width,
        height: args.height,
        fps: args.fps,
        port: args.camera_port,
        stamp_every: args.stamp_every,
        ffmpeg: args.ffmpeg.clone(),
        camera_sim: args.bin_dir.join("camera-sim"),
    };
    let servers = ServerSettings {
        bin_dir: args.bin_dir.clone(),
        janus: args.janus.clone(),
        cpus: cpus(&args.server_cpus),
        log_dir: log_dir.clone(),
        janus_iface: args.janus_iface.clone(),
        janus_ip: args.janus_ip,
    };
    let settings = RunSettings {
        viewers: args.viewers,
        join_rate: args.join_rate,
        duration: Duration::from_secs_f64(args.duration),
        join_timeout: Duration::from_secs_f64(args.join_timeout),
        settle: Duration::from_secs_f64(args.settle),
        workers: args.workers,
        receive: args.receive,
        coalesce: Duration::from_micros(args.coalesce_us),
    };
    stamp::now_micros();
    let camera = Camera::start(&cam, &log_dir)?;
    camera.wait_frames(args.fps.into(), Duration::from_secs(15)).await?;
    let mut ok = true;
    let mut runs = Vec::new();
    let mut failures = serde_json::Map::new();
    for &kind in &args.targets {
        match run::run(kind, &servers, &camera, &settings).await {
            Ok(f) => {
                ok &= f.receiving > 0;
                runs.push(f);
            }
            Err(e) => {
                eprintln!("[{}] failed: {e}", kind.name());
                failures.insert(kind.name().into(), e.to_string().into());
                ok = false;
            }
        }
    }
    println!("\n{}", report::table(&runs));
    println!("logs: {}", log_dir.display());
    if let Some(path) = &args.json {
        let doc = serde_json::json!({
            "machine": report::machine(),
            "camera": cam,
            "run": settings,
            "server_cpus": servers.cpus,
            "loadgen_cpus": cpus(&args.loadgen_cpus),
            "targets": runs,
            "failures": failures,
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
        println!("json: {}", path.display());
    }
    Ok(ok)
}
