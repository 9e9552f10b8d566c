//! Who is asking and whether they may: the principal extractors, the session cookie, the
//! client address, rate limits, CORS and the cross-site request check.
//!
//! Invariants: every route but the public ones takes an [`Authenticated`] or [`Admin`]
//! argument, so a handler cannot forget the check; a token is read from `Authorization:
//! Bearer` first, else from the cookie, and checked against the store at every use; the
//! client address comes from `X-Forwarded-For` only behind `TRUSTED_PROXIES`.

mod cookie;
mod cors;
mod limits;
mod principal;

pub use cookie::{removal_cookie, session_cookie};
pub use cors::{cors, cross_site_check};
pub use limits::{rate_limit, Limits};
pub use principal::{bearer_token, client_ip, cookie_token, Admin, Authenticated, MaybeAuthenticated};

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Unix seconds as RFC 3339 (the wire format of every time).
pub fn rfc3339(unix: u64) -> String {
    let t = i64::try_from(unix).ok().and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok()).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    // Formatting a valid date as RFC 3339 cannot fail for years 0..=9999.
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}
