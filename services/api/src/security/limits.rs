//! Rate limits: every request per client address ([`rate_limit`]), and failed logins per
//! client address and per username ([`Limits::login_allowed`]).
//!
//! Invariant: the limiter state sits behind std mutexes that are held only for one sans-IO
//! call (never across an `await`), so a slow request cannot stall the others.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use camview_common::auth::limit::{FailureBackoff, KeyedBuckets};

use crate::config::SecuritySettings;
use crate::error::ApiError;
use crate::startup::AppState;

/// Most addresses or usernames tracked by each limiter.
const MAX_KEYS: usize = 100_000;
/// First back-off after the free login failures.
const LOGIN_BACKOFF_BASE: Duration = Duration::from_secs(1);

/// The limiter state of one API process.
#[derive(Debug)]
pub struct Limits {
    requests: Mutex<KeyedBuckets<IpAddr>>,
    login_by_address: Mutex<FailureBackoff<IpAddr>>,
    login_by_username: Mutex<FailureBackoff<String>>,
}

impl Limits {
    pub fn new(s: &SecuritySettings) -> Self {
        let (free, max) = (s.login_free_failures, s.login_backoff_max);
        Self {
            requests: Mutex::new(KeyedBuckets::new(s.rate_limit_per_second, s.rate_limit_burst, MAX_KEYS)),
            login_by_address: Mutex::new(FailureBackoff::new(free, LOGIN_BACKOFF_BASE, max, MAX_KEYS)),
            login_by_username: Mutex::new(FailureBackoff::new(free, LOGIN_BACKOFF_BASE, max, MAX_KEYS)),
        }
    }

    /// One request from `ip`: `Err(wait)` when over the limit.
    pub fn take_request(&self, ip: IpAddr) -> Result<(), Duration> {
        lock(&self.requests).take(&ip, Instant::now())
    }

    /// Whether a login attempt from `ip` (for `username`, if known) may be checked now.
    pub fn login_allowed(&self, ip: IpAddr, username: Option<&str>) -> Result<(), ApiError> {
        let now = Instant::now();
        let by_address = lock(&self.login_by_address).check(&ip, now);
        let by_username = username.map_or(Ok(()), |u| lock(&self.login_by_username).check(&username_key(u), now));
        match (by_address, by_username) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(a), Err(b)) => Err(ApiError::TooManyRequests { retry_after: a.max(b) }),
            (Err(w), _) | (_, Err(w)) => Err(ApiError::TooManyRequests { retry_after: w }),
        }
    }

    /// A failed login from `ip` for `username`.
    pub fn login_failed(&self, ip: IpAddr, username: Option<&str>) {
        let now = Instant::now();
        lock(&self.login_by_address).fail(&ip, now);
        if let Some(u) = username {
            lock(&self.login_by_username).fail(&username_key(u), now);
        }
    }

    /// A successful login clears the username's failures (not the address's).
    pub fn login_succeeded(&self, username: &str) {
        lock(&self.login_by_username).succeed(&username_key(username));
    }
}

/// Usernames are keyed as typed, bounded in length so a huge name costs no memory.
fn username_key(u: &str) -> String {
    u.chars().take(64).collect()
}

/// A poisoned limiter only means a panic elsewhere mid-update; its counts are still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Middleware: at most `API_RATE_LIMIT_*` requests per client address; over it, 429
/// `rate_limited` with `Retry-After`.
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    if let Some(state) = req.app_data::<web::Data<AppState>>().cloned() {
        let ip = super::client_ip(req.request(), &state);
        if let Err(retry_after) = state.limits.take_request(ip) {
            let response = ApiError::RateLimited { retry_after }.error_response();
            return Ok(req.into_response(response).map_into_right_body());
        }
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(free: u32) -> Limits {
        let mut s = crate::Settings::from_source(&std::collections::HashMap::<String, String>::new()).unwrap().security;
        s.login_free_failures = free;
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 2;
        Limits::new(&s)
    }

    #[test]
    fn login_failures_back_off_per_address_and_per_username() {
        let l = limits(1);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        l.login_failed(a, Some("ann"));
        assert!(l.login_allowed(a, Some("ann")).is_ok(), "one free failure");
        l.login_failed(a, Some("ann"));
        assert!(matches!(l.login_allowed(a, Some("bob")), Err(ApiError::TooManyRequests { .. })), "the address waits");
        assert!(
            matches!(l.login_allowed(b, Some("ann")), Err(ApiError::TooManyRequests { .. })),
            "the username waits from anywhere"
        );
        assert!(l.login_allowed(b, Some("bob")).is_ok());
        l.login_succeeded("ann");
        assert!(l.login_allowed(b, Some("ann")).is_ok(), "a success clears the username");
        assert!(l.login_allowed(a, None).is_err(), "but not the address");
    }

    #[test]
    fn requests_are_limited_per_address() {
        let l = limits(5);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(l.take_request(a).is_ok() && l.take_request(a).is_ok());
        assert!(l.take_request(a).is_err());
        assert!(l.take_request("192.0.2.9".parse().unwrap()).is_ok());
    }
}
