//! The sans-IO parts of a PlayerEndpoint: its source URI (credentials split off, a redacted
//! form for logs and events), the camera description from an RTSP DESCRIBE, and the reconnect
//! back-off.

use std::fmt;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use url::Url;

use crate::sdp::{fmtp_param, parse_profile_level_id, CameraVideo, VideoCodec};

/// Why a PlayerEndpoint's URI cannot be played by this engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    #[error("the URI is not a valid URL")]
    Invalid,
    #[error("the {0}:// scheme is not supported by this engine (rtsp:// only)")]
    UnsupportedScheme(String),
    #[error("the URI names no host")]
    NoHost,
}

/// An `rtsp://` source: the URL without credentials, the credentials, and the redacted text
/// that is the only form ever logged or put in an event. `Debug` and `Display` print the
/// redacted form.
#[derive(Clone)]
pub struct SourceUri {
    url: Url,
    creds: Option<retina::client::Credentials>,
    redacted: String,
}

impl SourceUri {
    pub fn parse(uri: &str) -> Result<Self, UriError> {
        let mut url = Url::parse(uri).map_err(|_| UriError::Invalid)?;
        if url.scheme() != "rtsp" {
            return Err(UriError::UnsupportedScheme(url.scheme().to_string()));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(UriError::NoHost);
        }
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let creds = (!url.username().is_empty() || url.password().is_some()).then(|| retina::client::Credentials {
            username: decode(url.username()),
            password: url.password().map(decode).unwrap_or_default(),
        });
        let user = url.username().to_string();
        // Both only fail for URLs that cannot have a host, refused above.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let redacted = match &creds {
            Some(_) => url.as_str().replacen("rtsp://", &format!("rtsp://{user}:***@"), 1),
            None => url.to_string(),
        };
        Ok(SourceUri { url, creds, redacted })
    }

    /// The URL to connect to, without credentials.
    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn creds(&self) -> Option<retina::client::Credentials> {
        self.creds.clone()
    }

    pub fn redacted(&self) -> &str {
        &self.redacted
    }
}

impl fmt::Display for SourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl fmt::Debug for SourceUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceUri({})", self.redacted)
    }
}

/// The codec of an RTSP video stream, by its SDP encoding name.
pub fn codec_of(encoding_name: &str) -> Option<VideoCodec> {
    match encoding_name.to_ascii_lowercase().as_str() {
        "h264" => Some(VideoCodec::H264),
        "vp8" => Some(VideoCodec::Vp8),
        _ => None,
    }
}

/// The camera description of the video stream with payload type `pt` from the DESCRIBE's raw
/// SDP: its `a=fmtp` line (profile and packetization mode, as for a pushed camera's offer).
pub fn camera_video(codec: VideoCodec, pt: u8, sdp: &[u8]) -> CameraVideo {
    let sdp = String::from_utf8_lossy(sdp);
    let prefix = format!("a=fmtp:{pt} ");
    let fmtp = sdp.lines().find_map(|l| l.trim().strip_prefix(prefix.as_str())).map(|f| f.trim().to_string());
    let param = |k: &str| fmtp.as_deref().and_then(|f| fmtp_param(f, k));
    CameraVideo {
        pt,
        codec,
        profile_level_id: param("profile-level-id").and_then(parse_profile_level_id),
        packetization_mode: param("packetization-mode").and_then(|m| m.parse().ok()).unwrap_or(0),
        fmtp,
        h265_ptl: None,
        rtcp_remote: None,
        comedia: false,
        source_ip: None,
        peer_receives_only: false,
        rtp_remote: None,
    }
}

/// Waits between reconnect attempts: doubling from `min` up to `max`, back to `min` once a
/// session delivered media.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff { min, max, next: min }
    }

    /// The wait before the next attempt.
    pub fn next_wait(&mut self) -> Duration {
        let wait = self.next;
        self.next = (self.next * 2).min(self.max);
        wait
    }

    /// A session delivered media: the next failure waits `min` again.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_split_off_decoded_and_never_printed() {
        let uri = SourceUri::parse("rtsp://adm%40in:p%3Ass@cam.example:8554/live/main?x=1").unwrap();
        assert_eq!(uri.url().as_str(), "rtsp://cam.example:8554/live/main?x=1");
        let creds = uri.creds().unwrap();
        assert_eq!((creds.username.as_str(), creds.password.as_str()), ("adm@in", "p:ss"));
        assert_eq!(uri.redacted(), "rtsp://adm%40in:***@cam.example:8554/live/main?x=1");
        assert_eq!(uri.to_string(), uri.redacted());
        assert!(!format!("{uri:?}").contains("p%3Ass"));
        let plain = SourceUri::parse("rtsp://10.0.0.9/cam").unwrap();
        assert_eq!((plain.redacted(), plain.creds()), ("rtsp://10.0.0.9/cam", None));
    }

    #[test]
    fn only_rtsp_urls_with_a_host_are_playable() {
        assert_eq!(SourceUri::parse("rtsps://h/c").unwrap_err(), UriError::UnsupportedScheme("rtsps".into()));
        assert_eq!(SourceUri::parse("file:///tmp/x.mp4").unwrap_err(), UriError::UnsupportedScheme("file".into()));
        assert_eq!(SourceUri::parse("not a url").unwrap_err(), UriError::Invalid);
        assert_eq!(SourceUri::parse("rtsp:///cam").unwrap_err(), UriError::NoHost);
    }

    #[test]
    fn the_camera_description_comes_from_the_describe_fmtp() {
        let sdp = b"v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
            a=fmtp:96 packetization-mode=1;profile-level-id=42c01f;sprop-parameter-sets=Z0LAH9kA,aMuDyyA=\r\n";
        let v = camera_video(VideoCodec::H264, 96, sdp);
        assert_eq!((v.pt, v.packetization_mode, v.profile_level_id), (96, 1, Some(0x42c01f)));
        assert!(v.fmtp.unwrap().contains("sprop-parameter-sets"));
        let bare = camera_video(VideoCodec::H264, 97, sdp);
        assert_eq!((bare.fmtp, bare.profile_level_id, bare.packetization_mode), (None, None, 0));
        assert_eq!(codec_of("H264"), Some(VideoCodec::H264));
        assert_eq!(codec_of("mpeg4-generic"), None);
    }

    #[test]
    fn reconnects_back_off_exponentially_up_to_a_cap_and_reset_after_media() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
        let waits: Vec<_> = (0..5).map(|_| b.next_wait().as_millis()).collect();
        assert_eq!(waits, [250, 500, 1000, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_wait(), Duration::from_millis(250));
    }
}
