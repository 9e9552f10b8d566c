//! `/openapi.json`: the OpenAPI 3.1 document of this api (see `crate::openapi`).

use std::sync::LazyLock;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::HttpResponse;

/// Built on the first request: it depends on nothing but the code.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| crate::openapi::document().to_string());

/// `GET /openapi.json` (anyone: it describes the routes and holds no data).
#[utoipa::path(
    get,
    path = "/openapi.json",
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = serde_json::Value))
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/json"))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(DOCUMENT.as_str())
}
