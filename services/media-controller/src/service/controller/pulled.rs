//! Streams pulled from an RTSP camera (a PlayerEndpoint). Kurento stops a PlayerEndpoint whose
//! source failed (`Error`) or ended (`EndOfStream`), and its applications call `play` again;
//! the controller does so [`REPLAY_AFTER`] later, at most one pending call per camera, and
//! only while the stream still has that element. camview's engine reconnects by itself (with
//! back-off), so there the call finds the player running and changes nothing.

use std::sync::Arc;
use std::time::Duration;

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
}
