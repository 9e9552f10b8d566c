//! The registry: streams, viewers, camera keepalives, instance liveness and the
//! media-controller's heartbeat and lease, shared by every service instance.
//!
//! Invariants every implementation keeps (checked by the contract suite):
//! - a stream's viewer slots never exceed the limit passed to
//!   [`ViewerSlots::reserve_viewer_slot`], whatever the number of concurrent callers;
//! - a slot is held by at most one viewer id and a viewer id holds at most one slot of a
//!   stream (viewer ids are fresh per join, so this is not checked across streams);
//! - [`ViewerSlots::remove_viewer`] frees the slot, the record and every index entry at once;
//! - the lease has at most one holder; it lapses when not renewed within its TTL;
//! - each new take of the lease starts a greater term, and a write fenced with an older term
//!   changes nothing (see [`Fence`]);
//! - media nodes: see [`nodes`].

pub mod memory;
pub mod nodes;
pub mod redis;

pub use memory::MemoryRegistry;
pub use nodes::MediaNodes;
pub use redis::RedisRegistry;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use camview_proto::stream::{CameraStatus, ControllerHeartbeat, StreamRecord, ViewerRecord};
use camview_proto::{CameraId, ViewerId};

/// Outcome of an atomic viewer-slot reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotReservation {
    /// The viewer holds a slot (also when it already held one).
    Reserved,
    /// The stream already has `limit` viewers.
    Full,
    /// No such stream is started.
    StreamNotFound,
}

/// Errors of the registry layer.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the registry is unavailable: {0}")]
    Unavailable(String),
    #[error("corrupt registry entry {key}: {reason}")]
    Corrupt { key: String, reason: String },
    /// A write through a [`Fence`] whose lease term is over (or that never held one): another
    /// controller leads now, and this one must not change the shared state.
    #[error("write refused: lease term {term} is over (another controller leads)")]
    Fenced { term: u64 },
}

/// The lease term a controller writes in: a token from [`ControllerLease::acquire_lease`],
/// shared by the task that renews the lease (which sets it) and the registry view the
/// controller writes through ([`Registry::fenced`]), which sends it with every write. The
/// backend refuses a write whose term is not the newest one in the same atomic step, so a
/// controller paused past its lease (GC, SIGSTOP, a slow VM) cannot overwrite what its
/// successor wrote. Term 0 means no term: every fenced write is refused.
#[derive(Debug, Clone, Default)]
pub struct Fence(Arc<AtomicU64>);

impl Fence {
    pub fn new() -> Self {
        Self::default()
    }

    /// Enters the term `token` (from a successful lease acquisition or renewal).
    pub fn enter(&self, token: u64) {
        self.0.store(token, Ordering::SeqCst);
    }

    /// Leaves the current term: later fenced writes are refused until the next [`Fence::enter`].
    pub fn leave(&self) {
        self.0.store(0, Ordering::SeqCst);
    }

    pub fn term(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Started streams and the cameras' last keepalives.
#[async_trait]
pub trait StreamStore: Send + Sync + 'static {
    /// Creates or replaces a stream and adds it to the index. Fenced.
    async fn put_stream(&self, stream: &StreamRecord) -> Result<(), RegistryError>;
    async fn get_stream(&self, camera_id: &CameraId) -> Result<Option<StreamRecord>, RegistryError>;
    /// Every started stream, sorted by camera id.
    async fn list_streams(&self) -> Result<Vec<StreamRecord>, RegistryError>;
    /// Removes a stream with its index entry and its slot set; true if it existed. Fenced.
    /// Viewer records are removed separately with [`ViewerSlots::remove_viewer`].
    async fn delete_stream(&self, camera_id: &CameraId) -> Result<bool, RegistryError>;

    /// Stores a camera's last keepalive for `ttl` (it outlives the camera's stream, so the API can
    /// show it; the TTL bounds what any caller with a valid id can leave behind).
    async fn put_camera_status(
        &self,
        camera_id: &CameraId,
        status: &CameraStatus,
        ttl: Duration,
    ) -> Result<(), RegistryError>;
    async fn get_camera_status(&self, camera_id: &CameraId) -> Result<Option<CameraStatus>, RegistryError>;

    /// Stores, or with `None` deletes, the source URL of a stream pulled from an RTSP camera,
    /// credentials included, under a key of its own: only the media-controller reads it (the
    /// stream record holds the redacted form). Fenced.
    async fn put_stream_source(&self, camera_id: &CameraId, source: Option<&str>) -> Result<(), RegistryError>;
    async fn get_stream_source(&self, camera_id: &CameraId) -> Result<Option<String>, RegistryError>;
}

/// Viewer slots (the per-stream limit) and viewer records.
#[async_trait]
pub trait ViewerSlots: Send + Sync + 'static {
    /// Atomically reserves a slot for `viewer_id` on a started stream, unless the stream
    /// already has `limit` slots taken. Idempotent for a viewer that already holds one. Fenced.
    async fn reserve_viewer_slot(
        &self,
        camera_id: &CameraId,
        viewer_id: &ViewerId,
        limit: u32,
    ) -> Result<SlotReservation, RegistryError>;
    /// Like [`ViewerSlots::reserve_viewer_slot`] for `viewer.viewer_id` on `viewer.camera_id`,
    /// and, when the slot is newly reserved, writes `viewer` (indexed by its instance) in the
    /// same atomic step, so no slot is ever held without a record naming its viewer and
    /// instance. A viewer that already held its slot keeps its record. Fenced.
    async fn reserve_viewer(&self, viewer: &ViewerRecord, limit: u32) -> Result<SlotReservation, RegistryError>;
    /// Number of slots taken on a stream.
    async fn viewer_count(&self, camera_id: &CameraId) -> Result<u64, RegistryError>;
    /// Creates or replaces a viewer record and indexes it by signaling instance. It is
    /// listed under its camera through its slot, so reserve the slot first. Fenced.
    async fn put_viewer(&self, viewer: &ViewerRecord) -> Result<(), RegistryError>;
    async fn get_viewer(&self, viewer_id: &ViewerId) -> Result<Option<ViewerRecord>, RegistryError>;
    /// Viewers with a record that hold a slot of one stream, or every viewer record;
    /// sorted by creation time then id.
    async fn list_viewers(&self, camera_id: Option<&CameraId>) -> Result<Vec<ViewerRecord>, RegistryError>;
    /// Ids of the viewers held by one signaling instance.
    async fn viewers_of_instance(&self, instance_id: &str) -> Result<Vec<ViewerId>, RegistryError>;
    /// Frees the viewer's slot on `camera_id` and removes its record and index entries;
    /// true if anything was removed. Works for a slot reserved without a record. Fenced.
    async fn remove_viewer(&self, camera_id: &CameraId, viewer_id: &ViewerId) -> Result<bool, RegistryError>;
}

/// Liveness of service instances (signaling).
#[async_trait]
pub trait Liveness: Send + Sync + 'static {
    /// Marks `instance_id` alive for `ttl` and remembers it in the instance index.
    async fn refresh_liveness(&self, instance_id: &str, ttl: Duration) -> Result<(), RegistryError>;
    async fn is_alive(&self, instance_id: &str) -> Result<bool, RegistryError>;
    /// Every instance that registered liveness and was not forgotten.
    async fn known_instances(&self) -> Result<Vec<String>, RegistryError>;
    /// Drops an instance from the index (after its viewers were released). Fenced.
    async fn forget_instance(&self, instance_id: &str) -> Result<(), RegistryError>;
}

/// The media-controller's lease, heartbeat and media-server session.
#[async_trait]
pub trait ControllerLease: Send + Sync + 'static {
    /// Fenced.
    async fn put_controller_heartbeat(
        &self,
        heartbeat: &ControllerHeartbeat,
        ttl: Duration,
    ) -> Result<(), RegistryError>;
    /// The last heartbeat, or None once it expired.
    async fn get_controller_heartbeat(&self) -> Result<Option<ControllerHeartbeat>, RegistryError>;
    /// Takes the lease if free, or renews it if `holder` already has it. Returns the lease
    /// term (the fencing token for [`Fence::enter`]) if `holder` holds it now: a new term,
    /// greater than every earlier one, each time the lease is newly taken; the same term on
    /// a renewal.
    async fn acquire_lease(&self, holder: &str, ttl: Duration) -> Result<Option<u64>, RegistryError>;
    /// Gives the lease up if `holder` has it.
    async fn release_lease(&self, holder: &str) -> Result<(), RegistryError>;
    /// The media-server session id the active controller works in, for resuming it. Fenced.
    async fn put_media_session(&self, session_id: &str) -> Result<(), RegistryError>;
    async fn get_media_session(&self) -> Result<Option<String>, RegistryError>;
}

/// Shared state of a camview deployment: every role at once, for the composition roots and
/// the media-controller. A service takes only the roles it needs where it can. See the
/// module docs for the invariants.
#[async_trait]
pub trait Registry: StreamStore + ViewerSlots + Liveness + ControllerLease + MediaNodes {
    /// Succeeds when the backing store answers.
    async fn ping(&self) -> Result<(), RegistryError>;

    /// A view of the same registry whose writes marked "Fenced" carry `fence`'s term and are
    /// refused with [`RegistryError::Fenced`] unless it is the newest lease term. Reads and
    /// the lease itself are not fenced.
    fn fenced(&self, fence: Fence) -> Arc<dyn Registry>;
}

/// The order of [`ViewerSlots::list_viewers`]: creation time, then id.
pub(crate) fn sort_viewers(viewers: &mut [ViewerRecord]) {
    viewers.sort_by(|a, b| (&a.created_at, &a.viewer_id).cmp(&(&b.created_at, &b.viewer_id)));
}
