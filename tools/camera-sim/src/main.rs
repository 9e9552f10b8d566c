//! `camera-sim`: sends the test pattern as H.264 RTP either straight to `--target`, or wherever
//! the camview API's keepalive answers say (`--api` + `--camera`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context;
use camera_sim::keepalive::{self, CameraSecret, KeepaliveConfig};
use camera_sim::{Camera, CameraConfig};
use clap::{ArgGroup, Parser};

#[derive(Debug, Parser)]
#[command(version, about = "Simulated IP camera: a moving H.264 test pattern over RTP")]
#[command(group(ArgGroup::new("mode").required(true).args(["target", "api"])))]
struct Args {
    /// Send RTP to HOST:PORT now (RTCP sender reports go to PORT+1).
    #[arg(long, env = "CAMERA_SIM_TARGET")]
    target: Option<String>,
    /// Base URL of the camview API; the camera then follows its keepalive answers.
    #[arg(long, env = "CAMERA_SIM_API", requires = "camera")]
    api: Option<String>,
    /// Camera id used in the keepalive URL.
    #[arg(long, env = "CAMERA_SIM_CAMERA")]
    camera: Option<String>,
    /// The camera's secret (`camview camera add ID` prints it), sent with every keepalive as
    /// `Authorization: Bearer <secret>`. Prefer CAMERA_SECRET: arguments show in `ps`.
    #[arg(long, env = "CAMERA_SECRET", hide_env_values = true, requires = "api")]
    secret: Option<CameraSecret>,
    /// Seconds between keepalives until the API answers with its own interval.
    #[arg(long, default_value_t = 5)]
    keepalive_seconds: u64,
    #[arg(long, default_value_t = 640)]
    width: u32,
    #[arg(long, default_value_t = 480)]
    height: u32,
    #[arg(long, default_value_t = 30)]
    fps: u32,
    #[arg(long, default_value_t = 1000)]
    bitrate_kbps: u32,
    #[arg(long, default_value_t = 2.0)]
    keyframe_interval_seconds: f64,
    #[arg(long, default_value_t = 96)]
    payload_type: u8,
    /// Largest RTP payload in bytes.
    #[arg(long, default_value_t = 1200)]
    mtu: usize,
    /// Send SPS and PPS aggregated in one STAP-A packet.
    #[arg(long)]
    stap_a: bool,
    /// Address to bind the RTP/RTCP sockets to.
    #[arg(long, default_value = "0.0.0.0")]
    local_ip: IpAddr,
    /// Even local RTP port (RTCP on the next one); a free pair when omitted.
    #[arg(long)]
    local_port: Option<u16>,
    /// Stop after this many seconds.
    #[arg(long)]
    duration_seconds: Option<f64>,
    /// Print the SDP offer describing the stream, as seen from this address, then run.
    #[arg(long)]
    print_sdp: Option<IpAddr>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .pretty()
        // stdout carries the SDP offer when asked for.
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let args = Args::parse();

    let target = match &args.target {
        Some(target) => Some(resolve(target).await?),
        None => None,
    };
    let keyframe_interval =
        Duration::try_from_secs_f64(args.keyframe_interval_seconds).context("--keyframe-interval-seconds")?;
    let config = CameraConfig {
        width: args.width,
        height: args.height,
        fps: args.fps,
        bitrate_kbps: args.bitrate_kbps,
        keyframe_interval,
        payload_type: args.payload_type,
        mtu: args.mtu,
        stap_a: args.stap_a,
        local_ip: args.local_ip,
        local_port: args.local_port,
        target,
        ..CameraConfig::default()
    };
    let camera = Camera::start(config).await.context("starting the camera")?;
    if let Some(address) = args.print_sdp {
        println!("{}", camera.sdp_offer(address));
    }
    if let Some(target) = target {
        tracing::info!(%target, "start rtp");
    }

    let deadline = async {
        match args.duration_seconds {
            Some(secs) => tokio::time::sleep(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)).await,
            None => std::future::pending().await,
        }
    };
    let shutdown = async {
        tokio::select! {
            () = deadline => tracing::info!("duration reached"),
            result = tokio::signal::ctrl_c() => match result {
                Ok(()) => tracing::info!("interrupted"),
                Err(e) => tracing::warn!(error = %e, "cannot listen for Ctrl-C"),
            },
        }
    };

    match (args.api, args.camera) {
        (Some(api), Some(camera_id)) => {
            let config = KeepaliveConfig {
                api,
                camera_id,
                interval: Duration::from_secs(args.keepalive_seconds.max(1)),
                request_timeout: Duration::from_secs(5),
                secret: args.secret,
                // A real camera's keepalive leaves from the address its RTP does.
                local_ip: Some(args.local_ip).filter(|ip| !ip.is_unspecified()),
            };
            keepalive::run(config, &camera, shutdown).await.context("keepalive")?;
        }
        _ => shutdown.await,
    }

    let stats = camera.stop().await.context("stopping the camera")?;
    tracing::info!(
        frames = stats.frames_sent,
        keyframes = stats.keyframes_sent,
        packets = stats.packets_sent,
        bytes = stats.bytes_sent,
        plis = stats.plis_received,
        "camera stopped"
    );
    Ok(())
}

async fn resolve(target: &str) -> anyhow::Result<SocketAddr> {
    let addrs: Vec<SocketAddr> =
        tokio::net::lookup_host(target).await.with_context(|| format!("resolving --target {target}"))?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .with_context(|| format!("--target {target} resolves to nothing"))
}
