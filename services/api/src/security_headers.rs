//! Security headers on every response of the API (pages, assets, JSON and errors alike).
//!
//! Invariants:
//! - every response carries a strict `Content-Security-Policy` (scripts and styles only from this
//!   origin: no inline code, no `eval`), `X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: no-referrer` (a share link's token must never leave in a `Referer`) and
//!   `Cross-Origin-Opener-Policy: same-origin`;
//! - framing is refused (`frame-ancestors 'none'`, `X-Frame-Options: DENY`) except for the embed
//!   mode of the viewer (`/viewer?embed=1`), which this origin's own grid and the origins in
//!   `EMBED_ALLOWED_ORIGINS` (validated at start) may frame;
//! - `Strict-Transport-Security` only when this server itself serves TLS.
//!
//! `connect-src` allows any http(s)/ws(s) endpoint: the pages take the API and signaling
//! addresses from `/config.js` and from `?api=` / `?signaling=`, and signaling listens on another
//! port than the page (8765), which `'self'` does not cover. Scripts are what the policy pins.

use std::future::{ready, Ready};
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{forward_ready, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::Error;
use camview_common::config::{ConfigError, Reader};
use futures_util::future::LocalBoxFuture;

const BASE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    media-src 'self' blob:; connect-src 'self' ws: wss: http: https:; object-src 'none'; base-uri 'none'; \
    form-action 'self'";

/// `EMBED_ALLOWED_ORIGINS`: origins (`https://host[:port]`) that may frame `/viewer?embed=1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmbedSettings {
    pub allowed_origins: Vec<String>,
}

impl EmbedSettings {
    /// A comma list of http(s) origins, each without path, query or credentials; empty (the
    /// default) lets only this origin (the grid page) frame the viewer.
    pub fn from_reader(r: &Reader<'_>) -> Result<Self, ConfigError> {
        let allowed_origins = r.origins("EMBED_ALLOWED_ORIGINS")?;
        Ok(Self { allowed_origins })
    }
}

/// The header values, computed once at start.
#[derive(Debug)]
struct Policy {
    normal: Vec<(HeaderName, HeaderValue)>,
    embed: Vec<(HeaderName, HeaderValue)>,
}

/// The middleware: `.wrap(SecurityHeaders::new(&embed, tls))`.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    policy: Arc<Policy>,
}

impl SecurityHeaders {
    /// `tls`: this server serves HTTPS itself (adds HSTS).
    pub fn new(embed: &EmbedSettings, tls: bool) -> Self {
        let value = |s: &str| HeaderValue::from_str(s).expect("header values are built from validated ASCII origins");
        let mut common = vec![
            (HeaderName::from_static("x-content-type-options"), HeaderValue::from_static("nosniff")),
            (HeaderName::from_static("referrer-policy"), HeaderValue::from_static("no-referrer")),
            (HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin")),
        ];
        if tls {
            common.push((
                HeaderName::from_static("strict-transport-security"),
                HeaderValue::from_static("max-age=31536000"),
            ));
        }
        let csp = HeaderName::from_static("content-security-policy");
        let mut normal = common.clone();
        normal.push((csp.clone(), value(&format!("{BASE_POLICY}; frame-ancestors 'none'"))));
        normal.push((HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY")));
        let mut ancestors = String::from("'self'");
        for origin in &embed.allowed_origins {
            ancestors.push(' ');
            ancestors.push_str(origin);
        }
        let mut embed_headers = common;
        embed_headers.push((csp, value(&format!("{BASE_POLICY}; frame-ancestors {ancestors}"))));
        if embed.allowed_origins.is_empty() {
            embed_headers.push((HeaderName::from_static("x-frame-options"), HeaderValue::from_static("SAMEORIGIN")));
        }
        Self { policy: Arc::new(Policy { normal, embed: embed_headers }) }
    }

    fn apply(&self, headers: &mut HeaderMap, embed: bool) {
        let set = if embed { &self.policy.embed } else { &self.policy.normal };
        for (name, value) in set {
            headers.insert(name.clone(), value.clone());
        }
    }
}

/// `/viewer` with `embed` set to a value the page reads as on (`1`, `true`, `yes`, `on`, empty).
pub fn is_embed_request(path: &str, query: &str) -> bool {
    path == "/viewer"
        && url::form_urlencoded::parse(query.as_bytes())
            .any(|(k, v)| k == "embed" && matches!(v.as_ref(), "" | "1" | "true" | "yes" | "on"))
}

impl<S, B> Transform<S, ServiceRequest> for SecurityHeaders
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Transform = SecurityHeadersService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SecurityHeadersService { service, headers: self.clone() }))
    }
}

/// One worker's instance of [`SecurityHeaders`].
pub struct SecurityHeadersService<S> {
    service: S,
    headers: SecurityHeaders,
}

impl<S, B> Service<ServiceRequest> for SecurityHeadersService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<B>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let embed = is_embed_request(req.path(), req.query_string());
        let headers = self.headers.clone();
        let fut = self.service.call(req);
        Box::pin(async move {
            match fut.await {
                Ok(mut res) => {
                    headers.apply(res.headers_mut(), embed);
                    Ok(res)
                }
                // An error from an inner middleware: its response, with the headers too.
                Err(e) => {
                    let mut res = e.error_response();
                    headers.apply(res.headers_mut(), embed);
                    Err(InternalError::from_response(e.to_string(), res).into())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn embed(value: &str) -> Result<EmbedSettings, ConfigError> {
        let map: HashMap<String, String> = [("EMBED_ALLOWED_ORIGINS".to_owned(), value.to_owned())].into();
        EmbedSettings::from_reader(&Reader::new(&map))
    }

    #[test]
    fn embed_origins_are_normalised_and_bad_ones_name_the_variable() {
        assert_eq!(embed("").unwrap().allowed_origins, Vec::<String>::new());
        assert_eq!(
            embed("https://a.example, http://b.example:8000/, HTTPS://C.Example:443").unwrap().allowed_origins,
            ["https://a.example", "http://b.example:8000", "https://c.example"]
        );
        for bad in [
            "*",
            "a.example",
            "ftp://a.example",
            "https://a.example/path",
            "https://a.example/?q=1",
            "https://u:p@a.example",
            "'self'",
        ] {
            let err = embed(bad).unwrap_err();
            assert_eq!(err.name, "EMBED_ALLOWED_ORIGINS", "{bad}: {err}");
        }
    }

    #[test]
    fn only_the_viewer_with_embed_on_counts_as_embed_mode() {
        assert!(is_embed_request("/viewer", "camera=a&embed=1"));
        assert!(is_embed_request("/viewer", "embed"));
        assert!(is_embed_request("/viewer", "embed=true&autostart=1"));
        assert!(!is_embed_request("/viewer", "embed=0"));
        assert!(!is_embed_request("/viewer", "camera=a"));
        assert!(!is_embed_request("/", "embed=1"));
        assert!(!is_embed_request("/static/viewer.html", "embed=1"));
    }

    fn headers(h: &SecurityHeaders, embed: bool) -> HeaderMap {
        let mut map = HeaderMap::new();
        h.apply(&mut map, embed);
        map
    }

    #[test]
    fn framing_is_refused_except_in_embed_mode_for_the_listed_origins() {
        let h = SecurityHeaders::new(&EmbedSettings { allowed_origins: vec!["https://a.example".into()] }, false);
        let normal = headers(&h, false);
        let csp = normal.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe"), "{csp}");
        assert_eq!(normal.get("x-frame-options").unwrap(), "DENY");
        assert_eq!(normal.get("referrer-policy").unwrap(), "no-referrer");
        assert_eq!(normal.get("x-content-type-options").unwrap(), "nosniff");
        assert_eq!(normal.get("cross-origin-opener-policy").unwrap(), "same-origin");
        assert!(normal.get("strict-transport-security").is_none());

        let embedded = headers(&h, true);
        let csp = embedded.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.ends_with("frame-ancestors 'self' https://a.example"), "{csp}");
        assert!(embedded.get("x-frame-options").is_none(), "X-Frame-Options cannot name another origin");

        let same_origin_only = headers(&SecurityHeaders::new(&EmbedSettings::default(), false), true);
        let csp = same_origin_only.get("content-security-policy").unwrap().to_str().unwrap();
        assert!(csp.ends_with("frame-ancestors 'self'"), "{csp}");
        assert_eq!(same_origin_only.get("x-frame-options").unwrap(), "SAMEORIGIN");
    }

    #[test]
    fn hsts_is_sent_only_when_serving_tls() {
        let tls = headers(&SecurityHeaders::new(&EmbedSettings::default(), true), false);
        assert_eq!(tls.get("strict-transport-security").unwrap(), "max-age=31536000");
    }
}
