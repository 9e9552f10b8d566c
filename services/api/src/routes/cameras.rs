//! `/cameras/{camera_id}/keepalive`: the camera's control channel.

use actix_web::{web, HttpRequest, HttpResponse};
use camview_common::clock::now_rfc3339;
use camview_proto::bus::{CameraSeen, Message};
use camview_proto::rest::{DesiredRtp, KeepaliveRequest, KeepaliveResponse};
use camview_proto::stream::{CameraStatus, StreamRecord};
use camview_proto::CameraId;
use camview_proto::ErrorCode;

use super::streams::ask_controller;
use crate::error::ApiError;
use crate::extract::{CameraPath, OptionalJson};
use crate::security::{bearer_token, client_ip};
use crate::startup::AppState;

/// How a keepalive proved it speaks for its camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CameraProof {
    /// The camera's own secret: an admin registered this camera.
    Secret,
    /// No secret, from `CAMERA_TRUSTED_NETWORKS`.
    TrustedNetwork,
}

/// Whether this keepalive may speak for `camera_id`: a matching `Authorization: Bearer
/// <secret>`, or no secret at all from `CAMERA_TRUSTED_NETWORKS`. A wrong secret is refused
/// from anywhere.
async fn camera_allowed(state: &AppState, req: &HttpRequest, camera_id: &CameraId) -> Result<CameraProof, ApiError> {
    match bearer_token(req) {
        Some(Ok(secret)) => {
            if state.auth.camera_secret_matches(camera_id, &secret).await? {
                Ok(CameraProof::Secret)
            } else {
                Err(ApiError::Unauthorized("wrong camera secret".into()))
            }
        }
        Some(Err(e)) => Err(e),
        None if state.security.camera_trusted_networks.contains(client_ip(req, state)) => {
            Ok(CameraProof::TrustedNetwork)
        }
        None => Err(ApiError::Unauthorized(
            "a camera outside CAMERA_TRUSTED_NETWORKS must send `Authorization: Bearer <camera secret>`".into(),
        )),
    }
}

/// `POST /cameras/{camera_id}/keepalive`: stores the camera's stats and answers where it
/// must send RTP (`rtp: null` = do not send). The body is optional. Authenticated by the
/// camera's secret or a trusted network (see `camera_allowed`).
///
/// Invariant: a status is stored only for a known camera, one with a started stream or a
/// registered secret, so the number of stored statuses is bounded by what admins created
/// (`MAX_STREAMS` streams plus the cameras given a secret), whatever ids a trusted network sends.
#[utoipa::path(
    post,
    path = "/cameras/{camera_id}/keepalive",
    params(("camera_id" = String, Path)),
    request_body(content = Option<KeepaliveRequest>, description = "Optional: the camera's figures"),
    responses((status = 200, description = "Where to send RTP (`rtp: null`: do not send)", body = KeepaliveResponse))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn keepalive(
    state: web::Data<AppState>,
    req: HttpRequest,
    camera: CameraPath,
    body: OptionalJson<KeepaliveRequest>,
) -> Result<HttpResponse, ApiError> {
    let camera_id = &camera.0;
    let proof = camera_allowed(&state, &req, camera_id).await?;
    let request = body.0.unwrap_or_default();
    let mut stream = state.registry.get_stream(camera_id).await?;
    if let Some(record) = stream.take() {
        stream = camera_seen(&state, &req, record).await;
    }
    if stream.is_some() || proof == CameraProof::Secret {
        let status = CameraStatus { last_seen: now_rfc3339(), stats: request.stats };
        state.registry.put_camera_status(camera_id, &status, state.camera_status_ttl).await?;
    }
    let rtp = stream.and_then(|stream| {
        let max_bandwidth = stream.bandwidth.max_bandwidth;
        stream.rtp.map(|t| DesiredRtp {
            host: t.host,
            port: t.port,
            codec: t.codec,
            payload_type: t.payload_type,
            max_bandwidth,
            audio: t.audio,
        })
    });
    Ok(HttpResponse::Ok().json(KeepaliveResponse { rtp, keepalive_interval_seconds: state.camera_keepalive_seconds }))
}

/// Tells the media-controller where an accepted keepalive of a started stream came from, when
/// that is not the address it knows: the first one is recorded, a new one re-latches the
/// camera's RTP source on a new port (see the controller's `camera_source`). Answers the
/// stream as it now is, `None` if it was stopped meanwhile. A controller that cannot answer
/// leaves the stream as it was (the next keepalive asks again): a keepalive never fails for it.
async fn camera_seen(state: &AppState, req: &HttpRequest, stream: StreamRecord) -> Option<StreamRecord> {
    let source = client_ip(req, state).to_canonical().to_string();
    if stream.camera_source.as_deref() == Some(source.as_str()) {
        return Some(stream);
    }
    let command = Message::CameraSeen(CameraSeen { camera_id: stream.camera_id.clone(), source });
    match ask_controller(state, command).await {
        Ok(Message::CameraSourceSet(set)) => Some(set.stream),
        Ok(Message::Failed(body)) if body.code == ErrorCode::StreamNotFound => None,
        Ok(other) => {
            tracing::warn!(
                reply = other.kind(),
                "the controller did not record the camera's address; retried on the next keepalive"
            );
            Some(stream)
        }
        Err(e) => {
            tracing::warn!(error = %e, "the controller did not record the camera's address; retried on the next keepalive");
            Some(stream)
        }
    }
}
