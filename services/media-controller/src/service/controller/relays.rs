//! Relays for popular streams (`RELAY_AFTER_VIEWERS` with `MEDIA_NODES=registry`;
//! docs/placement.md, "Relays").
//!
//! A node takes at most `relay_after` viewers of one stream. The next viewer goes to a relay:
//! a pipeline on another node whose RtpEndpoint (the relay's source) receives the stream's
//! video from an RtpEndpoint in the stream's own pipeline (the relay's sink). Only Kurento
//! operations (create, processOffer, connect, release), so it works the same with Kurento.
//! A relay left without viewers is torn down. Relays are recorded in the stream's record
//! (`relays`), so a restarted controller finds them and the orphan sweep keeps them.
//!
//! Invariants: every viewer decision for one camera is made under that camera's relay lock, so
//! counts per node are exact and two joins never build two relays where one is enough; the
//! viewer limit is the stream's slot count, reserved before any of this, so it holds exactly
//! across nodes.

use std::sync::Arc;

use camview_proto::stream::{RelayRecord, StreamRecord, ViewerRecord};
use camview_proto::{CameraId, ViewerId};
use tokio::sync::Mutex as AsyncMutex;

use super::{CommandError, Controller};
use crate::service::media::{MediaStream, StreamSpec};
use crate::service::sdp;

impl Controller {
    /// Serializes the viewer decisions of one camera (only when relays are on).
    pub(super) fn relay_lock(&self, camera_id: &CameraId) -> Arc<AsyncMutex<()>> {
        self.relay_locks.lock().expect("relay lock table poisoned").entry(camera_id.to_owned()).or_default().clone()
    }

    /// Where a new viewer of `stream` connects: the stream's own elements while its node has
    /// fewer than `relay_after` of its viewers, else the first relay with room, else a new
    /// relay on another node (written into the record). Called under the relay lock.
    pub(super) async fn viewer_home(
        &self,
        stream: &StreamRecord,
        origin: MediaStream,
        joining: &ViewerId,
    ) -> Result<MediaStream, CommandError> {
        let Some(limit) = self.settings.relay_after else { return Ok(origin) };
        let viewers = self.registry.list_viewers(Some(&stream.camera_id)).await?;
        let on = |pipeline: &str| viewers_in(&viewers, pipeline, Some(joining));
        if on(&origin.pipeline_id) < limit {
            return Ok(origin);
        }
        if let Some(relay) = stream.relays.iter().find(|r| on(&r.pipeline_id) < limit) {
            return Ok(relay_media(relay));
        }
        let relay = self.create_relay(stream, &origin).await?;
        let mut updated = stream.clone();
        updated.relays.push(relay.clone());
        if let Err(e) = self.registry.put_stream(&updated).await {
            self.release_relay(&relay).await;
            return Err(e.into());
        }
        Ok(relay_media(&relay))
    }

    /// A relay of `stream` on a node chosen by the placement policy among the nodes that
    /// carry none of it yet.
    async fn create_relay(&self, stream: &StreamRecord, origin: &MediaStream) -> Result<RelayRecord, CommandError> {
        let node = self.place_relay(stream).await?;
        let camera_id = &stream.camera_id;
        let spec = StreamSpec {
            camera_id: camera_id.clone(),
            bandwidth: stream.bandwidth,
            offer: sdp::camera_offer(camera_id, self.settings.codec, self.settings.payload_type),
            source: None,
            node_id: Some(node.node_id.clone()),
        };
        let source = self.media.create_stream(&spec).await?;
        let Some(port) = sdp::answer_video_port(&source.answer) else {
            let _ = self.media.release(&source.pipeline_id).await;
            return Err(CommandError::NoRtpPort);
        };
        let offer = sdp::relay_offer(&node.external_ip, port, self.settings.codec, self.settings.payload_type);
        let sink = match self.media.create_tap(origin, &offer).await {
            Ok(sink) => sink,
            Err(e) => {
                let _ = self.media.release(&source.pipeline_id).await;
                return Err(e.into());
            }
        };
        tracing::info!(%camera_id, node_id = %node.node_id, "relay created");
        Ok(RelayRecord {
            node_id: node.node_id,
            pipeline_id: source.pipeline_id,
            source_endpoint_id: source.rtp_endpoint_id,
            sink_endpoint_id: sink.endpoint_id,
        })
    }

    /// After a viewer left: tears down the relays of `camera_id` that no viewer uses any more.
    /// Called under the relay lock.
    pub(super) async fn drop_idle_relays(&self, camera_id: &CameraId) -> Result<(), CommandError> {
        let Some(stream) = self.registry.get_stream(camera_id).await? else { return Ok(()) };
        if stream.relays.is_empty() {
            return Ok(());
        }
        let viewers = self.registry.list_viewers(Some(camera_id)).await?;
        let (idle, used): (Vec<RelayRecord>, Vec<RelayRecord>) =
            stream.relays.iter().cloned().partition(|r| viewers_in(&viewers, &r.pipeline_id, None) == 0);
        if idle.is_empty() {
            return Ok(());
        }
        let mut updated = stream;
        updated.relays = used;
        self.registry.put_stream(&updated).await?;
        for relay in &idle {
            tracing::info!(%camera_id, node_id = %relay.node_id, "relay without viewers torn down");
            self.release_relay(relay).await;
        }
        Ok(())
    }

    /// Releases a relay's pipeline (on its node) and its sink (in the stream's pipeline).
    pub(super) async fn release_relay(&self, relay: &RelayRecord) {
        for object in [&relay.sink_endpoint_id, &relay.pipeline_id] {
            if let Err(e) = self.media.release(object).await {
                tracing::warn!(error = %e, object, "could not release a relay object; the orphan sweep collects it");
            }
        }
    }
}

/// The viewers whose endpoint is inside `pipeline`, `joining` left out.
fn viewers_in(viewers: &[ViewerRecord], pipeline: &str, joining: Option<&ViewerId>) -> u32 {
    let prefix = format!("{pipeline}/");
    viewers
        .iter()
        .filter(|v| Some(&v.viewer_id) != joining)
        .filter(|v| v.endpoint_id.as_deref().is_some_and(|e| e.starts_with(&prefix)))
        .count() as u32
}

/// A relay seen as the stream viewers connect to.
pub(super) fn relay_media(relay: &RelayRecord) -> MediaStream {
    MediaStream {
        pipeline_id: relay.pipeline_id.clone(),
        rtp_endpoint_id: relay.source_endpoint_id.clone(),
        answer: String::new(),
        node_id: Some(relay.node_id.clone()),
    }
}
