//! The STUN USERNAME parse the WebRTC router does on every datagram of the shared port.
#![no_main]

use camview_media_engine::media::webrtc::stun_local_ufrag;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = stun_local_ufrag(data);
});
