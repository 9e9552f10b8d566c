//! `GET /streams/{id}/snapshot.jpg` against a stand-in media-controller that answers
//! `OpenTap` and plays a media server: it sends real libx264 RTP (the unit tests' capture) from
//! the address its answer names, to the address the api's offer names.

use camview_proto::CameraId;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use camview_common::bus::BusClient;
use camview_common::testing::RedisServer;
use camview_common::Bus;
use camview_proto::bus::{Done, Message};
use camview_proto::snapshot::TapOpened;
use camview_proto::stream::{Codec, RtpTarget};
use tokio::net::UdpSocket;

use camview_api::metrics::Metrics;
use camview_api::snapshot::{SnapshotSettings, Snapshots};

use crate::helpers::{assert_error, redis_backend, spawn_on, Options, TestApp};
use crate::responder::sample_stream;

/// libx264 RTP, 160x120, two keyframes, each datagram prefixed with its u16 length.
const X264: &[u8] = include_bytes!("../../src/snapshot/testdata/x264-160x120.rtp");

fn x264_packets() -> Vec<&'static [u8]> {
    let (mut out, mut rest) = (vec![], X264);
    while rest.len() >= 2 {
        let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        out.push(&rest[2..2 + n]);
        rest = &rest[2 + n..];
    }
    out
}

/// The address an SDP's `c=` and `m=video` lines name.
fn sdp_address(sdp: &str) -> SocketAddr {
    let ip = sdp.lines().find_map(|l| l.strip_prefix("c=IN IP4 ")).expect("c=").trim();
    let port = sdp.lines().find_map(|l| l.strip_prefix("m=video ")).and_then(|r| r.split(' ').next()).expect("m=");
    format!("{ip}:{}", port.trim()).parse().unwrap()
}

/// Answers every `OpenTap` from `media` (sending the x264 packets to the offer's address when
/// `send` is set, and a stranger's copy of them from another socket first) and every
/// `CloseTap` with `Done`, recording the endpoints closed in `closed`.
fn fake_controller(bus: Arc<dyn Bus>, send: bool) -> tokio::task::JoinHandle<()> {
    fake_controller_recording(bus, send, Arc::default())
}

fn fake_controller_recording(
    bus: Arc<dyn Bus>,
    send: bool,
    closed: Arc<std::sync::Mutex<Vec<String>>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let Ok(deliveries) = bus.read_commands("fake-controller", 16, Duration::from_millis(200)).await else {
                continue;
            };
            for d in deliveries {
                let reply = match &d.envelope.message {
                    Message::OpenTap(open) => {
                        let media = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                        let port = media.local_addr().unwrap().port();
                        let answer = format!(
                            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=Kurento Media Server\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                             m=video {port} RTP/AVPF 96\r\na=sendonly\r\na=rtpmap:96 H264/90000\r\n"
                        );
                        let to = sdp_address(&open.sdp_offer);
                        if send {
                            tokio::spawn(async move {
                                let stranger = UdpSocket::bind("127.0.0.1:0").await.unwrap();
                                loop {
                                    for p in x264_packets() {
                                        // A stranger's copy (which must be ignored) is damaged: its IDR is
                                        // all zeros, so a snapshot made of it would not decode.
                                        let mut bad = p.to_vec();
                                        bad[12..].fill(0);
                                        let _ = stranger.send_to(&bad, to).await;
                                        let _ = media.send_to(p, to).await;
                                    }
                                    tokio::time::sleep(Duration::from_millis(200)).await;
                                    // a camera's pace
                                }
                            });
                        }
                        Message::TapOpened(TapOpened {
                            camera_id: open.camera_id.clone(),
                            tap_id: open.tap_id.clone(),
                            endpoint_id: format!("p/{}_kurento.RtpEndpoint", open.tap_id),
                            sdp_answer: answer,
                        })
                    }
                    Message::CloseTap(c) => {
                        closed.lock().unwrap().push(c.endpoint_id.clone());
                        Message::Done(Done {})
                    }
                    other => Message::failed(camview_proto::ErrorCode::Internal, other.kind()),
                };
                let _ = bus.ack_command(&d.delivery_id).await;
                let _ = BusClient::reply(bus.as_ref(), &d.envelope, reply).await;
            }
        }
    })
}

async fn app_with_fake_controller(send: bool) -> (TestApp, tokio::task::JoinHandle<()>) {
    let backend = redis_backend(&RedisServer::shared().url()).await;
    let fake = fake_controller(backend.bus.clone(), send);
    let options = Options {
        responder: false,
        env: vec![("SNAPSHOT_RTP_IP", "127.0.0.1".into()), ("SNAPSHOT_KEYFRAME_WAIT_MS", "300".into())],
        ..Options::default()
    };
    (spawn_on(backend, options).await, fake)
}

#[tokio::test]
async fn a_snapshot_is_a_jpeg_of_the_keyframe_the_media_server_sends_and_strangers_packets_are_ignored() {
    let (app, fake) = app_with_fake_controller(true).await;
    app.registry.put_stream(&sample_stream("snapcam")).await.unwrap();
    let asked = std::time::Instant::now();
    let r = app.get("/streams/snapcam/snapshot.jpg").await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.headers()["x-snapshot-size"], "160x120");
    let jpeg = r.bytes().await.unwrap();
    assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
    // Asked again within the second: the cached picture, not a new decode (the fake sends two
    // different keyframes over and over). Only checked when this machine was that quick.
    let again = app.get("/streams/snapcam/snapshot.jpg").await.bytes().await.unwrap();
    // Both decisions fell within `asked.elapsed()` of each other.
    if asked.elapsed() < camview_api::snapshot::MIN_DECODE_INTERVAL {
        assert_eq!(again, jpeg, "a second picture within the decode interval");
    } else {
        println!("both requests took {:?}: cache not checked", asked.elapsed());
    }
    fake.abort();
}

#[tokio::test]
async fn no_keyframe_within_the_wait_is_503_snapshot_unavailable_with_retry_after() {
    let (app, fake) = app_with_fake_controller(false).await;
    app.registry.put_stream(&sample_stream("quietcam")).await.unwrap();
    let r = app.get("/streams/quietcam/snapshot.jpg").await;
    assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
    assert_error(r, 503, "snapshot_unavailable").await;
    fake.abort();
}

#[tokio::test]
async fn a_vp8_stream_is_415_snapshot_unsupported_codec_and_an_unknown_one_404() {
    let (app, fake) = app_with_fake_controller(false).await;
    let mut vp8 = sample_stream("vp8cam");
    vp8.rtp =
        Some(RtpTarget { host: "127.0.0.1".into(), port: 50_000, codec: Codec::VP8, payload_type: 97, audio: None });
    app.registry.put_stream(&vp8).await.unwrap();
    assert_error(app.get("/streams/vp8cam/snapshot.jpg").await, 415, "snapshot_unsupported_codec").await;
    assert_error(app.get("/streams/nocam/snapshot.jpg").await, 404, "stream_not_found").await;
    let viewer = app.viewer("bob", &["othercam"]).await;
    let r = app.as_user(&viewer, reqwest::Method::GET, "/streams/vp8cam/snapshot.jpg").send().await.unwrap();
    assert_error(r, 403, "forbidden").await;
    fake.abort();
}

/// Tap requests in `camview_controller_requests_total` (this binary's tests share the process
/// registry and run in parallel: callers compare before and after, expecting at least their own).
fn tap_requests() -> [f64; 2] {
    let text = camview_common::telemetry::prometheus_text();
    ["OpenTap", "CloseTap"].map(|c| {
        let series = format!(r#"camview_controller_requests_total{{command="{c}",outcome="ok"}}"#);
        camview_common::testing::series(&text, &series).unwrap_or(0.0)
    })
}

#[tokio::test]
async fn at_shutdown_every_open_tap_is_closed_on_the_media_server_and_both_requests_are_counted() {
    let backend = redis_backend(&RedisServer::shared().url()).await;
    let closed: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let fake = fake_controller_recording(backend.bus.clone(), true, closed.clone());
    let (client, _events) = BusClient::start(backend.bus.clone(), "api-shutdown-test").await.unwrap();
    let settings = SnapshotSettings {
        rtp_ip: "127.0.0.1".parse().unwrap(),
        idle: Duration::from_secs(30),
        keyframe_wait: Duration::from_secs(3),
    };
    let before = tap_requests();
    let snapshots = Snapshots::new(settings, client, Duration::from_secs(5), Metrics::default());
    let jpeg = snapshots.snapshot(&CameraId::from_static("shutcam")).await.expect("a snapshot");
    assert_eq!((jpeg.width, jpeg.height), (160, 120));
    assert!(closed.lock().unwrap().is_empty(), "a tap in use stays open");
    snapshots.close_all(Duration::from_secs(5)).await;
    let closed = closed.lock().unwrap().clone();
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert!(closed[0].ends_with("_kurento.RtpEndpoint"), "{closed:?}");
    let after = tap_requests();
    assert!(after[0] >= before[0] + 1.0, "OpenTap counted: {before:?} -> {after:?}");
    assert!(after[1] >= before[1] + 1.0, "CloseTap counted: {before:?} -> {after:?}");
    fake.abort();
}
