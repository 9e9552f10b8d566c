//! Streams pulled from an RTSP camera (a PlayerEndpoint). Kurento stops a PlayerEndpoint whose
//! source failed (`Error`) or ended (`EndOfStream`), and its applications call `play` again;
//! the controller does so [`REPLAY_AFTER`] later, at most one pending call per camera, and
//! only while the stream still has that element. camview's engine reconnects by itself (with
//! back-off) after failures, and stops at the end of a stream as Kurento's does.
//!
//! A pulled camera's audio is known only once its player described it: when its media flows,
//! the controller asks the media server (`camera_audio`) and records the codec in the stream
//! (`source_audio`; AAC is reported not playable, as for a pushed camera).

use camview_proto::CameraId;
use std::sync::Arc;
use std::time::Duration;

use camview_common::clock::now_rfc3339;
use camview_proto::stream::AudioCodec;

use super::Controller;

/// How long after a failure or end of its source a pulled stream's player is played again.
pub(super) const REPLAY_AFTER: Duration = Duration::from_secs(2);

impl Controller {
    /// `element_id` raised an error or ended: if it is a pulled stream's player, `play` it
    /// again after [`REPLAY_AFTER`].
    pub(super) async fn replay_source(self: &Arc<Self>, element_id: &str) {
        let Ok(streams) = self.registry.list_streams().await else { return };
        let Some(camera) = streams
            .into_iter()
            .find(|s| s.source.is_some() && s.rtp_endpoint_id.as_deref() == Some(element_id))
            .map(|s| s.camera_id)
        else {
            return;
        };
        if !self.replays.lock().expect("replays poisoned").insert(camera.clone()) {
            return;
        }
        let (this, element) = (Arc::clone(self), element_id.to_owned());
        tokio::spawn(async move {
            tokio::time::sleep(REPLAY_AFTER).await;
            this.replays.lock().expect("replays poisoned").remove(&camera);
            let current = this.registry.get_stream(&camera).await.ok().flatten().and_then(|s| s.rtp_endpoint_id);
            if current.as_deref() != Some(element.as_str()) {
                return; // stopped, or recreated with another player, meanwhile
            }
            match this.media.play(&element).await {
                Ok(()) => tracing::info!(camera_id = %camera, "played the RTSP camera's PlayerEndpoint again"),
                Err(e) => tracing::warn!(camera_id = %camera, error = %e, "could not play the RTSP camera again"),
            }
        });
    }

    /// The audio codec `element_id`'s camera describes, if the media server says (a failure
    /// is logged and reads as unknown).
    pub(super) async fn pulled_audio(&self, camera_id: &CameraId, element_id: &str) -> Option<AudioCodec> {
        match self.media.camera_audio(element_id).await {
            Ok(audio) => audio,
            Err(e) => {
                tracing::warn!(%camera_id, error = %e, "could not ask the media server for the RTSP camera's audio");
                None
            }
        }
    }

    /// A pulled stream's media flows: records its camera's audio codec when it changed.
    pub(super) async fn learn_pulled_audio(&self, camera_id: &CameraId, element_id: &str) {
        let audio = self.pulled_audio(camera_id, element_id).await;
        let lock = self.camera_lock(camera_id);
        let _guard = lock.write().await;
        let Ok(Some(mut stream)) = self.registry.get_stream(camera_id).await else { return };
        if stream.rtp_endpoint_id.as_deref() != Some(element_id) || stream.source_audio == audio {
            return;
        }
        stream.source_audio = audio;
        stream.updated_at = now_rfc3339();
        match self.registry.put_stream(&stream).await {
            Ok(()) => tracing::info!(%camera_id, audio = ?audio, "the RTSP camera's audio is known"),
            Err(e) => tracing::warn!(%camera_id, error = %e, "could not record the RTSP camera's audio"),
        }
    }
}
