//! The actix-web pieces camview services share, kept out of `camview-common` so that crate
//! (bus, registry, config, telemetry) needs no web framework:
//! - [`serve_ops`]: `GET /metrics` and `GET /healthz` for the services without an HTTP server
//!   of their own (the media-controller and the media-engine);
//! - [`request`]: what the api and signaling read from a request alike (the client's address,
//!   the session cookie).
#![forbid(unsafe_code)]

mod ops_server;
pub mod request;

pub use ops_server::{bind_ops, serve_ops, OpsBindError, OpsServer};
