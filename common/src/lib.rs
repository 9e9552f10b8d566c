//! Runtime code shared by camview services: the bus, the registry, config parsing and
//! telemetry. Each has one trait and two implementations (Redis for split deployments,
//! in-process for the all-in-one binary), checked by one contract test suite.

pub mod auth;
pub mod backend;
pub mod bus;
pub mod clock;
pub mod config;
pub mod lifecycle;
pub mod redis_client;
pub mod redis_conn;
pub mod registry;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod tls;
pub mod turn;

pub use backend::{shutdown_signal, Backend, BackendError, DEFAULT_REDIS_CONNECT_TIMEOUT};
pub use bus::{Bus, BusClient, BusError, Delivery};
pub use lifecycle::{stop_pair, StopHandle, StopSignal};
pub use registry::{
    ControllerLease, Fence, Liveness, MediaNodes, Registry, RegistryError, SlotReservation, StreamStore, ViewerSlots,
};
