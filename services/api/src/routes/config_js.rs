//! `/config.js`: the server's defaults for the viewer pages (`PUBLIC_API_URL`,
//! `PUBLIC_SIGNALING_URL`), loaded by every page before its own scripts.
//!
//! Invariant: the script only fills in keys the page's own `window.CAMVIEW_CONFIG` leaves unset
//! (query parameters still win over both, in `deriveConfig`), and every value is a JSON string
//! with `<`, `>`, `&`, U+2028 and U+2029 escaped, so no value can end the script, open an HTML
//! comment, or break the statement in older parsers, whatever it holds.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{web, HttpResponse};

use crate::config::PublicSettings;
use crate::startup::AppState;

/// `GET /config.js`. Never cached without revalidation: a changed setting reaches every page on
/// its next load.
#[utoipa::path(
    get,
    path = "/config.js",
    responses((status = 200, description = "A script setting window.CAMVIEW_CONFIG", content_type = "text/javascript", body = String))
)]
pub async fn config_js(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/javascript; charset=utf-8"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(state.config_js.clone())
}

/// The body of `/config.js` for `public`, built once at start.
pub fn render(public: &PublicSettings) -> String {
    let mut defaults = serde_json::Map::new();
    for (key, url) in [("apiUrl", &public.api_url), ("signalingUrl", &public.signaling_url)] {
        if let Some(url) = url {
            defaults.insert(key.to_owned(), url.as_str().into());
        }
    }
    let json = escape_for_script(&serde_json::Value::Object(defaults).to_string());
    format!(
        "// camview server defaults (PUBLIC_API_URL, PUBLIC_SIGNALING_URL); the page's own\n\
         // window.CAMVIEW_CONFIG and then query parameters take precedence.\n\
         window.CAMVIEW_CONFIG = Object.assign({json}, window.CAMVIEW_CONFIG || {{}});\n"
    )
}

/// JSON text made safe inside a script: these characters only occur inside JSON strings,
/// where `\uXXXX` means the same.
fn escape_for_script(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{PublicUrl, UrlKind};

    #[test]
    fn without_settings_the_script_assigns_nothing_new() {
        assert!(render(&PublicSettings::default())
            .contains("window.CAMVIEW_CONFIG = Object.assign({}, window.CAMVIEW_CONFIG || {});"));
    }

    #[test]
    fn set_urls_become_json_defaults_under_the_page_config() {
        let public = PublicSettings {
            api_url: Some(PublicUrl::parse("/", UrlKind::Api).unwrap()),
            signaling_url: Some(PublicUrl::parse("/ws", UrlKind::Signaling).unwrap()),
        };
        assert!(render(&public).contains(
            r#"window.CAMVIEW_CONFIG = Object.assign({"apiUrl":"/","signalingUrl":"/ws"}, window.CAMVIEW_CONFIG || {});"#
        ));
    }

    #[test]
    fn script_breaking_characters_are_escaped_and_the_json_means_the_same() {
        let raw = "</script><!--\u{2028}\u{2029}&\"'\\";
        let json = serde_json::Value::from(raw).to_string();
        let escaped = escape_for_script(&json);
        for bad in ['<', '>', '&', '\u{2028}', '\u{2029}'] {
            assert!(!escaped.contains(bad), "{bad:?} in {escaped}");
        }
        let back: String = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, raw);
    }
}
