//! HTTP handlers, one file per resource.

pub mod auth_routes;
pub mod cameras;
pub mod config_js;
pub mod health;
pub mod ice_servers;
pub mod metrics;
pub mod pages;
pub mod shares;
pub mod streams;
pub mod users;
pub mod viewers;
