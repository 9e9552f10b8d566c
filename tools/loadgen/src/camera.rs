//! The camera: ffmpeg (libx264) or camera-sim sending RTP to a counting relay in this process,
//! which forwards every packet to the target under test, renumbered, with a glass-to-glass
//! stamp (see [`crate::stamp`]) before every `stamp_every`-th access unit. What the relay
//! forwarded is "what the camera sent" in the figures.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::procs::{Proc, ProcError};
use crate::stamp;

/// Which encoder feeds the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// ffmpeg's libx264 on a lavfi test pattern.
    Ffmpeg,
    /// The project's camera-sim (OpenH264).
    CameraSim,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CameraSettings {
    pub source: Source,
    pub bitrate_kbps: u32,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Relay input port on 127.0.0.1 (RTCP on +1 is read and dropped).
    pub port: u16,
    /// A stamp before every n-th access unit; 0 = none.
    pub stamp_every: u32,
    #[serde(skip)]
    pub ffmpeg: PathBuf,
    #[serde(skip)]
    pub camera_sim: PathBuf,
}

/// The camera's figures so far.
#[derive(Debug, Clone, Copy)]
pub struct CameraCount {
    pub at: Instant,
    /// RTP packets forwarded (media and stamps).
    pub packets: u64,
    pub bytes: u64,
    pub frames: u64,
}

#[derive(Default)]
struct Counters {
    packets: AtomicU64,
    bytes: AtomicU64,
    frames: AtomicU64,
}

/// The running encoder and relay; both stop when dropped.
pub struct Camera {
    _encoder: Proc,
    counters: Arc<Counters>,
    destinations: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    relay: Option<JoinHandle<()>>,
}

impl Camera {
    /// Binds the relay, then starts the encoder sending to it.
    pub fn start(settings: &CameraSettings, log_dir: &Path) -> Result<Camera, CameraError> {
        let bind =
            |port| UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).map_err(|source| CameraError::Bind { port, source });
        let input = bind(settings.port)?;
        let rtcp = bind(settings.port + 1)?;
        let output = bind(0)?;
        input.set_read_timeout(Some(Duration::from_millis(100))).map_err(CameraError::Io)?;
        let counters = Arc::new(Counters::default());
        let destinations = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let relay = {
            let (counters, destinations, stop, every) =
                (counters.clone(), destinations.clone(), stop.clone(), settings.stamp_every);
            std::thread::Builder::new()
                .name("camera-relay".into())
                .spawn(move || {
                    let _rtcp = rtcp;
                    relay(&input, &output, &counters, &destinations, &stop, every);
                })
                .map_err(CameraError::Io)?
        };
        let encoder = match settings.source {
            Source::Ffmpeg => {
                Proc::spawn("camera-ffmpeg", &settings.ffmpeg, &ffmpeg_args(settings), &[], None, log_dir)?
            }
            Source::CameraSim => {
                Proc::spawn("camera-sim", &settings.camera_sim, &camera_sim_args(settings), &[], None, log_dir)?
            }
        };
        Ok(Camera { _encoder: encoder, counters, destinations, stop, relay: Some(relay) })
    }

    /// Forwards from now on to `to` only (empty: to nobody, still counting).
    pub fn send_to(&self, to: Vec<SocketAddr>) {
        *self.destinations.lock().expect("destinations poisoned") = to;
    }

    pub fn count(&self) -> CameraCount {
        CameraCount {
            at: Instant::now(),
            packets: self.counters.packets.load(Ordering::Relaxed),
            bytes: self.counters.bytes.load(Ordering::Relaxed),
            frames: self.counters.frames.load(Ordering::Relaxed),
        }
    }

    /// Waits until the encoder has produced `frames` access units.
    pub async fn wait_frames(&self, frames: u64, limit: Duration) -> Result<(), CameraError> {
        if crate::procs::wait_until(limit, || async { self.counters.frames.load(Ordering::Relaxed) >= frames }).await {
            Ok(())
        } else {
            Err(CameraError::NoMedia(limit))
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.relay.take() {
            let _ = t.join();
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CameraError {
    #[error("cannot bind the camera relay on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("camera relay: {0}")]
    Io(std::io::Error),
    #[error(transparent)]
    Proc(#[from] ProcError),
    #[error("the camera sent no media within {0:?} (see its log)")]
    NoMedia(Duration),
}

/// One x264 thread: with `zerolatency` x264 cuts each frame into one slice per thread, so the
/// packet rate would otherwise depend on how many CPUs ffmpeg may use.
fn ffmpeg_args(s: &CameraSettings) -> Vec<String> {
    let (fps, kbps) = (s.fps, s.bitrate_kbps);
    let line = format!(
        "-hide_banner -loglevel warning -nostdin -re -f lavfi -i testsrc2=size={}x{}:rate={fps} -c:v libx264 -profile:v baseline \
         -pix_fmt yuv420p -preset ultrafast -tune zerolatency -threads 1 -g {fps} -bf 0 -b:v {kbps}k -maxrate {kbps}k -bufsize {}k \
         -x264-params repeat-headers=1 -bsf:v h264_mp4toannexb -payload_type 96 -f rtp",
        s.width,
        s.height,
        (kbps / 2).max(1)
    );
    let mut args: Vec<String> = line.split_whitespace().map(String::from).collect();
    args.push(format!("rtp://127.0.0.1:{}?pkt_size=1200", s.port));
    args
}

fn camera_sim_args(s: &CameraSettings) -> Vec<String> {
    [
        "--target".into(),
        format!("127.0.0.1:{}", s.port),
        "--width".into(),
        s.width.to_string(),
        "--height".into(),
        s.height.to_string(),
        "--fps".into(),
        s.fps.to_string(),
        "--bitrate-kbps".into(),
        s.bitrate_kbps.to_string(),
        "--keyframe-interval-seconds".into(),
        "1".into(),
        "--mtu".into(),
        "1200".into(),
    ]
    .to_vec()
}

/// The relay loop: reads the encoder's RTP, counts access units (a new RTP timestamp), writes
/// its own gapless sequence numbers and sends each packet to every destination.
fn relay(
    input: &UdpSocket,
    output: &UdpSocket,
    counters: &Counters,
    destinations: &Mutex<Vec<SocketAddr>>,
    stop: &AtomicBool,
    every: u32,
) {
    let mut buf = [0u8; 2048];
    let mut last_ts = None;
    let mut seq: u16 = rand_seq();
    let mut frames: u64 = 0;
    let mut targets = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let n = match input.recv(&mut buf) {
            Ok(n) => n,
            Err(_) => continue, // read timeout: check `stop`
        };
        let pkt = &mut buf[..n];
        if n < 12 || pkt[0] >> 6 != 2 || (200..=206).contains(&pkt[1]) {
            continue;
        }
        targets.clear();
        targets.extend_from_slice(&destinations.lock().expect("destinations poisoned"));
        let ts = [pkt[4], pkt[5], pkt[6], pkt[7]];
        if last_ts != Some(ts) {
            last_ts = Some(ts);
            frames += 1;
            counters.frames.store(frames, Ordering::Relaxed);
            if every > 0 && frames.is_multiple_of(u64::from(every)) {
                let mut sei = [0u8; 12 + stamp::SEI_LEN];
                sei[0] = 0x80;
                sei[1] = pkt[1] & 0x7f;
                sei[2..4].copy_from_slice(&seq.to_be_bytes());
                sei[4..12].copy_from_slice(&pkt[4..12]);
                sei[12..].copy_from_slice(&stamp::sei(stamp::now_micros()));
                seq = seq.wrapping_add(1);
                send(output, &sei, &targets, counters);
            }
        }
        pkt[2..4].copy_from_slice(&seq.to_be_bytes());
        seq = seq.wrapping_add(1);
        send(output, pkt, &targets, counters);
    }
}

fn send(output: &UdpSocket, pkt: &[u8], targets: &[SocketAddr], counters: &Counters) {
    for to in targets {
        // A failed send is a lost packet, which the viewers' figures show.
        let _ = output.send_to(pkt, to);
    }
    counters.packets.fetch_add(1, Ordering::Relaxed);
    counters.bytes.fetch_add(pkt.len() as u64, Ordering::Relaxed);
}

/// A start for the relay's sequence numbers that is not 0, as RFC 3550 asks (any value works).
fn rand_seq() -> u16 {
    (stamp::now_micros() as u16) | 1
}
