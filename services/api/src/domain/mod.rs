//! Validated request values: once built, they are known good.

mod bandwidth;
mod camera_id;

pub use bandwidth::{bandwidth_from_request, BandwidthError};
pub use camera_id::{CameraId, CameraIdError};
