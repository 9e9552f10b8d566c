//! Camera codecs through the media-controller and the real engine: with `CAMERA_AUDIO=pcmu` the
//! stream names an audio port, the camera's G.711 reaches a browser that offers audio (the
//! controller connects every viewer for audio as well as video), and its video still plays;
//! with `aac` the stream says the sound is not playable in browsers and the video plays alone.
//! And `CAMERA_CODEC=H265`: a real libx265 camera reaches a browser that offers H.265, and one
//! that does not is told `codec_unsupported`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use camview_common::testing::peer::Codecs;
use camview_common::testing::wait_until;
use camview_proto::error::ErrorCode;
use camview_proto::stream::{AudioCodec, Codec, StreamState};

use crate::browsers::{camera_towards, Stack, Viewer, PATIENCE};

/// 20 ms G.711 packets (payload type 0) to `dest` until `stop`.
fn send_pcmu(dest: SocketAddr, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("a UDP socket");
        let (mut seq, mut ts) = (1u16, 0u32);
        while !stop.load(Ordering::Relaxed) {
            let mut p = vec![0x80, 0];
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&ts.to_be_bytes());
            p.extend_from_slice(&0x5eed_0001u32.to_be_bytes());
            p.extend_from_slice(&[0xff; 160]);
            let _ = sock.send_to(&p, dest).await;
            (seq, ts) = (seq.wrapping_add(1), ts.wrapping_add(160));
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
}

#[tokio::test]
async fn a_cameras_pcmu_audio_reaches_a_browser_that_offers_audio_beside_its_video() {
    let s = Stack::start().await;
    let mut settings = s.controller_settings();
    settings.audio = Some(AudioCodec::PCMU);
    let meter = camview_common::telemetry::meter(camview_media_controller::metrics::SCOPE);
    let controller = s.controller_with(&settings, &meter).await;
    let stream = s.start_stream("cam-audio").await;
    let rtp = stream.rtp.clone().expect("an RTP target");
    let audio = rtp.audio.clone().expect("the stream reports its audio");
    assert_eq!((audio.codec, audio.payload_type, audio.playable), (AudioCodec::PCMU, 0, true));
    let port = audio.port.expect("an audio port");
    assert_ne!(port, rtp.port);

    let camera = camera_towards(&stream).await;
    let stop = Arc::new(AtomicBool::new(false));
    let sound = send_pcmu(SocketAddr::new("127.0.0.1".parse().unwrap(), port), stop.clone());
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-audio").await == Some(StreamState::Live) })
        .await;

    let mut v = Viewer::new(&s, "sig-audio", "cam-audio", "v-audio", true).await;
    v.peer_mut().also_offer_audio();
    let answer = v.join(&s).await;
    assert!(answer.contains(" PCMU/8000"), "the audio line is answered: {answer}");
    let audio_packets = |v: &Viewer| v.peer().packets().iter().filter(|p| *p.header.payload_type == 0).count();
    let heard = v.drive_until(PATIENCE, |v| audio_packets(v) >= 10 && v.pictures.len() >= 5).await;
    assert!(heard, "audio packets: {}, pictures: {}", audio_packets(&v), v.pictures.len());

    stop.store(true, Ordering::Relaxed);
    sound.await.unwrap();
    camera.stop().await.expect("camera stops");
    controller.shutdown().await;
}

#[tokio::test]
async fn an_aac_camera_is_reported_not_playable_and_its_video_plays_alone() {
    let s = Stack::start().await;
    let mut settings = s.controller_settings();
    settings.audio = Some(AudioCodec::AAC);
    let meter = camview_common::telemetry::meter(camview_media_controller::metrics::SCOPE);
    let controller = s.controller_with(&settings, &meter).await;
    let stream = s.start_stream("cam-aac").await;
    let audio = stream.rtp.clone().and_then(|r| r.audio).expect("the stream reports its audio");
    assert_eq!((audio.codec, audio.playable, audio.port), (AudioCodec::AAC, false, None));
    assert!(audio.note.as_deref().unwrap_or_default().contains("not playable in browsers"), "{audio:?}");

    let camera = camera_towards(&stream).await;
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-aac").await == Some(StreamState::Live) })
        .await;
    let mut v = Viewer::new(&s, "sig-aac", "cam-aac", "v-aac", true).await;
    v.peer_mut().also_offer_audio();
    let answer = v.join(&s).await;
    assert!(answer.contains("m=audio 0 "), "no audio to give: {answer}");
    assert!(v.drive_until(PATIENCE, |v| v.pictures.len() >= 5).await, "pictures: {}", v.pictures.len());
    camera.stop().await.expect("camera stops");
    controller.shutdown().await;
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
async fn an_h265_camera_reaches_a_browser_with_h265_and_one_without_is_told_codec_unsupported() {
    let s = Stack::start().await;
    let mut settings = s.controller_settings();
    settings.codec = Codec::H265;
    let meter = camview_common::telemetry::meter(camview_media_controller::metrics::SCOPE);
    let controller = s.controller_with(&settings, &meter).await;
    let stream = s.start_stream("cam-hevc").await;
    assert_eq!(stream.rtp.as_ref().map(|r| r.codec), Some(Codec::H265));
    let camera = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25"])
        .args(["-pix_fmt", "yuv420p", "-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency"])
        .args(["-x265-params", "repeat-headers=1:keyint=25:log-level=error", "-payload_type", "96", "-f", "rtp"])
        .arg(format!("rtp://{}", crate::browsers::target(&stream)))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ffmpeg runs (scripts/test installs it)");
    let _camera = Ffmpeg(camera);
    wait_until(PATIENCE, "the stream is live", || async { s.state_of("cam-hevc").await == Some(StreamState::Live) })
        .await;

    let mut refused = Viewer::new(&s, "sig-hevc", "cam-hevc", "v-h264", true).await;
    let error = crate::browsers::failure(refused.add(&s).await);
    assert_eq!(error.code, ErrorCode::CodecUnsupported, "{error:?}");
    assert!(error.message.contains("H265"), "{}", error.message);

    let mut v = Viewer::with_codecs(&s, "sig-hevc", "cam-hevc", "v-hevc", Codecs::Vp8H264AndH265).await;
    let answer = v.join(&s).await;
    assert!(answer.contains(" H265/90000") && answer.contains("level-id=60"), "the camera's own level: {answer}");
    let watched = v.drive_until(PATIENCE, |v| v.peer().packets().len() >= 30).await;
    assert!(watched, "packets: {}", v.peer().packets().len());
    controller.shutdown().await;
}
