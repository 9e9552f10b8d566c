//! In-process registry for the all-in-one binary: one mutex over plain maps, so every
//! operation (slot reservation included) is atomic. Expiring entries carry a
//! `tokio::time::Instant` deadline checked on read, so tests may pause time.

mod nodes;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use camview_proto::node::MediaNode;
use camview_proto::stream::{CameraStatus, ControllerHeartbeat, StreamRecord, ViewerRecord};
use camview_proto::{CameraId, ViewerId};
use tokio::time::Instant;

use super::{
    sort_viewers, ControllerLease, Fence, Liveness, Registry, RegistryError, SlotReservation, StreamStore, ViewerSlots,
};

/// In-process [`Registry`]; share it behind an `Arc`.
#[derive(Default)]
pub struct MemoryRegistry {
    state: Arc<Mutex<State>>,
    /// Set on a view from [`Registry::fenced`]: the term its fenced writes carry.
    fence: Option<Fence>,
}

#[derive(Default)]
struct State {
    streams: BTreeMap<CameraId, StreamRecord>,
    /// Camera id -> viewer ids holding a slot.
    slots: HashMap<CameraId, BTreeSet<ViewerId>>,
    /// Camera id -> last keepalive and its expiry.
    cameras: HashMap<CameraId, (CameraStatus, Instant)>,
    viewers: HashMap<ViewerId, ViewerRecord>,
    /// Signaling instance id -> viewer ids.
    instance_viewers: HashMap<String, BTreeSet<ViewerId>>,
    /// Instance id -> liveness deadline.
    alive: HashMap<String, Instant>,
    instances: BTreeSet<String>,
    heartbeat: Option<(ControllerHeartbeat, Instant)>,
    lease: Option<(String, Instant)>,
    /// The newest lease term (incremented on each new take).
    term: u64,
    media_session: Option<String>,
    /// Camera id -> source URL with credentials (only the controller reads it).
    stream_sources: HashMap<CameraId, String>,
    /// Node id -> last heartbeat and its expiry (sorted: nodes are listed by id).
    nodes: BTreeMap<String, (MediaNode, Instant)>,
    /// Nodes the controller marked draining.
    drained_nodes: BTreeSet<String>,
    /// Camera id -> the node its stream was last placed on.
    camera_nodes: HashMap<CameraId, String>,
}

impl MemoryRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every mutation below is a few map operations that cannot panic halfway in a way
        // that breaks an invariant, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state, for a fenced write: refused unless this view's term is the newest one.
    fn state_to_write(&self) -> Result<MutexGuard<'_, State>, RegistryError> {
        let state = self.state();
        match &self.fence {
            Some(fence) if fence.term() == 0 || fence.term() != state.term => {
                Err(RegistryError::Fenced { term: fence.term() })
            }
            _ => Ok(state),
        }
    }
}

impl State {
    /// Reserves a slot; the outcome and whether it was newly taken.
    fn reserve(&mut self, camera_id: &CameraId, viewer_id: &ViewerId, limit: u32) -> (SlotReservation, bool) {
        if !self.streams.contains_key(camera_id) {
            return (SlotReservation::StreamNotFound, false);
        }
        let slots = self.slots.entry(camera_id.to_owned()).or_default();
        if slots.contains(viewer_id) {
            return (SlotReservation::Reserved, false);
        }
        if slots.len() as u64 >= u64::from(limit) {
            return (SlotReservation::Full, false);
        }
        slots.insert(viewer_id.to_owned());
        (SlotReservation::Reserved, true)
    }

    fn insert_viewer(&mut self, viewer: &ViewerRecord) {
        let id = viewer.viewer_id.clone();
        if let Some(old) = self.viewers.insert(id.clone(), viewer.clone()) {
            if old.signaling_instance != viewer.signaling_instance {
                self.unindex_viewer(&old.signaling_instance, &id);
            }
        }
        self.instance_viewers.entry(viewer.signaling_instance.clone()).or_default().insert(id);
    }

    fn unindex_viewer(&mut self, instance_id: &str, viewer_id: &ViewerId) -> bool {
        let Some(set) = self.instance_viewers.get_mut(instance_id) else { return false };
        let removed = set.remove(viewer_id);
        if set.is_empty() {
            self.instance_viewers.remove(instance_id);
        }
        removed
    }
}

fn live<T>(entry: &Option<(T, Instant)>) -> Option<&T> {
    entry.as_ref().filter(|(_, until)| *until > Instant::now()).map(|(v, _)| v)
}

#[async_trait]
impl Registry for MemoryRegistry {
    async fn ping(&self) -> Result<(), RegistryError> {
        Ok(())
    }

    fn fenced(&self, fence: Fence) -> Arc<dyn Registry> {
        Arc::new(MemoryRegistry { state: self.state.clone(), fence: Some(fence) })
    }
}

#[async_trait]
impl StreamStore for MemoryRegistry {
    async fn put_stream(&self, stream: &StreamRecord) -> Result<(), RegistryError> {
        self.state_to_write()?.streams.insert(stream.camera_id.clone(), stream.clone());
        Ok(())
    }

    async fn get_stream(&self, camera_id: &CameraId) -> Result<Option<StreamRecord>, RegistryError> {
        Ok(self.state().streams.get(camera_id).cloned())
    }

    async fn list_streams(&self) -> Result<Vec<StreamRecord>, RegistryError> {
        Ok(self.state().streams.values().cloned().collect())
    }

    async fn delete_stream(&self, camera_id: &CameraId) -> Result<bool, RegistryError> {
        let mut state = self.state_to_write()?;
        state.slots.remove(camera_id);
        Ok(state.streams.remove(camera_id).is_some())
    }

    async fn put_camera_status(
        &self,
        camera_id: &CameraId,
        status: &CameraStatus,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        let mut state = self.state();
        let now = Instant::now();
        state.cameras.retain(|_, (_, until)| *until > now);
        state.cameras.insert(camera_id.to_owned(), (status.clone(), now + ttl));
        Ok(())
    }

    async fn get_camera_status(&self, camera_id: &CameraId) -> Result<Option<CameraStatus>, RegistryError> {
        Ok(self.state().cameras.get(camera_id).filter(|(_, until)| *until > Instant::now()).map(|(s, _)| s.clone()))
    }

    async fn put_stream_source(&self, camera_id: &CameraId, source: Option<&str>) -> Result<(), RegistryError> {
        let mut state = self.state_to_write()?;
        match source {
            Some(s) => state.stream_sources.insert(camera_id.to_owned(), s.to_owned()),
            None => state.stream_sources.remove(camera_id),
        };
        Ok(())
    }

    async fn get_stream_source(&self, camera_id: &CameraId) -> Result<Option<String>, RegistryError> {
        Ok(self.state().stream_sources.get(camera_id).cloned())
    }
}

#[async_trait]
impl ViewerSlots for MemoryRegistry {
    async fn reserve_viewer_slot(
        &self,
        camera_id: &CameraId,
        viewer_id: &ViewerId,
        limit: u32,
    ) -> Result<SlotReservation, RegistryError> {
        Ok(self.state_to_write()?.reserve(camera_id, viewer_id, limit).0)
    }

    async fn reserve_viewer(&self, viewer: &ViewerRecord, limit: u32) -> Result<SlotReservation, RegistryError> {
        let mut state = self.state_to_write()?;
        let (outcome, new) = state.reserve(&viewer.camera_id, &viewer.viewer_id, limit);
        if new {
            state.insert_viewer(viewer);
        }
        Ok(outcome)
    }

    async fn viewer_count(&self, camera_id: &CameraId) -> Result<u64, RegistryError> {
        Ok(self.state().slots.get(camera_id).map_or(0, |s| s.len() as u64))
    }

    async fn put_viewer(&self, viewer: &ViewerRecord) -> Result<(), RegistryError> {
        self.state_to_write()?.insert_viewer(viewer);
        Ok(())
    }

    async fn get_viewer(&self, viewer_id: &ViewerId) -> Result<Option<ViewerRecord>, RegistryError> {
        Ok(self.state().viewers.get(viewer_id).cloned())
    }

    async fn list_viewers(&self, camera_id: Option<&CameraId>) -> Result<Vec<ViewerRecord>, RegistryError> {
        let state = self.state();
        let mut viewers: Vec<ViewerRecord> = match camera_id {
            Some(camera_id) => state
                .slots
                .get(camera_id)
                .into_iter()
                .flatten()
                .filter_map(|id| state.viewers.get(id).cloned())
                .collect(),
            None => state.viewers.values().cloned().collect(),
        };
        sort_viewers(&mut viewers);
        Ok(viewers)
    }

    async fn viewers_of_instance(&self, instance_id: &str) -> Result<Vec<ViewerId>, RegistryError> {
        Ok(self.state().instance_viewers.get(instance_id).map(|s| s.iter().cloned().collect()).unwrap_or_default())
    }

    async fn remove_viewer(&self, camera_id: &CameraId, viewer_id: &ViewerId) -> Result<bool, RegistryError> {
        let mut state = self.state_to_write()?;
        let mut removed = false;
        if let Some(slots) = state.slots.get_mut(camera_id) {
            removed |= slots.remove(viewer_id);
        }
        if let Some(old) = state.viewers.remove(viewer_id) {
            state.unindex_viewer(&old.signaling_instance, viewer_id);
            removed = true;
        }
        Ok(removed)
    }
}

#[async_trait]
impl Liveness for MemoryRegistry {
    async fn refresh_liveness(&self, instance_id: &str, ttl: Duration) -> Result<(), RegistryError> {
        let mut state = self.state();
        state.alive.insert(instance_id.to_owned(), Instant::now() + ttl);
        state.instances.insert(instance_id.to_owned());
        Ok(())
    }

    async fn is_alive(&self, instance_id: &str) -> Result<bool, RegistryError> {
        Ok(self.state().alive.get(instance_id).is_some_and(|until| *until > Instant::now()))
    }

    async fn known_instances(&self) -> Result<Vec<String>, RegistryError> {
        Ok(self.state().instances.iter().cloned().collect())
    }

    async fn forget_instance(&self, instance_id: &str) -> Result<(), RegistryError> {
        self.state_to_write()?.instances.remove(instance_id);
        Ok(())
    }
}

#[async_trait]
impl ControllerLease for MemoryRegistry {
    async fn put_controller_heartbeat(
        &self,
        heartbeat: &ControllerHeartbeat,
        ttl: Duration,
    ) -> Result<(), RegistryError> {
        self.state_to_write()?.heartbeat = Some((heartbeat.clone(), Instant::now() + ttl));
        Ok(())
    }

    async fn get_controller_heartbeat(&self) -> Result<Option<ControllerHeartbeat>, RegistryError> {
        Ok(live(&self.state().heartbeat).cloned())
    }

    async fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<Option<u64>, RegistryError> {
        let mut state = self.state();
        match live(&state.lease) {
            Some(current) if current != holder => Ok(None),
            current => {
                if current.is_none() {
                    state.term += 1;
                }
                state.lease = Some((holder.to_owned(), Instant::now() + ttl));
                Ok(Some(state.term))
            }
        }
    }

    async fn release_lease(&self, holder: &str) -> Result<(), RegistryError> {
        let mut state = self.state();
        if live(&state.lease).is_some_and(|current| current == holder) {
            state.lease = None;
        }
        Ok(())
    }

    async fn put_media_session(&self, session_id: &str) -> Result<(), RegistryError> {
        self.state_to_write()?.media_session = Some(session_id.to_owned());
        Ok(())
    }

    async fn get_media_session(&self) -> Result<Option<String>, RegistryError> {
        Ok(self.state().media_session.clone())
    }
}
