//! Which browser origins may open a viewer WebSocket (cross-site WebSocket hijacking).
//!
//! Browsers send the page's `Origin` on every WebSocket upgrade, and they send the
//! `camview_token` cookie with it whatever page started it; so a foreign page must not be
//! able to open a socket that rides on the viewer's cookie.
//!
//! Invariants:
//! - a request without `Origin` (a non-browser client) is allowed: its token decides;
//! - an origin is allowed when its host equals the host of the request's `Host` header
//!   (any scheme and port: the viewer page is served by the api on another port of the
//!   same host), or when it is in the configured list (scheme, host and port compared);
//! - anything that does not parse as an http(s) origin (`null` included) is refused.

/// `scheme://host[:port]`, lower case, default ports removed.
pub type Origin = String;

/// The allow-list of one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OriginPolicy {
    allowed: Vec<Origin>,
}

impl OriginPolicy {
    pub fn new(allowed: Vec<Origin>) -> Self {
        Self { allowed }
    }

    /// Whether an upgrade with these `Origin` and `Host` headers may proceed.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        let Ok(origin) = url::Url::parse(origin.trim()) else {
            return false;
        };
        let Ok(normalized) = normalize(&origin) else {
            return false;
        };
        if self.allowed.contains(&normalized) {
            return true;
        }
        match (origin.host_str(), host.and_then(host_of)) {
            (Some(origin_host), Some(request_host)) => origin_host.eq_ignore_ascii_case(&request_host),
            _ => false,
        }
    }
}

/// The origin of an absolute http(s) URL such as `PUBLIC_API_URL` (its path is ignored).
pub fn parse_origin(text: &str) -> Result<Origin, String> {
    let url = url::Url::parse(text.trim()).map_err(|e| format!("not an origin like https://cams.example.com: {e}"))?;
    normalize(&url)
}

/// `scheme://host[:port]` of an http(s) URL, refusing user info, query and fragment.
fn normalize(url: &url::Url) -> Result<Origin, String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err("the scheme must be http or https".into());
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err("an origin has no user, query or fragment".into());
    }
    let Some(host) = url.host_str() else {
        return Err("an origin needs a host".into());
    };
    Ok(match url.port() {
        // `url` already drops the scheme's default port.
        Some(port) => format!("{}://{}:{port}", url.scheme(), host.to_ascii_lowercase()),
        None => format!("{}://{}", url.scheme(), host.to_ascii_lowercase()),
    })
}

/// The host part of a `Host` header (`cams.example.com:8765`, `[::1]:8765`).
fn host_of(header: &str) -> Option<String> {
    let url = url::Url::parse(&format!("http://{}", header.trim())).ok()?;
    url.host_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_origin_is_allowed() {
        assert!(OriginPolicy::default().allows(None, Some("cams.example.com:8765")));
    }

    #[test]
    fn the_same_host_on_any_port_or_scheme_is_allowed() {
        let p = OriginPolicy::default();
        assert!(p.allows(Some("http://cams.example.com:8080"), Some("cams.example.com:8765")));
        assert!(p.allows(Some("https://CAMS.example.com"), Some("cams.example.com")));
        assert!(p.allows(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8765")));
        assert!(p.allows(Some("http://[::1]:8080"), Some("[::1]:8765")));
    }

    #[test]
    fn a_foreign_or_unparsable_origin_is_refused() {
        let p = OriginPolicy::default();
        for origin in [
            "https://evil.example",
            "null",
            "",
            "file:///x",
            "https://cams.example.com.evil.example",
            "chrome-extension://abc",
        ] {
            assert!(!p.allows(Some(origin), Some("cams.example.com:8765")), "{origin}");
        }
        assert!(!p.allows(Some("https://cams.example.com"), None), "no Host header: only the list");
    }

    #[test]
    fn a_listed_origin_matches_on_scheme_host_and_port() {
        let src = [("SIGNALING_ALLOWED_ORIGINS", "https://cams.example.com:443")];
        let listed = camview_common::config::Reader::new(&src).origins("SIGNALING_ALLOWED_ORIGINS").unwrap();
        let p = OriginPolicy::new(listed);
        assert!(p.allows(Some("https://cams.example.com"), Some("signaling.internal:8765")));
        assert!(!p.allows(Some("http://cams.example.com"), Some("signaling.internal:8765")));
        assert!(!p.allows(Some("https://cams.example.com:8443"), Some("signaling.internal:8765")));
    }

    #[test]
    fn the_public_api_url_counts_by_its_origin() {
        assert_eq!(parse_origin("https://api.example.com/camview/").unwrap(), "https://api.example.com");
    }
}
