//! Kurento JSON-RPC client. Typed handles, complex types and events are generated at build time
//! from `proto/kurento/*.kmd.json` ([`generated`]); this module adds the transport they use.

mod client;
mod error;
mod event_stream;
pub mod generated;
mod object;
pub mod protocol;

pub use client::{ClientConfig, KurentoClient};
pub use error::{ClientError, KurentoError};
pub use event_stream::EventStream;
pub use generated::*;
pub use object::{EmittedBy, KurentoEvent, Params, RemoteObject};
pub use protocol::{LinkState, Timing};

/// Id of the server's singleton `ServerManager` (PROTOCOL.md §4).
pub const SERVER_MANAGER_ID: &str = "manager_ServerManager";
