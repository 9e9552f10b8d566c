//! A stand-in media-controller speaking the real bus protocol: it reads commands from the
//! queue, acknowledges them, reserves the viewer's slot and record as the controller does
//! (refusing with `stream_full` / `stream_not_found`), answers `AddViewer` with `ViewerAdded`
//! and then publishes one candidate unique to the viewer on its signaling instance's channel,
//! and answers `RemoveViewer` by freeing the slot in the registry.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camview_common::{Bus, BusClient, Registry, SlotReservation};
use camview_proto::bus::{Done, Envelope, Message, ViewerAdded, ViewerIceCandidate};
use camview_proto::stream::{IceCandidate, ViewerRecord, ViewerState};
use camview_proto::ErrorCode;

use crate::helpers::Deployment;

/// What the responder saw, for assertions.
#[derive(Default)]
pub struct Seen {
    pub commands: Vec<Message>,
    /// The same commands with their envelopes (trace context, timestamps).
    pub envelopes: Vec<Envelope>,
}

#[derive(Clone, Default)]
pub struct Responder {
    pub seen: Arc<Mutex<Seen>>,
    /// Cameras whose `AddViewer` is answered with `Failed{media_server_error}`.
    pub failing: Arc<Mutex<HashSet<String>>>,
    /// When set, commands are read and acknowledged but never answered (a hung controller).
    pub silent: Arc<std::sync::atomic::AtomicBool>,
    /// When set, the queue is not read at all (no controller running): commands wait.
    pub paused: Arc<std::sync::atomic::AtomicBool>,
    /// Set by the loop once it stopped reading because of `paused`.
    pub parked: Arc<std::sync::atomic::AtomicBool>,
    /// The controller's `MAX_VIEWERS_PER_STREAM`.
    pub limit: u32,
}

/// The candidate the responder sends to `viewer_id`: its foundation is the viewer id.
pub fn candidate_for(viewer_id: &str) -> String {
    format!("candidate:{} 1 udp 2130706431 10.0.0.1 40000 typ host", viewer_id.replace('-', ""))
}

impl Responder {
    pub fn start(deployment: &Deployment) -> Self {
        Self::start_with_limit(deployment, 10)
    }

    /// A responder whose streams take at most `limit` viewers.
    pub fn start_with_limit(deployment: &Deployment, limit: u32) -> Self {
        let responder = Self { limit, ..Self::default() };
        let r = responder.clone();
        let bus = deployment.bus.clone();
        let registry = deployment.registry.clone();
        tokio::spawn(async move { r.run(bus, registry).await });
        responder
    }

    pub fn fail_camera(&self, camera: &str) {
        self.failing.lock().unwrap().insert(camera.to_owned());
    }

    /// Stops reading the queue, as when no controller runs, and returns once a read already
    /// under way has finished; [`Responder::resume`] reads on.
    pub async fn pause(&self) {
        self.paused.store(true, std::sync::atomic::Ordering::SeqCst);
        let parked = self.parked.clone();
        camview_common::testing::wait_until(crate::helpers::WAIT, "the responder stops reading", || {
            let parked = parked.clone();
            async move { parked.load(std::sync::atomic::Ordering::SeqCst) }
        })
        .await;
    }

    pub fn resume(&self) {
        self.paused.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn answer_again(&self) {
        self.silent.store(false, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn go_silent(&self) {
        self.silent.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn commands(&self) -> Vec<Message> {
        self.seen.lock().unwrap().commands.clone()
    }

    pub fn count(&self, kind: &str) -> usize {
        self.commands().iter().filter(|m| m.kind() == kind).count()
    }

    async fn run(self, bus: Arc<dyn Bus>, registry: Arc<dyn Registry>) {
        loop {
            let paused = self.paused.load(std::sync::atomic::Ordering::SeqCst);
            self.parked.store(paused, std::sync::atomic::Ordering::SeqCst);
            if paused {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            let Ok(deliveries) = bus.read_commands("test-responder", 16, Duration::from_millis(200)).await else {
                continue;
            };
            for d in deliveries {
                bus.ack_command(&d.delivery_id).await.expect("ack");
                let env = d.envelope;
                {
                    let mut seen = self.seen.lock().unwrap();
                    seen.commands.push(env.message.clone());
                    seen.envelopes.push(env.clone());
                }
                // As the controller: a command read after its sender's deadline is not run.
                let expired = env.expires_at.as_deref().is_some_and(camview_common::clock::is_past);
                if expired || self.silent.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                match &env.message {
                    Message::AddViewer(add) => {
                        let record = ViewerRecord {
                            viewer_id: add.viewer_id.clone(),
                            camera_id: add.camera_id.clone(),
                            signaling_instance: add.signaling_instance.clone(),
                            state: ViewerState::Joining,
                            created_at: "2026-12-07T00:00:00Z".into(),
                            endpoint_id: None,
                        };
                        let refusal = match registry.reserve_viewer(&record, self.limit).await.expect("reserve") {
                            SlotReservation::Reserved => None,
                            SlotReservation::Full => Some(ErrorCode::StreamFull),
                            SlotReservation::StreamNotFound => Some(ErrorCode::StreamNotFound),
                        };
                        if let Some(code) = refusal {
                            BusClient::reply(bus.as_ref(), &env, Message::failed(code, "refused"))
                                .await
                                .expect("reply");
                            continue;
                        }
                        if self.failing.lock().unwrap().contains(add.camera_id.as_str()) {
                            registry.remove_viewer(&add.camera_id, &add.viewer_id).await.expect("remove viewer");
                            BusClient::reply(
                                bus.as_ref(),
                                &env,
                                Message::failed(ErrorCode::MediaServerError, "endpoint creation failed"),
                            )
                            .await
                            .expect("reply");
                            continue;
                        }
                        let answer = format!("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=answer-for-{}\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n", add.viewer_id);
                        BusClient::reply(
                            bus.as_ref(),
                            &env,
                            Message::ViewerAdded(ViewerAdded { viewer_id: add.viewer_id.clone(), sdp_answer: answer }),
                        )
                        .await
                        .expect("reply");
                        let candidate = IceCandidate {
                            candidate: candidate_for(&add.viewer_id),
                            sdp_mid: Some("0".into()),
                            sdp_m_line_index: Some(0),
                        };
                        let event = Message::ViewerIceCandidate(ViewerIceCandidate {
                            viewer_id: add.viewer_id.clone(),
                            candidate,
                        });
                        bus.publish(&add.signaling_instance, &camview_common::bus::envelope(event, None, None))
                            .await
                            .expect("publish");
                    }
                    Message::RemoveViewer(remove) => {
                        registry.remove_viewer(&remove.camera_id, &remove.viewer_id).await.expect("remove viewer");
                        BusClient::reply(bus.as_ref(), &env, Message::Done(Done {})).await.expect("reply");
                    }
                    _ => {}
                }
            }
        }
    }
}
