//! `GET /streams/{camera_id}/snapshot.jpg`: a JPEG of the camera's latest keyframe (see
//! `crate::snapshot`). Who may watch a stream may see its snapshot, nobody else.

use std::time::Duration;

use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::{web, HttpResponse};
use camview_proto::stream::Codec;

use crate::error::ApiError;
use crate::extract::CameraPath;
use crate::security::{ensure_may_watch, Authenticated};
use crate::snapshot::SnapshotError;
use crate::startup::AppState;

/// How long a client is told to wait when no keyframe has arrived yet.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// `GET /streams/{camera_id}/snapshot.jpg`.
#[utoipa::path(
    get,
    path = "/streams/{camera_id}/snapshot.jpg",
    params(("camera_id" = String, Path)),
    responses((status = 200, description = "A JPEG of the latest keyframe (at most one new picture per second per camera)", content_type = "image/jpeg"))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn snapshot(
    state: web::Data<AppState>,
    who: Authenticated,
    camera: CameraPath,
) -> Result<HttpResponse, ApiError> {
    let camera_id = camera.0.clone();
    ensure_may_watch(&who.0, &camera_id)?;
    let record =
        state.registry.get_stream(&camera_id).await?.ok_or_else(|| ApiError::StreamNotFound(camera_id.clone()))?;
    if let Some(codec) = record.rtp.as_ref().map(|r| r.codec).filter(|c| *c != Codec::H264) {
        return Err(ApiError::SnapshotUnsupportedCodec(codec.rtpmap_name().to_owned()));
    }
    match state.snapshots.snapshot(&camera_id).await {
        Ok(jpeg) => Ok(HttpResponse::Ok()
            .content_type("image/jpeg")
            .insert_header(CacheControl(vec![CacheDirective::Private, CacheDirective::NoCache]))
            .insert_header(("X-Snapshot-Size", format!("{}x{}", jpeg.width, jpeg.height)))
            .body(jpeg.bytes.clone())),
        Err(SnapshotError::NoKeyframe(_)) => Err(ApiError::SnapshotUnavailable { retry_after: RETRY_AFTER }),
        Err(SnapshotError::StreamNotFound(_)) => Err(ApiError::StreamNotFound(camera_id)),
        Err(SnapshotError::Controller(body)) => Err(ApiError::Controller(body)),
        Err(SnapshotError::Bus(e)) => Err(e.into()),
        Err(other) => Err(ApiError::Snapshot(other)),
    }
}
