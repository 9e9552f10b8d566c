//! `/whep/{camera_id}`: WHEP (RFC 9725's HTTP usage, for egress) so standard players can watch
//! a camera without the WebSocket signaling. The session logic is in [`crate::whep::flow`].
//!
//! `POST` an `application/sdp` offer -> 201 with the answer (server candidates included),
//! `Location` of the session and its `ETag`; `PATCH` the session with an
//! `application/trickle-ice-sdpfrag` -> 204; `DELETE` it -> 200. Access as for watching over
//! signaling: a valid token (bearer or cookie) whose grants include the camera.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use camview_proto::viewer_input::MAX_SDP_BYTES;

use crate::error::ApiError;
use crate::extract::{limited_body, AuthThen, CameraPath};
use crate::ice::ice_servers;
use crate::security::{ensure_may_watch, Authenticated};
use crate::startup::AppState;
use crate::whep::flow;
use crate::whep::links::ice_server_links;

/// The content type of an offer and an answer.
pub const SDP: &str = "application/sdp";
/// The content type of a trickle `PATCH` (RFC 8840).
pub const SDP_FRAGMENT: &str = "application/trickle-ice-sdpfrag";

/// A text body of at most [`MAX_SDP_BYTES`] with its declared content type.
#[derive(Debug)]
pub struct TextBody {
    content_type: String,
    text: String,
}

impl TextBody {
    /// The text, if it was declared as `want` (parameters and case aside).
    fn of_type(self, want: &'static str) -> Result<String, ApiError> {
        let essence = self.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if essence != want {
            return Err(ApiError::WrongContentType { got: self.content_type, want });
        }
        Ok(self.text)
    }
}

impl FromRequest for TextBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (content_type, body) = limited_body(req, payload, MAX_SDP_BYTES);
        Box::pin(async move {
            let body = body.await?;
            let text = String::from_utf8(body).map_err(|_| ApiError::InvalidSdp("the body is not UTF-8 text"))?;
            Ok(TextBody { content_type: content_type.unwrap_or_default(), text })
        })
    }
}

/// `POST /whep/{camera_id}`: an offer to watch the camera.
#[utoipa::path(
    post,
    path = "/whep/{camera_id}",
    params(("camera_id" = String, Path)),
    request_body(content = String, content_type = "application/sdp", description = "The player's SDP offer"),
    responses((status = 201, description = "The SDP answer, with the server's ICE candidates", content_type = "application/sdp", body = String,
        headers(("Location" = String, description = "The session: /whep/{camera_id}/{session_id}"),
                ("ETag" = String, description = "The session's ICE entity tag, for If-Match"),
                ("Link" = String, description = "One per STUN/TURN server: `<url>; rel=\"ice-server\"`, TURN with fresh credentials"))))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn whep_offer(
    state: web::Data<AppState>,
    camera: CameraPath,
    input: AuthThen<Authenticated, TextBody>,
) -> Result<HttpResponse, ApiError> {
    let AuthThen(Authenticated(who), body) = input;
    let camera_id = camera.0.clone();
    ensure_may_watch(&who, &camera_id)
        .inspect_err(|_| tracing::info!(principal = %who.label(), "WHEP offer refused: camera not granted"))?;
    let offer = body.of_type(SDP)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let links = ice_server_links(&ice_servers(&state.ice, now));
    let joined = flow::join(state, camera_id.clone(), &who, offer).await?;
    let mut response = HttpResponse::Created();
    response
        .content_type(SDP)
        .insert_header((header::LOCATION, format!("/whep/{camera_id}/{}", joined.session_id)))
        .insert_header((header::ETAG, joined.etag));
    for link in links {
        response.append_header((header::LINK, link));
    }
    Ok(response.body(joined.answer))
}

/// `OPTIONS /whep/{camera_id}`: what the endpoint takes (CORS preflights of listed origins are
/// answered before this, by the CORS layer).
#[utoipa::path(
    options,
    path = "/whep/{camera_id}",
    params(("camera_id" = String, Path)),
    responses((status = 204, description = "Accept-Post names application/sdp"))
)]
pub async fn whep_options() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header(("Accept-Post", SDP))
        .insert_header((header::ALLOW, "OPTIONS, POST"))
        .finish()
}

/// The `{session_id}` segment.
fn session_id(req: &HttpRequest) -> String {
    req.match_info().get("session_id").unwrap_or("").to_owned()
}

/// `PATCH /whep/{camera_id}/{session_id}`: the player's trickled ICE candidates.
#[utoipa::path(
    patch,
    path = "/whep/{camera_id}/{session_id}",
    params(("camera_id" = String, Path), ("session_id" = String, Path),
        ("If-Match" = Option<String>, Header, description = "The session's ETag; `*` (an ICE restart) is refused with 422")),
    request_body(content = String, content_type = "application/trickle-ice-sdpfrag", description = "RFC 8840 fragment"),
    responses((status = 204, description = "The candidates were passed to the media server"))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn whep_patch(
    state: web::Data<AppState>,
    req: HttpRequest,
    camera: CameraPath,
    input: AuthThen<Authenticated, TextBody>,
) -> Result<HttpResponse, ApiError> {
    let AuthThen(Authenticated(who), body) = input;
    let camera_id = camera.0.clone();
    ensure_may_watch(&who, &camera_id)?;
    let if_match = req.headers().get(header::IF_MATCH).map(|v| v.to_str().unwrap_or("<not text>"));
    let fragment = body.of_type(SDP_FRAGMENT)?;
    flow::trickle(&state, &camera_id, &session_id(&req), &who, if_match, &fragment).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /whep/{camera_id}/{session_id}`: ends the session.
#[utoipa::path(
    delete,
    path = "/whep/{camera_id}/{session_id}",
    params(("camera_id" = String, Path), ("session_id" = String, Path)),
    responses((status = 200, description = "The session ended and its viewer slot is free"))
)]
#[tracing::instrument(skip_all, fields(camera_id = %camera.0))]
pub async fn whep_delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    camera: CameraPath,
    who: Authenticated,
) -> Result<HttpResponse, ApiError> {
    flow::leave(&state, &camera.0, &session_id(&req), &who.0).await?;
    Ok(HttpResponse::Ok().finish())
}
