//! Snapshots: `GET /streams/{id}/snapshot.jpg`, a JPEG of a camera's latest keyframe.
//!
//! The first request for a camera opens a **tap**: the api binds a UDP socket, asks the
//! media-controller (`OpenTap` on the bus) for an RtpEndpoint in the stream's pipeline that
//! answers the api's receive-only SDP offer, and from then on the media server sends the
//! camera's RTP here (the engine starts with its cached keyframe). The tap keeps the latest
//! keyframe with its SPS/PPS (`h264`); a request decodes it with OpenH264 and encodes a JPEG
//! (`picture`), at most once per second per camera, and otherwise answers the cached picture.
//! With no request for `SNAPSHOT_IDLE_SECONDS` (or no packet for 10 s) the tap is closed
//! (`CloseTap`); the next request opens a new one.
//!
//! Invariants: at most one tap per camera per api instance (opening is serialized per
//! camera); at most one decode at a time per camera; no lock is held across I/O; a failing
//! tap affects only its camera.

pub mod h264;
pub mod picture;
pub mod tap;

use camview_proto::CameraId;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camview_common::bus::envelope;
use camview_common::config::{ConfigError, Reader};
use camview_common::{BusClient, BusError};
use camview_proto::bus::Message;
use camview_proto::snapshot::{CloseTap, OpenTap};
use camview_proto::{ErrorBody, ErrorCode};
use tokio::net::UdpSocket;

use crate::metrics::{ControllerOutcome, Metrics};
use picture::{keyframe_to_jpeg, DecodePolicy, Jpeg};
use tap::{parse_answer, Tap, TapEnd};

/// At most one decode per camera this often.
pub const MIN_DECODE_INTERVAL: Duration = Duration::from_secs(1);

/// `SNAPSHOT_*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotSettings {
    /// `SNAPSHOT_RTP_IP` (default `EXTERNAL_IP`, else 127.0.0.1): the address of this api the
    /// media server sends tap RTP to (a unicast IP literal).
    pub rtp_ip: IpAddr,
    /// `SNAPSHOT_IDLE_SECONDS` (30): a tap no request asked for this long is closed.
    pub idle: Duration,
    /// `SNAPSHOT_KEYFRAME_WAIT_MS` (3000): how long a request waits for a first keyframe
    /// before answering 503 `snapshot_unavailable`.
    pub keyframe_wait: Duration,
}

impl SnapshotSettings {
    pub fn from_reader(r: &Reader<'_>) -> Result<Self, ConfigError> {
        let (name, raw) = match (r.raw("SNAPSHOT_RTP_IP"), r.raw("EXTERNAL_IP")) {
            (Some(v), _) => ("SNAPSHOT_RTP_IP", v),
            (None, Some(v)) => ("EXTERNAL_IP", v),
            (None, None) => ("SNAPSHOT_RTP_IP", "127.0.0.1".to_owned()),
        };
        let rtp_ip =
            raw.parse::<IpAddr>().ok().filter(|ip| !ip.is_unspecified() && !ip.is_multicast()).ok_or_else(|| {
                ConfigError::new(name, &raw, "expected the unicast IP address the media server reaches this api at")
            })?;
        let idle = r.ranged::<u64>("SNAPSHOT_IDLE_SECONDS", 30, 5, 3600)?;
        let wait = r.ranged::<u64>("SNAPSHOT_KEYFRAME_WAIT_MS", 3000, 100, 60_000)?;
        Ok(Self { rtp_ip, idle: Duration::from_secs(idle), keyframe_wait: Duration::from_millis(wait) })
    }
}

/// Why no snapshot could be made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("no keyframe of camera {0} has arrived yet")]
    NoKeyframe(CameraId),
    #[error("stream {0} is not started")]
    StreamNotFound(CameraId),
    #[error("the media-controller refused the snapshot tap: {}", .0.message)]
    Controller(ErrorBody),
    #[error("the media-controller did not answer: {0}")]
    Bus(#[from] camview_common::BusError),
    #[error("unexpected reply {0} to OpenTap")]
    UnexpectedReply(&'static str),
    #[error("the media server's answer names no H.264 sender: {0:?}")]
    BadAnswer(String),
    #[error("cannot bind the tap's UDP socket: {0}")]
    Socket(#[from] std::io::Error),
    #[error(transparent)]
    Picture(#[from] picture::PictureError),
    #[error("the decoder task failed: {0}")]
    Join(String),
}

#[derive(Default)]
struct CameraSlot {
    /// The open tap; the lock serializes opening.
    tap: tokio::sync::Mutex<Option<Arc<Tap>>>,
    /// Held while deciding and decoding: one decode at a time per camera.
    cache: tokio::sync::Mutex<Cache>,
}

struct Cache {
    policy: DecodePolicy,
    jpeg: Option<Arc<Jpeg>>,
}

impl Default for Cache {
    fn default() -> Self {
        Cache { policy: DecodePolicy::new(MIN_DECODE_INTERVAL), jpeg: None }
    }
}

/// The snapshot service of one api instance.
pub struct Snapshots {
    settings: SnapshotSettings,
    bus: Arc<BusClient>,
    bus_timeout: Duration,
    /// `OpenTap` and `CloseTap` count in `camview_controller_requests_total` like every other
    /// request to the controller.
    metrics: Metrics,
    slots: Mutex<HashMap<CameraId, Arc<CameraSlot>>>,
}

impl Snapshots {
    pub fn new(settings: SnapshotSettings, bus: Arc<BusClient>, bus_timeout: Duration, metrics: Metrics) -> Arc<Self> {
        Arc::new(Self { settings, bus, bus_timeout, metrics, slots: Mutex::default() })
    }

    /// One request to the media-controller, counted by command and outcome.
    async fn ask_controller(&self, command: Message) -> Result<Message, BusError> {
        let kind = command.kind();
        let result = self.bus.request_envelope(envelope(command, None, None), self.bus_timeout).await;
        self.metrics.controller_request(kind, ControllerOutcome::of(&result));
        result
    }

    fn slot(&self, camera_id: &CameraId) -> Arc<CameraSlot> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner()).entry(camera_id.to_owned()).or_default().clone()
    }

    /// A JPEG of the camera's latest keyframe (the caller checked the stream is an H.264
    /// stream the caller may watch).
    #[tracing::instrument(skip(self))]
    pub async fn snapshot(self: &Arc<Self>, camera_id: &CameraId) -> Result<Arc<Jpeg>, SnapshotError> {
        let slot = self.slot(camera_id);
        let tap = self.tap(&slot, camera_id).await?;
        tap.touch();
        if tap.wait_for_keyframe(self.settings.keyframe_wait).await.is_none() {
            return Err(SnapshotError::NoKeyframe(camera_id.to_owned()));
        }
        let Some((number, unit)) = tap.latest() else { return Err(SnapshotError::NoKeyframe(camera_id.to_owned())) };
        let mut cache = slot.cache.lock().await;
        let cached = cache.jpeg.clone();
        if !cache.policy.may_decode(cached.as_ref().map(|j| j.generation), number, Instant::now()) {
            return cached.ok_or_else(|| SnapshotError::NoKeyframe(camera_id.to_owned()));
        }
        let started = Instant::now();
        let jpeg = tokio::task::spawn_blocking(move || keyframe_to_jpeg(&unit, number))
            .await
            .map_err(|e| SnapshotError::Join(e.to_string()))??;
        tracing::debug!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            bytes = jpeg.bytes.len(),
            "snapshot decoded"
        );
        let jpeg = Arc::new(jpeg);
        cache.jpeg = Some(jpeg.clone());
        Ok(jpeg)
    }

    async fn tap(self: &Arc<Self>, slot: &CameraSlot, camera_id: &CameraId) -> Result<Arc<Tap>, SnapshotError> {
        let mut open = slot.tap.lock().await;
        if let Some(tap) = open.as_ref().filter(|t| !t.is_ended()) {
            return Ok(tap.clone());
        }
        let tap = self.open_tap(camera_id).await?;
        *open = Some(tap.clone());
        Ok(tap)
    }

    async fn open_tap(self: &Arc<Self>, camera_id: &CameraId) -> Result<Arc<Tap>, SnapshotError> {
        let unspecified = match self.settings.rtp_ip {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let sock = UdpSocket::bind(SocketAddr::new(unspecified, 0)).await?;
        let port = sock.local_addr()?.port();
        let tap_id = uuid::Uuid::new_v4().to_string();
        let offer = tap::offer(self.settings.rtp_ip, port, rand_session());
        let command =
            Message::OpenTap(OpenTap { camera_id: camera_id.to_owned(), tap_id: tap_id.clone(), sdp_offer: offer });
        let opened = match self.ask_controller(command).await? {
            Message::TapOpened(t) => t,
            Message::Failed(body) if body.code == ErrorCode::StreamNotFound => {
                return Err(SnapshotError::StreamNotFound(camera_id.to_owned()))
            }
            Message::Failed(body) => return Err(SnapshotError::Controller(body)),
            other => return Err(SnapshotError::UnexpectedReply(other.kind())),
        };
        let tap = Tap::new(camera_id.to_owned(), tap_id, opened.endpoint_id);
        let Some(answer) = parse_answer(&opened.sdp_answer) else {
            self.close(&tap).await;
            return Err(SnapshotError::BadAnswer(opened.sdp_answer));
        };
        tracing::info!(%camera_id, endpoint_id = %tap.endpoint_id, source = %answer.source, port, "snapshot tap opened");
        let (this, running) = (self.clone(), tap.clone());
        let idle = self.settings.idle;
        tokio::spawn(async move {
            let end = running.clone().run(sock, answer, idle).await;
            tracing::info!(camera_id = %running.camera_id, ?end, "snapshot tap ended");
            if end != TapEnd::Stopped {
                this.close(&running).await;
            }
        });
        Ok(tap)
    }

    /// At shutdown: ends every open tap and releases its endpoint, waiting at most `within` (so
    /// a restarted api leaves no tap sending to a port nobody reads).
    pub async fn close_all(&self, within: Duration) {
        let slots: Vec<Arc<CameraSlot>> =
            self.slots.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        let mut open = vec![];
        for slot in slots {
            if let Some(tap) = slot.tap.lock().await.take().filter(|t| !t.is_ended()) {
                tap.stop();
                open.push(tap);
            }
        }
        let closing = futures_util::future::join_all(open.iter().map(|t| self.close(t)));
        if tokio::time::timeout(within, closing).await.is_err() {
            tracing::warn!(
                taps = open.len(),
                "closing the snapshot taps took too long; the media server keeps them until their streams stop"
            );
        }
    }

    /// Releases the tap's endpoint; a failure is logged (the pipeline's stop or the
    /// controller's orphan sweep releases it later).
    async fn close(&self, tap: &Tap) {
        let command = Message::CloseTap(CloseTap {
            camera_id: tap.camera_id.clone(),
            tap_id: tap.tap_id.clone(),
            endpoint_id: tap.endpoint_id.clone(),
        });
        match self.ask_controller(command).await {
            Ok(Message::Done(_)) => {}
            Ok(other) => {
                tracing::warn!(camera_id = %tap.camera_id, reply = other.kind(), "closing a snapshot tap failed")
            }
            Err(e) => tracing::warn!(camera_id = %tap.camera_id, error = %e, "closing a snapshot tap failed"),
        }
    }
}

fn rand_session() -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0 >> 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings<const N: usize>(vars: [(&str, &str); N]) -> Result<SnapshotSettings, ConfigError> {
        SnapshotSettings::from_reader(&Reader::new(&vars))
    }

    #[test]
    fn the_tap_address_is_snapshot_rtp_ip_else_external_ip_else_loopback() {
        assert_eq!(settings([]).unwrap().rtp_ip.to_string(), "127.0.0.1");
        assert_eq!(settings([("EXTERNAL_IP", "192.0.2.4")]).unwrap().rtp_ip.to_string(), "192.0.2.4");
        let both = settings([("EXTERNAL_IP", "192.0.2.4"), ("SNAPSHOT_RTP_IP", "10.1.2.3")]).unwrap();
        assert_eq!(both.rtp_ip.to_string(), "10.1.2.3");
        assert_eq!((both.idle, both.keyframe_wait), (Duration::from_secs(30), Duration::from_secs(3)));
    }

    #[test]
    fn an_address_the_media_server_cannot_send_to_stops_the_start_naming_its_variable() {
        for bad in ["0.0.0.0", "::", "239.1.1.1", "api.local"] {
            let e = settings([("SNAPSHOT_RTP_IP", bad)]).expect_err(bad).to_string();
            assert!(e.contains("SNAPSHOT_RTP_IP"), "{e}");
        }
        let e = settings([("EXTERNAL_IP", "0.0.0.0")]).unwrap_err().to_string();
        assert!(e.contains("EXTERNAL_IP"), "the default's source is named: {e}");
        assert!(settings([("SNAPSHOT_IDLE_SECONDS", "1")]).is_err());
        assert!(settings([("SNAPSHOT_KEYFRAME_WAIT_MS", "0")]).is_err());
    }
}
