//! Receiving ends and waits shared by the integration tests.

use std::net::SocketAddr;
use std::time::Duration;

use camera_sim::probe::{DecodedPicture, H264Probe};
use camera_sim::{Camera, CameraConfig, CameraHandle};
use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

/// Generous bound for anything a test waits on; two shared cores can be slow.
pub const WAIT: Duration = Duration::from_secs(20);

/// An RTP socket on an even port with its RTCP socket on the next one, like a media server's.
pub struct Receiver {
    pub rtp: UdpSocket,
    pub rtcp: UdpSocket,
}

impl Receiver {
    pub async fn bind() -> Self {
        for _ in 0..64 {
            let rtcp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let port = rtcp.local_addr().unwrap().port();
            if port % 2 == 1 {
                if let Ok(rtp) = UdpSocket::bind(("127.0.0.1", port - 1)).await {
                    return Self { rtp, rtcp };
                }
            }
        }
        panic!("no free port pair on loopback");
    }

    pub fn addr(&self) -> SocketAddr {
        self.rtp.local_addr().unwrap()
    }

    /// Next RTP datagram, or `None` when nothing arrives within `within`.
    pub async fn recv(&self, within: Duration) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 2048];
        match tokio::time::timeout(within, self.rtp.recv(&mut buf)).await {
            Ok(Ok(len)) => Some(buf[..len].to_vec()),
            _ => None,
        }
    }

    /// Receives and decodes until `done` says so; panics with what was seen after `WAIT`.
    pub async fn decode_until(
        &self,
        probe: &mut H264Probe,
        mut done: impl FnMut(&[DecodedPicture]) -> bool,
    ) -> Vec<DecodedPicture> {
        let deadline = Instant::now() + WAIT;
        let mut pictures = Vec::new();
        let mut buf = vec![0u8; 2048];
        while !done(&pictures) {
            let len = match timeout_at(deadline, self.rtp.recv(&mut buf)).await {
                Ok(result) => result.unwrap(),
                Err(_) => panic!("timed out; decoded {} pictures, probe {probe:?}", pictures.len()),
            };
            pictures.extend(probe.push(&buf[..len]).unwrap());
        }
        pictures
    }
}

/// A small, fast camera on loopback.
pub fn small_config(target: Option<SocketAddr>) -> CameraConfig {
    CameraConfig {
        width: 320,
        height: 240,
        fps: 30,
        bitrate_kbps: 400,
        local_ip: "127.0.0.1".parse().unwrap(),
        target,
        ..Default::default()
    }
}

pub async fn start(config: CameraConfig) -> CameraHandle {
    Camera::start(config).await.expect("camera starts")
}
