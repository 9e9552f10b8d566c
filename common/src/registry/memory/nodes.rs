//! [`MediaNodes`] in process: records with a deadline checked on read, marks in a set.

use std::time::Duration;

use async_trait::async_trait;
use camview_proto::node::MediaNode;
use camview_proto::CameraId;
use tokio::time::Instant;

use super::{MemoryRegistry, State};
use crate::registry::{MediaNodes, RegistryError};

impl State {
    /// The node's live record with its draining mark applied.
    fn live_node(&self, node_id: &str, now: Instant) -> Option<MediaNode> {
        let (node, _) = self.nodes.get(node_id).filter(|(_, until)| *until > now)?;
        let mut node = node.clone();
        node.draining |= self.drained_nodes.contains(node_id);
        Some(node)
    }
}

#[async_trait]
impl MediaNodes for MemoryRegistry {
    async fn put_node(&self, node: &MediaNode, ttl: Duration) -> Result<(), RegistryError> {
        self.state().nodes.insert(node.node_id.clone(), (node.clone(), Instant::now() + ttl));
        Ok(())
    }

    async fn get_node(&self, node_id: &str) -> Result<Option<MediaNode>, RegistryError> {
        Ok(self.state().live_node(node_id, Instant::now()))
    }

    async fn list_nodes(&self) -> Result<Vec<MediaNode>, RegistryError> {
        let mut state = self.state();
        let now = Instant::now();
        state.nodes.retain(|_, (_, until)| *until > now);
        Ok(state.nodes.keys().filter_map(|id| state.live_node(id, now)).collect())
    }

    async fn set_node_draining(&self, node_id: &str, draining: bool) -> Result<(), RegistryError> {
        let mut state = self.state_to_write()?;
        if draining {
            state.drained_nodes.insert(node_id.to_owned());
        } else {
            state.drained_nodes.remove(node_id);
        }
        Ok(())
    }

    async fn forget_node(&self, node_id: &str) -> Result<bool, RegistryError> {
        let mut state = self.state_to_write()?;
        state.drained_nodes.remove(node_id);
        Ok(state.nodes.remove(node_id).is_some_and(|(_, until)| until > Instant::now()))
    }

    async fn put_camera_node(&self, camera_id: &CameraId, node_id: &str) -> Result<(), RegistryError> {
        self.state_to_write()?.camera_nodes.insert(camera_id.to_owned(), node_id.to_owned());
        Ok(())
    }

    async fn get_camera_node(&self, camera_id: &CameraId) -> Result<Option<String>, RegistryError> {
        Ok(self.state().camera_nodes.get(camera_id).cloned())
    }
}
