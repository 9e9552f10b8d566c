//! Who is asking and whether they may: the principal extractors, the session cookie, the
//! client address, rate limits, CORS and the cross-site request check.
//!
//! Who may call each route is declared in the route table (`crate::routes::ROUTES`, its
//! [`Access`] column) and enforced by the handler's arguments.
//!
//! Invariants: every route but the public ones takes an [`Authenticated`] or [`Admin`]
//! argument, so a handler cannot forget the check; the public ones are those of
//! [`Access::Public`] (`GET /openapi.json` among them: the document holds no data); a token
//! is read from `Authorization: Bearer` first, else from the cookie, and checked against the
//! store at every use; the client address comes from `X-Forwarded-For` only behind
//! `TRUSTED_PROXIES`.

mod access;
mod cookie;
mod cors;
mod limits;
mod principal;

pub use access::Access;
pub use cookie::{removal_cookie, session_cookie};
pub use cors::{cors, cross_site_check};
pub use limits::{rate_limit, Limits};
pub use principal::{
    bearer_token, client_ip, cookie_token, ensure_may_watch, Admin, Authenticated, MaybeAuthenticated,
};
