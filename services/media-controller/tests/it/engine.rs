//! The generated client against camview's own media server, started in-process: the camera
//! flow of ARCHITECTURE.md from pipeline to release, with real RTP on loopback.

use crate::fake_kms::PATIENCE;
use camview_media_controller::kurento::events::{IceCandidateFound, MediaFlowOutStateChanged};
use camview_media_controller::kurento::{
    AnyStats, ClientConfig, KurentoClient, MediaFlowState, MediaPipeline, MediaType, RtpEndpoint, ServerManager,
    WebRtcEndpoint, SERVER_MANAGER_ID,
};
use camview_media_engine::{Engine, Settings as EngineSettings};
use camview_proto::kurento::KurentoErrorCode;
use std::net::SocketAddr;
use tokio::net::UdpSocket;

/// What a camera sending H.264 PT 96 to us would be described as.
fn camera_offer(port: u16) -> String {
    format!(
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video {port} RTP/AVPF 96\r\n\
         a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\na=rtcp-fb:96 nack pli\r\na=sendonly\r\n"
    )
}

fn answer_port(sdp: &str) -> u16 {
    sdp.lines()
        .find_map(|l| l.strip_prefix("m=video "))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .expect("m=video port in the answer")
}

/// One RTP packet carrying a single H.264 NAL unit.
fn rtp_packet(seq: u16, timestamp: u32, nal: &[u8]) -> Vec<u8> {
    let mut packet = vec![0x80, 0x80 | 96];
    packet.extend_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&timestamp.to_be_bytes());
    packet.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    packet.extend_from_slice(nal);
    packet
}

#[tokio::test]
async fn the_generated_client_drives_a_camera_pipeline_on_the_media_engine() {
    let engine = Engine::start(EngineSettings::for_tests()).await.expect("engine starts");
    let client = KurentoClient::connect(ClientConfig::new(engine.ws_url())).await.expect("client connects");

    let info = ServerManager::attach(&client, SERVER_MANAGER_ID).get_info().await.expect("getInfo");
    assert!(!info.version.is_empty());

    let pipeline = MediaPipeline::create(&client).await.expect("pipeline");
    let rtp = RtpEndpoint::create(&client, &pipeline, Default::default()).await.expect("rtp endpoint");
    rtp.set_max_video_recv_bandwidth(3000).await.expect("set bandwidth");
    assert_eq!(rtp.get_max_video_recv_bandwidth().await.expect("get bandwidth"), 3000);
    let mut flow = rtp.subscribe::<MediaFlowOutStateChanged>().await.expect("subscribe flow");

    let camera = UdpSocket::bind("127.0.0.1:0").await.expect("camera socket");
    let answer = rtp.process_offer(&camera_offer(camera.local_addr().expect("bound").port())).await.expect("answer");
    let target = SocketAddr::from(([127, 0, 0, 1], answer_port(&answer)));
    let nals: [&[u8]; 3] = [
        &[0x67, 0x42, 0xe0, 0x1f, 0xda, 0x02, 0x80, 0xf6, 0x80],
        &[0x68, 0xce, 0x3c, 0x80],
        &[0x65, 0x88, 0x84, 0x00, 0x33],
    ];
    for (i, nal) in nals.iter().enumerate() {
        camera.send_to(&rtp_packet(1000 + i as u16, 90_000, nal), target).await.expect("send rtp");
    }
    let event = tokio::time::timeout(PATIENCE, flow.recv()).await.expect("flow event in time").expect("flow event");
    assert_eq!((event.state, event.media_type), (MediaFlowState::Flowing, MediaType::Video));
    assert_eq!(event.source, rtp.id());
    assert!(rtp.is_media_flowing_in(MediaType::Video).await.expect("isMediaFlowingIn"));
    let stats = rtp.get_stats(Some(MediaType::Video)).await.expect("stats");
    assert!(
        stats.values().any(|s| matches!(s, AnyStats::RTCInboundRTPStreamStats(s) if s.packets_received >= 3)),
        "{stats:?}"
    );

    let viewer = WebRtcEndpoint::create(&client, &pipeline, Default::default()).await.expect("viewer");
    viewer.set_stun_server_address("192.0.2.10").await.expect("stun address");
    let _candidates = viewer.subscribe::<IceCandidateFound>().await.expect("subscribe candidates");
    rtp.connect(&viewer, Some(MediaType::Video)).await.expect("connect");
    let links = rtp.get_sink_connections(None).await.expect("sink connections");
    assert!(links.iter().any(|l| l.sink == viewer.id() && l.kind == MediaType::Video), "{links:?}");

    pipeline.release().await.expect("release");
    let gone = viewer.get_media_state().await.expect_err("released with its pipeline");
    assert_eq!(gone.kurento_code(), Some(KurentoErrorCode::MediaObjectNotFound));
    engine.shutdown();
}
