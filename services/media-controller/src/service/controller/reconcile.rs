//! Reconciliation: making the media server match the registry after (re)connecting to it (or to
//! one node of a pool) or taking the lease, and moving the streams of a lost node (failover).

use std::collections::HashSet;

use camview_proto::bus::Renegotiate;
use camview_proto::source::SourceUrl;
use camview_proto::stream::{StreamRecord, ViewerRecord, ViewerState};
use camview_proto::{bus::Message, CameraId};

use super::viewers::ViewerRoute;
use super::{media_stream_of, CommandError, Controller};

impl Controller {
    /// Makes the media server match the registry after (re)connecting or taking the lease:
    /// objects that still exist are adopted (their events subscribed again), streams whose
    /// objects are gone are recreated (the camera learns the new port on its next
    /// keepalive) and viewers whose endpoint is gone are asked to renegotiate. Objects no
    /// record names are released separately, by [`Controller::release_orphans`]. Fails, to be
    /// retried on the next connection, while the media server is unreachable.
    pub async fn reconcile(&self) -> Result<(), CommandError> {
        self.reconcile_node(None).await
    }

    /// [`Controller::reconcile`] after the connection to one media node of a pool (re)opened:
    /// only the streams on `node_id` (every stream when None).
    pub async fn reconcile_node(&self, node_id: Option<&str>) -> Result<(), CommandError> {
        let streams = self.registry.list_streams().await?;
        for stream in streams.into_iter().filter(|s| node_id.is_none() || s.node_id.as_deref() == node_id) {
            let lock = self.camera_lock(&stream.camera_id);
            let _guard = lock.write().await;
            let alive = match media_stream_of(&stream) {
                Some(ms) => self.media.adopt_stream(&ms).await?,
                None => false,
            };
            let viewers = self.registry.list_viewers(Some(&stream.camera_id)).await?;
            if alive {
                // Relays are adopted like streams (their pipelines routed again); a lost one
                // leaves the record, and its viewers' endpoints, gone with it, renegotiate below.
                self.adopt_relays(&stream).await?;
                for v in viewers {
                    let endpoint_alive = match &v.endpoint_id {
                        Some(e) => self.media.adopt_viewer(e).await?,
                        // Still joining: its AddViewer is queued and runs after this (or
                        // expires, and its signaling frees the slot). Asking it to
                        // renegotiate now would free the slot under a join in flight.
                        None if v.state == ViewerState::Joining => continue,
                        None => false,
                    };
                    if endpoint_alive {
                        self.viewers.insert(v.endpoint_id.as_deref().unwrap_or_default(), ViewerRoute::from(&v));
                    } else {
                        self.renegotiate(&v).await?;
                    }
                }
                continue;
            }
            tracing::warn!(camera_id = %stream.camera_id, "stream objects lost on the media server; recreating");
            self.recreate(&stream, &viewers).await?;
        }
        Ok(())
    }

    /// Failover (`MEDIA_NODES=registry`): the streams of media nodes whose heartbeat lapsed are
    /// placed again on live nodes and created there, and their viewers asked to renegotiate
    /// (each re-offers and gets an endpoint on the new node); each camera learns its new
    /// target from its next keepalive. A draining node still heartbeats and keeps its streams.
    /// Returns how many streams moved.
    pub async fn fail_over_lost_nodes(&self) -> Result<usize, CommandError> {
        if self.settings.placement.is_none() {
            return Ok(0);
        }
        let live: HashSet<String> = self.registry.list_nodes().await?.into_iter().map(|n| n.node_id).collect();
        let lost_node = |s: &StreamRecord| s.node_id.as_ref().is_some_and(|n| !live.contains(n));
        let cameras: Vec<CameraId> =
            self.registry.list_streams().await?.into_iter().filter(|s| lost_node(s)).map(|s| s.camera_id).collect();
        let mut moved = 0;
        for camera_id in cameras {
            let lock = self.camera_lock(&camera_id);
            let _guard = lock.write().await;
            // Read again under the lock: the stream may have stopped or moved meanwhile.
            let Some(stream) = self.registry.get_stream(&camera_id).await?.filter(|s| lost_node(s)) else { continue };
            tracing::warn!(%camera_id, node_id = ?stream.node_id, "media node lost (heartbeat lapsed); moving its stream");
            let viewers = self.registry.list_viewers(Some(&camera_id)).await?;
            // One stream that cannot move now (every live node full) does not hold the others
            // back; it is tried again at the next sweep.
            match self.recreate(&stream, &viewers).await {
                Ok(()) => moved += 1,
                Err(e) => tracing::warn!(%camera_id, error = %e, "could not move the stream of a lost node"),
            }
        }
        Ok(moved)
    }

    /// Creates a registered stream's objects again (on its node while it can take it, else on
    /// another) and asks its viewers to renegotiate. Called under the camera's lock.
    async fn recreate(&self, stream: &StreamRecord, viewers: &[ViewerRecord]) -> Result<(), CommandError> {
        // Its relays were fed from the lost objects: gone with them (the new record has none).
        for relay in &stream.relays {
            self.release_relay(relay).await;
        }
        let source = match stream.source {
            Some(_) => self.stored_source(&stream.camera_id).await?,
            None => None,
        };
        let node = self.place_again(stream).await?;
        self.create_stream_objects(
            &stream.camera_id,
            stream.bandwidth,
            stream.created_at.clone(),
            source.as_ref(),
            node.as_ref(),
        )
        .await?;
        for v in viewers.iter().filter(|v| v.endpoint_id.is_some() || v.state != ViewerState::Joining) {
            self.renegotiate(v).await?;
        }
        Ok(())
    }

    async fn adopt_relays(&self, stream: &StreamRecord) -> Result<(), CommandError> {
        let mut kept = Vec::new();
        for relay in &stream.relays {
            if self.media.adopt_stream(&super::relays::relay_media(relay)).await? {
                kept.push(relay.clone());
            } else {
                tracing::warn!(camera_id = %stream.camera_id, node_id = %relay.node_id, "relay lost; dropped");
                self.release_relay(relay).await;
            }
        }
        if kept.len() != stream.relays.len() {
            let mut updated = stream.clone();
            updated.relays = kept;
            self.registry.put_stream(&updated).await?;
        }
        Ok(())
    }

    /// The source URL stored for a pulled stream (None if it is missing or no longer valid:
    /// the stream is then recreated as a pushed camera's, and says so in the log).
    async fn stored_source(&self, camera_id: &CameraId) -> Result<Option<SourceUrl>, CommandError> {
        let stored = self.registry.get_stream_source(camera_id).await?;
        let source = stored.as_deref().and_then(|s| SourceUrl::parse(s).ok());
        if source.is_none() {
            tracing::warn!(%camera_id, "the stream's stored source URL is missing or invalid");
        }
        Ok(source)
    }

    async fn renegotiate(&self, v: &ViewerRecord) -> Result<(), CommandError> {
        self.registry.remove_viewer(&v.camera_id, &v.viewer_id).await?;
        if let Some(endpoint) = &v.endpoint_id {
            self.viewers.remove(endpoint);
        }
        self.notify(
            &v.signaling_instance,
            Message::Renegotiate(Renegotiate { viewer_id: v.viewer_id.clone(), camera_id: v.camera_id.clone() }),
        )
        .await;
        Ok(())
    }
}
