//! The extractors that say who is asking: [`Authenticated`], [`Admin`] and, for the routes
//! that answer everybody but more to some, [`MaybeAuthenticated`].

use camview_proto::CameraId;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpRequest};
use camview_common::auth::token::MAX_TOKEN_LEN;
use camview_common::auth::Principal;

use crate::error::ApiError;
use crate::startup::AppState;

/// A request with a valid token (user or share).
#[derive(Debug)]
pub struct Authenticated(pub Principal);

/// `403 forbidden` unless `who` may watch `camera_id`: the one check of every route that
/// serves one camera's stream (its record, its snapshot, a WHEP session).
pub fn ensure_may_watch(who: &Principal, camera_id: &CameraId) -> Result<(), ApiError> {
    if who.may_watch(camera_id) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("you may not watch camera {camera_id}")))
    }
}

/// A request with a valid token of an admin.
#[derive(Debug)]
pub struct Admin(pub Principal);

/// The principal of a valid token, or `None` without one, with an invalid one, or when the
/// store cannot tell (`/health` and `/metrics` must answer even then).
#[derive(Debug)]
pub struct MaybeAuthenticated(pub Option<Principal>);

/// The token of `Authorization: Bearer <token>`: `Some(Err)` for another scheme or an
/// empty or oversized token, `None` without the header.
pub fn bearer_token(req: &HttpRequest) -> Option<Result<String, ApiError>> {
    let header = req.headers().get(AUTHORIZATION)?;
    let bad = || ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into());
    let Ok(text) = header.to_str() else {
        return Some(Err(bad()));
    };
    let Some((scheme, token)) = text.split_once(' ') else {
        return Some(Err(bad()));
    };
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return Some(Err(bad()));
    }
    Some(Ok(token.to_owned()))
}

pub use camview_http::request::cookie_token;

/// The bearer token, else the cookie's.
fn request_token(req: &HttpRequest) -> Result<String, ApiError> {
    match bearer_token(req) {
        Some(result) => result,
        None => cookie_token(req).ok_or_else(|| {
            ApiError::Unauthorized("log in first: no token in the Authorization header or the session cookie".into())
        }),
    }
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or(ApiError::UnexpectedReply("no application state"))
}

/// The client's address: the peer, or behind a trusted proxy what it forwarded.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> IpAddr {
    camview_http::request::request_client_ip(req, &state.security.auth.trusted_proxies)
}

async fn authenticate(req: HttpRequest) -> Result<Principal, ApiError> {
    let state = state(&req)?;
    let token = request_token(&req)?;
    Ok(state.auth.authenticate(&token).await?)
}

impl FromRequest for Authenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req).await.map(Authenticated) })
    }
}

impl FromRequest for Admin {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let principal = authenticate(req).await?;
            principal.require_admin()?;
            Ok(Admin(principal))
        })
    }
}

impl FromRequest for MaybeAuthenticated {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let has_token = bearer_token(&req).is_some() || cookie_token(&req).is_some();
            if !has_token {
                return Ok(MaybeAuthenticated(None));
            }
            match authenticate(req).await {
                Ok(p) => Ok(MaybeAuthenticated(Some(p))),
                Err(ApiError::AuthStore(e)) => {
                    tracing::warn!(error = %e, "the user store failed: answering as to an anonymous caller");
                    Ok(MaybeAuthenticated(None))
                }
                Err(_) => Ok(MaybeAuthenticated(None)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;
    use camview_common::auth::COOKIE_NAME;

    #[test]
    fn the_bearer_header_wins_and_other_schemes_are_refused() {
        let req = TestRequest::default()
            .insert_header((AUTHORIZATION, "Bearer abc"))
            .cookie(actix_web::cookie::Cookie::new(COOKIE_NAME, "xyz"))
            .to_http_request();
        assert_eq!(request_token(&req).unwrap(), "abc");
        let req = TestRequest::default().cookie(actix_web::cookie::Cookie::new(COOKIE_NAME, "xyz")).to_http_request();
        assert_eq!(request_token(&req).unwrap(), "xyz");
        for bad in ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer ", "abc"] {
            let req = TestRequest::default().insert_header((AUTHORIZATION, bad)).to_http_request();
            assert!(matches!(request_token(&req), Err(ApiError::Unauthorized(_))), "{bad}");
        }
        assert!(matches!(request_token(&TestRequest::default().to_http_request()), Err(ApiError::Unauthorized(_))));
    }
}
