//! The session cookie: HttpOnly, SameSite=Strict, Path=/, Secure when served over TLS.

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use camview_common::auth::COOKIE_NAME;

/// The cookie carrying `token` until `expires_at` (unix seconds).
pub fn session_cookie(token: &str, expires_at: u64, secure: bool) -> Cookie<'static> {
    let now = camview_common::clock::now_unix();
    let max_age = i64::try_from(expires_at.saturating_sub(now)).unwrap_or(i64::MAX);
    Cookie::build(COOKIE_NAME, token.to_owned())
        .http_only(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(Duration::seconds(max_age))
        .secure(secure)
        .finish()
}

/// A cookie that makes the browser forget the session.
pub fn removal_cookie(secure: bool) -> Cookie<'static> {
    let mut c = session_cookie("", 0, secure);
    c.make_removal();
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_scoped_to_the_site() {
        let now = camview_common::clock::now_unix();
        let text = session_cookie("tok", now + 900, false).to_string();
        for part in ["camview_token=tok", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=9"] {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert!(!text.contains("Secure"), "{text}");
        assert!(session_cookie("tok", now + 900, true).to_string().contains("Secure"));
        let gone = removal_cookie(false).to_string();
        assert!(gone.contains("camview_token=;") && gone.contains("Max-Age=0"), "{gone}");
    }
}
