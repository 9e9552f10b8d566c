//! A stand-in media-controller speaking the real bus protocol: it reads commands from the
//! queue, acknowledges them, answers `AddViewer` with `ViewerAdded` and then publishes one
//! candidate unique to the viewer on its signaling instance's channel, and answers
//! `RemoveViewer` by freeing the slot in the registry.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use camview_common::{Bus, BusClient, Registry};
use camview_proto::bus::{Done, Envelope, Message, ViewerAdded, ViewerIceCandidate};
use camview_proto::stream::IceCandidate;
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
}

/// The candidate the responder sends to `viewer_id`: its foundation is the viewer id.
pub fn candidate_for(viewer_id: &str) -> String {
    format!("candidate:{} 1 udp 2130706431 10.0.0.1 40000 typ host", viewer_id.replace('-', ""))
}

impl Responder {
    pub fn start(deployment: &Deployment) -> Self {
        let responder = Self::default();
        let r = responder.clone();
        let bus = deployment.bus.clone();
        let registry = deployment.registry.clone();
        tokio::spawn(async move { r.run(bus, registry).await });
        responder
    }

    pub fn fail_camera(&self, camera: &str) {
        self.failing.lock().unwrap().insert(camera.to_owned());
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
                if self.silent.load(std::sync::atomic::Ordering::SeqCst) {
                    continue;
                }
                match &env.message {
                    Message::AddViewer(add) => {
                        if self.failing.lock().unwrap().contains(&add.camera_id) {
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
