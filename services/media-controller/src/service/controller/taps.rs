//! Snapshot taps: an RtpEndpoint in a stream's pipeline that sends the camera's RTP to the api,
//! which keeps the latest keyframe for `GET /streams/{id}/snapshot.jpg`.
//!
//! Only Kurento operations (create RtpEndpoint, connect, processOffer with the api's
//! receive-only offer, release), so it works the same against Kurento. Taps are not recorded
//! in the registry: they are cheap and the api re-opens one that went silent, so an orphan
//! sweep (which releases elements no record names) or a camera re-latch (whose new endpoint
//! feeds only the viewers) costs a snapshot a few seconds at most. A stop releases them with
//! the pipeline.

use camview_proto::bus::{Done, Message};
use camview_proto::snapshot::{CloseTap, OpenTap, TapOpened};

use super::{media_stream_of, CommandError, Controller};

impl Controller {
    pub(super) async fn open_tap(&self, cmd: &OpenTap) -> Result<Message, CommandError> {
        // Beside viewers (read side): a tap never holds up a popular camera's joins.
        let lock = self.camera_lock(&cmd.camera_id);
        let _guard = lock.read().await;
        let stream = self
            .registry
            .get_stream(&cmd.camera_id)
            .await?
            .ok_or_else(|| CommandError::StreamNotFound(cmd.camera_id.clone()))?;
        let media = media_stream_of(&stream).ok_or_else(|| CommandError::StreamNotFound(cmd.camera_id.clone()))?;
        let tap = self.media.create_tap(&media, &cmd.sdp_offer).await?;
        tracing::info!(endpoint_id = %tap.endpoint_id, "snapshot tap opened");
        Ok(Message::TapOpened(TapOpened {
            camera_id: cmd.camera_id.clone(),
            tap_id: cmd.tap_id.clone(),
            endpoint_id: tap.endpoint_id,
            sdp_answer: tap.answer,
        }))
    }

    /// Releases the tap's endpoint, but only one inside this camera's pipeline (Kurento ids
    /// are `<pipeline>/<element>`): the api can never release another object this way.
    pub(super) async fn close_tap(&self, cmd: &CloseTap) -> Result<Message, CommandError> {
        let lock = self.camera_lock(&cmd.camera_id);
        let _guard = lock.read().await;
        let Some(stream) = self.registry.get_stream(&cmd.camera_id).await? else {
            // Stopped: the pipeline took the tap with it.
            return Ok(Message::Done(Done {}));
        };
        let named = stream.rtp_endpoint_id.as_deref() == Some(cmd.endpoint_id.as_str());
        let inside = stream.pipeline_id.as_deref().is_some_and(|p| {
            cmd.endpoint_id.strip_prefix(p).is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
        });
        let viewer = self
            .registry
            .list_viewers(Some(&cmd.camera_id))
            .await?
            .iter()
            .any(|v| v.endpoint_id.as_deref() == Some(cmd.endpoint_id.as_str()));
        if named || viewer || !inside {
            tracing::warn!(endpoint_id = %cmd.endpoint_id, "CloseTap names no tap of this camera; ignored");
            return Ok(Message::Done(Done {}));
        }
        self.media.release(&cmd.endpoint_id).await?;
        tracing::info!(endpoint_id = %cmd.endpoint_id, "snapshot tap closed");
        Ok(Message::Done(Done {}))
    }
}
