//! Validated values from requests and settings: once built, they are known good.

mod bandwidth;
mod public_url;

pub use bandwidth::{bandwidth_from_request, BandwidthError};
pub use camview_proto::{CameraId, IdError, ViewerId};
pub use public_url::{PublicUrl, PublicUrlError, UrlKind};
