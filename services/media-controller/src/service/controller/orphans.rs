//! Orphans: media objects of ours that no registry record names.
//!
//! A controller that dies (or loses its lease) between creating an object and recording it
//! leaves the object behind, and one that dies between removing a record and releasing its
//! objects leaves them too. The registry is the source of truth, so after reconciling, the
//! leader releases every pipeline of this deployment that no stream names, and in a stream's
//! pipeline every element that is neither its camera endpoint nor a viewer's endpoint.

use std::collections::HashSet;

use super::{CommandError, Controller};

impl Controller {
    /// Releases the orphans (see the module docs); how many objects went. Only while no
    /// command runs (on taking the lease, before serving the queue): a stream being started
    /// has a pipeline that no record names yet.
    pub async fn release_orphans(&self) -> Result<usize, CommandError> {
        let streams = self.registry.list_streams().await?;
        let mut released = 0;
        for pipeline in self.media.inventory().await? {
            let Some(stream) = streams.iter().find(|s| {
                s.pipeline_id.as_deref() == Some(pipeline.pipeline_id.as_str())
                    || s.relays.iter().any(|r| r.pipeline_id == pipeline.pipeline_id)
            }) else {
                tracing::warn!(pipeline = %pipeline.pipeline_id, "releasing a pipeline no stream names");
                self.media.release(&pipeline.pipeline_id).await?;
                released += 1;
                continue;
            };
            let lock = self.camera_lock(&stream.camera_id);
            let _guard = lock.write().await;
            let viewers = self.registry.list_viewers(Some(&stream.camera_id)).await?;
            let named: HashSet<&str> = viewers
                .iter()
                .filter_map(|v| v.endpoint_id.as_deref())
                .chain(stream.rtp_endpoint_id.as_deref())
                .chain(stream.relays.iter().flat_map(|r| [r.sink_endpoint_id.as_str(), r.source_endpoint_id.as_str()]))
                .collect();
            for element in pipeline.elements.iter().filter(|e| !named.contains(e.as_str())) {
                tracing::warn!(camera_id = %stream.camera_id, element, "releasing an element no record names");
                self.media.release(element).await?;
                released += 1;
            }
        }
        Ok(released)
    }
}
