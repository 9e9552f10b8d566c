//! Camera codecs beyond H.264/VP8: an H.265 camera forwarded as H.265 to a viewer that offers
//! it (profile, tier and level from the camera's in-band VPS/SPS), refused with
//! `codec_unsupported` to one that does not.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use camview_common::testing::peer::{Codecs, TestPeer};
use serde_json::json;

use crate::helpers::*;
use crate::media::{first_bytes, join, run_camera};

fn camera_offer_h265(rtp_port: u16) -> String {
    format!("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video {rtp_port} RTP/AVPF 96\r\na=rtpmap:96 H265/90000\r\na=rtcp-fb:96 nack pli\r\na=sendonly\r\n")
}

/// A pipeline with an RtpEndpoint fed by an H.265 camera that already sent its first keyframe.
async fn h265_pipeline(c: &mut Client) -> (String, String, FakeCamera) {
    let mut cam = FakeCamera::new().await;
    cam.h265 = true;
    cam.gop = 20;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    c.subscribe(&rtp, "MediaFlowInStateChanged").await;
    let answer = c.invoke(&rtp, "processOffer", json!({"offer": camera_offer_h265(cam.port())})).await;
    let answer = answer.as_str().unwrap().to_string();
    assert!(answer.contains("a=rtpmap:96 H265/90000\r\n"), "the H.265 line is accepted: {answer}");
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(&answer));
    cam.send_frames(1).await;
    c.event("MediaFlowInStateChanged").await;
    (pipe, rtp, cam)
}

#[tokio::test]
async fn an_h265_camera_reaches_a_viewer_that_offers_h265_as_h265_with_the_cameras_profile() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let (pipe, rtp, cam) = h265_pipeline(&mut c).await;
    let (stop, camera) = run_camera(cam);
    let mut v = TestPeer::bind(Codecs::Vp8H264AndH265).await.unwrap();
    let (_web, answer) = join(&mut c, &pipe, &rtp, &mut v).await;
    assert!(answer.contains(" H265/90000") && !answer.contains(" H264/90000"), "{answer}");
    // libx265's SPS says Main (1), Main tier (0), level 2.1 (63); the viewer offered level 6.
    assert!(answer.contains("profile-id=1;tier-flag=0;level-id=63"), "the camera's own profile: {answer}");

    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 40).await, "received {} packets", v.packets().len());
    assert_eq!(first_bytes(&v)[0], 0x40, "the viewer starts with the VPS of a keyframe");
    let pt = v.packets()[0].header.payload_type;
    assert!(answer.contains(&format!("a=rtpmap:{} H265/90000", *pt)), "sent on the answer's H.265 type {pt:?}");
    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    c.ok("release", json!({"object": pipe})).await;
}

#[tokio::test]
async fn a_viewer_without_h265_gets_codec_unsupported_and_the_camera_keeps_its_other_viewers() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let (pipe, rtp, cam) = h265_pipeline(&mut c).await;
    let (stop, camera) = run_camera(cam);

    let mut refused = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    c.invoke(&rtp, "connect", json!({"sink": web, "mediaType": "VIDEO"})).await;
    let e = c.invoke_err(&web, "processOffer", json!({"offer": refused.offer()})).await;
    assert_eq!(e["data"]["type"], "SDP_END_POINT_PROCESS_OFFER_ERROR", "{e}");
    let message = e["message"].as_str().unwrap();
    assert!(message.starts_with("codec_unsupported:") && message.contains("H265"), "{message}");

    let mut v = TestPeer::bind(Codecs::Vp8H264AndH265).await.unwrap();
    join(&mut c, &pipe, &rtp, &mut v).await;
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 10).await, "received {} packets", v.packets().len());
    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    c.ok("release", json!({"object": pipe})).await;
}
