//! The camera's I/O loop: frame clock, encoding on the blocking pool, RTP out, RTCP in, sender
//! reports out. Decisions are delegated to the sans-IO [`Packetizer`], [`KeyframeLimiter`] and
//! [`rtcp::parse`]; this file only moves bytes and counts them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinHandle};
use tokio::time::MissedTickBehavior;

use super::{CameraError, Control, SenderStats};
use crate::config::CameraConfig;
use crate::encoder::{EncodeError, EncodedFrame, EncoderSettings, H264Encoder};
use crate::keyframe::{KeyframeLimiter, DEFAULT_MIN_GAP};
use crate::pattern::TestPattern;
use crate::rtcp::{self, Rtcp, SenderReport};
use crate::rtp::Packetizer;

/// RTP clock rate of video (RFC 6184).
const CLOCK_RATE: u64 = 90_000;
/// How often sender reports go out.
const RTCP_INTERVAL: Duration = Duration::from_secs(1);

/// Milliseconds since the Unix epoch, for the clock drawn into the picture.
pub(super) fn unix_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

pub(super) struct TaskParts {
    pub config: CameraConfig,
    pub ssrc: u32,
    pub rtp: Arc<UdpSocket>,
    pub rtcp: Arc<UdpSocket>,
    pub encoder: H264Encoder,
    pub pattern: TestPattern,
    pub control: mpsc::Receiver<Control>,
    pub stats: watch::Sender<SenderStats>,
}

/// What an encoding job hands back: the encoder and pattern return to the task with the result.
type Job = (H264Encoder, TestPattern, u64, Result<EncodedFrame, EncodeError>);

pub(super) struct CameraTask {
    config: CameraConfig,
    rtp: Arc<UdpSocket>,
    rtcp: Arc<UdpSocket>,
    control: mpsc::Receiver<Control>,
    stats_tx: watch::Sender<SenderStats>,
    stats: SenderStats,
    /// Encoder and pattern while no job runs.
    idle: Option<(H264Encoder, TestPattern)>,
    job: Option<JoinHandle<Job>>,
    settings: EncoderSettings,
    packetizer: Packetizer,
    limiter: KeyframeLimiter,
    target: Option<SocketAddr>,
    /// Origin of the frame clock and of RTP time.
    started: Instant,
    timestamp_base: u32,
    last_frame: Option<u64>,
    payload_octets: u64,
    last_fir_sequence: Option<u8>,
    rate_mark: (Instant, u64),
    send_failing: bool,
}

impl CameraTask {
    pub(super) fn new(parts: TaskParts) -> Self {
        let settings = parts.encoder.settings();
        let packetizer = Packetizer::new(parts.ssrc, rand::random(), parts.config.payload_type, parts.config.mtu)
            .with_stap_a(parts.config.stap_a);
        let mut limiter = KeyframeLimiter::new(DEFAULT_MIN_GAP);
        // Whoever receives the first packet needs a keyframe.
        limiter.request();
        let now = Instant::now();
        let mut task = Self {
            target: None,
            rtp: parts.rtp,
            rtcp: parts.rtcp,
            control: parts.control,
            stats_tx: parts.stats,
            stats: SenderStats::default(),
            idle: Some((parts.encoder, parts.pattern)),
            job: None,
            settings,
            packetizer,
            limiter,
            started: now,
            timestamp_base: rand::random(),
            last_frame: None,
            payload_octets: 0,
            last_fir_sequence: None,
            rate_mark: (now, 0),
            send_failing: false,
            config: parts.config,
        };
        task.set_target(task.config.target);
        task
    }

    pub(super) async fn run(mut self) -> Result<(), CameraError> {
        let frame_interval = Duration::from_secs_f64(1.0 / f64::from(self.config.fps));
        let mut frame_tick = tokio::time::interval(frame_interval);
        frame_tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut report_tick = tokio::time::interval(RTCP_INTERVAL);
        report_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (rtp, rtcp) = (Arc::clone(&self.rtp), Arc::clone(&self.rtcp));
        let mut rtp_buf = vec![0u8; 2048];
        let mut rtcp_buf = vec![0u8; 2048];
        loop {
            tokio::select! {
                control = self.control.recv() => match control {
                    None | Some(Control::Stop) => break,
                    Some(control) => self.apply(control),
                },
                _ = frame_tick.tick(), if self.target.is_some() && self.idle.is_some() => self.start_job(),
                joined = join(&mut self.job) => {
                    self.job = None;
                    self.finish_job(joined).await?;
                }
                received = rtcp.recv_from(&mut rtcp_buf) => match received {
                    Ok((len, from)) => self.on_rtcp(&rtcp_buf[..len.min(rtcp_buf.len())], from),
                    Err(e) => tracing::debug!(error = %e, "RTCP socket receive error"),
                },
                // RTCP multiplexed onto the RTP port (RFC 5761); anything else there is ignored.
                received = rtp.recv_from(&mut rtp_buf) => match received {
                    Ok((len, from)) if rtcp::is_rtcp(&rtp_buf[..len.min(rtp_buf.len())]) => self.on_rtcp(&rtp_buf[..len], from),
                    Ok(_) => {}
                    Err(e) => tracing::debug!(error = %e, "RTP socket receive error"),
                },
                _ = report_tick.tick() => self.send_report().await,
            }
        }
        if let Some(job) = self.job.take() {
            // The encoder is dropped with the job; its result no longer matters.
            let _finished = job.await;
        }
        tracing::debug!(packets = self.stats.packets_sent, frames = self.stats.frames_sent, "camera task ended");
        Ok(())
    }

    fn publish(&self) {
        self.stats_tx.send_replace(self.stats.clone());
    }

    fn apply(&mut self, control: Control) {
        match control {
            Control::SetTarget(target) => self.set_target(target),
            Control::SetPayloadType(pt) => {
                self.config.payload_type = pt & 0x7f;
                self.packetizer.set_payload_type(pt);
            }
            Control::SetBitrate(kbps) => self.settings.bitrate_kbps = kbps.clamp(10, 100_000),
            Control::RequestKeyframe => self.limiter.request(),
            Control::Stop => {}
        }
    }

    fn set_target(&mut self, target: Option<SocketAddr>) {
        if target == self.target {
            return;
        }
        if target.is_some() {
            self.limiter.request();
        }
        tracing::debug!(?target, "camera target changed");
        self.target = target;
        self.stats.sending = target.is_some();
        self.stats.target = target;
        if target.is_none() {
            self.stats.bitrate_kbps = 0.0;
        }
        self.publish();
    }

    fn start_job(&mut self) {
        let Some((mut encoder, mut pattern)) = self.idle.take() else { return };
        let now = Instant::now();
        let fps = u128::from(self.config.fps);
        let mut frame = (now.duration_since(self.started).as_nanos() * fps / 1_000_000_000) as u64;
        if let Some(last) = self.last_frame.filter(|&last| frame <= last) {
            frame = last + 1;
        }
        self.last_frame = Some(frame);
        let force = self.limiter.should_force(now);
        let settings = self.settings;
        let wall_clock = unix_millis();
        self.job = Some(tokio::task::spawn_blocking(move || {
            if encoder.settings() != settings {
                match H264Encoder::new(settings) {
                    Ok(fresh) => encoder = fresh,
                    Err(e) => return (encoder, pattern, frame, Err(e)),
                }
            }
            let result = encoder.encode(pattern.render(frame, wall_clock), frame, force);
            (encoder, pattern, frame, result)
        }));
    }

    async fn finish_job(&mut self, joined: Result<Job, JoinError>) -> Result<(), CameraError> {
        let (encoder, pattern, frame, result) = joined.map_err(CameraError::Task)?;
        self.idle = Some((encoder, pattern));
        let encoded = result?;
        // The target may have been cleared while the frame was encoded.
        let Some(target) = self.target else { return Ok(()) };
        if encoded.is_empty() {
            return Ok(());
        }
        let ticks = u128::from(frame) * u128::from(CLOCK_RATE) / u128::from(self.config.fps);
        let timestamp = self.timestamp_base.wrapping_add(ticks as u32);
        for packet in self.packetizer.packetize(&encoded.nals, timestamp) {
            match self.rtp.send_to(&packet, target).await {
                Ok(_) => {
                    self.send_failing = false;
                    self.stats.packets_sent += 1;
                    self.stats.bytes_sent += packet.len() as u64;
                    self.payload_octets += (packet.len() - crate::rtp::RTP_HEADER_LEN) as u64;
                }
                Err(e) => {
                    if !self.send_failing {
                        tracing::warn!(%target, error = %e, "sending RTP failed; retrying with the next packets");
                    }
                    self.send_failing = true;
                    self.stats.send_errors += 1;
                }
            }
        }
        self.stats.frames_sent += 1;
        if encoded.idr {
            self.stats.keyframes_sent += 1;
            self.limiter.idr_sent(Instant::now());
        }
        self.publish();
        Ok(())
    }

    fn on_rtcp(&mut self, datagram: &[u8], from: SocketAddr) {
        let packets = match rtcp::parse(datagram) {
            Ok(packets) => packets,
            Err(e) => {
                tracing::debug!(%from, error = %e, "ignoring malformed RTCP");
                return;
            }
        };
        for packet in packets {
            match packet {
                // One stream per camera: any PLI is about it, whatever media SSRC the sender used.
                Rtcp::Pli { .. } => {
                    self.stats.plis_received += 1;
                    self.limiter.request();
                }
                // A repeated FIR sequence number is a retransmission of a request already served.
                Rtcp::Fir { sequence, .. } => {
                    self.stats.firs_received += 1;
                    if self.last_fir_sequence != Some(sequence) {
                        self.last_fir_sequence = Some(sequence);
                        self.limiter.request();
                    }
                }
                Rtcp::SenderReport(_) | Rtcp::Other { .. } => {}
            }
        }
        self.publish();
    }

    async fn send_report(&mut self) {
        let now = Instant::now();
        let (mark_at, mark_bytes) = self.rate_mark;
        let elapsed_ms = now.duration_since(mark_at).as_secs_f64() * 1000.0;
        if self.target.is_some() && elapsed_ms > 0.0 {
            self.stats.bitrate_kbps = (self.stats.bytes_sent - mark_bytes) as f64 * 8.0 / elapsed_ms;
        }
        self.rate_mark = (now, self.stats.bytes_sent);
        let Some(target) = self.target.filter(|_| self.stats.packets_sent > 0) else { return };
        let Some(rtcp_port) = target.port().checked_add(1) else { return };
        let ticks = now.duration_since(self.started).as_nanos() * u128::from(CLOCK_RATE) / 1_000_000_000;
        let report = SenderReport {
            ssrc: self.packetizer.ssrc(),
            ntp_time: rtcp::ntp_time(SystemTime::now()),
            rtp_timestamp: self.timestamp_base.wrapping_add(ticks as u32),
            // RFC 3550 counters wrap at 32 bits.
            packet_count: self.stats.packets_sent as u32,
            octet_count: self.payload_octets as u32,
        };
        let datagram = rtcp::sender_report(&report, &self.config.cname);
        match self.rtcp.send_to(&datagram, SocketAddr::new(target.ip(), rtcp_port)).await {
            Ok(_) => self.stats.sender_reports_sent += 1,
            Err(e) => tracing::debug!(error = %e, "sending RTCP SR failed"),
        }
        self.publish();
    }
}

/// Awaits the running job, or never when there is none (so `select!` can always poll it).
async fn join(job: &mut Option<JoinHandle<Job>>) -> Result<Job, JoinError> {
    match job {
        Some(handle) => handle.await,
        None => std::future::pending().await,
    }
}
