//! A stand-in media-controller for the tests, speaking the real bus protocol: it reads
//! commands from the queue, acknowledges them, updates the registry as the controller
//! would, and replies on the requester's channel.

use camview_proto::CameraId;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camview_common::clock::now_rfc3339;
use camview_common::{Bus, BusClient, Registry, SlotReservation};
use camview_proto::bus::{
    CameraSeen, CameraSourceSet, Done, Envelope, Message, StartStream, StopStream, StreamStarted, StreamStopped,
    ViewerAdded, ViewerIceCandidate,
};
use camview_proto::stream::{
    Codec, ControllerHeartbeat, IceCandidate, RtpTarget, StreamRecord, StreamState, ViewerRecord, ViewerState,
};
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
                    let answered = matches!(reply, Message::ViewerAdded(_));
                    BusClient::reply(bus.as_ref(), &delivery.envelope, reply).await.expect("responder: reply");
                    // As the controller does once the answer is out: gather, send the candidate.
                    if let (true, Message::AddViewer(add)) = (answered, &delivery.envelope.message) {
                        let event = Message::ViewerIceCandidate(ViewerIceCandidate {
                            viewer_id: add.viewer_id.clone(),
                            candidate: server_candidate(),
                        });
                        let env = camview_common::bus::envelope(event, None, None);
                        bus.publish(&add.signaling_instance, &env).await.expect("responder: publish a candidate");
                    }
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
                    audio: None,
                }),
                bandwidth: *bandwidth,
                created_at: now.clone(),
                updated_at: now,
                pipeline_id: Some(format!("pipeline-{camera_id}")),
                rtp_endpoint_id: None,
                camera_source: None,
                // As the controller does: the record holds the source redacted.
                source: source.as_ref().map(camview_proto::source::SourceUrl::redacted),
                source_audio: None,
                node_id: None,
                relays: Vec::new(),
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
        // The controller's slot rule (limit WHEP_VIEWER_LIMIT here) and answer.
        Message::AddViewer(add) => {
            let record = ViewerRecord {
                viewer_id: add.viewer_id.clone(),
                camera_id: add.camera_id.clone(),
                signaling_instance: add.signaling_instance.clone(),
                state: ViewerState::Negotiating,
                created_at: now_rfc3339(),
                endpoint_id: Some(format!("endpoint-{}", add.viewer_id)),
            };
            match registry.reserve_viewer(&record, WHEP_VIEWER_LIMIT).await.expect("responder: reserve_viewer") {
                SlotReservation::Reserved => {
                    Message::ViewerAdded(ViewerAdded { viewer_id: add.viewer_id.clone(), sdp_answer: ANSWER.into() })
                }
                SlotReservation::Full => Message::failed(
                    ErrorCode::StreamFull,
                    format!("stream {} already has {WHEP_VIEWER_LIMIT} viewers", add.camera_id),
                ),
                SlotReservation::StreamNotFound => {
                    Message::failed(ErrorCode::StreamNotFound, format!("no stream {}", add.camera_id))
                }
            }
        }
        Message::RemoveViewer(remove) => {
            registry.remove_viewer(&remove.camera_id, &remove.viewer_id).await.expect("responder: remove_viewer");
            Message::Done(Done {})
        }
        Message::AddIceCandidate(_) => Message::Done(Done {}),
        other => Message::failed(ErrorCode::Internal, format!("the test responder does not handle {}", other.kind())),
    }
}

/// Viewers per stream the responder admits.
pub const WHEP_VIEWER_LIMIT: u32 = 2;

/// The SDP answer of every viewer the responder admits.
pub const ANSWER: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n\
    m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=ice-ufrag:srv1\r\na=ice-pwd:0123456789abcdef01234567\r\n\
    a=sendonly\r\na=rtpmap:96 H264/90000\r\n";

/// The one server candidate the responder sends after each answer.
pub fn server_candidate() -> IceCandidate {
    IceCandidate {
        candidate: "candidate:1 1 UDP 2015363327 192.0.2.10 40128 typ host".into(),
        sdp_mid: Some("0".into()),
        sdp_m_line_index: Some(0),
    }
}

/// A stream record as the controller writes it, for tests that seed the registry by hand.
pub fn sample_stream(camera_id: &'static str) -> StreamRecord {
    let now = now_rfc3339();
    StreamRecord {
        camera_id: CameraId::from_static(camera_id),
        state: StreamState::WaitingForMedia,
        rtp: Some(RtpTarget { host: RTP_HOST.into(), port: 50_000, codec: Codec::H264, payload_type: 96, audio: None }),
        bandwidth: camview_proto::stream::Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
        created_at: now.clone(),
        updated_at: now,
        pipeline_id: None,
        rtp_endpoint_id: None,
        camera_source: None,
        source: None,
        source_audio: None,
        node_id: None,
        relays: Vec::new(),
    }
}
