//! `/streams`: list, show, start and stop camera streams.

use actix_web::{web, HttpResponse};
use camview_common::bus::envelope;
use camview_common::Registry;
use camview_proto::bus::{Message, StartStream, StopStream};
use camview_proto::rest::{StartStreamRequest, StopStreamResponse, StreamList, StreamView};
use camview_proto::source::SourceUrl;
use camview_proto::stream::StreamRecord;
use camview_proto::ErrorCode;

use crate::domain::bandwidth_from_request;
use crate::error::ApiError;
use crate::extract::{AuthThen, CameraPath, OptionalJson};
use crate::metrics::ControllerOutcome;
use crate::security::{ensure_may_watch, Admin, Authenticated};
use crate::startup::AppState;

/// A registry record with its viewer count and the camera's last keepalive.
#[tracing::instrument(skip_all, fields(camera_id = %record.camera_id))]
pub async fn stream_view(registry: &dyn Registry, record: StreamRecord) -> Result<StreamView, ApiError> {
    let viewers = registry.viewer_count(&record.camera_id).await?;
    let camera = registry.get_camera_status(&record.camera_id).await?;
    Ok(StreamView::new(record, viewers, camera))
}

/// Sends a command to the media-controller in the request's trace and waits for its
/// reply, counting the outcome.
#[tracing::instrument(skip_all, fields(command = message.kind()))]
pub(crate) async fn ask_controller(state: &AppState, message: Message) -> Result<Message, ApiError> {
    let kind = message.kind();
    // Built inside this span, so it carries the request's trace context.
    let envelope = envelope(message, None, None);
    let result = state.bus.request_envelope(envelope, state.bus_request_timeout).await;
    state.metrics.controller_request(kind, ControllerOutcome::of(&result));
    Ok(result?)
}

/// `GET /streams`: the streams the caller may watch.
#[utoipa::path(get, path = "/streams", responses((status = 200, description = "The streams the caller may watch", body = StreamList)))]
#[tracing::instrument(skip_all)]
pub async fn list_streams(state: web::Data<AppState>, who: Authenticated) -> Result<HttpResponse, ApiError> {
    let records = state.registry.list_streams().await?;
    let mut streams = Vec::with_capacity(records.len());
    for record in records.into_iter().filter(|r| who.0.may_watch(&r.camera_id)) {
        streams.push(stream_view(state.registry.as_ref(), record).await?);
    }
    Ok(HttpResponse::Ok().json(StreamList { count: streams.len(), streams }))
}

/// `GET /streams/{camera_id}`.
#[utoipa::path(
    get,
    path = "/streams/{camera_id}",
    params(("camera_id" = String, Path)),
    responses((status = 200, description = "The stream", body = StreamView))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn get_stream(
    state: web::Data<AppState>,
    who: Authenticated,
    camera: CameraPath,
) -> Result<HttpResponse, ApiError> {
    ensure_may_watch(&who.0, &camera.0)?;
    let record =
        state.registry.get_stream(&camera.0).await?.ok_or_else(|| ApiError::StreamNotFound(camera.0.clone()))?;
    Ok(HttpResponse::Ok().json(stream_view(state.registry.as_ref(), record).await?))
}

/// `POST /streams/{camera_id}/start`, body optional. Idempotent: starting a started stream
/// answers 200 with the stream unchanged, exactly like the first start.
#[utoipa::path(
    post,
    path = "/streams/{camera_id}/start",
    params(("camera_id" = String, Path)),
    request_body(content = Option<StartStreamRequest>, description = "Optional bandwidth limits in kbps and RTSP source (`rtsp://user:pass@host/path`)"),
    responses((status = 200, description = "The started stream (also when it was started already); its source redacted", body = StreamView))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn start_stream(
    state: web::Data<AppState>,
    camera: CameraPath,
    input: AuthThen<Admin, OptionalJson<StartStreamRequest>>,
) -> Result<HttpResponse, ApiError> {
    let AuthThen(_admin, body) = input;
    let body = body.0.unwrap_or_default();
    let bandwidth = bandwidth_from_request(&body)?;
    // Validated here, carried to the controller, never logged or returned in full.
    let source = body.source.as_deref().map(SourceUrl::parse).transpose()?;
    let command = Message::StartStream(StartStream { camera_id: camera.0.clone(), bandwidth, source });
    match ask_controller(&state, command).await? {
        Message::StreamStarted(started) => {
            tracing::info!(created = started.created, "stream started");
            Ok(HttpResponse::Ok().json(stream_view(state.registry.as_ref(), started.stream).await?))
        }
        Message::Failed(body) => Err(ApiError::Controller(body)),
        other => Err(ApiError::UnexpectedReply(other.kind())),
    }
}

/// `POST /streams/{camera_id}/stop`: 404 for a stream that is not started.
#[utoipa::path(
    post,
    path = "/streams/{camera_id}/stop",
    params(("camera_id" = String, Path)),
    responses((status = 200, description = "Stopped; its viewers were told", body = StopStreamResponse))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn stop_stream(
    state: web::Data<AppState>,
    _admin: Admin,
    camera: CameraPath,
) -> Result<HttpResponse, ApiError> {
    let camera_id = camera.0.clone();
    if state.registry.get_stream(&camera_id).await?.is_none() {
        return Err(ApiError::StreamNotFound(camera_id));
    }
    let command = Message::StopStream(StopStream { camera_id: camera_id.clone() });
    match ask_controller(&state, command).await? {
        Message::StreamStopped(stopped) => {
            tracing::info!(viewers_released = stopped.viewers_released, "stream stopped");
            Ok(HttpResponse::Ok().json(StopStreamResponse {
                camera_id: stopped.camera_id,
                stopped: true,
                viewers_released: stopped.viewers_released,
            }))
        }
        Message::Failed(body) if body.code == ErrorCode::StreamNotFound => Err(ApiError::StreamNotFound(camera_id)),
        Message::Failed(body) => Err(ApiError::Controller(body)),
        other => Err(ApiError::UnexpectedReply(other.kind())),
    }
}
