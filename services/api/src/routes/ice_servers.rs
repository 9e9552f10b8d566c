//! `/ice-servers`: the `iceServers` a browser passes to `RTCPeerConnection`.

use actix_web::{web, HttpResponse};

use camview_proto::rest::IceServersResponse;

use crate::ice::ice_servers;
use crate::security::Authenticated;
use crate::startup::AppState;

/// `GET /ice-servers` (logged in). TURN credentials are fresh on every call and live
/// `TURN_CREDENTIAL_TTL_SECONDS`; never cache the answer.
#[utoipa::path(
    get,
    path = "/ice-servers",
    responses((status = 200, description = "`iceServers` for RTCPeerConnection", body = IceServersResponse))
)]
pub async fn get_ice_servers(state: web::Data<AppState>, _who: Authenticated) -> HttpResponse {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(ice_servers(&state.ice, now))
}
