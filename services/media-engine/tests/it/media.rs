//! Media behaviours: RtpEndpoint negotiation and flow, a str0m WebRTC viewer receiving the
//! camera's packets through the engine, fast start, PLI forwarding, bad packets.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use camview_common::testing::peer::{Codecs, TestPeer};
use camview_media_engine::{Engine, WebRtcPorts};
use serde_json::{json, Value};
use tokio::net::UdpSocket;

use crate::helpers::*;

pub(crate) async fn pipeline_with_camera(c: &mut Client, cam: &mut FakeCamera) -> (String, String, String) {
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let answer = c.invoke(&rtp, "processOffer", json!({"offer": camera_offer(cam.port())})).await;
    let answer = answer.as_str().unwrap().to_string();
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(&answer));
    (pipe, rtp, answer)
}

#[tokio::test]
async fn rtp_endpoint_answers_with_an_even_port_in_range_and_refuses_renegotiation() {
    let engine = spawn_engine_with(|c| {
        c.min_port = 31000;
        c.max_port = 31999;
        c.external_ip = "127.0.0.1".parse().unwrap();
    })
    .await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let (_pipe, rtp, answer) = pipeline_with_camera(&mut c, &mut cam).await;
    let port = video_port(&answer);
    assert_eq!(port % 2, 0);
    assert!((31000..=31999).contains(&port), "{port}");
    assert!(answer.contains("c=IN IP4 127.0.0.1\r\n"));
    assert!(answer.contains("a=recvonly"));
    assert!(answer.contains("a=fmtp:96 packetization-mode=1;profile-level-id=42e01f"));
    assert!(answer.contains("m=video") && answer.contains("RTP/AVPF 96"));
    assert_eq!(c.invoke(&rtp, "getLocalSessionDescriptor", json!({})).await, json!(answer));
    assert_eq!(c.invoke(&rtp, "getRemoteSessionDescriptor", json!({})).await, json!(camera_offer(cam.port())));
    let e = c.invoke_err(&rtp, "processOffer", json!({"offer": camera_offer(cam.port())})).await;
    assert_eq!(
        (e["code"].as_i64(), e["data"]["type"].as_str()),
        (Some(40208), Some("SDP_END_POINT_ALREADY_NEGOTIATED"))
    );

    let pipe2 = c.create("MediaPipeline", json!({})).await;
    let rtp2 = c.create("RtpEndpoint", json!({"mediaPipeline": pipe2})).await;
    let savp = camera_offer(5000).replace("RTP/AVPF", "RTP/SAVPF");
    let a = c.invoke(&rtp2, "processOffer", json!({"offer": savp})).await;
    assert!(a.as_str().unwrap().contains("m=video 0 RTP/SAVPF 96"), "unsupported profile rejected with port 0: {a}");
    let rtp3 = c.create("RtpEndpoint", json!({"mediaPipeline": pipe2})).await;
    let e = c.invoke_err(&rtp3, "processOffer", json!({"offer": ""})).await;
    assert_eq!(e["code"], 40201);
    let e = c.invoke_err(&rtp3, "processOffer", json!({"offer": "hello world"})).await;
    assert_eq!(e["code"], 40201);
}

#[tokio::test]
async fn media_flow_events_follow_the_camera() {
    let engine = spawn_engine_with(|c| c.flow_timeout = Duration::from_millis(300)).await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    c.subscribe(&rtp, "MediaFlowInStateChanged").await;
    c.subscribe(&rtp, "MediaFlowOutStateChanged").await;
    let answer = c.invoke(&rtp, "processOffer", json!({"offer": camera_offer(cam.port())})).await;
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(answer.as_str().unwrap()));
    cam.send_frames(3).await;
    let ev = c.event("MediaFlowInStateChanged").await;
    assert_eq!(ev["data"]["state"], "FLOWING");
    assert_eq!(ev["data"]["mediaType"], "VIDEO");
    assert_eq!(ev["data"]["padName"], "default");
    assert_eq!(c.event("MediaFlowOutStateChanged").await["data"]["state"], "FLOWING");
    assert_eq!(c.invoke(&rtp, "isMediaFlowingIn", json!({"mediaType": "VIDEO"})).await, true);
    let ev = c.event_where("MediaFlowInStateChanged", |v| v["data"]["state"] == "NOT_FLOWING").await;
    assert_eq!(ev["object"], json!(rtp));
    let stats = c.invoke(&rtp, "getStats", json!({"mediaType": "VIDEO"})).await;
    let inbound = stats
        .as_object()
        .unwrap()
        .values()
        .find(|s| s["__type__"] == "RTCInboundRTPStreamStats")
        .expect("inbound stats");
    assert!(inbound["packetsReceived"].as_u64().unwrap() >= 7, "a keyframe of 5 packets and two P frames: {inbound}");
    assert_eq!(inbound["ssrc"], "168496141");
}

#[tokio::test]
async fn garbage_on_the_rtp_and_webrtc_ports_is_dropped_and_the_engine_keeps_working() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let junk = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let webrtc = engine.webrtc_addrs()[0];
    let samples: Vec<Vec<u8>> = vec![
        vec![],
        vec![0x80],
        vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        vec![0xa0, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xff],
        vec![0x90, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff],
        vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 24, 0xff, 0xff],
        vec![0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 28],
        vec![0x00, 0x01, 0x00, 0x50, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 6, 0xff, 0xff],
        vec![0x16, 0xfe, 0xfd, 0, 0, 0],
        (0..1400).map(|i| (i * 7) as u8).collect(),
    ];
    // The camera's first packets latch its address; garbage from anyone else is not even read
    // (source_latch.rs), so the camera's own socket sends it here.
    cam.send_frames(1).await;
    for s in &samples {
        cam.rtp.send_to(s, cam.dest).await.unwrap();
        junk.send_to(s, webrtc).await.unwrap();
    }
    let deadline = Instant::now() + WAIT;
    while engine.stats().webrtc_unknown_in < samples.len() as u64 - 1 || engine.stats().rtp_garbage_in < 4 {
        assert!(Instant::now() < deadline, "garbage was not counted: {:?}", engine.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Real packets still flow and RPC still answers.
    let received = |s: &Value| {
        s.as_object().unwrap().values().find(|s| s["__type__"] == "RTCInboundRTPStreamStats").unwrap()
            ["packetsReceived"]
            .as_u64()
            .unwrap()
    };
    let before = received(&c.invoke(&rtp, "getStats", json!({})).await);
    cam.send_frames(2).await; // two one-packet P frames (the keyframe went first)
    let deadline = Instant::now() + WAIT;
    while received(&c.invoke(&rtp, "getStats", json!({})).await) < before + 2 {
        assert!(Instant::now() < deadline, "real packets after the garbage were not received");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(c.invoke(&rtp, "isMediaFlowingIn", json!({"mediaType": "VIDEO"})).await, true);
    assert_eq!(c.invoke(&pipe, "getChildren", json!({})).await, json!([rtp]));
}

/// The viewer's candidate as Kurento's `addIceCandidate` takes it.
pub(crate) fn kurento_candidate(v: &TestPeer) -> Value {
    json!({"candidate": v.candidate_sdp(), "sdpMid": "0", "sdpMLineIndex": 0})
}

/// The first payload byte of each received packet (the NAL or VP8 descriptor that starts it).
pub(crate) fn first_bytes(v: &TestPeer) -> Vec<u8> {
    v.packets().iter().map(|p| p.payload.first().copied().unwrap_or(0)).collect()
}

/// The received packets' extended sequence numbers.
pub(crate) fn seqs(v: &TestPeer) -> Vec<u64> {
    v.packets().iter().map(|p| *p.seq_no).collect()
}

/// Runs the camera in the background at ~100 frames/s until the flag is set.
pub(crate) fn run_camera(mut cam: FakeCamera) -> (Arc<AtomicBool>, tokio::task::JoinHandle<FakeCamera>) {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let h = tokio::spawn(async move {
        while !s.load(Ordering::Relaxed) {
            cam.send_frame().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cam
    });
    (stop, h)
}

/// Creates a WebRtcEndpoint, negotiates with a str0m viewer and exchanges candidates.
pub(crate) async fn join(c: &mut Client, pipe: &str, rtp: &str, v: &mut TestPeer) -> (String, String) {
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    join_endpoint(c, pipe, rtp, &web, v).await
}

/// [`join`] on an existing WebRtcEndpoint `web` (connected for more than video beforehand).
pub(crate) async fn join_endpoint(
    c: &mut Client,
    pipe: &str,
    rtp: &str,
    web: &str,
    v: &mut TestPeer,
) -> (String, String) {
    join_offering(c, pipe, rtp, web, v, |o| o).await
}

/// [`join_endpoint`] with the viewer's offer edited by `edit` first (a browser with fewer codecs).
pub(crate) async fn join_offering(
    c: &mut Client,
    _pipe: &str,
    rtp: &str,
    web: &str,
    v: &mut TestPeer,
    edit: impl FnOnce(String) -> String,
) -> (String, String) {
    let web = web.to_string();
    for ev in [
        "IceCandidateFound",
        "IceGatheringDone",
        "IceComponentStateChanged",
        "NewCandidatePairSelected",
        "MediaFlowOutStateChanged",
        "MediaStateChanged",
    ] {
        c.subscribe(&web, ev).await;
    }
    c.invoke(rtp, "connect", json!({"sink": web, "mediaType": "VIDEO"})).await;
    let offer = edit(v.offer());
    let answer = c.invoke(&web, "processOffer", json!({"offer": offer})).await.as_str().unwrap().to_string();
    assert!(!answer.contains("a=candidate"), "no candidates before gatherCandidates");
    v.accept(&answer).unwrap();
    c.invoke(&web, "gatherCandidates", json!({})).await;
    let cand = c.event_where("IceCandidateFound", |e| e["object"] == json!(web)).await;
    let cand = &cand["data"]["candidate"];
    assert_eq!(cand["__type__"], "IceCandidate");
    assert!(cand["sdpMid"].is_string() && cand["sdpMLineIndex"].is_i64());
    let s = cand["candidate"].as_str().unwrap();
    v.add_remote_candidate(s).unwrap();
    c.event_where("IceGatheringDone", |e| e["object"] == json!(web)).await;
    c.invoke(&web, "addIceCandidate", json!({"candidate": kurento_candidate(v)})).await;
    c.invoke(&web, "addIceCandidate", json!({"candidate": {"candidate": "", "sdpMid": "0", "sdpMLineIndex": 0}})).await;
    (web, answer)
}

#[tokio::test]
async fn a_str0m_viewer_receives_the_camera_stream_through_the_engine() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.gop = 20;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let (stop, camera) = run_camera(cam);
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let (web, answer) = join(&mut c, &pipe, &rtp, &mut v).await;
    assert!(answer.contains("H264/90000"));
    assert!(answer.contains("profile-level-id=42e01f"), "the answer names the camera's profile: {answer}");
    assert!(answer.contains("packetization-mode=1"));

    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 60).await, "received {} packets", v.packets().len());
    assert_eq!(first_bytes(&v)[0], 0x67, "the viewer starts with the SPS of a keyframe");
    let seqs = seqs(&v);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gapless rewritten sequence numbers");

    assert_eq!(
        c.event_where("NewCandidatePairSelected", |e| e["object"] == json!(web)).await["data"]["candidatePair"]
            ["componentId"],
        1
    );
    c.event_where("IceComponentStateChanged", |e| e["data"]["state"] == "CONNECTED").await;
    assert_eq!(
        c.event_where("MediaStateChanged", |e| e["object"] == json!(web)).await["data"]["newState"],
        "CONNECTED"
    );
    assert_eq!(
        c.event_where("MediaFlowOutStateChanged", |e| e["object"] == json!(web)).await["data"]["state"],
        "FLOWING"
    );
    assert_eq!(c.invoke(&web, "getMediaState", json!({})).await, "CONNECTED");
    let stats = c.invoke(&web, "getStats", json!({})).await;
    let out =
        stats.as_object().unwrap().values().find(|s| s["__type__"] == "RTCOutboundRTPStreamStats").unwrap().clone();
    assert!(out["packetsSent"].as_u64().unwrap() >= 60);

    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    c.ok("release", json!({"object": pipe})).await;
    assert_eq!(engine.stats().core.objects, 0);
}

#[tokio::test]
async fn a_late_viewer_starts_from_the_cached_keyframe_and_two_viewers_share_one_port() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.gop = 100_000; // one keyframe only, at the start
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let (stop, camera) = run_camera(cam);
    tokio::time::sleep(Duration::from_millis(500)).await; // the keyframe is long gone

    let mut v1 = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let (web1, _) = join(&mut c, &pipe, &rtp, &mut v1).await;
    assert!(v1.drive_until(WAIT, |v| v.packets().len() >= 20).await);
    let first: Vec<u8> = first_bytes(&v1).into_iter().take(3).collect();
    assert_eq!(first, [0x67, 0x68, 0x7c], "SPS, PPS, then the IDR's first FU-A");
    let gap = v1.packets()[0].timestamp.duration_since(v1.connected_at().unwrap());
    assert!(gap < Duration::from_secs(1), "first packet {gap:?} after connecting");

    let mut v2 = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let (web2, _) = join(&mut c, &pipe, &rtp, &mut v2).await;
    assert!(v2.drive_until(WAIT, |v| v.packets().len() >= 20).await);
    assert_eq!(first_bytes(&v2)[0], 0x67);
    let before = v1.packets().len();
    assert!(v1.drive_until(WAIT, |v| v.packets().len() >= before + 10).await, "the first viewer keeps receiving");

    let a1 = c.invoke(&web1, "getLocalSessionDescriptor", json!({})).await;
    let a2 = c.invoke(&web2, "getLocalSessionDescriptor", json!({})).await;
    assert!(a1.is_string() && a2.is_string());
    assert_eq!(engine.webrtc_addrs().len(), 1, "one shared UDP port serves both viewers");
    let fast = c.invoke(&web2, "getStats", json!({})).await;
    let out =
        fast.as_object().unwrap().values().find(|s| s["__type__"] == "RTCOutboundRTPStreamStats").unwrap().clone();
    assert!(out["fastStartPackets"].as_u64().unwrap() >= 5);

    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
}

#[tokio::test]
async fn keyframe_requests_reach_the_camera_as_one_coalesced_pli() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    cam.send_frames(2).await;
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    c.invoke(&rtp, "connect", json!({"sink": web})).await;
    for _ in 0..4 {
        c.invoke(&web, "requestKeyframe", json!({})).await;
    }
    let mut buf = [0u8; 200];
    let (n, _) = tokio::time::timeout(WAIT, cam.rtcp.recv_from(&mut buf)).await.expect("a PLI in time").unwrap();
    assert_eq!(n, 12);
    assert_eq!((buf[0], buf[1]), (0x81, 206), "RTCP PSFB with FMT=1 (PLI)");
    assert_eq!(&buf[8..12], &0x0a0b0c0du32.to_be_bytes(), "addressed to the camera's SSRC");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), cam.rtcp.recv_from(&mut buf)).await.is_err(),
        "the other requests were coalesced"
    );

    // A str0m viewer's own PLI travels the same way.
    let (stop, camera) = run_camera(cam);
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    join(&mut c, &pipe, &rtp, &mut v).await;
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 5).await);
    tokio::time::sleep(Duration::from_millis(600)).await;
    v.request_keyframe();
    v.drive_until(Duration::from_millis(300), |_| false).await;
    stop.store(true, Ordering::Relaxed);
    let cam = camera.await.unwrap();
    let (n, _) =
        tokio::time::timeout(WAIT, cam.rtcp.recv_from(&mut buf)).await.expect("the viewer's PLI in time").unwrap();
    assert_eq!((n, buf[1]), (12, 206));
}

#[tokio::test]
async fn a_browser_offer_without_h264_gets_a_clear_error() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    c.invoke(&rtp, "connect", json!({"sink": web})).await;
    let mut v = TestPeer::bind(Codecs::Vp8).await.unwrap();
    let e = c.invoke_err(&web, "processOffer", json!({"offer": v.offer()})).await;
    assert_eq!(
        (e["code"].as_i64(), e["data"]["type"].as_str()),
        (Some(40205), Some("SDP_END_POINT_PROCESS_OFFER_ERROR"))
    );
    assert!(e["message"].as_str().unwrap().contains("H264"), "{e}");
}

#[tokio::test]
async fn range_mode_gives_each_viewer_its_own_port() {
    let engine: Engine = spawn_engine_with(|c| {
        c.webrtc_ports = WebRtcPorts::Range;
        c.min_port = 32000;
        c.max_port = 32999;
    })
    .await;
    assert!(engine.webrtc_addrs().is_empty());
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let (stop, camera) = run_camera(cam);
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let (web, _) = join(&mut c, &pipe, &rtp, &mut v).await;
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 10).await);
    c.subscribe(&web, "IceCandidateFound").await;
    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
}

#[tokio::test]
async fn a_vp8_camera_reaches_a_viewer_without_transcoding() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.vp8 = true;
    cam.gop = 1000;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let answer = c.invoke(&rtp, "processOffer", json!({"offer": camera_offer_vp8(cam.port())})).await;
    let answer = answer.as_str().unwrap();
    assert!(answer.contains("RTP/AVP 100") && answer.contains("a=rtpmap:100 VP8/90000"), "{answer}");
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(answer));
    let (stop, camera) = run_camera(cam);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let (_web, answer) = join(&mut c, &pipe, &rtp, &mut v).await;
    assert!(answer.contains("VP8/90000") && !answer.contains("H264"), "only the camera's codec is answered: {answer}");
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 20).await);
    assert_eq!(&first_bytes(&v)[0], &0x10, "starts at the cached key frame");
    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
}

#[tokio::test]
async fn a_codec_mismatch_on_connect_raises_an_error_event_and_external_ipv4_is_announced() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    c.subscribe(&web, "Error").await;
    c.subscribe(&web, "IceCandidateFound").await;
    c.invoke(&web, "setExternalIPv4", json!({"externalIPv4": "198.51.100.1"})).await;
    let mut v = TestPeer::bind(Codecs::Vp8).await.unwrap();
    let answer = c.invoke(&web, "processOffer", json!({"offer": v.offer()})).await;
    assert!(answer.as_str().unwrap().contains("VP8/90000"));
    c.invoke(&web, "gatherCandidates", json!({})).await;
    let srflx = c
        .event_where("IceCandidateFound", |e| {
            e["data"]["candidate"]["candidate"].as_str().unwrap_or("").contains("198.51.100.1")
        })
        .await;
    assert!(srflx["data"]["candidate"]["candidate"].as_str().unwrap().contains("typ srflx"));

    let cam = FakeCamera::new().await;
    c.invoke(&rtp, "processOffer", json!({"offer": camera_offer(cam.port())})).await;
    c.invoke(&rtp, "connect", json!({"sink": web, "mediaType": "VIDEO"})).await;
    let ev = c.event("Error").await;
    assert_eq!(ev["type"], "Error");
    assert_eq!(ev["data"]["type"], "CONNECT_ERROR", "the Error event keeps its own type field");
    assert_eq!(ev["data"]["errorCode"], 40004);
    assert!(ev["data"]["description"].as_str().unwrap().contains("H264"));
}

#[tokio::test]
async fn a_viewer_joining_while_the_camera_bursts_gets_each_packet_once_and_in_order() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.gop = 40;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    // Bursts of frames sent back to back: the camera reader runs ahead of the workers, so a
    // viewer starting from the fast-start cache finds packets in it that are still on their way.
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let camera = tokio::spawn(async move {
        while !s.load(Ordering::Relaxed) {
            for _ in 0..20 {
                cam.send_frame().await;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    // Each join is one chance for the race: several viewers, one after the other.
    let mut viewers = vec![];
    for _ in 0..4 {
        let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
        join(&mut c, &pipe, &rtp, &mut v).await;
        assert!(v.drive_until(WAIT, |v| v.packets().len() >= 300).await, "received {} packets", v.packets().len());
        viewers.push(v);
    }
    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    for v in &viewers {
        // P frames are one packet [0x41, frame number & 0xff, ...]: in order and never twice.
        let frames: Vec<u8> =
            v.packets().iter().filter(|p| p.payload.first() == Some(&0x41)).map(|p| p.payload[1]).collect();
        assert!(frames.len() > 100);
        for w in frames.windows(2) {
            let step = w[1].wrapping_sub(w[0]);
            assert!((1..=2).contains(&step), "P frames {} then {} (a repeat or a jump back): {frames:?}", w[0], w[1]);
        }
    }
}
