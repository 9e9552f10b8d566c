//! Target (a): camview-media-engine over Kurento JSON-RPC, driven by the media-controller's
//! own Kurento client ([`KurentoMedia`]) exactly as the controller drives it: a MediaPipeline
//! and an RtpEndpoint for the camera, then per viewer a WebRtcEndpoint (create, subscribe,
//! connect, processOffer), gatherCandidates and addIceCandidate.

use camview_proto::CameraId;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camview_media_controller::kurento::{ClientConfig, KurentoClient};
use camview_media_controller::service::media::{IceSettings, MediaStream, StreamSpec};
use camview_media_controller::service::sdp::{answer_video_port, camera_offer};
use camview_media_controller::service::{KurentoMedia, MediaEvent, MediaServer};
use camview_proto::stream::{Bandwidth, Codec, IceCandidate};
use tokio::sync::{broadcast, mpsc};

use super::{free_port, wait_tcp, ServerSettings, TargetError};
use crate::procs::Proc;
use crate::viewers::Pool;

/// Candidates trickled by the engine, by endpoint id, until the viewer's task takes them.
type Routes = Arc<Mutex<HashMap<String, mpsc::UnboundedSender<String>>>>;

pub struct EngineTarget {
    engine: Proc,
    media: Arc<KurentoMedia>,
    stream: MediaStream,
    rtp_port: u16,
    routes: Routes,
}

/// The engine's environment for a loopback benchmark: one shared WebRTC port, loopback only.
pub fn engine_env(ws_port: u16, webrtc_port: u16) -> Vec<(&'static str, String)> {
    vec![
        ("ENGINE_WS_ADDR", format!("127.0.0.1:{ws_port}")),
        ("ENGINE_WEBRTC_PORT", webrtc_port.to_string()),
        ("ENGINE_WEBRTC_IPS", "127.0.0.1".into()),
        ("EXTERNAL_IP", "127.0.0.1".into()),
        ("ENGINE_RTP_BIND_IP", "127.0.0.1".into()),
        ("KMS_MIN_PORT", "43000".into()),
        ("KMS_MAX_PORT", "43999".into()),
        ("METRICS_ADDR", "127.0.0.1:0".into()),
        ("RUST_LOG", "warn".into()),
    ]
}

impl EngineTarget {
    pub async fn start(s: &ServerSettings) -> Result<EngineTarget, TargetError> {
        let (ws, rtc) = (free_port()?, free_port()?);
        let mut engine = s.spawn("media-engine", "camview-media-engine", engine_env(ws, rtc))?;
        wait_tcp(&mut engine, ws, Duration::from_secs(20)).await?;
        let client = KurentoClient::connect(ClientConfig::new(format!("ws://127.0.0.1:{ws}/kurento")))
            .await
            .map_err(|e| TargetError::Setup(format!("Kurento client to the engine: {e}")))?;
        let media = KurentoMedia::new(client);
        let routes: Routes = Arc::default();
        tokio::spawn(route_candidates(media.events(), routes.clone()));
        let spec = StreamSpec {
            camera_id: CameraId::from_static("bench"),
            bandwidth: Bandwidth { max_bandwidth: 3000, min_bandwidth: 300 },
            offer: camera_offer("bench", Codec::H264, 96),
            source: None,
            node_id: None,
        };
        let stream = media
            .create_stream(&spec)
            .await
            .map_err(|e| TargetError::Setup(format!("creating the camera's RtpEndpoint: {e}")))?;
        let rtp_port = answer_video_port(&stream.answer)
            .ok_or_else(|| TargetError::Setup(format!("no RTP port in the answer:\n{}", stream.answer)))?;
        Ok(EngineTarget { engine, media, stream, rtp_port, routes })
    }

    pub fn rtp_destination(&self) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), self.rtp_port)
    }

    pub fn processes(&self) -> Vec<&Proc> {
        vec![&self.engine]
    }

    pub fn processes_mut(&mut self) -> Vec<&mut Proc> {
        vec![&mut self.engine]
    }

    pub async fn join(&self, pool: &Arc<Pool>) -> Result<(), String> {
        let mut v = pool.new_viewer().map_err(|e| e.to_string())?;
        let offer = v.offer();
        let viewer = self
            .media
            .create_viewer(&self.stream, &offer, &IceSettings::default())
            .await
            .map_err(|e| format!("WebRtcEndpoint: {e}"))?;
        let answered = Instant::now();
        v.accept(&viewer.answer).map_err(|e| format!("answer refused: {e}"))?;
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.routes.lock().expect("routes poisoned").insert(viewer.endpoint_id.clone(), tx);
        self.media.gather_candidates(&viewer.endpoint_id).await.map_err(|e| format!("gatherCandidates: {e}"))?;
        let ours = IceCandidate { candidate: v.candidate(), sdp_mid: Some("0".into()), sdp_m_line_index: Some(0) };
        self.media.add_ice_candidate(&viewer.endpoint_id, &ours).await.map_err(|e| format!("addIceCandidate: {e}"))?;
        let r = pool.activate(v, answered);
        let pool = pool.clone();
        tokio::spawn(async move {
            while let Some(c) = rx.recv().await {
                pool.add_candidate(r, c);
            }
        });
        Ok(())
    }
}

impl Drop for EngineTarget {
    fn drop(&mut self) {
        // Otherwise the client keeps reconnecting to the stopped engine.
        self.media.client().shutdown();
    }
}

/// Sends each IceCandidateFound to the viewer whose endpoint raised it.
async fn route_candidates(mut events: broadcast::Receiver<MediaEvent>, routes: Routes) {
    loop {
        match events.recv().await {
            Ok(MediaEvent::IceCandidateFound { endpoint_id, candidate }) => {
                if let Some(tx) = routes.lock().expect("routes poisoned").get(&endpoint_id) {
                    let _ = tx.send(candidate.candidate);
                }
            }
            Ok(_) => {}
            // A lost candidate is survivable: the engine's checks reach the viewer's candidate
            // from the offer, and str0m learns the engine's address as peer-reflexive.
            Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(lost = n, "engine events lagged"),
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}
