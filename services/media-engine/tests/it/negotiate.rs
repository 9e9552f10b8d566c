//! `generateOffer` / `processAnswer`: the engine offers, the browser or camera answers.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use camview_common::testing::peer::{Codecs, TestPeer};
use serde_json::json;

use crate::helpers::*;
use crate::media::{first_bytes, kurento_candidate, pipeline_with_camera, run_camera, seqs};

/// A camera's answer to the RtpEndpoint's offer: H.264 on pt 96, from `rtp_port`.
fn camera_answer(rtp_port: u16) -> String {
    format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video {rtp_port} RTP/AVPF 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\na=rtcp-fb:96 nack pli\r\na=sendonly\r\n"
    )
}

async fn code_of(c: &mut Client, object: &str, op: &str, params: serde_json::Value) -> i64 {
    c.invoke_err(object, op, params).await["code"].as_i64().expect("an error code")
}

#[tokio::test]
async fn generate_offer_and_process_answer_follow_the_kurento_error_rules() {
    let engine = spawn_engine_with(|c| {
        c.min_port = 32000;
        c.max_port = 32999;
    })
    .await;
    let mut c = Client::connect(&engine).await;
    let pipe = c.create("MediaPipeline", json!({})).await;

    // WebRtcEndpoint: answer before offer, then one offer only.
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    assert_eq!(code_of(&mut c, &web, "processAnswer", json!({"answer": "v=0\r\n"})).await, 40209);
    let offer = c
        .invoke(&web, "generateOffer", json!({"options": {"offerToReceiveAudio": false, "offerToReceiveVideo": false}}))
        .await;
    let offer = offer.as_str().unwrap().to_string();
    for part in [
        "m=video",
        "a=sendonly",
        "a=ice-ufrag:",
        "a=ice-pwd:",
        "a=fingerprint:",
        "H264/90000",
        "packetization-mode=1",
        "VP8/90000",
    ] {
        assert!(offer.contains(part), "{part} in {offer}");
    }
    assert!(!offer.contains("a=candidate") && !offer.contains("m=audio"), "{offer}");
    assert_eq!(c.invoke(&web, "getLocalSessionDescriptor", json!({})).await, json!(offer));
    assert_eq!(code_of(&mut c, &web, "getRemoteSessionDescriptor", json!({})).await, 40203);
    assert_eq!(code_of(&mut c, &web, "generateOffer", json!({})).await, 40208);
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    assert_eq!(code_of(&mut c, &web, "processOffer", json!({"offer": v.offer()})).await, 40208);
    assert_eq!(code_of(&mut c, &web, "processAnswer", json!({"answer": ""})).await, 40201);
    assert_eq!(code_of(&mut c, &web, "processAnswer", json!({"answer": "not an sdp"})).await, 40201);
    assert_eq!(code_of(&mut c, &web, "processAnswer", json!({})).await, 40001, "the answer is mandatory");

    // A WebRtcEndpoint negotiated by processOffer offers nothing and takes no answer.
    let web2 = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    c.invoke(&web2, "processOffer", json!({"offer": TestPeer::bind(Codecs::Vp8AndH264).await.unwrap().offer()})).await;
    assert_eq!(code_of(&mut c, &web2, "generateOffer", json!({})).await, 40208);
    assert_eq!(code_of(&mut c, &web2, "processAnswer", json!({"answer": offer})).await, 40209);

    // RtpEndpoint: the same rules, and the answer is processed once.
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    assert_eq!(code_of(&mut c, &rtp, "processAnswer", json!({"answer": camera_answer(5000)})).await, 40209);
    let offer = c.invoke(&rtp, "generateOffer", json!({})).await.as_str().unwrap().to_string();
    let port = video_port(&offer);
    assert!(port.is_multiple_of(2) && (32000..=32999).contains(&port), "{port}");
    for part in [
        "c=IN IP4 127.0.0.1\r\n",
        "RTP/AVPF 96 97\r\n",
        "a=recvonly\r\n",
        "a=rtpmap:96 H264/90000\r\n",
        "a=fmtp:96 packetization-mode=1\r\n",
        "a=rtpmap:97 VP8/90000\r\n",
        "a=rtcp-fb:96 nack pli\r\n",
    ] {
        assert!(offer.contains(part), "{part:?} in {offer}");
    }
    assert_eq!(code_of(&mut c, &rtp, "generateOffer", json!({})).await, 40208);
    assert_eq!(code_of(&mut c, &rtp, "processOffer", json!({"offer": camera_offer(5000)})).await, 40208);
    assert_eq!(code_of(&mut c, &rtp, "processAnswer", json!({"answer": "garbage"})).await, 40201);
    assert_eq!(code_of(&mut c, &rtp, "getRemoteSessionDescriptor", json!({})).await, 40203);
    assert_eq!(
        c.invoke(&rtp, "processAnswer", json!({"answer": camera_answer(5000)})).await,
        json!(offer),
        "the local descriptor comes back"
    );
    assert_eq!(c.invoke(&rtp, "getRemoteSessionDescriptor", json!({})).await, json!(camera_answer(5000)));
    assert_eq!(code_of(&mut c, &rtp, "processAnswer", json!({"answer": camera_answer(5000)})).await, 40210);

    // An RtpEndpoint negotiated by processOffer takes no answer.
    let rtp2 = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    c.invoke(&rtp2, "processOffer", json!({"offer": camera_offer(5000)})).await;
    assert_eq!(code_of(&mut c, &rtp2, "processAnswer", json!({"answer": camera_answer(5000)})).await, 40209);
    assert_eq!(code_of(&mut c, &rtp2, "generateOffer", json!({})).await, 40208);

    c.ok("release", json!({"object": pipe})).await;
    assert_eq!(engine.stats().core.objects, 0);
}

#[tokio::test]
async fn a_viewer_negotiated_by_generate_offer_receives_the_camera_stream() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.gop = 20;
    let (pipe, rtp, _) = pipeline_with_camera(&mut c, &mut cam).await;
    let (stop, camera) = run_camera(cam);

    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    for ev in ["IceCandidateFound", "IceGatheringDone", "MediaFlowOutStateChanged"] {
        c.subscribe(&web, ev).await;
    }
    c.invoke(&rtp, "connect", json!({"sink": web, "mediaType": "VIDEO"})).await;
    let offer = c.invoke(&web, "generateOffer", json!({})).await.as_str().unwrap().to_string();
    assert!(
        offer.contains("profile-level-id=42e01f") && !offer.contains("VP8"),
        "the offer carries the camera's codec only: {offer}"
    );
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let answer = v.answer(&offer).unwrap();
    assert_eq!(c.invoke(&web, "processAnswer", json!({"answer": answer})).await, json!(offer));
    assert_eq!(c.invoke(&web, "getRemoteSessionDescriptor", json!({})).await, json!(answer));
    assert_eq!(code_of(&mut c, &web, "processAnswer", json!({"answer": answer})).await, 40210);

    c.invoke(&web, "gatherCandidates", json!({})).await;
    let cand = c.event_where("IceCandidateFound", |e| e["object"] == json!(web)).await;
    v.add_remote_candidate(cand["data"]["candidate"]["candidate"].as_str().unwrap()).unwrap();
    c.event_where("IceGatheringDone", |e| e["object"] == json!(web)).await;
    c.invoke(&web, "addIceCandidate", json!({"candidate": kurento_candidate(&v)})).await;

    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 60).await, "received {} packets", v.packets().len());
    assert_eq!(first_bytes(&v)[0], 0x67, "the viewer starts with the SPS of a keyframe");
    let seqs = seqs(&v);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "gapless rewritten sequence numbers");
    assert_eq!(
        c.event_where("MediaFlowOutStateChanged", |e| e["object"] == json!(web)).await["data"]["state"],
        "FLOWING"
    );

    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    c.ok("release", json!({"object": pipe})).await;
    assert_eq!(engine.stats().core.objects, 0);
}

#[tokio::test]
async fn an_rtp_endpoint_negotiated_by_generate_offer_receives_the_camera() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    c.subscribe(&rtp, "MediaFlowInStateChanged").await;
    c.subscribe(&rtp, "MediaSessionStarted").await;
    let offer = c.invoke(&rtp, "generateOffer", json!({})).await.as_str().unwrap().to_string();
    c.invoke(&rtp, "processAnswer", json!({"answer": camera_answer(cam.port())})).await;
    c.event("MediaSessionStarted").await;
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(&offer));
    cam.send_frames(3).await;
    let ev = c.event("MediaFlowInStateChanged").await;
    assert_eq!((ev["object"].as_str(), ev["data"]["state"].as_str()), (Some(rtp.as_str()), Some("FLOWING")));
    assert_eq!(c.invoke(&rtp, "isMediaFlowingIn", json!({"mediaType": "VIDEO"})).await, true);
    c.ok("release", json!({"object": pipe})).await;
}
