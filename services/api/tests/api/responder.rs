//! A stand-in media-controller for the tests, speaking the real bus protocol: it reads
//! commands from the queue, acknowledges them, updates the registry as the controller
//! would, and replies on the requester's channel.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camview_common::clock::now_rfc3339;
use camview_common::{Bus, BusClient, Registry};
use camview_proto::bus::{
    CameraSeen, CameraSourceSet, Envelope, Message, StartStream, StopStream, StreamStarted, StreamStopped,
};
use camview_proto::stream::{Codec, ControllerHeartbeat, RtpTarget, StreamRecord, StreamState};
use camview_proto::ErrorCode;
use tokio::task::JoinHandle;

/// Host every test stream's RTP target points at (TEST-NET-1).
pub const RTP_HOST: &str = "192.0.2.10";

/// Streams whose camera id starts with this are unknown to the responder even when the
/// registry holds them (to test the controller's own `stream_not_found`).
pub const GHOST_PREFIX: &str = "ghost-";

/// The running responder; stops when dropped.
pub struct Responder {
    task: JoinHandle<()>,
    /// Every command envelope received, in order.
    pub seen: Arc<Mutex<Vec<Envelope>>>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Responder {
    pub fn start(bus: Arc<dyn Bus>, registry: Arc<dyn Registry>) -> Self {
        let seen: Arc<Mutex<Vec<Envelope>>> = Arc::default();
        let record = seen.clone();
        let task = tokio::spawn(async move {
            let next_port = AtomicU16::new(40_000);
            loop {
                let deliveries = match bus.read_commands("test-responder", 16, Duration::from_millis(200)).await {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!("responder: read_commands failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                for delivery in deliveries {
                    record.lock().unwrap().push(delivery.envelope.clone());
                    let reply = handle(registry.as_ref(), &delivery.envelope.message, &next_port).await;
                    bus.ack_command(&delivery.delivery_id).await.expect("responder: ack");
                    BusClient::reply(bus.as_ref(), &delivery.envelope, reply).await.expect("responder: reply");
                }
            }
        });
        Self { task, seen }
    }
}

/// Writes a fresh heartbeat, as the media-controller does every few seconds.
pub async fn write_heartbeat(registry: &dyn Registry, kurento_connected: bool) {
    let heartbeat = ControllerHeartbeat { instance_id: "test-controller".into(), kurento_connected, at: now_rfc3339() };
    registry.put_controller_heartbeat(&heartbeat, Duration::from_secs(120)).await.expect("write heartbeat");
}

async fn handle(registry: &dyn Registry, message: &Message, next_port: &AtomicU16) -> Message {
    match message {
        Message::StartStream(StartStream { camera_id, bandwidth, source }) => {
            if let Some(stream) = registry.get_stream(camera_id).await.expect("responder: get_stream") {
                return Message::StreamStarted(StreamStarted { stream, created: false });
            }
            let now = now_rfc3339();
            let stream = StreamRecord {
                camera_id: camera_id.clone(),
                state: StreamState::WaitingForMedia,
                rtp: Some(RtpTarget {
                    host: RTP_HOST.into(),
                    port: next_port.fetch_add(2, Ordering::Relaxed),
                    codec: Codec::H264,
                    payload_type: 96,
                }),
                bandwidth: *bandwidth,
                created_at: now.clone(),
                updated_at: now,
                pipeline_id: Some(format!("pipeline-{camera_id}")),
                rtp_endpoint_id: None,
                camera_source: None,
                // As the controller does: the record holds the source redacted.
                source: source.as_ref().map(camview_proto::source::SourceUrl::redacted),
            };
            registry.put_stream(&stream).await.expect("responder: put_stream");
            Message::StreamStarted(StreamStarted { stream, created: true })
        }
        Message::StopStream(StopStream { camera_id }) => {
            let disowned = camera_id.starts_with(GHOST_PREFIX);
            if disowned || registry.get_stream(camera_id).await.expect("responder: get_stream").is_none() {
                return Message::failed(ErrorCode::StreamNotFound, format!("no stream {camera_id}"));
            }
            let viewers = registry.list_viewers(Some(camera_id)).await.expect("responder: list_viewers");
            for v in &viewers {
                registry.remove_viewer(camera_id, &v.viewer_id).await.expect("responder: remove_viewer");
            }
            registry.delete_stream(camera_id).await.expect("responder: delete_stream");
            Message::StreamStopped(StreamStopped {
                camera_id: camera_id.clone(),
                viewers_released: viewers.len() as u64,
            })
        }
        // The controller's rule: the first address is recorded, a new one re-latches the
        // camera on a new port (streams here are never `live`, which would keep the latch).
        Message::CameraSeen(CameraSeen { camera_id, source }) => {
            let Some(mut stream) = registry.get_stream(camera_id).await.expect("responder: get_stream") else {
                return Message::failed(ErrorCode::StreamNotFound, format!("no stream {camera_id}"));
            };
            let relatched = stream.camera_source.as_ref().is_some_and(|known| known != source);
            if relatched {
                if let Some(rtp) = stream.rtp.as_mut() {
                    rtp.port = next_port.fetch_add(2, Ordering::Relaxed);
                }
            }
            stream.camera_source = Some(source.clone());
            registry.put_stream(&stream).await.expect("responder: put_stream");
            Message::CameraSourceSet(CameraSourceSet { stream, relatched })
        }
        other => Message::failed(ErrorCode::Internal, format!("the test responder does not handle {}", other.kind())),
    }
}

/// A stream record as the controller writes it, for tests that seed the registry by hand.
pub fn sample_stream(camera_id: &str) -> StreamRecord {
    let now = now_rfc3339();
    StreamRecord {
        camera_id: camera_id.into(),
        state: StreamState::WaitingForMedia,
        rtp: Some(RtpTarget { host: RTP_HOST.into(), port: 50_000, codec: Codec::H264, payload_type: 96 }),
        bandwidth: camview_proto::stream::Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
        created_at: now.clone(),
        updated_at: now,
        pipeline_id: None,
        rtp_endpoint_id: None,
        camera_source: None,
        source: None,
    }
}
