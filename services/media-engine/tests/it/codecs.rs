//! Camera codecs beyond H.264/VP8: an H.265 camera forwarded as H.265 to a viewer that offers
//! it (profile, tier and level from the camera's in-band VPS/SPS), refused with
//! `codec_unsupported` to one that does not.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use camview_common::testing::peer::{Codecs, TestPeer};
use serde_json::json;

use crate::helpers::*;
use crate::media::{first_bytes, join, run_camera};

#[tokio::test]
async fn an_h264_cameras_sps_names_its_profile_in_viewer_answers_whatever_its_sdp_claims() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.sps = SPS_MAIN_31; // its SDP (camera_offer) claims constrained baseline 42e01f
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    c.subscribe(&rtp, "MediaFlowInStateChanged").await;
    let answer = c.invoke(&rtp, "processOffer", json!({"offer": camera_offer(cam.port())})).await;
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(answer.as_str().unwrap()));
    cam.send_frames(1).await;
    c.event("MediaFlowInStateChanged").await;
    let (stop, camera) = run_camera(cam);
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let (_web, answer) = join(&mut c, &pipe, &rtp, &mut v).await;
    assert!(answer.contains("profile-level-id=4d401f"), "the SPS's main profile, not the SDP's claim: {answer}");
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 20).await, "received {} packets", v.packets().len());
    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    c.ok("release", json!({"object": pipe})).await;
}

/// An offer whose H.264 payload types are only those with `keep` in their fmtp (and their RTX).
fn only_h264(offer: String, keep: &str) -> String {
    let fmtp = |pt: &str| offer.lines().find_map(|l| l.strip_prefix(&format!("a=fmtp:{pt} "))).unwrap_or_default();
    let h264: Vec<String> = offer
        .lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter(|r| r.contains(" H264/"))
        .filter_map(|r| r.split_whitespace().next().map(str::to_string))
        .collect();
    let mut dropped: Vec<String> = h264.iter().filter(|pt| !fmtp(pt).contains(keep)).cloned().collect();
    let rtx: Vec<String> = offer
        .lines()
        .filter_map(|l| l.strip_prefix("a=fmtp:"))
        .filter(|r| dropped.iter().any(|pt| r.ends_with(&format!("apt={pt}"))))
        .filter_map(|r| r.split_whitespace().next().map(str::to_string))
        .collect();
    dropped.extend(rtx);
    let names = |l: &str| {
        dropped
            .iter()
            .any(|pt| ["a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"].iter().any(|a| l.starts_with(&format!("{a}{pt} "))))
    };
    offer
        .split("\r\n")
        .filter(|l| !names(l))
        .map(|l| match l.strip_prefix("m=video ") {
            Some(rest) => {
                let kept: Vec<&str> = rest.split(' ').filter(|t| !dropped.iter().any(|pt| pt == t)).collect();
                format!("m=video {}", kept.join(" "))
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[tokio::test]
async fn a_browser_without_the_cameras_h264_profile_still_gets_it_named_by_its_real_profile() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.sps = SPS_MAIN_31;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    c.subscribe(&rtp, "MediaFlowInStateChanged").await;
    let answer = c.invoke(&rtp, "processOffer", json!({"offer": camera_offer(cam.port())})).await;
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(answer.as_str().unwrap()));
    cam.send_frames(1).await;
    c.event("MediaFlowInStateChanged").await;
    let (stop, camera) = run_camera(cam);
    // Like Safari or Firefox: constrained baseline only, no main profile.
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    let edit = |o: String| {
        let o = only_h264(o, "profile-level-id=42e01f");
        assert!(!o.contains("4d001f") && o.contains("42e01f"), "{o}");
        o
    };
    let (_, answer) = crate::media::join_offering(&mut c, &pipe, &rtp, &web, &mut v, edit).await;
    assert!(answer.contains("profile-level-id=4d401f") && answer.contains(" H264/90000"), "{answer}");
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 20).await, "received {} packets", v.packets().len());
    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    c.ok("release", json!({"object": pipe})).await;
}

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

/// The H.264 camera's offer with an audio line (`audio` is its m-line tail: payload type and
/// attributes) on `audio_port`.
fn camera_offer_with_audio(rtp_port: u16, audio_port: u16, audio: &str) -> String {
    format!("{}m=audio {audio_port} RTP/AVP {audio}a=sendonly\r\n", camera_offer(rtp_port))
}

/// The `m=audio` port of an SDP.
fn audio_port(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .expect("m=audio line")
}

/// The camera's audio: 20 ms packets of payload type `pt` and `samples` per packet.
struct AudioSender {
    sock: tokio::net::UdpSocket,
    dest: SocketAddr,
    pt: u8,
    samples: u32,
    seq: u16,
    ts: u32,
}

impl AudioSender {
    async fn send(&mut self) {
        let mut p = vec![0x80, self.pt];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&self.ts.to_be_bytes());
        p.extend_from_slice(&0x0a0b0c0eu32.to_be_bytes());
        p.extend_from_slice(&[0xd5; 160]);
        self.sock.send_to(&p, self.dest).await.unwrap();
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(self.samples);
    }
}

/// A camera sending H.264 and `audio` (payload type `pt`); a viewer that offers audio gets the
/// audio packets as sent (payload type of the answer's `rtpmap`), one that offers only video
/// still gets its video.
async fn camera_audio_reaches_a_viewer_that_offers_it(audio: &str, pt: u8, rtpmap: &str, samples: u32) {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let offer = camera_offer_with_audio(cam.port(), cam.port() + 2, audio);
    let answer = c.invoke(&rtp, "processOffer", json!({"offer": offer})).await.as_str().unwrap().to_string();
    assert!(answer.contains(&format!("a=rtpmap:{pt} {rtpmap}\r\n")), "the audio line is answered: {answer}");
    assert_ne!(audio_port(&answer), 0, "{answer}");
    let localhost = "127.0.0.1".parse().unwrap();
    cam.dest = SocketAddr::new(localhost, video_port(&answer));
    let mut sender = AudioSender {
        sock: tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        dest: SocketAddr::new(localhost, audio_port(&answer)),
        pt,
        samples,
        seq: 7,
        ts: 1234,
    };
    let (stop, camera) = run_camera(cam);
    let stop_audio = stop.clone();
    let audio_task = tokio::spawn(async move {
        while !stop_audio.load(Ordering::Relaxed) {
            sender.send().await;
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });

    let mut listener = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    listener.also_offer_audio();
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    c.invoke(&rtp, "connect", json!({"sink": web, "mediaType": "AUDIO"})).await;
    let (_, answer) = crate::media::join_endpoint(&mut c, &pipe, &rtp, &web, &mut listener).await;
    let answered_pt = answer
        .lines()
        .find_map(|l| {
            l.strip_prefix("a=rtpmap:").filter(|r| r.to_ascii_lowercase().contains(&rtpmap.to_ascii_lowercase()))
        })
        .and_then(|r| r.split_whitespace().next()?.parse::<u8>().ok())
        .unwrap_or_else(|| panic!("the viewer's answer accepts {rtpmap}: {answer}"));
    let audio_of = |v: &TestPeer| v.packets().iter().filter(|p| *p.header.payload_type == answered_pt).count();
    assert!(
        listener.drive_until(WAIT, |v| audio_of(v) >= 20 && v.packets().len() >= 40).await,
        "audio packets: {}, all: {}",
        audio_of(&listener),
        listener.packets().len()
    );
    let first_audio = listener.packets().iter().find(|p| *p.header.payload_type == answered_pt).unwrap();
    assert_eq!(&first_audio.payload[..], &[0xd5u8; 160][..], "the camera's payload, untouched");

    let mut video_only = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let (_, answer) = join(&mut c, &pipe, &rtp, &mut video_only).await;
    assert!(!answer.contains("m=audio"), "{answer}");
    assert!(video_only.drive_until(WAIT, |v| v.packets().len() >= 20).await, "the video-only viewer gets video");

    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    audio_task.await.unwrap();
    c.ok("release", json!({"object": pipe})).await;
    assert_eq!(engine.stats().core.objects, 0);
}

#[tokio::test]
async fn pcmu_audio_from_the_camera_reaches_a_viewer_that_offers_it_and_video_only_viewers_still_play() {
    camera_audio_reaches_a_viewer_that_offers_it("0\r\na=rtpmap:0 PCMU/8000\r\n", 0, "PCMU/8000", 160).await;
}

#[tokio::test]
async fn opus_audio_from_the_camera_reaches_a_viewer_that_offers_it() {
    camera_audio_reaches_a_viewer_that_offers_it("111\r\na=rtpmap:111 opus/48000/2\r\n", 111, "opus/48000/2", 960)
        .await;
}

#[tokio::test]
async fn aac_audio_is_rejected_and_the_video_still_reaches_viewers() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let aac = "97\r\na=rtpmap:97 mpeg4-generic/48000/2\r\na=fmtp:97 streamtype=5;profile-level-id=1;mode=AAC-hbr\r\n";
    let offer = camera_offer_with_audio(cam.port(), cam.port() + 2, aac);
    let answer = c.invoke(&rtp, "processOffer", json!({"offer": offer})).await.as_str().unwrap().to_string();
    assert_eq!(audio_port(&answer), 0, "AAC is not forwardable: its line is rejected: {answer}");
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(&answer));
    let (stop, camera) = run_camera(cam);
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    v.also_offer_audio();
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    c.invoke(&rtp, "connect", json!({"sink": web, "mediaType": "AUDIO"})).await;
    let (_, answer) = crate::media::join_endpoint(&mut c, &pipe, &rtp, &web, &mut v).await;
    assert!(answer.contains("m=audio 0 "), "the viewer's audio line is rejected: {answer}");
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 20).await, "video plays alone: {}", v.packets().len());
    stop.store(true, Ordering::Relaxed);
    camera.await.unwrap();
    c.ok("release", json!({"object": pipe})).await;
}

/// ffmpeg, killed when dropped.
struct Ffmpeg(std::process::Child);

impl Drop for Ffmpeg {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_real_libx265_rtp_camera_reaches_an_h265_viewer_with_the_profile_of_its_sps() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let rtp = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    c.subscribe(&rtp, "MediaFlowInStateChanged").await;
    let answer = c.invoke(&rtp, "processOffer", json!({"offer": camera_offer_h265(5004)})).await;
    let port = video_port(answer.as_str().unwrap());
    // ffmpeg's RFC 7798 packetizer, libx265 repeating its VPS/SPS/PPS before every keyframe.
    let camera = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-pix_fmt", "yuv420p", "-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency"])
        .args(["-x265-params", "repeat-headers=1:keyint=25:log-level=error", "-payload_type", "96", "-f", "rtp"])
        .arg(format!("rtp://127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg runs (scripts/test installs it)");
    let _camera = Ffmpeg(camera);
    c.event("MediaFlowInStateChanged").await;

    let mut v = TestPeer::bind(Codecs::Vp8H264AndH265).await.unwrap();
    let (_web, answer) = join(&mut c, &pipe, &rtp, &mut v).await;
    // libx265 at 320x240: Main (1), Main tier (0), level 2 (60), read from its in-band SPS.
    assert!(answer.contains("profile-id=1;tier-flag=0;level-id=60"), "{answer}");
    assert!(v.drive_until(WAIT, |v| v.packets().len() >= 30).await, "received {} packets", v.packets().len());
    let first = first_bytes(&v)[0];
    assert!(first == 0x40 || first == 48 << 1, "the viewer starts with the VPS (alone or aggregated): {first:#x}");
    c.ok("release", json!({"object": pipe})).await;
}
