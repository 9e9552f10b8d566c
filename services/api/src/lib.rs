//! camview REST API: streams, viewers, health, the camera keepalive channel, ICE servers
//! for browsers and the viewer pages. `main.rs` only reads the settings and runs
//! [`startup::Application`].

#![forbid(unsafe_code)]

pub mod config;
pub mod domain;
pub mod error;
pub mod extract;
pub mod ice;
pub mod metrics;
pub mod openapi;
pub mod request_span;
pub mod routes;
pub mod security;
pub mod security_headers;
pub mod snapshot;
pub mod startup;
pub mod whep;

pub use config::Settings;
pub use startup::{Application, Deps};
