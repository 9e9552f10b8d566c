//! A bad network inside the stack: impairment relays ([`UdpRelay`]) between the camera and the
//! engine, and between the engine and a viewer (see [`crate::Viewer::route_via`]).

use std::net::{Ipv4Addr, SocketAddr};

use camview_common::testing::impair::Impairment;
use camview_common::testing::relay::UdpRelay;

use crate::Stack;

/// The camera's path to the engine: one relay for RTP and one on the next port for RTCP
/// (the camera sends its sender reports to the RTP port + 1; the engine's PLIs come back
/// through the same relay).
pub struct CameraPath {
    pub rtp: UdpRelay,
    pub rtcp: UdpRelay,
}

impl Stack {
    /// Starts `camera-sim` sending `camera`'s RTP through relays to the engine port the
    /// started stream announces (`GET /streams/{camera}`), RTP impaired as `rtp`, RTCP both
    /// ways as `rtcp`. The camera sends a periodic keyframe only every
    /// `keyframe_interval_seconds`, so that other keyframes answer keyframe requests.
    pub async fn start_camera_through(
        &mut self,
        camera: &str,
        rtp: Impairment,
        rtcp: Impairment,
        seed: u64,
        keyframe_interval_seconds: u32,
    ) -> CameraPath {
        let stream = self.stream(camera).await;
        let port = stream["rtp"]["port"].as_u64().and_then(|p| u16::try_from(p).ok());
        let port = port.unwrap_or_else(|| panic!("the started stream names no RTP port: {stream}"));
        let engine = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let path = relay_pair(engine, rtp, rtcp, seed).await;
        let target = path.rtp.addr().to_string();
        self.spawn_camera(&["--target", &target], keyframe_interval_seconds, "127.0.0.1");
        path
    }
}

/// An RTP relay on some port P and an RTCP relay on P + 1, towards `engine` and its port + 1.
async fn relay_pair(engine: SocketAddr, rtp: Impairment, rtcp: Impairment, seed: u64) -> CameraPath {
    let engine_rtcp = SocketAddr::new(engine.ip(), engine.port() + 1);
    let mut last_error = None;
    for attempt in 0..20 {
        let seed = seed.wrapping_add(attempt * 2);
        let rtp_relay = UdpRelay::start(engine, rtp, Impairment::default(), seed).await.expect("bind a relay port");
        let Some(next) = rtp_relay.addr().port().checked_add(1) else { continue };
        let listen = SocketAddr::new(rtp_relay.addr().ip(), next);
        match UdpRelay::start_on(listen, engine_rtcp, rtcp, rtcp, seed.wrapping_add(1)).await {
            Ok(rtcp_relay) => return CameraPath { rtp: rtp_relay, rtcp: rtcp_relay },
            Err(e) => last_error = Some(e), // the next port is taken: another pair
        }
    }
    panic!("no free pair of adjacent UDP ports for the camera relays: {last_error:?}");
}
