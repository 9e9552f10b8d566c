//! What a camera sends and from where; validated before anything is bound or encoded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use thiserror::Error;

/// Largest picture OpenH264 encodes (level 5.2).
const MAX_DIMENSION: u32 = 3840;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("picture size {0}x{1} must be even and between 16 and {MAX_DIMENSION} pixels on each side")]
    PictureSize(u32, u32),
    #[error("frame rate {0} must be between 1 and 120")]
    FrameRate(u32),
    #[error("bitrate {0} kbps must be between 10 and 100000")]
    Bitrate(u32),
    #[error("keyframe interval must be between 0.1 s and 3600 s")]
    KeyframeInterval,
    #[error("payload type {0} must be dynamic (96..=127)")]
    PayloadType(u8),
    #[error("MTU {0} must be between 100 and 65000 bytes")]
    Mtu(usize),
    #[error("local RTP port {0} must be even so that RTCP can use the next one")]
    OddLocalPort(u16),
}

/// Everything a [`crate::Camera`] needs. `Default` is a 640x480, 30 fps, 1000 kbps camera
/// with a keyframe every 2 s that does not send until a target is set.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraConfig {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub bitrate_kbps: u32,
    pub keyframe_interval: Duration,
    pub payload_type: u8,
    /// Largest RTP payload in bytes; bigger NAL units go out as FU-A fragments.
    pub mtu: usize,
    /// Aggregate SPS and PPS into one STAP-A packet instead of two single-NAL packets.
    pub stap_a: bool,
    /// Address the RTP socket binds to; RTCP binds the same address.
    pub local_ip: IpAddr,
    /// Even RTP port to bind (RTCP on the next one); `None` picks a free pair.
    pub local_port: Option<u16>,
    /// Where to send RTP (RTCP goes to port + 1); `None` keeps the camera silent.
    pub target: Option<SocketAddr>,
    /// Carried in RTCP SDES and the SDP offer.
    pub cname: String,
}

impl Default for CameraConfig {
    fn default() -> Self {
        Self {
            width: 640,
            height: 480,
            fps: 30,
            bitrate_kbps: 1000,
            keyframe_interval: Duration::from_secs(2),
            payload_type: 96,
            mtu: 1200,
            stap_a: false,
            local_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            local_port: None,
            target: None,
            cname: "camera-sim".into(),
        }
    }
}

impl CameraConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let side_ok = |v: u32| (16..=MAX_DIMENSION).contains(&v) && v.is_multiple_of(2);
        if !side_ok(self.width) || !side_ok(self.height) {
            return Err(ConfigError::PictureSize(self.width, self.height));
        }
        if !(1..=120).contains(&self.fps) {
            return Err(ConfigError::FrameRate(self.fps));
        }
        if !(10..=100_000).contains(&self.bitrate_kbps) {
            return Err(ConfigError::Bitrate(self.bitrate_kbps));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(3600)).contains(&self.keyframe_interval) {
            return Err(ConfigError::KeyframeInterval);
        }
        if !(96..=127).contains(&self.payload_type) {
            return Err(ConfigError::PayloadType(self.payload_type));
        }
        if !(100..=65_000).contains(&self.mtu) {
            return Err(ConfigError::Mtu(self.mtu));
        }
        if let Some(port) = self.local_port.filter(|p| p % 2 == 1) {
            return Err(ConfigError::OddLocalPort(port));
        }
        Ok(())
    }

    /// Frames between two periodic IDRs, at least 1.
    pub fn keyframe_period_frames(&self) -> u32 {
        ((self.keyframe_interval.as_secs_f64() * f64::from(self.fps)).round() as u32).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_is_valid_and_has_a_two_second_gop() {
        let c = CameraConfig::default();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.keyframe_period_frames(), 60);
    }

    #[test]
    fn invalid_values_are_rejected_with_the_offending_field() {
        let base = CameraConfig::default();
        assert_eq!(CameraConfig { width: 641, ..base.clone() }.validate(), Err(ConfigError::PictureSize(641, 480)));
        assert_eq!(CameraConfig { height: 8, ..base.clone() }.validate(), Err(ConfigError::PictureSize(640, 8)));
        assert_eq!(CameraConfig { fps: 0, ..base.clone() }.validate(), Err(ConfigError::FrameRate(0)));
        assert_eq!(CameraConfig { bitrate_kbps: 1, ..base.clone() }.validate(), Err(ConfigError::Bitrate(1)));
        assert_eq!(
            CameraConfig { keyframe_interval: Duration::ZERO, ..base.clone() }.validate(),
            Err(ConfigError::KeyframeInterval)
        );
        assert_eq!(CameraConfig { payload_type: 8, ..base.clone() }.validate(), Err(ConfigError::PayloadType(8)));
        assert_eq!(CameraConfig { mtu: 20, ..base.clone() }.validate(), Err(ConfigError::Mtu(20)));
        assert_eq!(CameraConfig { local_port: Some(5005), ..base }.validate(), Err(ConfigError::OddLocalPort(5005)));
    }
}
