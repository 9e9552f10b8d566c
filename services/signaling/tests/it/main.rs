//! Integration tests of camview-signaling: real instances on port 0, a real Redis (one
//! shared server, a random key prefix per test), tokio-tungstenite clients, and a
//! responder playing the media-controller over the real bus protocol.
//!
//! Left for a later stage: SIGKILL of an instance (the media-controller releases viewers
//! of instances whose liveness key expired) and the full path with the real controller.

mod auth;
mod bad_input;
mod edge;
mod helpers;
mod joins;
mod limits;
mod observability;
mod responder;
mod revocation;
mod shutdown;
