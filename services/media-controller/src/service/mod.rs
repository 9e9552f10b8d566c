//! The media-controller service: bus commands and media events in; media-server calls,
//! registry updates and viewer events out.

pub mod controller;
pub mod kurento_media;
pub mod lanes;
pub mod lease;
pub mod media;
pub mod media_pool;
pub mod node_poller;
pub mod nodes;
pub mod placement;
pub mod runner;
pub mod sdp;
#[cfg(test)]
mod tests;

pub use controller::{Controller, ControllerSettings};
pub use kurento_media::KurentoMedia;
pub use media::{MediaError, MediaEvent, MediaServer};
pub use runner::{run, RunnerSettings};
