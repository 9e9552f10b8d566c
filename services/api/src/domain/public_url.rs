//! Where browsers reach the API and signaling, as the operator publishes it
//! (`PUBLIC_API_URL`, `PUBLIC_SIGNALING_URL`), handed to the viewer pages by `GET /config.js`.
//!
//! Invariant: a [`PublicUrl`] is either an absolute URL with a scheme the viewer accepts for
//! its kind (`http`/`https` for the API; `ws`/`wss`/`http`/`https` for signaling, as
//! `resolveApiUrl`/`resolveSignalingUrl` in `static/viewer-core.js` read them), a non-empty host,
//! a valid port if any and no user info; or an absolute path (`/`, `/ws`) that the browser
//! resolves against the page's origin. It holds no whitespace, control character, backslash or
//! fragment, and an API URL has no query (the viewer would drop it). The value is kept as
//! written: the browser's URL parser does the rest.

use std::fmt;

use url::{ParseError, Url};

/// Longest accepted value.
pub const MAX_LEN: usize = 2048;

/// Which service the URL points at; decides the accepted schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    Api,
    Signaling,
}

impl UrlKind {
    fn schemes(self) -> &'static [&'static str] {
        match self {
            Self::Api => &["http", "https"],
            Self::Signaling => &["ws", "wss", "http", "https"],
        }
    }
}

/// A validated public URL or absolute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl(String);

/// Why a public URL was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublicUrlError {
    #[error("expected an absolute URL ({schemes}) or a path starting with /")]
    NotAbsolute { schemes: String },
    #[error("the scheme must be one of {schemes}")]
    Scheme { schemes: String },
    #[error("the URL has no host")]
    NoHost,
    #[error("not a valid URL: {0}")]
    Invalid(String),
    #[error("the port must be a number from 1 to 65535")]
    Port,
    #[error("user info (user:password@) would be published to every browser: leave it out")]
    UserInfo,
    #[error("a path must start with a single / (//host names another host: write the scheme)")]
    NetworkPath,
    #[error("whitespace, control characters and backslashes are not allowed (percent-encode them)")]
    BadCharacter,
    #[error("a fragment (#...) is not allowed")]
    Fragment,
    #[error("a query (?...) is not allowed in the API URL: the viewer drops it")]
    Query,
    #[error("longer than {MAX_LEN} characters")]
    TooLong,
}

impl PublicUrl {
    pub fn parse(raw: &str, kind: UrlKind) -> Result<Self, PublicUrlError> {
        if raw.len() > MAX_LEN {
            return Err(PublicUrlError::TooLong);
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') {
            return Err(PublicUrlError::BadCharacter);
        }
        if raw.contains('#') {
            return Err(PublicUrlError::Fragment);
        }
        if kind == UrlKind::Api && raw.contains('?') {
            return Err(PublicUrlError::Query);
        }
        let schemes = || kind.schemes().join(", ");
        if raw.starts_with("//") {
            return Err(PublicUrlError::NetworkPath);
        }
        if !raw.starts_with('/') {
            let (scheme, rest) =
                raw.split_once("://").ok_or_else(|| PublicUrlError::NotAbsolute { schemes: schemes() })?;
            if !kind.schemes().iter().any(|s| s.eq_ignore_ascii_case(scheme)) {
                return Err(PublicUrlError::Scheme { schemes: schemes() });
            }
            // WHATWG parsing, as the browser does; it would read `wss:///ws` as host `ws`, so an
            // empty authority is refused before.
            if rest.starts_with(['/', '?']) || rest.is_empty() {
                return Err(PublicUrlError::NoHost);
            }
            let url = Url::parse(raw).map_err(|e| match e {
                ParseError::InvalidPort => PublicUrlError::Port,
                _ => PublicUrlError::Invalid(e.to_string()),
            })?;
            if !url.username().is_empty() || url.password().is_some() {
                return Err(PublicUrlError::UserInfo);
            }
            if url.host_str().is_none_or(str::is_empty) {
                return Err(PublicUrlError::NoHost);
            }
            if url.port() == Some(0) {
                return Err(PublicUrlError::Port);
            }
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_paths_and_urls_the_viewer_resolves_are_accepted() {
        for ok in [
            "/",
            "/api/",
            "https://cams.example",
            "http://cams.example:8080/base/",
            "HTTPS://cams.example",
            "http://[::1]:8080",
        ] {
            assert_eq!(PublicUrl::parse(ok, UrlKind::Api).map(|u| u.0), Ok(ok.to_owned()), "{ok}");
        }
        for ok in [
            "/ws",
            "/ws?room=1",
            "wss://cams.example/ws",
            "ws://10.0.0.2:8765/",
            "https://cams.example/ws",
            "http://cams.example:8765",
        ] {
            assert!(PublicUrl::parse(ok, UrlKind::Signaling).is_ok(), "{ok}");
        }
    }

    #[test]
    fn schemes_follow_the_kind() {
        for (raw, kind) in [
            ("wss://cams.example/ws", UrlKind::Api),
            ("ftp://cams.example/", UrlKind::Api),
            ("ftp://cams.example/", UrlKind::Signaling),
            ("javascript://x/%0aalert(1)", UrlKind::Signaling),
        ] {
            assert!(matches!(PublicUrl::parse(raw, kind), Err(PublicUrlError::Scheme { .. })), "{raw}");
        }
    }

    #[test]
    fn everything_else_is_rejected_with_its_reason() {
        use PublicUrlError as E;
        let not_absolute = E::NotAbsolute { schemes: "ws, wss, http, https".into() };
        for (raw, want) in [
            ("ws", not_absolute.clone()),
            ("cams.example/ws", not_absolute.clone()),
            ("javascript:alert(1)", not_absolute.clone()),
            ("wss:/cams.example", not_absolute),
            ("wss://", E::NoHost),
            ("wss:///ws", E::NoHost),
            ("wss://:8765/ws", E::Invalid("empty host".into())),
            ("wss://[nope]/ws", E::Invalid("invalid IPv6 address".into())),
            ("wss://h:0/ws", E::Port),
            ("wss://h:99999/ws", E::Port),
            ("wss://h:+1/ws", E::Port),
            ("wss://[::1]x/ws", E::Invalid("invalid IPv6 address".into())),
            ("wss://user:pw@h/ws", E::UserInfo),
            ("//evil.example/ws", E::NetworkPath),
            ("/\\evil.example/ws", E::BadCharacter),
            ("/w s", E::BadCharacter),
            ("/ws\u{2028}", E::BadCharacter),
            ("/ws\n", E::BadCharacter),
            ("/ws#x", E::Fragment),
            (&"/x".repeat(MAX_LEN), E::TooLong),
        ] {
            assert_eq!(PublicUrl::parse(raw, UrlKind::Signaling), Err(want), "{raw:?}");
        }
        assert_eq!(PublicUrl::parse("/api?x=1", UrlKind::Api), Err(E::Query));
    }
}
