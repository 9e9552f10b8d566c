//! Source latching: an RtpEndpoint forwards RTP, and accepts RTCP, only from the camera's own
//! address; anyone else who learns the port is dropped and counted.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use camview_common::testing::peer::{Codecs, TestPeer};
use camview_common::testing::{wait_until, TestMetrics};
use camview_media_engine::{Engine, Settings};
use serde_json::{json, Value};
use tokio::net::UdpSocket;

use crate::helpers::*;
use crate::media::{join, run_camera};

/// The camera's SSRC (`FakeCamera`) and the intruder's.
const CAMERA_SSRC: u32 = 0x0a0b0c0d;
const INTRUDER_SSRC: u32 = 0xdeadbeef;
/// The intruder's payload: a P slice the camera never sends (a run of this byte).
const INTRUDER_FILL: u8 = 0x5a;

/// An offer like the media-controller's: no camera address (`c=IN IP4 0.0.0.0`), addresses
/// learnt from the packets (`a=direction:active`).
fn unpinned_offer(rtp_port: u16) -> String {
    camera_offer(rtp_port)
        .replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0")
        .replace("a=sendonly", "a=sendonly\r\na=direction:active")
}

async fn engine_with(metrics: &TestMetrics) -> Engine {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    Engine::start_on_with_meter(listener, Settings::for_tests(), &metrics.meter()).await.expect("engine starts")
}

/// A pipeline with an RtpEndpoint negotiated with `offer`; points the camera at its port.
async fn pipeline_with_offer(c: &mut Client, cam: &mut FakeCamera, offer: &str) -> (String, String) {
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let answer = c.invoke(&rtp, "processOffer", json!({"offer": offer})).await;
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(answer.as_str().unwrap()));
    (pipe, rtp)
}

/// A valid RTP packet of the camera's payload type, from someone else.
fn intruder_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x80 | 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(seq as u32 * 3000).to_be_bytes());
    p.extend_from_slice(&INTRUDER_SSRC.to_be_bytes());
    p.push(0x41);
    p.extend_from_slice(&[INTRUDER_FILL; 300]);
    p
}

fn inbound(stats: &Value) -> Value {
    stats
        .as_object()
        .unwrap()
        .values()
        .find(|s| s["__type__"] == "RTCInboundRTPStreamStats")
        .expect("inbound stats")
        .clone()
}

#[tokio::test]
async fn a_second_sender_into_a_live_streams_port_never_reaches_the_viewer_and_is_counted_as_foreign() {
    let metrics = TestMetrics::new();
    let engine = engine_with(&metrics).await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.gop = 20;
    let offer = unpinned_offer(cam.port());
    let (pipe, rtp) = pipeline_with_offer(&mut c, &mut cam, &offer).await;
    let dest = cam.dest;
    let (stop, camera) = run_camera(cam);
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    join(&mut c, &pipe, &rtp, &mut v).await;
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 20).await, "the camera's stream plays first");

    // Same IP as the camera, another port: the latch is on the address, not only the IP.
    let intruder = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    const SENT: u16 = 100;
    for seq in 0..SENT {
        intruder.send_to(&intruder_packet(seq), dest).await.unwrap();
    }
    wait_until(WAIT, "every intruder packet counted as foreign", || async {
        engine.stats().rtp_foreign_in >= SENT as u64
    })
    .await;
    let before = v.packets().len();
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= before + 40).await, "the camera keeps playing");

    for p in v.packets() {
        assert!(
            !p.payload.windows(16).any(|w| w.iter().all(|b| *b == INTRUDER_FILL)),
            "an intruder packet reached the viewer: {:?}",
            p.seq_no
        );
    }
    let seqs: Vec<u64> = v.packets().iter().map(|p| *p.seq_no).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "nothing was spliced into the viewer's sequence");
    let stats = inbound(&c.invoke(&rtp, "getStats", json!({})).await);
    assert_eq!(stats["ssrc"], CAMERA_SSRC.to_string(), "only the camera's SSRC was ever accepted: {stats}");
    assert!(stats["foreignPackets"].as_u64().unwrap() >= SENT as u64, "{stats}");
    assert!(
        metrics.value("camview_engine_rtp_foreign_packets_total", &[]) >= Some(SENT as f64),
        "the foreign counter rises on the metric too"
    );

    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
}

#[tokio::test]
async fn rtcp_is_accepted_only_from_the_cameras_address_so_plis_cannot_be_redirected() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let offer = unpinned_offer(cam.port());
    let (pipe, rtp) = pipeline_with_offer(&mut c, &mut cam, &offer).await;
    c.subscribe(&rtp, "MediaStateChanged").await;
    let rtcp_dest = SocketAddr::new(cam.dest.ip(), cam.dest.port() + 1);
    let receiver_report = |ssrc: u32| {
        let mut rr = vec![0x80, 201, 0, 1];
        rr.extend_from_slice(&ssrc.to_be_bytes());
        rr
    };

    // Before the camera sends anything, its address is unknown: no RTCP is admitted.
    let intruder = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    intruder.send_to(&receiver_report(INTRUDER_SSRC), rtcp_dest).await.unwrap();
    wait_until(WAIT, "the early RTCP counted as foreign", || async { engine.stats().rtp_foreign_in >= 1 }).await;

    cam.send_frames(2).await;
    cam.rtcp.send_to(&receiver_report(CAMERA_SSRC), rtcp_dest).await.unwrap();
    // The intruder's RTCP after the camera's: it would move the PLI target if it were accepted.
    let accepted = c.event_where("MediaStateChanged", |e| e["object"] == json!(rtp)).await;
    assert_eq!(accepted["data"]["newState"], "CONNECTED", "the camera's RTCP was accepted");
    intruder.send_to(&receiver_report(INTRUDER_SSRC), rtcp_dest).await.unwrap();
    wait_until(WAIT, "the late RTCP counted as foreign", || async { engine.stats().rtp_foreign_in >= 2 }).await;

    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    c.invoke(&rtp, "connect", json!({"sink": web})).await;
    c.invoke(&web, "requestKeyframe", json!({})).await;
    let mut buf = [0u8; 200];
    let (n, _) =
        tokio::time::timeout(WAIT, cam.rtcp.recv_from(&mut buf)).await.expect("the PLI reaches the camera").unwrap();
    assert_eq!((n, buf[1]), (12, 206));
    assert!(
        tokio::time::timeout(Duration::from_millis(200), intruder.recv_from(&mut buf)).await.is_err(),
        "nothing goes to the intruder"
    );
}

#[tokio::test]
async fn a_camera_sdp_with_its_own_address_admits_only_that_ip_even_before_the_first_packet() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    // The offer names 127.0.0.1; an intruder on 127.0.0.2 is refused from the very first packet.
    let offer = camera_offer(cam.port());
    let (_pipe, rtp) = pipeline_with_offer(&mut c, &mut cam, &offer).await;
    let intruder = UdpSocket::bind("127.0.0.2:0").await.expect("Linux routes all of 127/8 to loopback");
    for seq in 0..10 {
        intruder.send_to(&intruder_packet(seq), cam.dest).await.unwrap();
    }
    wait_until(WAIT, "the intruder's packets counted as foreign", || async { engine.stats().rtp_foreign_in >= 10 })
        .await;
    assert_eq!(engine.stats().rtp_packets_in, 0, "nothing from the intruder was taken as media");

    cam.send_frames(3).await;
    wait_until(WAIT, "the camera's packets received", || async { engine.stats().rtp_packets_in >= 7 }).await;
    let stats = inbound(&c.invoke(&rtp, "getStats", json!({})).await);
    assert_eq!(stats["ssrc"], CAMERA_SSRC.to_string(), "{stats}");
    assert_eq!(c.invoke(&rtp, "isMediaFlowingIn", json!({"mediaType": "VIDEO"})).await, true);
}
