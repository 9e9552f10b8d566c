//! RTP parsing, H.264/H.265/VP8 payload inspection and the fast-start cache (camera ports).
#![no_main]

use camview_media_engine::media::packet::{inspect, parse_rtp, GopCache};
use camview_media_engine::sdp::VideoCodec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for codec in [VideoCodec::H264, VideoCodec::Vp8, VideoCodec::H265] {
        let _ = inspect(codec, data);
        if let Some(p) = parse_rtp(data) {
            let mut cache = GopCache::new(codec, 16);
            let info = inspect(codec, &p.payload);
            cache.push(&p, &info);
            let _ = cache.snapshot();
        }
    }
});
