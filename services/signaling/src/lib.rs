//! camview-signaling: the viewer WebSocket service.
//!
//! A browser connects to `ws(s)://HOST:8765/` (any path, `/ws` included) and speaks the
//! protocol of [`camview_proto::signaling`]. Each connection runs a sans-IO
//! [`session::ViewerSession`] driven by a thin actix-ws loop ([`ws`]); the [`hub::Hub`]
//! shared by an instance's connections routes bus events by viewer id, runs joins and
//! releases, and tracks connections for the limit and for shutdown.
//!
//! Authentication is always on: every `join` is checked with the shared
//! [`camview_common::auth::Authenticator`] ([`auth`]), upgrades are checked for their
//! `Origin` and rate ([`edge`]), and live viewers that lose access are ended
//! ([`revocation`]).

#![forbid(unsafe_code)]

pub mod auth;
pub mod config;
pub mod domain;
pub mod edge;
pub mod error;
pub mod hub;
pub mod metrics;
pub mod origin;
pub mod rate;
pub mod revocation;
pub mod session;
pub mod startup;
pub mod ws;
