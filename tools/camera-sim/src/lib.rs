//! A simulated IP camera: renders a moving test pattern (colour bars, a sweeping box, the frame
//! number and the wall-clock time), encodes it as Constrained Baseline H.264 with OpenH264 and
//! sends it as RTP (RFC 6184), answering PLI/FIR with keyframes and sending RTCP sender reports.
//!
//! In-process use (tests of other crates):
//! ```no_run
//! # async fn demo() -> Result<(), camera_sim::CameraError> {
//! use camera_sim::{Camera, CameraConfig};
//! let camera = Camera::start(CameraConfig { target: Some("127.0.0.1:5004".parse().unwrap()), ..Default::default() }).await?;
//! let offer = camera.sdp_offer("127.0.0.1".parse().unwrap());
//! camera.wait_for(std::time::Duration::from_secs(5), |s| s.frames_sent > 10).await;
//! let stats = camera.stop().await?;
//! # let _ = (offer, stats); Ok(()) }
//! ```

mod camera;
pub mod config;
pub mod encoder;
pub mod font;
pub mod h264;
pub mod keepalive;
pub mod keyframe;
pub mod pattern;
pub mod probe;
pub mod rtcp;
pub mod rtp;
pub mod sdp;

pub use camera::{Camera, CameraError, CameraHandle, SenderStats};
pub use config::{CameraConfig, ConfigError};
