//! `/users`: accounts, their passwords and camera grants (admin; a user may change their
//! own password).
//!
//! Invariant: every change that can take access away (delete, password, grants) is
//! announced on the bus with `publish_revocation`, so live viewers are re-checked at once.

use actix_web::{web, HttpResponse};
use camview_common::auth::password::check_new_password;
use camview_common::auth::{self as auth, Principal};
use camview_proto::auth::{
    CreateUserRequest, GrantsRequest, PasswordRequest, Subject, TokenResponse, UserInfo, ALL_CAMERAS,
};
use serde::Serialize;

use crate::domain::CameraId;
use crate::error::ApiError;
use crate::extract::{AuthThen, Json};
use crate::routes::auth_routes::token_response;
use crate::security::{Admin, Authenticated};
use crate::startup::AppState;

/// Most grants on one user.
pub const MAX_GRANTS: usize = 1000;

/// `GET /users`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    pub users: Vec<UserInfo>,
    pub count: usize,
}

/// Checks a grant list: camera ids or `*`.
pub fn check_grants(grants: &[String]) -> Result<(), ApiError> {
    if grants.len() > MAX_GRANTS {
        return Err(ApiError::InvalidBody(format!("at most {MAX_GRANTS} grants")));
    }
    for g in grants {
        if g != ALL_CAMERAS {
            CameraId::parse(g).map_err(|e| {
                ApiError::InvalidBody(format!(
                    "grant {:?}: {e} (or \"*\" for every camera)",
                    g.chars().take(80).collect::<String>()
                ))
            })?;
        }
    }
    Ok(())
}

async fn revoke(state: &AppState, subject: Subject) {
    if let Err(e) = auth::publish_revocation(state.bus.bus().as_ref(), subject).await {
        // Tokens already fail against the store; live viewers wait for signaling's periodic re-check.
        tracing::error!(error = %e, "publishing a revocation failed");
    }
}

/// `GET /users`.
#[utoipa::path(get, path = "/users", responses((status = 200, description = "Every user", body = UserList)))]
#[tracing::instrument(skip_all)]
pub async fn list_users(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let users: Vec<UserInfo> = state.auth.store().list_users().await?.iter().map(UserInfo::from).collect();
    Ok(HttpResponse::Ok().json(UserList { count: users.len(), users }))
}

/// `POST /users`: 201 with the user; 409 `user_exists`.
#[utoipa::path(
    post,
    path = "/users",
    request_body = CreateUserRequest,
    responses((status = 201, description = "The new user", body = UserInfo))
)]
#[tracing::instrument(skip_all)]
pub async fn create_user(
    state: web::Data<AppState>,
    input: AuthThen<Admin, Json<CreateUserRequest>>,
) -> Result<HttpResponse, ApiError> {
    let AuthThen(admin, Json(req)) = input;
    auth::check_username(&req.username).map_err(ApiError::InvalidBody)?;
    check_new_password(&req.password).map_err(ApiError::InvalidBody)?;
    check_grants(&req.grants)?;
    let user = auth::new_user(&req.username, &req.password, req.role, req.grants).await;
    if !state.auth.store().create_user(&user).await? {
        return Err(ApiError::UserExists(req.username));
    }
    tracing::info!(by = %admin.0.label(), user = %user.username, role = user.role.as_str(), "user created");
    Ok(HttpResponse::Created().json(UserInfo::from(&user)))
}

fn is_self(p: &Principal, username: &str) -> bool {
    matches!(&p.subject, Subject::User { username: u } if u == username)
}

/// `DELETE /users/{username}`: not yourself.
#[utoipa::path(
    delete,
    path = "/users/{username}",
    params(("username" = String, Path)),
    responses((status = 204, description = "Deleted; the user's live viewers are ended"))
)]
#[tracing::instrument(skip_all)]
pub async fn delete_user(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username = path.into_inner();
    if is_self(&admin.0, &username) {
        return Err(ApiError::Forbidden("you cannot delete yourself".into()));
    }
    if !state.auth.store().delete_user(&username).await? {
        return Err(ApiError::UserNotFound(username));
    }
    tracing::info!(by = %admin.0.label(), user = %username, "user deleted");
    revoke(&state, Subject::User { username }).await;
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /users/{username}/password`: admin, or the user themself. Ends the user's other
/// tokens; a user changing their own password gets a new token (body and cookie).
#[utoipa::path(
    put,
    path = "/users/{username}/password",
    params(("username" = String, Path)),
    request_body = PasswordRequest,
    responses(
        (status = 200, description = "Your own password changed: a new token, also set as the cookie", body = TokenResponse),
        (status = 204, description = "Another user's password changed (admin)"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn set_password(
    state: web::Data<AppState>,
    path: web::Path<String>,
    input: AuthThen<Authenticated, Json<PasswordRequest>>,
) -> Result<HttpResponse, ApiError> {
    let AuthThen(who, body) = input;
    let username = path.into_inner();
    let own = is_self(&who.0, &username);
    if !own && !who.0.is_admin() {
        return Err(ApiError::Forbidden("only an admin may change another user's password".into()));
    }
    check_new_password(&body.0.password).map_err(ApiError::InvalidBody)?;
    let store = state.auth.store();
    let mut user = store.get_user(&username).await?.ok_or_else(|| ApiError::UserNotFound(username.clone()))?;
    auth::set_password(&mut user, &body.0.password).await;
    if !store.update_user(&user).await? {
        return Err(ApiError::UserNotFound(username));
    }
    tracing::info!(by = %who.0.label(), user = %username, "password changed");
    revoke(&state, Subject::User { username }).await;
    if own {
        return Ok(token_response(&state, &state.auth.issue_session(&user)));
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `PUT /users/{username}/grants` `{"grants": [...]}`: the whole new list.
#[utoipa::path(
    put,
    path = "/users/{username}/grants",
    params(("username" = String, Path)),
    request_body = GrantsRequest,
    responses((status = 200, description = "The user with the new grants", body = UserInfo))
)]
#[tracing::instrument(skip_all)]
pub async fn set_grants(
    state: web::Data<AppState>,
    path: web::Path<String>,
    input: AuthThen<Admin, Json<GrantsRequest>>,
) -> Result<HttpResponse, ApiError> {
    let AuthThen(admin, body) = input;
    let username = path.into_inner();
    check_grants(&body.0.grants)?;
    let store = state.auth.store();
    let mut user = store.get_user(&username).await?.ok_or_else(|| ApiError::UserNotFound(username.clone()))?;
    user.grants = body.0.grants;
    if !store.update_user(&user).await? {
        return Err(ApiError::UserNotFound(username));
    }
    tracing::info!(by = %admin.0.label(), user = %username, grants = ?user.grants, "grants changed");
    revoke(&state, Subject::User { username }).await;
    Ok(HttpResponse::Ok().json(UserInfo::from(&user)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_are_camera_ids_or_the_wildcard() {
        assert!(check_grants(&["cam1".into(), "*".into()]).is_ok());
        for bad in ["", "a b", "cam*", "../x"] {
            assert!(matches!(check_grants(&[bad.into()]), Err(ApiError::InvalidBody(_))), "{bad:?}");
        }
        assert!(check_grants(&vec!["c".to_owned(); MAX_GRANTS + 1]).is_err());
    }
}
