//! `/viewers`: who watches what.

use actix_web::{web, HttpResponse};
use camview_proto::rest::ViewerList;

use crate::error::ApiError;
use crate::extract::CameraPath;
use crate::security::Admin;
use crate::startup::AppState;

/// `GET /viewers`: every viewer of every stream.
#[utoipa::path(get, path = "/viewers", responses((status = 200, description = "Every viewer", body = ViewerList)))]
#[tracing::instrument(skip_all)]
pub async fn list_viewers(state: web::Data<AppState>, _admin: Admin) -> Result<HttpResponse, ApiError> {
    let viewers = state.registry.list_viewers(None).await?;
    Ok(HttpResponse::Ok().json(ViewerList { count: viewers.len(), viewers }))
}

/// `GET /viewers/{camera_id}`: viewers of one stream; 404 when the stream is not started.
#[utoipa::path(
    get,
    path = "/viewers/{camera_id}",
    params(("camera_id" = String, Path)),
    responses((status = 200, description = "The stream's viewers", body = ViewerList))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn stream_viewers(
    state: web::Data<AppState>,
    _admin: Admin,
    camera: CameraPath,
) -> Result<HttpResponse, ApiError> {
    let camera_id = &camera.0;
    let viewers = state.registry.list_viewers(Some(camera_id)).await?;
    if viewers.is_empty() && state.registry.get_stream(camera_id).await?.is_none() {
        return Err(ApiError::StreamNotFound(camera_id.to_owned()));
    }
    Ok(HttpResponse::Ok().json(ViewerList { count: viewers.len(), viewers }))
}
