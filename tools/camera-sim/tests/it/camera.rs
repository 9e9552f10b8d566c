use std::time::Duration;

use camera_sim::h264::{nal_type, NAL_SPS};
use camera_sim::probe::H264Probe;
use camera_sim::rtcp::{self, Rtcp};
use camera_sim::rtp::{Depacketizer, RtpPacket};
use camera_sim::CameraConfig;
use tokio::net::UdpSocket;

use crate::support::{small_config, start, Receiver, WAIT};

#[tokio::test]
async fn rtp_sent_to_a_udp_socket_decodes_into_moving_pictures_of_the_configured_size() {
    let receiver = Receiver::bind().await;
    let camera = start(small_config(Some(receiver.addr()))).await;

    let first = receiver.recv(WAIT).await.expect("a first packet");
    let packet = RtpPacket::parse(&first).unwrap();
    assert_eq!(packet.payload_type, 96);
    assert_eq!(packet.ssrc, camera.ssrc());
    assert_eq!(nal_type(packet.payload), Some(NAL_SPS), "the stream opens with SPS");

    let mut probe = H264Probe::new().unwrap();
    probe.push(&first).unwrap();
    let pictures = receiver.decode_until(&mut probe, |p| p.len() >= 15).await;
    assert!(pictures.iter().all(|p| (p.width, p.height) == (320, 240)), "{pictures:?}");
    assert!(pictures[0].idr);
    assert_eq!(probe.decode_errors, 0);
    assert!(pictures.windows(2).all(|w| w[0].luma_hash != w[1].luma_hash), "every picture differs from the last");
    assert!(pictures.iter().all(|p| (60..200).contains(&p.mean_luma)), "colour bars, not a flat picture");
    let step = pictures[1].rtp_timestamp.wrapping_sub(pictures[0].rtp_timestamp);
    assert_eq!(step % 3000, 0, "timestamps advance in whole 30 fps frames of the 90 kHz clock");

    let stats = camera.stop().await.unwrap();
    assert!(stats.frames_sent >= 15 && stats.keyframes_sent >= 1 && stats.packets_sent >= 15, "{stats:?}");
}

#[tokio::test]
async fn a_pli_to_the_rtcp_port_brings_an_idr_long_before_the_next_periodic_one() {
    let receiver = Receiver::bind().await;
    let config = CameraConfig { keyframe_interval: Duration::from_secs(10), ..small_config(Some(receiver.addr())) };
    let camera = start(config).await;
    let mut probe = H264Probe::new().unwrap();
    receiver.decode_until(&mut probe, |p| p.len() >= 5).await;
    assert_eq!(camera.stats().keyframes_sent, 1);
    assert_eq!(probe.idr_units, 1);

    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    peer.send_to(&rtcp::pli(0xfeed, camera.ssrc()), camera.local_rtcp_addr()).await.unwrap();
    let pictures = receiver.decode_until(&mut probe, |p| p.iter().any(|p| p.idr)).await;
    // 10 s GOP at 30 fps: the IDR must come within a few frames, not 300.
    assert!(pictures.len() <= 30, "IDR after {} pictures", pictures.len());
    let stats = camera.wait_for(WAIT, |s| s.keyframes_sent >= 2).await.expect("keyframe counted");
    assert_eq!(stats.plis_received, 1);
    camera.stop().await.unwrap();
}

#[tokio::test]
async fn a_fir_multiplexed_on_the_rtp_port_also_brings_an_idr_but_its_repeat_does_not() {
    let receiver = Receiver::bind().await;
    let config = CameraConfig { keyframe_interval: Duration::from_secs(10), ..small_config(Some(receiver.addr())) };
    let camera = start(config).await;
    camera.wait_for(WAIT, |s| s.frames_sent >= 3).await.expect("frames flow");

    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    peer.send_to(&rtcp::fir(0xfeed, camera.ssrc(), 1), camera.local_rtp_addr()).await.unwrap();
    let stats = camera.wait_for(WAIT, |s| s.keyframes_sent >= 2).await.expect("IDR after FIR");
    assert_eq!(stats.firs_received, 1);

    // The same FIR sequence number again is a retransmission: counted, not served.
    peer.send_to(&rtcp::fir(0xfeed, camera.ssrc(), 1), camera.local_rtcp_addr()).await.unwrap();
    let seen = camera.wait_for(WAIT, |s| s.firs_received == 2).await.expect("FIR counted");
    let later = camera.wait_for(WAIT, |s| s.frames_sent >= seen.frames_sent + 15).await.expect("frames flow");
    assert_eq!(later.keyframes_sent, 2);
    camera.stop().await.unwrap();
}

#[tokio::test]
async fn sender_reports_reach_the_target_rtcp_port_with_the_camera_ssrc_and_counts() {
    let receiver = Receiver::bind().await;
    let camera = start(small_config(Some(receiver.addr()))).await;
    let mut buf = vec![0u8; 1500];
    let report = tokio::time::timeout(WAIT, async {
        loop {
            let len = receiver.rtcp.recv(&mut buf).await.unwrap();
            if let Ok(packets) = rtcp::parse(&buf[..len]) {
                if let Some(Rtcp::SenderReport(sr)) = packets.first() {
                    return *sr;
                }
            }
        }
    })
    .await
    .expect("a sender report");
    assert_eq!(report.ssrc, camera.ssrc());
    assert!(report.packet_count > 0 && report.octet_count > 0, "{report:?}");
    let now = rtcp::ntp_time(std::time::SystemTime::now());
    assert!(now.abs_diff(report.ntp_time) >> 32 < 5, "NTP time is the wall clock");
    camera.stop().await.unwrap();
}

#[tokio::test]
async fn clearing_the_target_stops_rtp_and_setting_it_again_resumes_with_an_idr() {
    let receiver = Receiver::bind().await;
    let camera = start(small_config(None)).await;
    assert!(receiver.recv(Duration::from_millis(300)).await.is_none(), "silent without a target");
    assert!(!camera.stats().sending);

    camera.set_target(Some(receiver.addr()));
    let mut probe = H264Probe::new().unwrap();
    receiver.decode_until(&mut probe, |p| p.len() >= 3).await;

    camera.set_target(None);
    let stopped = camera.wait_for(WAIT, |s| !s.sending).await.unwrap();
    // Drain what was in flight, then expect silence.
    while receiver.recv(Duration::from_millis(300)).await.is_some() {}
    assert_eq!(camera.stats().packets_sent, stopped.packets_sent);

    camera.set_target(Some(receiver.addr()));
    let first = receiver.recv(WAIT).await.expect("sending resumes");
    assert_eq!(nal_type(RtpPacket::parse(&first).unwrap().payload), Some(NAL_SPS), "resumes with SPS + IDR");
    camera.stop().await.unwrap();
}

#[tokio::test]
async fn garbage_on_the_rtcp_port_is_ignored_and_the_camera_keeps_sending() {
    let receiver = Receiver::bind().await;
    let camera = start(small_config(Some(receiver.addr()))).await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for junk in [&[][..], &[0xff; 3][..], &[0x81, 0xce, 0x00, 0x09, 1, 2][..], &[0x80, 0xc8, 0, 0][..]] {
        peer.send_to(junk, camera.local_rtcp_addr()).await.unwrap();
        peer.send_to(junk, camera.local_rtp_addr()).await.unwrap();
    }
    let before = camera.stats().frames_sent;
    camera.wait_for(WAIT, |s| s.frames_sent >= before + 10).await.expect("still sending");
    assert_eq!(camera.stats().plis_received, 0);
    camera.stop().await.unwrap();
}

#[tokio::test]
async fn the_sdp_offer_describes_the_stream_with_the_sps_actually_sent() {
    let receiver = Receiver::bind().await;
    let camera = start(CameraConfig { stap_a: true, ..small_config(Some(receiver.addr())) }).await;
    let sdp = camera.sdp_offer("127.0.0.1".parse().unwrap());
    let sent_sps = tokio::time::timeout(WAIT, async {
        let mut depacketizer = Depacketizer::new();
        loop {
            let datagram = receiver.recv(WAIT).await.expect("packets");
            for unit in depacketizer.push(&RtpPacket::parse(&datagram).unwrap()).unwrap() {
                if let Some(sps) = unit.nals.into_iter().find(|n| nal_type(n) == Some(NAL_SPS)) {
                    return sps;
                }
            }
        }
    })
    .await
    .expect("an SPS");
    let profile = format!("profile-level-id={:02x}{:02x}{:02x}", sent_sps[1], sent_sps[2], sent_sps[3]);
    assert!(sdp.contains(&profile), "{sdp}");
    assert!(sdp.contains(&format!("m=video {} RTP/AVPF 96", camera.local_rtp_addr().port())), "{sdp}");
    assert!(sdp.contains("a=rtcp-fb:96 nack pli") && sdp.contains("a=sendonly"), "{sdp}");
    assert_eq!(camera.local_rtcp_addr().port(), camera.local_rtp_addr().port() + 1);
    assert_eq!(camera.local_rtp_addr().port() % 2, 0);
    camera.stop().await.unwrap();
}

#[tokio::test]
async fn the_cli_sends_to_its_target_for_the_given_duration_and_exits_cleanly() {
    let receiver = Receiver::bind().await;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_camera-sim"))
        .args([
            "--target",
            &receiver.addr().to_string(),
            "--width",
            "160",
            "--height",
            "120",
            "--duration-seconds",
            "1.5",
        ])
        .args(["--local-ip", "127.0.0.1", "--print-sdp", "127.0.0.1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut probe = H264Probe::new().unwrap();
    let pictures = receiver.decode_until(&mut probe, |p| p.len() >= 5).await;
    assert!(pictures.iter().all(|p| (p.width, p.height) == (160, 120)));
    let status = tokio::time::timeout(WAIT, child.wait()).await.expect("exits after its duration").unwrap();
    assert!(status.success());
    let mut sdp = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stdout.as_mut().unwrap(), &mut sdp).await.unwrap();
    assert!(sdp.contains("a=rtpmap:96 H264/90000"), "{sdp}");
}
