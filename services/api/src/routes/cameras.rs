//! `/cameras/{camera_id}/keepalive`: the camera's control channel.

use actix_web::{web, HttpResponse};
use camview_common::clock::now_rfc3339;
use camview_proto::rest::{DesiredRtp, KeepaliveRequest, KeepaliveResponse};
use camview_proto::stream::CameraStatus;

use crate::error::ApiError;
use crate::extract::{CameraPath, OptionalJson};
use crate::startup::AppState;

/// `POST /cameras/{camera_id}/keepalive`: stores the camera's stats and answers where it
/// must send RTP (`rtp: null` = do not send). The body is optional.
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn keepalive(
    state: web::Data<AppState>,
    camera: CameraPath,
    body: OptionalJson<KeepaliveRequest>,
) -> Result<HttpResponse, ApiError> {
    let camera_id = camera.0.as_str();
    let request = body.0.unwrap_or_default();
    let status = CameraStatus {
        last_seen: now_rfc3339(),
        stats: request.stats,
    };
    state
        .registry
        .put_camera_status(camera_id, &status, state.camera_status_ttl)
        .await?;
    let rtp = state
        .registry
        .get_stream(camera_id)
        .await?
        .and_then(|stream| {
            let max_bandwidth = stream.bandwidth.max_bandwidth;
            stream.rtp.map(|t| DesiredRtp {
                host: t.host,
                port: t.port,
                codec: t.codec,
                payload_type: t.payload_type,
                max_bandwidth,
            })
        });
    Ok(HttpResponse::Ok().json(KeepaliveResponse {
        rtp,
        keepalive_interval_seconds: state.camera_keepalive_seconds,
    }))
}
