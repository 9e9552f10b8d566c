//! Camera SDP (the RtpEndpoint's offer parser and answer) and browser SDP (str0m's parser that
//! processOffer hands offers to, and the engine's SDP helpers).
#![no_main]

use camview_media_engine::sdp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(offer) = sdp::parse_offer(&text) {
        let a = sdp::rtp_answer(&offer, "192.0.2.1".parse().unwrap(), 40000, 1, 1);
        let _ = sdp::rtp_answer_av(&offer, "192.0.2.1".parse().unwrap(), 40000, Some(40002), 1, 1);
        let _ = sdp::parse_offer(&a.sdp).map(|a| sdp::rtp_answer_video(&a));
        let _ = sdp::offered_video_codecs(&offer);
        let _ = sdp::first_mid(&offer);
    }
    let _ = sdp::strip_candidates(&text);
    let _ = sdp::force_h264_fmtp(&text, 0x42e01f, 1);
    let _ = sdp::force_h265_fmtp(&text, camview_media_engine::codec_params::H265Ptl::DEFAULT);
    let _ = str0m::change::SdpOffer::from_sdp_string(&text);
    let _ = str0m::change::SdpAnswer::from_sdp_string(&text);
});
