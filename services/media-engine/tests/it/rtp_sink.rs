//! RtpEndpoint -> RtpEndpoint: an RtpEndpoint negotiated with a receive-only offer sends the RTP
//! of the camera endpoint connected to it to the offerer's address (the api's snapshot tap; a
//! relay between media nodes later). Real engine, real UDP.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::net::UdpSocket;

use crate::helpers::*;
use crate::media::run_camera;

/// An even port with its +1 free too, on loopback: where the tap receives RTP (and RTCP).
async fn receiver() -> (UdpSocket, UdpSocket) {
    for _ in 0..50 {
        let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let p = rtp.local_addr().unwrap().port();
        if p % 2 == 1 || p == u16::MAX {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", p + 1)).await {
            return (rtp, rtcp);
        }
    }
    panic!("no even port pair")
}

fn receive_only_offer(port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=tap\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video {port} RTP/AVPF 103\r\n\
         a=rtpmap:103 H264/90000\r\na=fmtp:103 packetization-mode=1\r\na=rtcp-fb:103 nack pli\r\na=recvonly\r\n"
    )
}

fn answer_ssrc(sdp: &str) -> u32 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("a=ssrc:"))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .expect("a=ssrc in the answer")
}

/// Receives one datagram, or None after `WAIT`.
async fn recv(sock: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf)).await.ok()?.ok()?;
    buf.truncate(n);
    Some((buf, from))
}

fn inbound_stat(stats: &Value, key: &str) -> u64 {
    let s = stats.as_object().unwrap().values().find(|s| s["__type__"] == "RTCInboundRTPStreamStats").unwrap();
    s[key].as_u64().unwrap()
}

#[tokio::test]
async fn a_receive_only_rtp_endpoint_sends_its_connected_cameras_rtp_from_the_latest_keyframe_to_the_offerer() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.gop = 10;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let camera_ep = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let answer = c.invoke(&camera_ep, "processOffer", json!({"offer": camera_offer(cam.port())})).await;
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(answer.as_str().unwrap()));
    // A GOP and a half before the tap exists: it must start from the cached keyframe.
    cam.send_frames(15).await;

    let (rx, rx_rtcp) = receiver().await;
    let tap = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    c.invoke(&camera_ep, "connect", json!({"sink": tap})).await;
    let tap_answer =
        c.invoke(&tap, "processOffer", json!({"offer": receive_only_offer(rx.local_addr().unwrap().port())})).await;
    let tap_answer = tap_answer.as_str().unwrap().to_string();
    assert!(tap_answer.contains("a=sendonly"), "a receive-only offer is answered send-only: {tap_answer}");
    let tap_port = video_port(&tap_answer);
    let ssrc = answer_ssrc(&tap_answer);

    let (first, from) = recv(&rx).await.expect("the tap sends the cached keyframe at once");
    assert_eq!(from, SocketAddr::new("127.0.0.1".parse().unwrap(), tap_port), "sent from the port its answer names");
    assert_eq!(first[1] & 0x7f, 103, "the payload type the offer chose");
    assert_eq!(u32::from_be_bytes(first[8..12].try_into().unwrap()), ssrc, "the SSRC its answer names");
    assert_eq!(&first[12..], SPS, "the cached keyframe starts with its SPS");

    let (stop, camera) = run_camera(cam);
    let mut last_seq = u16::from_be_bytes([first[2], first[3]]);
    let (mut packets, mut keyframes) = (1, 0);
    while keyframes < 2 {
        let (d, _) = recv(&rx).await.expect("the camera's packets keep coming");
        let seq = u16::from_be_bytes([d[2], d[3]]);
        assert_eq!(seq, last_seq.wrapping_add(1), "in order, each once, with the camera's sequence numbers");
        last_seq = seq;
        packets += 1;
        if d[12] & 0x1f == 7 {
            keyframes += 1;
        }
    }
    println!("tap received {packets} packets up to two live keyframes");
    let out = engine.stats().rtp_packets_out;
    assert!(out >= packets, "the tap's packets count as sent: {out} < {packets}");

    // The tap's peer asks for a keyframe on the answer's RTCP port: the camera endpoint asks the camera.
    let before = inbound_stat(&c.invoke(&camera_ep, "getStats", json!({})).await, "keyframeRequests");
    let pli = [0x81u8, 206, 0, 2, 0, 0, 0, 1, 0x0a, 0x0b, 0x0c, 0x0d];
    rx_rtcp.send_to(&pli, ("127.0.0.1", tap_port + 1)).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = inbound_stat(&c.invoke(&camera_ep, "getStats", json!({})).await, "keyframeRequests");
        if now > before {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the tap's PLI never reached the camera endpoint");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let sinks = c.invoke(&camera_ep, "getSinkConnections", json!({"mediaType": "VIDEO"})).await;
    assert_eq!(sinks.as_array().unwrap().len(), 1, "{sinks}");
    c.ok("release", json!({"object": tap})).await;
    let sinks = c.invoke(&camera_ep, "getSinkConnections", json!({})).await;
    assert_eq!(sinks, json!([]), "released, the tap is no longer connected");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    camera.await.unwrap();
}

#[tokio::test]
async fn a_tap_negotiated_before_it_is_connected_starts_sending_on_connect() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let camera_ep = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let answer = c.invoke(&camera_ep, "processOffer", json!({"offer": camera_offer(cam.port())})).await;
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(answer.as_str().unwrap()));
    let (rx, _rx_rtcp) = receiver().await;
    let tap = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    c.invoke(&tap, "processOffer", json!({"offer": receive_only_offer(rx.local_addr().unwrap().port())})).await;
    let (stop, camera) = run_camera(cam);
    c.invoke(&camera_ep, "connect", json!({"sink": tap, "mediaType": "VIDEO"})).await;
    let (d, _) = recv(&rx).await.expect("packets after connect");
    assert_eq!(d[1] & 0x7f, 103);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    camera.await.unwrap();
}

#[tokio::test]
async fn a_tap_that_negotiated_another_codec_than_the_camera_sends_gets_an_error_event_and_no_packets() {
    let engine = spawn_engine().await;
    let mut c = Client::connect(&engine).await;
    let mut cam = FakeCamera::new().await;
    cam.vp8 = true;
    let pipe = c.create("MediaPipeline", json!({})).await;
    let camera_ep = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    let answer = c.invoke(&camera_ep, "processOffer", json!({"offer": camera_offer_vp8(cam.port())})).await;
    cam.dest = SocketAddr::new("127.0.0.1".parse().unwrap(), video_port(answer.as_str().unwrap()));
    let (rx, _rx_rtcp) = receiver().await;
    let tap = c.create("RtpEndpoint", json!({"mediaPipeline": pipe})).await;
    c.subscribe(&tap, "Error").await;
    c.invoke(&tap, "processOffer", json!({"offer": receive_only_offer(rx.local_addr().unwrap().port())})).await;
    c.invoke(&camera_ep, "connect", json!({"sink": tap})).await;
    let error = c.event("Error").await;
    assert!(error["data"]["description"].as_str().unwrap().contains("transcoding is not supported"), "{error}");
    let (stop, camera) = run_camera(cam);
    // The camera flows to its endpoint (its stats count packets) while the tap stays silent.
    let deadline = tokio::time::Instant::now() + WAIT;
    while inbound_stat(&c.invoke(&camera_ep, "getStats", json!({})).await, "packetsReceived") < 20 {
        assert!(tokio::time::Instant::now() < deadline, "the camera's packets never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut buf = [0u8; 2048];
    assert!(rx.try_recv_from(&mut buf).is_err(), "nothing was sent to a tap of another codec");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    camera.await.unwrap();
}
