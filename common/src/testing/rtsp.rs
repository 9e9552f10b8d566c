//! A real RTSP camera for tests: GStreamer's RTSP server from Debian (`rtsp_camera.py`, run by
//! the system `/usr/bin/python3` with `python3-gi`) serving live H.264 (SPS/PPS only in the
//! SDP, a common camera quirk) and G.711 audio at
//! `rtsp://USER:PASSWORD@127.0.0.1:PORT/cam` behind digest auth. It can be killed and started
//! again on the same port, as a camera that reboots.
//!
//! [`RtspCamera::start_with_audio`] serves PCMA or AAC (`mpeg4-generic`, through `voaacenc`)
//! instead of the default PCMU.
//!
//! Needs `python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-{base,good,ugly,bad}`
//! (installed by `scripts/test`; `bad` has the AAC encoder). [`RtspCamera::start`] returns `None` when they are missing,
//! except under `CI=true`, where a missing package fails the test instead of skipping it.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const SCRIPT: &str = include_str!("rtsp_camera.py");
const PYTHON: &str = "/usr/bin/python3";
/// How long the server may take to say it listens.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub struct RtspCamera {
    child: Option<Child>,
    port: u16,
    user: String,
    password: String,
    udp_only: bool,
    audio: CameraAudio,
}

/// The audio a test camera sends beside its video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CameraAudio {
    /// G.711 mu-law, payload type 0 (the default).
    Pcmu,
    /// G.711 A-law, payload type 8.
    Pcma,
    /// AAC-LC as `mpeg4-generic`, payload type 97: not a WebRTC codec.
    Aac,
}

impl CameraAudio {
    fn flag(self) -> &'static str {
        match self {
            CameraAudio::Pcmu => "pcmu",
            CameraAudio::Pcma => "pcma",
            CameraAudio::Aac => "aac",
        }
    }
}

impl RtspCamera {
    /// Starts a camera on a free loopback port, or `None` (outside CI) when the GStreamer
    /// packages are missing.
    pub fn start(user: &str, password: &str) -> Option<RtspCamera> {
        Self::start_with(user, password, false, CameraAudio::Pcmu)
    }

    /// [`RtspCamera::start`] for a camera sending `audio`.
    pub fn start_with_audio(user: &str, password: &str, audio: CameraAudio) -> Option<RtspCamera> {
        Self::start_with(user, password, false, audio)
    }

    /// [`RtspCamera::start`] for a camera that sends RTP over UDP only (it refuses a SETUP
    /// asking for TCP-interleaved transport) and, unlike the default camera, its SPS/PPS in the
    /// stream too (the default one puts them only in the SDP, as many cameras do).
    pub fn start_udp_only(user: &str, password: &str) -> Option<RtspCamera> {
        Self::start_with(user, password, true, CameraAudio::Pcmu)
    }

    fn start_with(user: &str, password: &str, udp_only: bool, audio: CameraAudio) -> Option<RtspCamera> {
        let port =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).and_then(|l| l.local_addr()).expect("a free port").port();
        let mut camera =
            RtspCamera { child: None, port, user: user.into(), password: password.into(), udp_only, audio };
        match camera.spawn() {
            Ok(()) => Some(camera),
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("SKIPPED: no RTSP test camera ({e}); scripts/test installs its packages");
                None
            }
            Err(e) => panic!("the RTSP test camera did not start (scripts/test installs its packages): {e}"),
        }
    }

    fn spawn(&mut self) -> Result<(), String> {
        let mut child = Command::new(PYTHON)
            .arg("-c")
            .arg(SCRIPT)
            .args([self.port.to_string(), self.user.clone(), self.password.clone()])
            .args(self.udp_only.then_some(["udp", "inband-params"]).into_iter().flatten())
            .arg(self.audio.flag())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("spawn {PYTHON}: {e}"))?;
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = tx.send(first);
        });
        let ready = rx.recv_timeout(START_TIMEOUT).unwrap_or_default();
        if ready.starts_with("READY") {
            self.child = Some(child);
            return Ok(());
        }
        let _ = child.kill();
        let _ = child.wait();
        let mut why = String::new();
        let _ = std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut why);
        Err(format!("no READY line within {START_TIMEOUT:?}: {}", why.trim()))
    }

    /// `rtsp://USER:PASSWORD@127.0.0.1:PORT/cam`.
    pub fn url(&self) -> String {
        format!("rtsp://{}:{}@127.0.0.1:{}/cam", self.user, self.password, self.port)
    }

    /// The same URL with another password.
    pub fn url_with_password(&self, password: &str) -> String {
        format!("rtsp://{}:{password}@127.0.0.1:{}/cam", self.user, self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (its clients' connections drop), as a camera that loses power.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn().expect("the RTSP test camera starts again on its port");
    }
}

impl Drop for RtspCamera {
    fn drop(&mut self) {
        self.kill();
    }
}
