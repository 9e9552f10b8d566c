//! Mutated datagrams on a real engine's UDP ports: the camera's RTP and RTCP ports (from the
//! camera's own, latched address, so they are parsed), and the shared WebRTC port before any
//! viewer exists, then after viewers connected: from a stranger (STUN naming a viewer's ufrag,
//! DTLS, RTP, RTCP) and from a connected viewer's own address (so its `Rtc` takes them: DTLS
//! records, SRTP/SRTCP-looking packets, STUN). The engine must not panic anywhere (no panic
//! contained, no task restarted), another viewer keeps playing and RPC keeps answering.

use std::sync::atomic::Ordering;

use camview_common::testing::peer::{Codecs, TestPeer};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{TestRng, TestRunner};
use serde_json::json;
use tokio::net::UdpSocket;

use super::{camera_packets, config, dtls_records, mutate, mutations, rtcp_packets};
use crate::faults::stun_request;
use crate::helpers::*;
use crate::join::watcher_joins;
use crate::media::{join, pipeline_with_camera, run_camera};

/// Sends `n` mutations of `seeds` from `from` to `to`, paced so the socket buffers keep up.
async fn send_mutations(
    runner: &mut TestRunner,
    seeds: &[Vec<u8>],
    n: u32,
    from: &UdpSocket,
    to: std::net::SocketAddr,
) {
    let strategy = mutations(6);
    for i in 0..n {
        let (pick, edits) = strategy.new_tree(runner).expect("a value").current();
        let d = mutate(seeds, pick, &edits);
        let _ = from.send_to(&d, to).await;
        if i % 32 == 31 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
}

#[tokio::test]
async fn datagrams_on_the_camera_and_webrtc_ports_before_and_after_viewers_connected_never_panic() {
    let engine = spawn_engine_with(|c| c.workers = 1).await;
    let n = config(1500).cases;
    let cfg = config(n);
    let mut runner = TestRunner::new_with_rng(cfg.clone(), TestRng::deterministic_rng(cfg.rng_algorithm));
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.gop = 20;
    let (pipe, rtp, cam_answer) = pipeline_with_camera(&mut c, &mut cam).await;
    let webrtc = engine.webrtc_addrs()[0];
    let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut any = camera_packets();
    any.extend(rtcp_packets());
    any.extend(dtls_records());
    any.push(stun_request("nobody", b"x"));

    // Before any viewer: the camera's ports (its first packets latch it) and the WebRTC port.
    cam.send_frames(1).await;
    let rtcp_port = video_port(&cam_answer) + 1;
    let cam_rtcp = std::net::SocketAddr::new(cam.dest.ip(), rtcp_port);
    send_mutations(&mut runner, &camera_packets(), n, &cam.rtp, cam.dest).await;
    send_mutations(&mut runner, &rtcp_packets(), n / 4, &cam.rtcp, cam_rtcp).await;
    send_mutations(&mut runner, &any, n / 2, &stranger, webrtc).await;
    assert_eq!(c.ok("ping", json!({})).await, "pong");

    // Viewers connected: a control viewer, and a watcher whose own address sends junk.
    let (stop, camera) = run_camera(cam);
    let mut control = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    join(&mut c, &pipe, &rtp, &mut control).await;
    assert!(control.drive_until(WAIT, |v| v.packets().len() >= 10).await, "the control viewer plays");
    let (watcher, _, answer) = watcher_joins(&mut c, &pipe, &rtp).await;
    let ufrag = answer.lines().find_map(|l| l.strip_prefix("a=ice-ufrag:")).unwrap().trim().to_string();
    let mut from_viewer = any.clone();
    from_viewer.push(stun_request(&ufrag, b"camview"));
    send_mutations(&mut runner, &from_viewer, n, &watcher.sock, webrtc).await;
    // A stranger naming the watcher's ufrag is routed to it too.
    let mut to_viewer = vec![stun_request(&ufrag, b"stranger")];
    to_viewer.extend(dtls_records());
    send_mutations(&mut runner, &to_viewer, n / 2, &stranger, webrtc).await;

    let before = control.packets().len();
    assert!(control.drive_until(WAIT, |v| v.packets().len() >= before + 30).await, "the control viewer plays on");
    assert_eq!(c.ok("ping", json!({})).await, "pong");
    let stats = engine.stats();
    println!("after the fuzzing: {stats:?}");
    assert!(stats.rtp_garbage_in > 0 && stats.webrtc_packets_in > u64::from(n), "the datagrams arrived: {stats:?}");
    assert!(engine.faults().panics().is_empty(), "panics: {:?}", engine.faults().panics());
    assert!(engine.faults().restarts().is_empty(), "restarts: {:?}", engine.faults().restarts());
    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
}
