//! PlayerEndpoint against a real RTSP camera (GStreamer's RTSP server from Debian, see
//! `camview_common::testing::rtsp`): a str0m viewer decodes what the engine forwards and hears
//! the camera's G.711 (AAC only described), the camera going away and coming back, wrong
//! credentials and unplayable URIs.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use camera_sim::probe::{DecodedPicture, H264Probe};
use camview_common::testing::peer::{Codecs, TestPeer};
use camview_common::testing::rtsp::{CameraAudio, RtspCamera};
use serde_json::{json, Value};

use crate::helpers::{spawn_engine, Client, WAIT};
use crate::media::{join, join_endpoint};

const USER: &str = "viewer";
const PASSWORD: &str = "pw-Zq81xK";

/// A TestPeer's received packets, decoded as H.264.
struct Decoded {
    probe: H264Probe,
    fed: usize,
    pictures: Vec<DecodedPicture>,
}

impl Decoded {
    fn new() -> Self {
        Decoded { probe: H264Probe::new().expect("an H.264 decoder"), fed: 0, pictures: vec![] }
    }

    fn update(&mut self, v: &TestPeer) -> &[DecodedPicture] {
        for p in &v.packets()[self.fed..] {
            let mut d = vec![0x80, (u8::from(p.header.marker) << 7) | *p.header.payload_type];
            d.extend_from_slice(&p.header.sequence_number.to_be_bytes());
            d.extend_from_slice(&p.header.timestamp.to_be_bytes());
            d.extend_from_slice(&(*p.header.ssrc).to_be_bytes());
            d.extend_from_slice(&p.payload);
            if let Ok(pictures) = self.probe.push(&d) {
                self.pictures.extend(pictures);
            }
        }
        self.fed = v.packets().len();
        &self.pictures
    }

    fn idrs(&self) -> usize {
        self.pictures.iter().filter(|p| p.idr).count()
    }
}

/// Drives the viewer until it decoded `n` more IDR pictures.
async fn decode_idrs(v: &mut TestPeer, dec: &mut Decoded, n: usize) -> bool {
    let want = dec.idrs() + n;
    let deadline = Instant::now() + WAIT;
    loop {
        dec.update(v);
        if dec.idrs() >= want {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        v.step(deadline).await.expect("str0m takes the engine's datagrams");
    }
}

/// Waits for an event of `object` while keeping the viewer's connection alive.
async fn event_driving(c: &mut Client, v: &mut TestPeer, ty: &str, object: &str) -> Value {
    let wait = async {
        loop {
            tokio::select! {
                e = c.event_where(ty, |e| e["object"] == json!(object)) => return e,
                r = v.step(Instant::now() + Duration::from_millis(50)) => r.expect("str0m takes the engine's datagrams"),
            }
        }
    };
    tokio::time::timeout(WAIT * 3, wait).await.unwrap_or_else(|_| panic!("no {ty} event of {object} in time"))
}

/// A pipeline with a PlayerEndpoint on `uri` and its events subscribed.
async fn player(c: &mut Client, uri: &str) -> (String, String) {
    let pipe = c.create("MediaPipeline", json!({})).await;
    let player = c.create("PlayerEndpoint", json!({"mediaPipeline": pipe, "uri": uri})).await;
    for ev in ["MediaFlowInStateChanged", "Error", "EndOfStream"] {
        c.subscribe(&player, ev).await;
    }
    (pipe, player)
}

async fn flow(c: &mut Client, player: &str) -> Value {
    c.event_where("MediaFlowInStateChanged", |e| e["object"] == json!(player)).await["data"]["state"].clone()
}

/// Log lines of everything the engine does on this thread (the test runs on one thread).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_viewer_decodes_a_real_rtsp_camera_whose_sps_and_pps_are_only_in_its_sdp_and_no_log_shows_its_password() {
    let Some(camera) = RtspCamera::start(USER, PASSWORD) else { return };
    let (logs, _guard) = Logs::capture();
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let (pipe, player) = player(&mut c, &camera.url()).await;
    c.invoke(&player, "play", json!({})).await;
    assert_eq!(flow(&mut c, &player).await, "FLOWING");

    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    let (_web, answer) = join(&mut c, &pipe, &player, &mut v).await;
    assert!(answer.contains("H264/90000"), "the camera's codec from its DESCRIBE: {answer}");
    let mut dec = Decoded::new();
    assert!(decode_idrs(&mut v, &mut dec, 2).await, "decoded {} pictures", dec.pictures.len());
    let p = dec.pictures.last().unwrap();
    assert_eq!((p.width, p.height), (320, 240), "the camera's own pictures, not transcoded");
    assert_eq!(c.invoke(&player, "isMediaFlowingIn", json!({"mediaType": "VIDEO"})).await, true);
    let stats = c.invoke(&player, "getStats", json!({})).await;
    let inbound = stats.as_object().unwrap().values().find(|s| s["__type__"] == "RTCInboundRTPStreamStats").unwrap();
    assert!(inbound["packetsReceived"].as_u64().unwrap() > 0 && inbound["viewers"] == 1, "{inbound}");

    c.ok("release", json!({"object": pipe})).await;
    assert_eq!(engine.stats().core.objects, 0);
    let text = logs.text();
    assert!(text.contains("RTSP camera playing"), "the player logged its start: {text}");
    assert!(text.contains(&format!("{USER}:***@127.0.0.1")), "the URI is logged redacted: {text}");
    assert!(!text.contains(PASSWORD), "a log line shows the camera's password");
}

#[tokio::test]
async fn media_resumes_after_the_rtsp_camera_goes_away_ends_its_stream_is_played_again_and_comes_back() {
    let Some(mut camera) = RtspCamera::start(USER, PASSWORD) else { return };
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let (pipe, player) = player(&mut c, &camera.url()).await;
    c.invoke(&player, "play", json!({})).await;
    assert_eq!(flow(&mut c, &player).await, "FLOWING");
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    join(&mut c, &pipe, &player, &mut v).await;
    let mut dec = Decoded::new();
    assert!(decode_idrs(&mut v, &mut dec, 1).await, "pictures before the outage");

    camera.kill();
    let state = event_driving(&mut c, &mut v, "MediaFlowInStateChanged", &player).await;
    assert_eq!(state["data"]["state"], "NOT_FLOWING", "the stream is not live while the camera is away");
    // Its connection closed: the end of its stream. As with Kurento, the player stops there
    // and the application plays it again (the controller does, `pulled.rs`).
    event_driving(&mut c, &mut v, "EndOfStream", &player).await;
    assert_eq!(c.invoke(&player, "isMediaFlowingIn", json!({"mediaType": "VIDEO"})).await, false);
    c.invoke(&player, "play", json!({})).await;
    let error = event_driving(&mut c, &mut v, "Error", &player).await;
    let description = error["data"]["description"].as_str().unwrap();
    assert!(description.contains("cannot play rtsp://viewer:***@127.0.0.1"), "{description}");
    assert!(!description.contains(PASSWORD));

    camera.restart();
    let state = event_driving(&mut c, &mut v, "MediaFlowInStateChanged", &player).await;
    assert_eq!(state["data"]["state"], "FLOWING", "the player reconnected");
    let idrs = dec.idrs();
    assert!(decode_idrs(&mut v, &mut dec, 2).await, "the same viewer decodes the camera again");
    println!("IDR pictures: {idrs} before the outage, {} in all", dec.idrs());
    c.ok("release", json!({"object": pipe})).await;
}

#[tokio::test]
async fn wrong_credentials_and_an_unreachable_camera_raise_a_clear_error_event() {
    let camera = RtspCamera::start(USER, PASSWORD);
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut uris = vec![(format!("rtsp://{USER}:{PASSWORD}@127.0.0.1:1/cam"), "refused")];
    if let Some(camera) = &camera {
        uris.push((camera.url_with_password("not-the-password"), "401"));
    }
    for (uri, why) in uris {
        let (pipe, player) = player(&mut c, &uri).await;
        c.invoke(&player, "play", json!({})).await;
        let error = c.event_where("Error", |e| e["object"] == json!(player)).await;
        let description = error["data"]["description"].as_str().unwrap().to_string();
        assert!(description.contains(why) && description.contains(":***@127.0.0.1"), "{description}");
        assert!(!description.contains(PASSWORD) && !description.contains("not-the-password"), "{description}");
        assert_eq!(error["data"]["type"], "CONNECT_ERROR");
        assert_eq!(c.invoke(&player, "isMediaFlowingIn", json!({"mediaType": "VIDEO"})).await, false);
        c.ok("release", json!({"object": pipe})).await;
    }
}

#[tokio::test]
async fn a_player_endpoint_refuses_uris_it_cannot_play_when_created() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    for (uri, message) in [
        ("rtsps://u:secret@cam/x", "rtsps:// scheme is not supported"),
        ("file:///etc/passwd", "file:// scheme is not supported"),
        ("not a uri", "not a valid URL"),
    ] {
        let e = c
            .err("create", json!({"type": "PlayerEndpoint", "constructorParams": {"mediaPipeline": pipe, "uri": uri}}))
            .await;
        assert_eq!(e["code"], 40107, "{e}");
        let text = e["message"].as_str().unwrap();
        assert!(text.contains(message) && !text.contains("secret"), "{text}");
    }
    let e = c.err("create", json!({"type": "PlayerEndpoint", "constructorParams": {"mediaPipeline": pipe}})).await;
    assert_eq!(e["message"], "'uri' parameter is required");
    c.ok("release", json!({"object": pipe})).await;
}

#[tokio::test]
async fn a_viewer_that_negotiated_another_codec_before_the_camera_was_described_gets_an_error_not_garbage() {
    let Some(camera) = RtspCamera::start(USER, PASSWORD) else { return };
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let (pipe, player) = player(&mut c, &camera.url()).await;
    let mut v = TestPeer::bind(Codecs::Vp8).await.unwrap();
    let (web, answer) = join(&mut c, &pipe, &player, &mut v).await;
    assert!(answer.contains("VP8/90000"), "nothing known of the camera yet: {answer}");
    c.subscribe(&web, "Error").await;
    c.invoke(&player, "play", json!({})).await;
    assert_eq!(flow(&mut c, &player).await, "FLOWING");
    let error = event_driving(&mut c, &mut v, "Error", &web).await;
    let description = error["data"]["description"].as_str().unwrap();
    assert!(description.contains("negotiated VP8 but the RTSP camera sends H264"), "{description}");
    let stats = c.invoke(&player, "getStats", json!({})).await;
    let inbound = stats.as_object().unwrap().values().find(|s| s["__type__"] == "RTCInboundRTPStreamStats").unwrap();
    assert_eq!(inbound["viewers"], 0, "the VP8 viewer is not fed H.264: {inbound}");
    c.ok("release", json!({"object": pipe})).await;
}

#[tokio::test]
async fn with_udp_transport_a_camera_that_refuses_tcp_plays_and_the_viewer_decodes_it() {
    let Some(camera) = RtspCamera::start_udp_only(USER, PASSWORD) else { return };
    let engine =
        crate::helpers::spawn_engine_with(|cfg| cfg.rtsp_transport = camview_media_engine::RtspTransport::Udp).await;
    let mut c = Client::connect(&engine).await;
    let (pipe, player) = player(&mut c, &camera.url()).await;
    c.invoke(&player, "play", json!({})).await;
    assert_eq!(flow(&mut c, &player).await, "FLOWING");
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    join(&mut c, &pipe, &player, &mut v).await;
    let mut dec = Decoded::new();
    assert!(decode_idrs(&mut v, &mut dec, 1).await, "decoded {} pictures over UDP", dec.pictures.len());
    c.ok("release", json!({"object": pipe})).await;
}

/// Drives the viewer until `done` holds for it (decoding what it received), or `WAIT` passed.
async fn drive_until(v: &mut TestPeer, dec: &mut Decoded, done: impl Fn(&TestPeer, &Decoded) -> bool) -> bool {
    let deadline = Instant::now() + WAIT;
    loop {
        dec.update(v);
        if done(v, dec) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        v.step(deadline).await.expect("str0m takes the engine's datagrams");
    }
}

fn packets_of(v: &TestPeer, pt: u8) -> usize {
    v.packets().iter().filter(|p| *p.header.payload_type == pt).count()
}

/// The camera's audio as a PlayerEndpoint's `getStats` for AUDIO reports it.
async fn audio_stats(c: &mut Client, player: &str) -> Value {
    let stats = c.invoke(player, "getStats", json!({"mediaType": "AUDIO"})).await;
    let audio = stats.as_object().unwrap().values().find(|s| s["kind"] == "audio").cloned();
    audio.unwrap_or_else(|| panic!("no audio stats: {stats}"))
}

/// A viewer of `player` connected for AUDIO and VIDEO, offering audio.
async fn join_with_audio(c: &mut Client, pipe: &str, player: &str) -> (TestPeer, String) {
    let mut v = TestPeer::bind(Codecs::Vp8AndH264).await.unwrap();
    v.also_offer_audio();
    let web = c.create("WebRtcEndpoint", json!({"mediaPipeline": pipe})).await;
    c.invoke(player, "connect", json!({"sink": web, "mediaType": "AUDIO"})).await;
    let (_, answer) = join_endpoint(c, pipe, player, &web, &mut v).await;
    (v, answer)
}

#[tokio::test]
async fn an_rtsp_cameras_g711_audio_reaches_a_viewer_that_offers_it_untranscoded_beside_the_video() {
    let Some(camera) = RtspCamera::start_with_audio(USER, PASSWORD, CameraAudio::Pcma) else { return };
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let (pipe, player) = player(&mut c, &camera.url()).await;
    c.invoke(&player, "play", json!({})).await;
    assert_eq!(flow(&mut c, &player).await, "FLOWING");

    let (mut v, answer) = join_with_audio(&mut c, &pipe, &player).await;
    assert!(answer.contains(" PCMA/8000"), "the camera's audio codec from its DESCRIBE: {answer}");
    let mut dec = Decoded::new();
    let heard = drive_until(&mut v, &mut dec, |v, d| packets_of(v, 8) >= 20 && d.idrs() >= 1).await;
    assert!(heard, "PCMA packets: {}, IDR pictures: {}", packets_of(&v, 8), dec.idrs());
    let sizes: Vec<usize> =
        v.packets().iter().filter(|p| *p.header.payload_type == 8).map(|p| p.payload.len()).collect();
    assert!(sizes.iter().all(|n| *n > 0), "G.711 as the camera packetized it: {sizes:?}");
    let audio = audio_stats(&mut c, &player).await;
    assert_eq!(audio["codecId"], "PCMA/8000", "{audio}");
    assert!(audio["packetsReceived"].as_u64().unwrap() > 0 && audio["viewers"] == 1, "{audio}");
    c.ok("release", json!({"object": pipe})).await;
    assert_eq!(engine.stats().core.objects, 0);
}

#[tokio::test]
async fn an_rtsp_cameras_aac_is_described_not_forwarded_and_its_video_plays_alone() {
    let Some(camera) = RtspCamera::start_with_audio(USER, PASSWORD, CameraAudio::Aac) else { return };
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let (pipe, player) = player(&mut c, &camera.url()).await;
    c.invoke(&player, "play", json!({})).await;
    assert_eq!(flow(&mut c, &player).await, "FLOWING");

    let (mut v, answer) = join_with_audio(&mut c, &pipe, &player).await;
    assert!(answer.contains("m=audio 0 "), "no audio to give: {answer}");
    let mut dec = Decoded::new();
    assert!(decode_idrs(&mut v, &mut dec, 1).await, "decoded {} pictures", dec.pictures.len());
    assert_eq!(packets_of(&v, 0) + packets_of(&v, 8) + packets_of(&v, 111), 0, "only video");
    let audio = audio_stats(&mut c, &player).await;
    assert_eq!(audio["codecId"], "mpeg4-generic/16000", "{audio}");
    assert_eq!((audio["forwarded"].clone(), audio["packetsReceived"].clone()), (json!(false), json!(0)), "{audio}");
    c.ok("release", json!({"object": pipe})).await;
}
