//! `/auth/*`: log in (password, one-time link, share link), log out, who am I, refresh.
//!
//! Invariant: every successful login answers the token in the body AND sets it as the
//! HttpOnly cookie; failed logins count against the client address and the username, and
//! while either backs off the password is not even checked (429 with `Retry-After`).

use actix_web::{web, HttpRequest, HttpResponse};
use camview_common::auth::Issued;
use camview_proto::auth::{LinkLoginRequest, LoginRequest, MeResponse, ShareLoginRequest, Subject, TokenResponse};

use crate::error::ApiError;
use crate::extract::Json;
use crate::security::{client_ip, removal_cookie, session_cookie, Authenticated};
use crate::startup::AppState;
use camview_common::clock::unix_to_rfc3339;

/// 200 with the token, and the same token in the cookie.
pub fn token_response(state: &AppState, issued: &Issued) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .cookie(session_cookie(&issued.token, issued.expires_at, state.security.cookie_secure))
        .json(TokenResponse { token: issued.token.clone(), expires_at: unix_to_rfc3339(issued.expires_at) })
}

/// `POST /auth/login` `{"username","password"}`.
#[utoipa::path(
    post,
    path = "/auth/login",
    request_body = LoginRequest,
    responses((status = 200, description = "Logged in: the token, also set as the session cookie", body = TokenResponse))
)]
#[tracing::instrument(skip_all)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<LoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let LoginRequest { username, password } = body.0;
    let ip = client_ip(&req, &state);
    state.limits.login_allowed(ip, Some(&username))?;
    match state.auth.login(&username, &password).await {
        Ok((issued, user)) => {
            state.limits.login_succeeded(&username);
            tracing::info!(user = %user.username, "logged in");
            Ok(token_response(&state, &issued))
        }
        Err(e) => {
            let e = ApiError::from(e);
            if matches!(e, ApiError::Unauthorized(_)) {
                state.limits.login_failed(ip, Some(&username));
                tracing::info!("a login failed");
            }
            Err(e)
        }
    }
}

/// `POST /auth/link` `{"code"}`: a one-time login link.
#[utoipa::path(
    post,
    path = "/auth/link",
    request_body = LinkLoginRequest,
    responses((status = 200, description = "Logged in: the token, also set as the session cookie", body = TokenResponse))
)]
#[tracing::instrument(skip_all)]
pub async fn link(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<LinkLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let ip = client_ip(&req, &state);
    state.limits.login_allowed(ip, None)?;
    match state.auth.login_with_code(&body.0.code).await {
        Ok((issued, user)) => {
            tracing::info!(user = %user.username, "logged in with a one-time link");
            Ok(token_response(&state, &issued))
        }
        Err(e) => {
            let e = ApiError::from(e);
            if matches!(e, ApiError::Unauthorized(_)) {
                state.limits.login_failed(ip, None);
            }
            Err(e)
        }
    }
}

/// `POST /auth/share` `{"token"}`: a share link's token for a cookie session of that share.
#[utoipa::path(
    post,
    path = "/auth/share",
    request_body = ShareLoginRequest,
    responses((status = 200, description = "A session of the share: the token, also set as the cookie", body = TokenResponse))
)]
#[tracing::instrument(skip_all)]
pub async fn share(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: Json<ShareLoginRequest>,
) -> Result<HttpResponse, ApiError> {
    let ip = client_ip(&req, &state);
    state.limits.login_allowed(ip, None)?;
    let principal = match state.auth.authenticate(&body.0.token).await {
        Ok(p) => p,
        Err(e) => {
            let e = ApiError::from(e);
            if matches!(e, ApiError::Unauthorized(_)) {
                state.limits.login_failed(ip, None);
            }
            return Err(e);
        }
    };
    let Subject::Share { id } = &principal.subject else {
        return Err(ApiError::Unauthorized("this is not a share link token".into()));
    };
    let share = state
        .auth
        .store()
        .get_share(id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("this share link no longer exists".into()))?;
    let issued = state.auth.issue_share(&share, Some(state.auth.token_ttl()));
    tracing::info!(share = %share.id, camera_id = %share.camera_id, "share link opened");
    Ok(token_response(&state, &issued))
}

/// `POST /auth/logout`: forgets the cookie (tokens expire on their own).
#[utoipa::path(post, path = "/auth/logout", responses((status = 204, description = "The cookie is cleared")))]
pub async fn logout(state: web::Data<AppState>, who: Authenticated) -> HttpResponse {
    tracing::info!(who = %who.0.label(), "logged out");
    HttpResponse::NoContent().cookie(removal_cookie(state.security.cookie_secure)).finish()
}

/// `GET /auth/me`.
#[utoipa::path(get, path = "/auth/me", responses((status = 200, description = "Who the token is", body = MeResponse)))]
pub async fn me(who: Authenticated) -> HttpResponse {
    let p = who.0;
    HttpResponse::Ok().insert_header((actix_web::http::header::CACHE_CONTROL, "no-store")).json(MeResponse {
        subject: p.subject,
        role: p.role,
        grants: p.grants,
        expires_at: unix_to_rfc3339(p.expires_at),
    })
}

/// `POST /auth/refresh`: a fresh token (body and cookie) while access still holds.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    responses((status = 200, description = "A fresh token, also set as the cookie", body = TokenResponse))
)]
pub async fn refresh(state: web::Data<AppState>, who: Authenticated) -> Result<HttpResponse, ApiError> {
    let issued = state.auth.refresh(&who.0).await?;
    Ok(token_response(&state, &issued))
}
