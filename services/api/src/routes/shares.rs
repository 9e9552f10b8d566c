//! Share links (`/cameras/{id}/shares`, `/shares/{id}`) and camera secrets
//! (`/cameras/{id}/secret`); admin only.
//!
//! Invariant: a share's link token and a camera's secret are shown once, in the answer
//! that creates them, and never logged.

use camview_proto::CameraId;
use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use camview_common::auth::{self as auth, DEFAULT_SHARE_TTL, MAX_SHARE_TTL};
use camview_proto::auth::{CreateShareRequest, CreateShareResponse, ShareInfo, ShareRecord, Subject};
use serde::Serialize;

use crate::error::ApiError;
use crate::extract::{AuthThen, CameraPath, OptionalJson};
use crate::security::Admin;
use crate::startup::AppState;
use camview_common::clock::unix_to_rfc3339;

/// Shortest share lifetime.
pub const MIN_SHARE_TTL: Duration = Duration::from_secs(60);

/// `GET /cameras/{id}/shares`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShareList {
    pub shares: Vec<ShareInfo>,
    pub count: usize,
}

/// `POST /cameras/{id}/secret`: shown once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CameraSecretResponse {
    pub camera_id: CameraId,
    pub secret: String,
}

fn info(s: &ShareRecord) -> ShareInfo {
    ShareInfo {
        id: s.id.clone(),
        camera_id: s.camera_id.clone(),
        created_by: s.created_by.clone(),
        created_at: s.created_at.clone(),
        expires_at: unix_to_rfc3339(s.expires_at),
        revoked: s.revoked_at.is_some(),
    }
}

/// Where browsers open the API: `PUBLIC_API_URL` when absolute, else this request's
/// scheme and host (plus `PUBLIC_API_URL`'s path when it is one); no trailing slash.
pub fn public_base(public_api_url: Option<&str>, scheme: &str, host: &str) -> String {
    let base = match public_api_url {
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => u.to_owned(),
        Some(path) => format!("{scheme}://{host}{path}"),
        None => format!("{scheme}://{host}"),
    };
    base.trim_end_matches('/').to_owned()
}

/// `POST /cameras/{id}/shares` `{"expires_in_seconds"?}`: 201 with the link.
#[utoipa::path(
    post,
    path = "/cameras/{camera_id}/shares",
    params(("camera_id" = String, Path)),
    request_body(content = Option<CreateShareRequest>, description = "Optional: without it the share lives 24 h"),
    responses((status = 201, description = "The share and its link, shown once", body = CreateShareResponse))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn create_share(
    state: web::Data<AppState>,
    req: HttpRequest,
    camera: CameraPath,
    input: AuthThen<Admin, OptionalJson<CreateShareRequest>>,
) -> Result<HttpResponse, ApiError> {
    let AuthThen(admin, body) = input;
    let ttl = match body.0.unwrap_or_default().expires_in_seconds {
        None => DEFAULT_SHARE_TTL,
        Some(s) if (MIN_SHARE_TTL.as_secs()..=MAX_SHARE_TTL.as_secs()).contains(&s) => Duration::from_secs(s),
        Some(_) => {
            return Err(ApiError::InvalidBody(format!(
                "expires_in_seconds must be between {} and {}",
                MIN_SHARE_TTL.as_secs(),
                MAX_SHARE_TTL.as_secs()
            )));
        }
    };
    let created_by = match &admin.0.subject {
        Subject::User { username } => username.clone(),
        Subject::Share { id } => id.clone(),
    };
    let (share, issued) = state.auth.create_share(&camera.0, &created_by, ttl).await?;
    let conn = req.connection_info().clone();
    let base = public_base(state.public_api_url.as_deref(), conn.scheme(), conn.host());
    tracing::info!(share = %share.id, by = %created_by, ttl_seconds = ttl.as_secs(), "share created");
    Ok(HttpResponse::Created().insert_header((actix_web::http::header::CACHE_CONTROL, "no-store")).json(
        CreateShareResponse {
            share: info(&share),
            url: format!("{base}/share#token={}", issued.token),
            token: issued.token,
        },
    ))
}

/// `GET /cameras/{id}/shares`: revoked and expired ones included (until pruned).
#[utoipa::path(
    get,
    path = "/cameras/{camera_id}/shares",
    params(("camera_id" = String, Path)),
    responses((status = 200, description = "The camera's shares", body = ShareList))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn list_shares(
    state: web::Data<AppState>,
    _admin: Admin,
    camera: CameraPath,
) -> Result<HttpResponse, ApiError> {
    let shares: Vec<ShareInfo> = state.auth.store().list_shares(Some(&camera.0)).await?.iter().map(info).collect();
    Ok(HttpResponse::Ok().json(ShareList { count: shares.len(), shares }))
}

/// `DELETE /shares/{id}`: revokes; the link and its sessions stop working at once.
#[utoipa::path(
    delete,
    path = "/shares/{share_id}",
    params(("share_id" = String, Path)),
    responses((status = 204, description = "Revoked (revoking twice is fine)"))
)]
#[tracing::instrument(skip_all)]
pub async fn revoke_share(
    state: web::Data<AppState>,
    admin: Admin,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let not_found = || ApiError::ShareNotFound(id.chars().take(80).collect());
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(not_found());
    }
    let mut share = state.auth.store().get_share(&id).await?.ok_or_else(not_found)?;
    if share.revoked_at.is_none() {
        share.revoked_at = Some(camview_common::clock::now_rfc3339());
        state.auth.store().put_share(&share).await?;
    }
    tracing::info!(by = %admin.0.label(), share = %share.id, "share revoked");
    if let Err(e) = auth::publish_revocation(state.bus.bus().as_ref(), Subject::Share { id: share.id.clone() }).await {
        tracing::error!(error = %e, "publishing a revocation failed");
    }
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /cameras/{id}/secret`: a new keepalive secret (replacing any), shown once.
#[utoipa::path(
    post,
    path = "/cameras/{camera_id}/secret",
    params(("camera_id" = String, Path)),
    responses((status = 200, description = "The new secret, shown once", body = CameraSecretResponse))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn rotate_secret(
    state: web::Data<AppState>,
    admin: Admin,
    camera: CameraPath,
) -> Result<HttpResponse, ApiError> {
    let secret = auth::new_camera_secret(state.auth.store().as_ref(), &camera.0).await?;
    tracing::info!(by = %admin.0.label(), "camera secret set");
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(CameraSecretResponse { camera_id: camera.0.clone(), secret }))
}

/// `DELETE /cameras/{id}/secret`: the camera is then accepted only from trusted networks.
#[utoipa::path(
    delete,
    path = "/cameras/{camera_id}/secret",
    params(("camera_id" = String, Path)),
    responses((status = 204, description = "Deleted; 404 `not_found` when the camera had no secret"))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn delete_secret(
    state: web::Data<AppState>,
    admin: Admin,
    camera: CameraPath,
) -> Result<HttpResponse, ApiError> {
    if !state.auth.store().delete_camera_secret(&camera.0).await? {
        return Err(ApiError::NotFound);
    }
    tracing::info!(by = %admin.0.label(), "camera secret deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_links_use_the_public_url_or_the_request_origin() {
        assert_eq!(public_base(Some("https://cams.example/"), "http", "10.0.0.2:8080"), "https://cams.example");
        assert_eq!(public_base(Some("/camview/"), "https", "cams.example"), "https://cams.example/camview");
        assert_eq!(public_base(Some("/"), "http", "h:8080"), "http://h:8080");
        assert_eq!(public_base(None, "http", "h:8080"), "http://h:8080");
    }
}
