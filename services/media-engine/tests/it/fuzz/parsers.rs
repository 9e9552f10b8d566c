//! The engine's own parsers on mutated real inputs: RTP and payload inspection (H.264, H.265, VP8)
//! with the fast-start cache behind them, the STUN USERNAME the WebRTC router reads, camera SDP
//! (offer parsing and the RtpEndpoint answer) and the SDP helpers used on browser offers.

use std::net::IpAddr;

use camview_media_engine::codec_params::{self, H265Ptl};
use camview_media_engine::media::packet::{inspect, parse_rtp, GopCache};
use camview_media_engine::media::webrtc::stun_local_ufrag;
use camview_media_engine::sdp::{self, VideoCodec};
use proptest::prelude::*;

use super::{camera_packets, config, dtls_records, mutate, mutate_text, mutations, rtcp_packets};
use crate::faults::stun_request;
use crate::helpers::{camera_offer, camera_offer_vp8};

/// An offer as Chrome writes it (audio and video, BUNDLE, rtx, many codecs and extensions).
pub const CHROME_OFFER: &str = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\na=extmap-allow-mixed\r\na=msid-semantic: WMS\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Sv5r\r\na=ice-pwd:dC4oQ3nN2kU3pqZ0JzC3ZbqF\r\na=ice-options:trickle\r\na=fingerprint:sha-256 1B:6C:DF:4A:53:30:1D:6D:83:0A:8B:0E:2A:5D:4E:6B:AE:46:9F:69:1C:05:3B:6A:7D:29:9C:B2:5E:77:10:4C\r\na=setup:actpass\r\na=mid:0\r\na=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=recvonly\r\na=rtcp-mux\r\na=rtpmap:111 opus/48000/2\r\na=rtcp-fb:111 transport-cc\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\na=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\nm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101 112 113 114\r\nc=IN IP4 0.0.0.0\r\na=rtcp:9 IN IP4 0.0.0.0\r\na=ice-ufrag:Sv5r\r\na=ice-pwd:dC4oQ3nN2kU3pqZ0JzC3ZbqF\r\na=ice-options:trickle\r\na=fingerprint:sha-256 1B:6C:DF:4A:53:30:1D:6D:83:0A:8B:0E:2A:5D:4E:6B:AE:46:9F:69:1C:05:3B:6A:7D:29:9C:B2:5E:77:10:4C\r\na=setup:actpass\r\na=mid:1\r\na=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r\na=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=extmap:13 urn:3gpp:video-orientation\r\na=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\na=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r\na=recvonly\r\na=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 goog-remb\r\na=rtcp-fb:96 transport-cc\r\na=rtcp-fb:96 ccm fir\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtpmap:97 rtx/90000\r\na=fmtp:97 apt=96\r\na=rtpmap:102 H264/90000\r\na=rtcp-fb:102 goog-remb\r\na=rtcp-fb:102 transport-cc\r\na=rtcp-fb:102 ccm fir\r\na=rtcp-fb:102 nack\r\na=rtcp-fb:102 nack pli\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r\na=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\na=rtpmap:104 H264/90000\r\na=rtcp-fb:104 nack pli\r\na=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r\na=rtpmap:105 rtx/90000\r\na=fmtp:105 apt=104\r\na=rtpmap:106 H264/90000\r\na=rtcp-fb:106 nack pli\r\na=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\na=rtpmap:107 rtx/90000\r\na=fmtp:107 apt=106\r\na=rtpmap:108 H264/90000\r\na=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r\na=rtpmap:109 rtx/90000\r\na=fmtp:109 apt=108\r\na=rtpmap:127 H264/90000\r\na=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r\na=rtpmap:125 rtx/90000\r\na=fmtp:125 apt=127\r\na=rtpmap:39 H264/90000\r\na=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f\r\na=rtpmap:40 rtx/90000\r\na=fmtp:40 apt=39\r\na=rtpmap:45 AV1/90000\r\na=fmtp:45 level-idx=5;profile=0;tier=0\r\na=rtpmap:46 rtx/90000\r\na=fmtp:46 apt=45\r\na=rtpmap:98 VP9/90000\r\na=fmtp:98 profile-id=0\r\na=rtpmap:99 rtx/90000\r\na=fmtp:99 apt=98\r\na=rtpmap:100 VP9/90000\r\na=fmtp:100 profile-id=2\r\na=rtpmap:101 rtx/90000\r\na=fmtp:101 apt=100\r\na=rtpmap:112 red/90000\r\na=rtpmap:113 rtx/90000\r\na=fmtp:113 apt=112\r\na=rtpmap:114 ulpfec/90000\r\n";

/// Camera offers: the test camera's H.264 and VP8 ones, one with `a=rtcp` and `a=direction`,
/// one from an IPv6 camera, one with two video lines.
pub fn camera_sdps() -> Vec<String> {
    vec![
        camera_offer(5004),
        camera_offer_vp8(5006),
        camera_offer(5008)
            .replace("a=sendonly\r\n", "a=sendonly\r\na=rtcp:5011 IN IP4 192.0.2.7\r\na=direction:active\r\n"),
        camera_offer(5010).replace("IN IP4 127.0.0.1", "IN IP6 2001:db8::7"),
        format!(
            "{}{}",
            camera_offer(5012),
            "m=video 5014 RTP/AVP 100\r\na=rtpmap:100 VP8/90000\r\nm=audio 5016 RTP/AVP 0\r\n"
        ),
        // H.265 with its parameter sets in the fmtp, and Opus audio.
        "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 5018 RTP/AVP 96\r\na=rtpmap:96 H265/90000\r\na=fmtp:96 sprop-vps=QAEMAf//AiAAAAMAkAAAAwAAAwB4lZgJ; sprop-sps=QgEBAiAAAAMAkAAAAwAAAwB4oAPAgBDk2WVmkkyvAWgIAAADAAgAAAMAyEA=; sprop-pps=RAHBcrRiQA==\r\na=sendonly\r\nm=audio 5020 RTP/AVP 111\r\na=rtpmap:111 opus/48000/2\r\na=sendonly\r\n".to_string(),
    ]
}

fn exercise_sdp(text: &str) {
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    if let Ok(offer) = sdp::parse_offer(text) {
        let answer = sdp::rtp_answer(&offer, ip, 40000, 0x1234, 7);
        let _ = sdp::rtp_answer_av(&offer, ip, 40000, Some(40002), 0x1234, 7);
        let _ = sdp::parse_offer(&answer.sdp).map(|a| sdp::rtp_answer_video(&a));
        let _ = sdp::rtp_answer_video(&offer);
        let _ = sdp::offered_video_codecs(&offer);
        let _ = sdp::first_mid(&offer);
    }
    let _ = sdp::strip_candidates(text);
    let _ = sdp::force_h264_fmtp(text, 0x42e01f, 1);
    let _ = sdp::force_h265_fmtp(text, H265Ptl::DEFAULT);
    let _ = codec_params::h265_fmtp_ptl(text);
    let _ = codec_params::h264_sprop_profile_level_id(text);
    let _ = sdp::fmtp_param(text, "profile-level-id").map(sdp::parse_profile_level_id);
    // The parser processOffer hands a browser's offer to.
    let _ = str0m::change::SdpOffer::from_sdp_string(text);
    let _ = str0m::change::SdpAnswer::from_sdp_string(text);
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn rtp_parsing_payload_inspection_and_the_fast_start_cache_never_panic((pick, edits) in mutations(8)) {
        let mut seeds = camera_packets();
        seeds.extend(rtcp_packets());
        seeds.extend(dtls_records());
        let d = mutate(&seeds, pick, &edits);
        let mut h264 = GopCache::new(VideoCodec::H264, 64);
        let mut vp8 = GopCache::new(VideoCodec::Vp8, 64);
        let mut h265 = GopCache::new(VideoCodec::H265, 64);
        for codec in [VideoCodec::H264, VideoCodec::Vp8, VideoCodec::H265] {
            let _ = inspect(codec, &d);
        }
        let _ = (codec_params::h264_profile_level_id(&d), codec_params::h265_ptl(&d));
        if let Some(p) = parse_rtp(&d) {
            prop_assert!(p.payload.len() <= d.len().saturating_sub(12));
            for (codec, cache) in [(VideoCodec::H264, &mut h264), (VideoCodec::Vp8, &mut vp8), (VideoCodec::H265, &mut h265)] {
                let info = inspect(codec, &p.payload);
                cache.push(&p, &info);
                let _ = cache.snapshot();
            }
        }
    }

    #[test]
    fn the_routers_stun_username_parser_never_panics((pick, edits) in mutations(8)) {
        let mut seeds = vec![stun_request("abcd", b"x"), stun_request("ufrag-with-more", &[0xff; 40])];
        seeds.extend(dtls_records());
        seeds.extend(rtcp_packets());
        let d = mutate(&seeds, pick, &edits);
        if let Some(u) = stun_local_ufrag(&d) {
            prop_assert!(u.len() < d.len());
        }
    }
}

proptest! {
    #![proptest_config(config(600))]

    #[test]
    fn camera_and_browser_sdp_parsers_never_panic((pick, edits) in mutations(6)) {
        let mut seeds = camera_sdps();
        seeds.push(CHROME_OFFER.to_string());
        let text = mutate_text(&seeds, pick, &edits);
        exercise_sdp(&text);
    }

    #[test]
    fn sdp_made_of_random_lines_never_panics(lines in proptest::collection::vec(sdp_line(), 0..24)) {
        exercise_sdp(&lines.concat());
    }
}

/// An SDP line of a known kind with random values, so the parsers see structure they know with
/// values they do not expect.
fn sdp_line() -> impl Strategy<Value = String> {
    let word = "[ -~]{0,24}";
    prop_oneof![
        Just("v=0\r\n".to_string()),
        word.prop_map(|w| format!("o={w}\r\n")),
        word.prop_map(|w| format!("c=IN IP4 {w}\r\n")),
        word.prop_map(|w| format!("c=IN IP6 {w}\r\n")),
        (any::<u16>(), word).prop_map(|(p, w)| format!("m=video {p} {w}\r\n")),
        (any::<u32>(), word).prop_map(|(p, w)| format!("m=video {p} RTP/AVP {w}\r\n")),
        (any::<u8>(), word).prop_map(|(p, w)| format!("a=rtpmap:{p} {w}\r\n")),
        (any::<u8>(), word).prop_map(|(p, w)| format!("a=fmtp:{p} {w}\r\n")),
        (any::<u8>(), "[0-9a-fA-F]{0,8}")
            .prop_map(|(p, w)| format!("a=fmtp:{p} packetization-mode=1;profile-level-id={w}\r\n")),
        word.prop_map(|w| format!("a=rtcp:{w}\r\n")),
        word.prop_map(|w| format!("a=mid:{w}\r\n")),
        word.prop_map(|w| format!("a={w}\r\n")),
        word.prop_map(|w| format!("{w}\n")),
        Just("a=sendonly\r\n".to_string()),
        Just("a=direction:active\r\n".to_string()),
    ]
}
