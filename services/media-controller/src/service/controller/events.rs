//! Media-server events: viewers' ICE candidates and states, the camera's media flow (live,
//! stalled) and the connection to the media server (reconcile on reconnect).

use camview_proto::CameraId;
use std::sync::Arc;

use camview_common::clock::now_rfc3339;
use camview_proto::bus::{Message, StreamStateChanged, ViewerIceCandidate, ViewerStateChanged};
use camview_proto::stream::{StreamState, ViewerState};

use super::Controller;
use crate::service::media::{FlowDirection, MediaEvent};

impl Controller {
    /// Reacts to one media-server event.
    pub async fn on_media_event(self: &Arc<Self>, event: MediaEvent) {
        match event {
            MediaEvent::IceCandidateFound { endpoint_id, candidate } => {
                if let Some(v) = self.viewer_by_endpoint(&endpoint_id).await {
                    self.notify(
                        &v.signaling_instance,
                        Message::ViewerIceCandidate(ViewerIceCandidate { viewer_id: v.viewer_id, candidate }),
                    )
                    .await;
                }
            }
            MediaEvent::IceStateChanged { endpoint_id, state } => {
                let new_state = match state.as_str() {
                    "CONNECTED" | "READY" => ViewerState::Connected,
                    "FAILED" => ViewerState::Failed,
                    "DISCONNECTED" => ViewerState::Disconnected,
                    _ => return,
                };
                let Some(route) = self.viewer_by_endpoint(&endpoint_id).await else { return };
                let Ok(Some(mut v)) = self.registry.get_viewer(&route.viewer_id).await else { return };
                // The record may already belong to a newer endpoint (renegotiated).
                if v.endpoint_id.as_deref() == Some(endpoint_id.as_str()) && v.state != new_state {
                    if new_state == ViewerState::Failed {
                        self.metrics.ice_failed();
                    }
                    v.state = new_state;
                    let _ = self.registry.put_viewer(&v).await;
                    self.notify(
                        &v.signaling_instance,
                        Message::ViewerStateChanged(ViewerStateChanged { viewer_id: v.viewer_id, state: new_state }),
                    )
                    .await;
                }
            }
            MediaEvent::MediaFlow { element_id, direction: FlowDirection::In, flowing } => {
                self.on_camera_flow(&element_id, flowing).await
            }
            MediaEvent::MediaFlow { .. } => {}
            MediaEvent::Error { object_id, description } => {
                tracing::warn!(object_id, description, "media server error event");
                self.replay_source(&object_id).await;
            }
            MediaEvent::SourceEnded { element_id } => {
                self.on_camera_flow(&element_id, false).await;
                self.replay_source(&element_id).await;
            }
            MediaEvent::Connected { resumed, node_id } => {
                tracing::info!(resumed, node_id, "media server connected; reconciling");
                if let Err(e) = self.reconcile_node(node_id.as_deref()).await {
                    tracing::error!(error = %e, node_id, "reconciliation with the media server failed");
                }
            }
            MediaEvent::Disconnected { node_id } => tracing::warn!(node_id, "media server connection lost"),
        }
    }

    /// Camera media arrives or stops: `live` at once, `stalled` after `stall_after` of silence.
    pub(super) async fn on_camera_flow(self: &Arc<Self>, rtp_endpoint_id: &str, flowing: bool) {
        let Ok(streams) = self.registry.list_streams().await else { return };
        let Some(stream) = streams.into_iter().find(|s| s.rtp_endpoint_id.as_deref() == Some(rtp_endpoint_id)) else {
            return;
        };
        let camera_id = stream.camera_id.clone();
        if flowing {
            self.cancel_stall_timer(&camera_id);
            self.set_stream_state(&camera_id, StreamState::Live).await;
            if stream.source.is_some() {
                self.learn_pulled_audio(&camera_id, rtp_endpoint_id).await;
            }
        } else {
            let this = Arc::clone(self);
            let cam = camera_id.clone();
            let stall_after = self.settings.stall_after;
            let timer = tokio::spawn(async move {
                tokio::time::sleep(stall_after).await;
                this.set_stream_state(&cam, StreamState::Stalled).await;
            });
            if let Some(old) = self.stall_timers.lock().expect("stall timers poisoned").insert(camera_id, timer) {
                old.abort();
            }
        }
    }

    pub(super) fn cancel_stall_timer(&self, camera_id: &CameraId) {
        if let Some(t) = self.stall_timers.lock().expect("stall timers poisoned").remove(camera_id) {
            t.abort();
        }
    }

    /// Stores a stream's new state and tells each of its viewers.
    pub(super) async fn set_stream_state(&self, camera_id: &CameraId, state: StreamState) {
        let lock = self.camera_lock(camera_id);
        let _guard = lock.write().await;
        let Ok(Some(mut stream)) = self.registry.get_stream(camera_id).await else { return };
        if stream.state == state {
            return;
        }
        stream.state = state;
        stream.updated_at = now_rfc3339();
        if self.registry.put_stream(&stream).await.is_err() {
            return;
        }
        tracing::info!(%camera_id, state = state.as_str(), "stream state changed");
        for v in self.registry.list_viewers(Some(camera_id)).await.unwrap_or_default() {
            let msg = Message::StreamStateChanged(StreamStateChanged {
                viewer_id: v.viewer_id.clone(),
                camera_id: camera_id.to_owned(),
                state,
            });
            self.notify(&v.signaling_instance, msg).await;
        }
    }
}
