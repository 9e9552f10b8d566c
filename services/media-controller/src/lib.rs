//! camview media-controller: the only Kurento client of the system.
#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod kurento;
pub mod metrics;
pub mod service;
pub mod startup;
