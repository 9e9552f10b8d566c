//! The running camera: a tokio task owning the RTP and RTCP sockets, and the handle that controls
//! it. Encoding happens on the blocking pool so that RTCP keeps being read while a frame is
//! encoded; packetization, RTCP parsing and keyframe coalescing are the sans-IO modules.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::config::{CameraConfig, ConfigError};
use crate::encoder::{EncodeError, EncoderSettings, H264Encoder};
use crate::h264::ParameterSets;
use crate::pattern::TestPattern;
use crate::sdp::SdpOffer;

mod task;

#[derive(Debug, Error)]
pub enum CameraError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot bind {what} socket on {addr}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("no free even/odd UDP port pair on {0}")]
    NoPortPair(IpAddr),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("the camera task panicked or was cancelled")]
    Task(#[source] tokio::task::JoinError),
}

/// Counters of a running camera, published after every frame and every RTCP packet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SenderStats {
    /// Whether a target is set, i.e. RTP is being sent.
    pub sending: bool,
    pub target: Option<SocketAddr>,
    pub packets_sent: u64,
    /// Bytes of RTP datagrams sent, headers included.
    pub bytes_sent: u64,
    pub frames_sent: u64,
    pub keyframes_sent: u64,
    pub plis_received: u64,
    pub firs_received: u64,
    pub sender_reports_sent: u64,
    /// Datagrams the OS refused to send (for instance after an ICMP port unreachable).
    pub send_errors: u64,
    /// Sending rate over the last RTCP interval.
    pub bitrate_kbps: f64,
}

impl SenderStats {
    /// The figures a keepalive reports.
    pub fn to_proto(&self) -> camview_proto::stream::CameraStats {
        camview_proto::stream::CameraStats {
            sending: self.sending,
            packets_sent: self.packets_sent,
            bytes_sent: self.bytes_sent,
            frames_sent: self.frames_sent,
            bitrate_kbps: self.sending.then_some(self.bitrate_kbps),
            target: self.target.map(|t| t.to_string()),
        }
    }
}

/// Controls waiting for the camera task, at most.
const CONTROL_QUEUE: usize = 64;

/// Requests from the handle to the task.
#[derive(Debug)]
enum Control {
    SetTarget(Option<SocketAddr>),
    SetPayloadType(u8),
    SetBitrate(u32),
    RequestKeyframe,
    Stop,
}

/// Entry point of the simulated camera.
pub struct Camera;

impl Camera {
    /// Validates the config, binds the RTP and RTCP sockets, encodes a first picture (to learn
    /// SPS/PPS for the SDP offer) and starts sending if the config has a target.
    pub async fn start(config: CameraConfig) -> Result<CameraHandle, CameraError> {
        config.validate()?;
        let (rtp, rtcp) = bind_pair(config.local_ip, config.local_port).await?;
        let local_rtp = rtp.local_addr().map_err(|source| CameraError::Bind {
            what: "RTP",
            addr: SocketAddr::new(config.local_ip, 0),
            source,
        })?;
        let local_rtcp = SocketAddr::new(local_rtp.ip(), local_rtp.port() + 1);

        let settings = EncoderSettings {
            fps: config.fps,
            bitrate_kbps: config.bitrate_kbps,
            keyframe_period: config.keyframe_period_frames(),
        };
        let (width, height, fps) = (config.width, config.height, config.fps);
        let (encoder, pattern, parameter_sets) = tokio::task::spawn_blocking(move || {
            let mut encoder = H264Encoder::new(settings)?;
            let mut pattern = TestPattern::new(width, height, fps);
            encoder.encode(pattern.render(0, task::unix_millis()), 0, true)?;
            let sets = encoder.parameter_sets().cloned().ok_or(EncodeError::MissingParameterSets)?;
            Ok::<_, EncodeError>((encoder, pattern, sets))
        })
        .await
        .map_err(CameraError::Task)??;

        let ssrc = rand::random::<u32>();
        // Bounded (CONTROL_QUEUE): see `CameraHandle::send` for the policy when full.
        let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let (stats_tx, stats_rx) = watch::channel(SenderStats::default());
        let state = task::CameraTask::new(task::TaskParts {
            config: config.clone(),
            ssrc,
            rtp: Arc::new(rtp),
            rtcp: Arc::new(rtcp),
            encoder,
            pattern,
            control: control_rx,
            stats: stats_tx,
        });
        let task = tokio::spawn(state.run());
        tracing::info!(rtp = %local_rtp, ssrc, width, height, fps, "camera started");
        Ok(CameraHandle {
            control: control_tx,
            refused: AtomicU64::new(0),
            stats: stats_rx,
            task,
            local_rtp,
            local_rtcp,
            ssrc,
            parameter_sets,
            config,
        })
    }
}

/// Controls a running camera. Dropping it stops the camera; [`CameraHandle::stop`] also waits.
#[derive(Debug)]
pub struct CameraHandle {
    control: mpsc::Sender<Control>,
    /// Controls refused because the task was `CONTROL_QUEUE` behind.
    refused: AtomicU64,
    stats: watch::Receiver<SenderStats>,
    task: JoinHandle<Result<(), CameraError>>,
    local_rtp: SocketAddr,
    local_rtcp: SocketAddr,
    ssrc: u32,
    parameter_sets: ParameterSets,
    config: CameraConfig,
}

impl CameraHandle {
    /// Current counters.
    pub fn stats(&self) -> SenderStats {
        self.stats.borrow().clone()
    }

    /// Waits until the counters satisfy `condition`, returning them, or `None` after `timeout`
    /// (or when the camera stopped). Lets tests wait on events instead of sleeping.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&SenderStats) -> bool,
    ) -> Option<SenderStats> {
        let mut rx = self.stats.clone();
        let result = tokio::time::timeout(timeout, rx.wait_for(|s| condition(s))).await;
        match result {
            Ok(Ok(stats)) => Some(stats.clone()),
            _ => None,
        }
    }

    /// Starts sending to `target` (RTCP to its port + 1), switches target, or with `None` stops.
    /// A new target gets a keyframe first.
    pub fn set_target(&self, target: Option<SocketAddr>) {
        self.send(Control::SetTarget(target));
    }

    pub fn set_payload_type(&self, payload_type: u8) {
        self.send(Control::SetPayloadType(payload_type));
    }

    /// Changes the encoder bitrate; the encoder restarts with an IDR.
    pub fn set_bitrate_kbps(&self, kbps: u32) {
        self.send(Control::SetBitrate(kbps));
    }

    /// Asks for a keyframe, as a PLI would (coalesced the same way).
    pub fn request_keyframe(&self) {
        self.send(Control::RequestKeyframe);
    }

    /// Queues a control. The task takes controls between frames, so a full queue
    /// (`CONTROL_QUEUE` waiting) means it is stuck: the control is refused, logged and counted
    /// ([`CameraHandle::refused_controls`]) rather than queued without bound. `stop` waits for
    /// room instead (and dropping the handle stops the task in any case).
    fn send(&self, control: Control) {
        match self.control.try_send(control) {
            Ok(()) => {}
            // The task ended; its error is reported by `stop`.
            Err(mpsc::error::TrySendError::Closed(_)) => tracing::debug!("camera task already ended"),
            Err(mpsc::error::TrySendError::Full(c)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(control = ?c, queued = CONTROL_QUEUE, "camera task is behind; control refused");
            }
        }
    }

    /// Controls refused so far because the camera task was too far behind.
    pub fn refused_controls(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Stops sending, closes the sockets and returns the final counters.
    pub async fn stop(self) -> Result<SenderStats, CameraError> {
        // Waits for room: a stop is never refused (an ended task closed the channel).
        let _ = self.control.send(Control::Stop).await;
        self.task.await.map_err(CameraError::Task)??;
        let stats = self.stats.borrow().clone();
        Ok(stats)
    }

    /// Local address of the RTP socket (packets come from here).
    pub fn local_rtp_addr(&self) -> SocketAddr {
        self.local_rtp
    }

    /// Local address of the RTCP socket: PLI and FIR go here.
    pub fn local_rtcp_addr(&self) -> SocketAddr {
        self.local_rtcp
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    pub fn config(&self) -> &CameraConfig {
        &self.config
    }

    /// SPS and PPS of the stream.
    pub fn parameter_sets(&self) -> &ParameterSets {
        &self.parameter_sets
    }

    /// An SDP offer describing this camera's stream, announcing `address` (the camera's address
    /// as the media server sees it) and the local RTP port.
    pub fn sdp_offer(&self, address: IpAddr) -> String {
        SdpOffer {
            address,
            rtp_port: self.local_rtp.port(),
            payload_type: self.config.payload_type,
            ssrc: self.ssrc,
            cname: &self.config.cname,
            parameter_sets: &self.parameter_sets,
        }
        .render()
    }
}

/// Binds RTP on an even port and RTCP on the next one.
async fn bind_pair(ip: IpAddr, port: Option<u16>) -> Result<(UdpSocket, UdpSocket), CameraError> {
    let bind = |what: &'static str, port: u16| async move {
        let addr = SocketAddr::new(ip, port);
        UdpSocket::bind(addr).await.map_err(|source| CameraError::Bind { what, addr, source })
    };
    if let Some(port) = port {
        let rtcp_port = port.checked_add(1).ok_or(CameraError::NoPortPair(ip))?;
        return Ok((bind("RTP", port).await?, bind("RTCP", rtcp_port).await?));
    }
    for _ in 0..64 {
        let rtcp = bind("RTCP", 0).await?;
        let rtcp_port = rtcp
            .local_addr()
            .map_err(|source| CameraError::Bind { what: "RTCP", addr: SocketAddr::new(ip, 0), source })?
            .port();
        if rtcp_port % 2 == 1 {
            if let Ok(rtp) = bind("RTP", rtcp_port - 1).await {
                return Ok((rtp, rtcp));
            }
        }
    }
    Err(CameraError::NoPortPair(ip))
}
