//! Wire types of camview, shared by every service and free of runtime dependencies.
//!
//! Invariant: anything that crosses a process boundary (HTTP body, WebSocket frame, bus
//! envelope, Redis key) is defined here once, so services can never disagree on a name.

pub mod auth;
pub mod bus;
pub mod error;
pub mod ids;
pub mod keys;
pub mod kurento;
pub mod node;
pub mod rest;
pub mod signaling;
pub mod snapshot;
pub mod source;
pub mod stream;
pub mod viewer_input;

pub use error::{ErrorBody, ErrorCode};
pub use ids::{CameraId, IdError, ViewerId};

#[cfg(test)]
pub(crate) fn roundtrip<T>(value: &T) -> T
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(value).expect("serialize");
    let back: T = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(&back, value, "round trip changed the value: {json}");
    back
}
