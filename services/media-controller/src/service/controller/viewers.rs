//! Viewers: joins, candidates, releases, and finding a viewer from its media-server endpoint.
//!
//! The join path reads the registry once for the stream and once for a renegotiating viewer,
//! and writes the viewer once; nothing on it scans. Media events name an endpoint, not a
//! viewer: [`ViewerIndex`] maps the endpoints this controller created or adopted to their
//! viewer, so an ICE candidate event costs no registry read at all. The registry stays the
//! source of truth: an endpoint the index does not know (another controller created it) is
//! looked up there once and remembered.

use camview_proto::{CameraId, ViewerId};
use std::collections::HashMap;
use std::sync::Mutex;

use camview_common::clock::now_rfc3339;
use camview_common::SlotReservation;
use camview_proto::bus::{
    AddIceCandidate, AddViewer, Done, Message, RemoveReason, RemoveViewer, StreamStateChanged, ViewerAdded,
};
use camview_proto::stream::{StreamState, ViewerRecord, ViewerState};

use super::{media_stream_of, CommandError, Controller};
use crate::service::media::MediaError;
use crate::service::sdp;

/// Where a viewer's events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ViewerRoute {
    pub viewer_id: ViewerId,
    pub camera_id: CameraId,
    pub signaling_instance: String,
}

impl From<&ViewerRecord> for ViewerRoute {
    fn from(v: &ViewerRecord) -> Self {
        Self {
            viewer_id: v.viewer_id.clone(),
            camera_id: v.camera_id.clone(),
            signaling_instance: v.signaling_instance.clone(),
        }
    }
}

/// Endpoint id -> viewer, for the endpoints this controller knows.
#[derive(Debug, Default)]
pub(super) struct ViewerIndex(Mutex<HashMap<String, ViewerRoute>>);

impl ViewerIndex {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, ViewerRoute>> {
        // Plain map of strings: a panic elsewhere cannot leave it half-written.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, endpoint_id: &str, route: ViewerRoute) {
        self.map().insert(endpoint_id.to_owned(), route);
    }

    pub fn remove(&self, endpoint_id: &str) {
        self.map().remove(endpoint_id);
    }

    pub fn get(&self, endpoint_id: &str) -> Option<ViewerRoute> {
        self.map().get(endpoint_id).cloned()
    }
}

/// What the answer to a join leaves for the steps after it.
pub(super) struct Joined {
    endpoint_id: String,
    route: ViewerRoute,
    stream_state: StreamState,
}

impl Controller {
    pub(super) async fn add_viewer(&self, cmd: &AddViewer) -> Result<(Message, Joined), CommandError> {
        let lock = self.camera_lock(&cmd.camera_id);
        let _guard = lock.read().await;
        let relay_lock = self.settings.relay_after.map(|_| self.relay_lock(&cmd.camera_id));
        let _relay_guard = match &relay_lock {
            Some(lock) => Some(lock.lock().await),
            None => None,
        };
        let result = self.add_viewer_locked(cmd).await;
        if matches!(&result, Err(e) if !matches!(e, CommandError::StreamFull { .. } | CommandError::StreamNotFound(_)))
        {
            // A failed join keeps neither its slot nor its record.
            let _ = self.registry.remove_viewer(&cmd.camera_id, &cmd.viewer_id).await;
        }
        result
    }

    async fn add_viewer_locked(&self, cmd: &AddViewer) -> Result<(Message, Joined), CommandError> {
        // The slot and a `joining` record in one step: no slot is ever held without a
        // record naming its viewer and signaling instance (whose death frees it).
        let joining = ViewerRecord {
            viewer_id: cmd.viewer_id.clone(),
            camera_id: cmd.camera_id.clone(),
            signaling_instance: cmd.signaling_instance.clone(),
            state: ViewerState::Joining,
            created_at: now_rfc3339(),
            endpoint_id: None,
        };
        let limit = self.settings.max_viewers_per_stream;
        match self.registry.reserve_viewer(&joining, limit).await? {
            SlotReservation::Reserved => {}
            SlotReservation::Full => return Err(CommandError::StreamFull { camera: cmd.camera_id.clone(), limit }),
            SlotReservation::StreamNotFound => return Err(CommandError::StreamNotFound(cmd.camera_id.clone())),
        }
        let stream = self
            .registry
            .get_stream(&cmd.camera_id)
            .await?
            .ok_or_else(|| CommandError::StreamNotFound(cmd.camera_id.clone()))?;
        let media_stream =
            media_stream_of(&stream).ok_or_else(|| CommandError::StreamNotFound(cmd.camera_id.clone()))?;
        // A renegotiating viewer keeps its id and slot: its old endpoint goes first.
        if let Some(old) = self.registry.get_viewer(&cmd.viewer_id).await?.and_then(|v| v.endpoint_id) {
            self.viewers.remove(&old);
            if let Err(e) = self.media.release(&old).await {
                tracing::warn!(error = %e, viewer_id = %cmd.viewer_id, "could not release the previous endpoint");
            }
        }
        let home = self.viewer_home(&stream, media_stream, &cmd.viewer_id).await?;
        let viewer =
            self.media.create_viewer(&home, &cmd.sdp_offer, &self.settings.ice).await.map_err(codec_refusal)?;
        if sdp::answer_rejects_video(&viewer.answer) {
            // Kurento's way of saying the browser offered none of the camera's codecs.
            let _ = self.media.release(&viewer.endpoint_id).await;
            let why =
                format!("the media server rejected the browser's video; the camera sends {}", stream_codec(&stream));
            return Err(CommandError::CodecUnsupported(why));
        }
        let record = ViewerRecord {
            viewer_id: cmd.viewer_id.clone(),
            camera_id: cmd.camera_id.clone(),
            signaling_instance: cmd.signaling_instance.clone(),
            state: ViewerState::Negotiating,
            created_at: now_rfc3339(),
            endpoint_id: Some(viewer.endpoint_id.clone()),
        };
        if let Err(e) = self.registry.put_viewer(&record).await {
            let _ = self.media.release(&viewer.endpoint_id).await;
            return Err(e.into());
        }
        let route = ViewerRoute::from(&record);
        self.viewers.insert(&viewer.endpoint_id, route.clone());
        let answer = Message::ViewerAdded(ViewerAdded { viewer_id: cmd.viewer_id.clone(), sdp_answer: viewer.answer });
        Ok((answer, Joined { endpoint_id: viewer.endpoint_id, route, stream_state: stream.state }))
    }

    /// Gathers candidates only once the answer is on its way, so the browser never gets a
    /// candidate before the description it belongs to; also tells the viewer the stream state.
    pub(super) async fn after_viewer_answer(&self, joined: Joined) {
        if let Err(e) = self.media.gather_candidates(&joined.endpoint_id).await {
            tracing::warn!(error = %e, viewer_id = %joined.route.viewer_id, "gatherCandidates failed");
        }
        let ViewerRoute { viewer_id, camera_id, signaling_instance } = joined.route;
        let msg = Message::StreamStateChanged(StreamStateChanged { viewer_id, camera_id, state: joined.stream_state });
        self.notify(&signaling_instance, msg).await;
    }

    pub(super) async fn add_ice_candidate(&self, cmd: &AddIceCandidate) -> Result<Message, CommandError> {
        let viewer = self
            .registry
            .get_viewer(&cmd.viewer_id)
            .await?
            .ok_or_else(|| CommandError::ViewerNotFound(cmd.viewer_id.clone()))?;
        let endpoint = viewer.endpoint_id.ok_or_else(|| CommandError::ViewerNotFound(cmd.viewer_id.clone()))?;
        self.media.add_ice_candidate(&endpoint, &cmd.candidate).await?;
        Ok(Message::Done(Done {}))
    }

    pub(super) async fn remove_viewer(&self, cmd: &RemoveViewer) -> Result<Message, CommandError> {
        let lock = self.camera_lock(&cmd.camera_id);
        let _guard = lock.read().await;
        self.release_viewer(&cmd.camera_id, &cmd.viewer_id, cmd.reason).await?;
        if self.settings.relay_after.is_some() {
            let relay_lock = self.relay_lock(&cmd.camera_id);
            let _relay_guard = relay_lock.lock().await;
            self.drop_idle_relays(&cmd.camera_id).await?;
        }
        Ok(Message::Done(Done {}))
    }

    /// Releases a viewer's endpoint and frees its slot; a missing viewer is not an error.
    pub async fn release_viewer(
        &self,
        camera_id: &CameraId,
        viewer_id: &ViewerId,
        reason: RemoveReason,
    ) -> Result<(), CommandError> {
        if let Some(endpoint) = self.registry.get_viewer(viewer_id).await?.and_then(|v| v.endpoint_id) {
            self.viewers.remove(&endpoint);
            if let Err(e) = self.media.release(&endpoint).await {
                tracing::warn!(error = %e, %viewer_id, "could not release the viewer endpoint");
            }
        }
        self.registry.remove_viewer(camera_id, viewer_id).await?;
        tracing::info!(%camera_id, %viewer_id, ?reason, "viewer released");
        Ok(())
    }

    /// The viewer an endpoint belongs to: from the index, else from the registry (then
    /// remembered). Endpoint ids embed their pipeline id, which names the stream, so the
    /// fallback scans only that stream's viewers.
    pub(super) async fn viewer_by_endpoint(&self, endpoint_id: &str) -> Option<ViewerRoute> {
        if let Some(route) = self.viewers.get(endpoint_id) {
            return Some(route);
        }
        let streams = self.registry.list_streams().await.ok()?;
        let stream = streams.into_iter().find(|s| {
            s.pipeline_id
                .iter()
                .chain(s.relays.iter().map(|r| &r.pipeline_id))
                .any(|p| endpoint_id.starts_with(p.as_str()))
        })?;
        let viewers = self.registry.list_viewers(Some(&stream.camera_id)).await.ok()?;
        let route = viewers.iter().find(|v| v.endpoint_id.as_deref() == Some(endpoint_id)).map(ViewerRoute::from)?;
        self.viewers.insert(endpoint_id, route.clone());
        Some(route)
    }
}

/// The engine's refusal of a browser without the camera's codec (its message starts with
/// `codec_unsupported:`) is `codec_unsupported`; any other media error stays one.
fn codec_refusal(e: MediaError) -> CommandError {
    match e {
        MediaError::Rejected { message, .. } if message.starts_with("codec_unsupported:") => {
            CommandError::CodecUnsupported(message.trim_start_matches("codec_unsupported:").trim().to_owned())
        }
        e => CommandError::Media(e),
    }
}

fn stream_codec(stream: &camview_proto::stream::StreamRecord) -> &'static str {
    stream.rtp.as_ref().map_or("another codec", |r| r.codec.rtpmap_name())
}
