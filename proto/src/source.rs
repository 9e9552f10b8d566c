//! A stream's source URL: an RTSP camera the media server pulls from (`rtsp://` or `rtsps://`),
//! instead of the default camera that pushes RTP.
//!
//! The URL may carry the camera's credentials (`rtsp://user:pass@host/path`). Invariant: the
//! full URL travels from the api to the media-controller in [`crate::bus::StartStream`] and is
//! stored only under the controller's own registry key; everything else (records, REST views,
//! logs) sees [`redact`]ed text. [`SourceUrl`]'s `Debug` and `Display` print the redacted form,
//! so a struct holding one can be logged; only [`SourceUrl::expose`] gives the credentials.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest accepted source URL.
pub const MAX_SOURCE_LEN: usize = 2048;

/// Why a source URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceUrlError {
    #[error("source must be an rtsp:// or rtsps:// URL")]
    Scheme,
    #[error("source URL names no host")]
    NoHost,
    #[error("source URL is longer than {MAX_SOURCE_LEN} characters")]
    TooLong,
    #[error("source URL contains spaces or control characters (percent-encode them)")]
    BadCharacter,
}

/// A validated source URL; see the module docs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SourceUrl(String);

impl SourceUrl {
    pub fn parse(url: &str) -> Result<Self, SourceUrlError> {
        if url.len() > MAX_SOURCE_LEN {
            return Err(SourceUrlError::TooLong);
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(SourceUrlError::BadCharacter);
        }
        let (_, rest) = split_scheme(url).ok_or(SourceUrlError::Scheme)?;
        let (_, host) = split_userinfo(authority(rest));
        if host.is_empty() || host.starts_with(':') {
            return Err(SourceUrlError::NoHost);
        }
        Ok(SourceUrl(url.to_owned()))
    }

    /// The full URL, credentials included: for the media server only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with its password replaced by `***`.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl TryFrom<String> for SourceUrl {
    type Error = SourceUrlError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        SourceUrl::parse(&s)
    }
}

impl From<SourceUrl> for String {
    fn from(s: SourceUrl) -> Self {
        s.0
    }
}

impl fmt::Debug for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SourceUrl({})", self.redacted())
    }
}

impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `rtsp://user:pass@host/path` -> `rtsp://user:***@host/path`; a URL without a password is
/// returned unchanged, any text that is no rtsp(s) URL is replaced whole by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = split_scheme(url) else { return "***".into() };
    let auth = authority(rest);
    let (userinfo, host) = split_userinfo(auth);
    match userinfo.and_then(|u| u.split_once(':')) {
        Some((user, _)) => format!("{scheme}{user}:***@{host}{}", &rest[auth.len()..]),
        None => url.to_owned(),
    }
}

/// (`rtsp://` or `rtsps://` as written, the rest).
fn split_scheme(url: &str) -> Option<(&str, &str)> {
    ["rtsp://", "rtsps://"].iter().find_map(|s| {
        let head = url.get(..s.len())?;
        head.eq_ignore_ascii_case(s).then(|| url.split_at(s.len()))
    })
}

/// The authority: up to the first `/`, `?` or `#`.
fn authority(rest: &str) -> &str {
    &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]
}

/// (userinfo, host[:port]) of an authority; the userinfo ends at its last `@`.
fn split_userinfo(auth: &str) -> (Option<&str>, &str) {
    match auth.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, auth),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_redacted_and_the_rest_kept() {
        assert_eq!(
            redact("rtsp://admin:s3cret@10.1.2.3:554/Streaming/101"),
            "rtsp://admin:***@10.1.2.3:554/Streaming/101"
        );
        assert_eq!(redact("rtsps://u:p@h?x=1"), "rtsps://u:***@h?x=1");
        assert_eq!(redact("rtsp://u:p%40ss@w@h/p"), "rtsp://u:***@h/p", "the userinfo ends at the last @");
        assert_eq!(redact("rtsp://h/p@q"), "rtsp://h/p@q", "an @ in the path is not userinfo");
        assert_eq!(redact("rtsp://onlyuser@h/p"), "rtsp://onlyuser@h/p");
        assert_eq!(redact("http://u:p@h"), "***");
    }

    #[test]
    fn only_rtsp_urls_with_a_host_are_accepted() {
        assert!(SourceUrl::parse("rtsp://u:p@cam.local/live").is_ok());
        assert!(SourceUrl::parse("RTSPS://cam:322/x").is_ok());
        assert_eq!(SourceUrl::parse("http://cam/x"), Err(SourceUrlError::Scheme));
        assert_eq!(SourceUrl::parse("file:///etc/passwd"), Err(SourceUrlError::Scheme));
        assert_eq!(SourceUrl::parse("rtsp://u:p@/x"), Err(SourceUrlError::NoHost));
        assert_eq!(SourceUrl::parse("rtsp://:554/x"), Err(SourceUrlError::NoHost));
        assert_eq!(SourceUrl::parse("rtsp://h/a b"), Err(SourceUrlError::BadCharacter));
        assert_eq!(SourceUrl::parse(&format!("rtsp://h/{}", "a".repeat(MAX_SOURCE_LEN))), Err(SourceUrlError::TooLong));
    }

    #[test]
    fn debug_and_display_never_show_the_password_but_serde_carries_it() {
        let s = SourceUrl::parse("rtsp://admin:hunter2@cam/1").unwrap();
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"rtsp://admin:hunter2@cam/1\"");
        assert_eq!(serde_json::from_str::<SourceUrl>(&json).unwrap().expose(), "rtsp://admin:hunter2@cam/1");
        assert!(serde_json::from_str::<SourceUrl>("\"ftp://x\"").is_err());
    }

    #[test]
    fn a_start_command_carries_the_source_whole_and_older_commands_have_none() {
        use crate::bus::StartStream;
        let old: StartStream =
            serde_json::from_str(r#"{"camera_id":"c","bandwidth":{"max_bandwidth":3000,"min_bandwidth":300}}"#)
                .unwrap();
        assert_eq!(old.source, None);
        let cmd = StartStream { source: Some(SourceUrl::parse("rtsp://a:pw9@h/p").unwrap()), ..old };
        assert_eq!(crate::roundtrip(&cmd).source.unwrap().expose(), "rtsp://a:pw9@h/p");
        assert!(!format!("{cmd:?}").contains("pw9"), "a logged command never shows the password");
    }
}
