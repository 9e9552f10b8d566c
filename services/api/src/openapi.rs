//! The OpenAPI 3.1 document of the api (`GET /openapi.json`): the handlers' `#[utoipa::path]`
//! annotations (method, path, parameters, bodies, success answers; schemas derived from proto's
//! types), completed from the route table with each route's tag, who may call it and every
//! error it can answer.
//!
//! Invariant: a route's error answers are the union of what its row declares for the handler
//! and what the other columns imply (the access check, a `{camera_id}` segment, a JSON body,
//! the middleware), grouped by status, each listing its `code`s; no code is written here by
//! hand as a string.

use serde_json::{json, Value};
use utoipa::OpenApi;

use camview_proto::ids::MAX_LEN;
use camview_proto::ErrorCode;

use crate::routes::{Annotations, RouteSpec, ROUTES};

/// Every route: the per-address rate limit of the middleware.
const EVERY_ROUTE: &[ErrorCode] = &[ErrorCode::RateLimited];
/// POST, PUT, PATCH, DELETE: the cross-site check refuses a cookie request from a foreign origin.
const UNSAFE_METHOD: &[ErrorCode] = &[ErrorCode::Forbidden];
/// A `{camera_id}` path segment (`extract::CameraPath`).
const CAMERA_PATH: &[ErrorCode] = &[ErrorCode::InvalidCameraId];
/// A JSON body, required or optional (`extract::Json`, `extract::OptionalJson`).
const JSON_BODY: &[ErrorCode] =
    &[ErrorCode::InvalidJson, ErrorCode::InvalidBody, ErrorCode::UnsupportedMediaType, ErrorCode::PayloadTooLarge];

/// Every error code `route` can answer, in a stable order and without repeats; `has_body` when
/// its handler reads a JSON body.
pub fn error_codes(route: &RouteSpec, has_body: bool) -> Vec<ErrorCode> {
    let unsafe_method = !matches!(route.method, "GET" | "OPTIONS");
    let camera_path = route.path.contains("{camera_id}");
    let parts: [&[ErrorCode]; 6] = [
        route.access.errors(),
        if camera_path { CAMERA_PATH } else { &[] },
        if has_body { JSON_BODY } else { &[] },
        route.errors,
        if unsafe_method { UNSAFE_METHOD } else { &[] },
        EVERY_ROUTE,
    ];
    let mut codes: Vec<ErrorCode> = Vec::new();
    for code in parts.into_iter().flatten() {
        if !codes.contains(code) {
            codes.push(*code);
        }
    }
    codes
}

/// The whole document.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(Annotations::openapi()).expect("an OpenAPI document serializes");
    doc["info"] = json!({
        "title": "camview API",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "Streams, viewers, users, share links, the camera keepalive channel and the viewer pages. \
            Every error answer is an ErrorBody; each operation lists the codes it can answer under their status. \
            `x-camview-access` says who may call an operation: public, camera, user (any valid token) or admin.",
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    });
    doc["components"]["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
            "description": "A token from POST /auth/login, /auth/link, /auth/share or /auth/refresh, or a share link's token."},
        "cookie": {"type": "apiKey", "in": "cookie", "name": camview_common::auth::COOKIE_NAME,
            "description": "The same token, set as an HttpOnly cookie by every login."},
        "camera_secret": {"type": "http", "scheme": "bearer",
            "description": "The camera's secret (POST /cameras/{camera_id}/secret); none from CAMERA_TRUSTED_NETWORKS."},
    });
    for route in ROUTES {
        let method = route.method.to_ascii_lowercase();
        let Some(operation) = doc["paths"].get_mut(route.document_path()).and_then(|p| p.get_mut(&method)) else {
            // The route table test names the row whose annotation is missing.
            continue;
        };
        complete(operation, route);
    }
    doc
}

/// Adds the row's tag, access and error answers to its operation.
fn complete(operation: &mut Value, route: &RouteSpec) {
    operation["tags"] = json!([route.module.trim_end_matches("_routes")]);
    operation["x-camview-access"] = json!(route.access.as_str());
    match route.access {
        crate::security::Access::Public => {}
        crate::security::Access::Camera => operation["security"] = json!([{"camera_secret": []}, {}]),
        _ => operation["security"] = json!([{"bearer": []}, {"cookie": []}]),
    }
    if let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) {
        for p in parameters.iter_mut().filter(|p| p["name"] == "camera_id") {
            p["description"] = json!("A camera id: letters, digits, `_` and `-`");
            p["schema"] = json!({"type": "string", "pattern": format!("^[A-Za-z0-9_-]{{1,{MAX_LEN}}}$")});
        }
    }
    let has_body = has_json_body(operation);
    let mut by_status: Vec<(u16, Vec<ErrorCode>)> = Vec::new();
    for code in error_codes(route, has_body) {
        match by_status.iter_mut().find(|(s, _)| *s == code.http_status()) {
            Some((_, codes)) => codes.push(code),
            None => by_status.push((code.http_status(), vec![code])),
        }
    }
    let responses = operation["responses"].as_object_mut().expect("utoipa writes responses");
    for (status, codes) in by_status {
        let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
        // A status the annotation already answers keeps the annotation's answer; the route
        // table test then finds the codes missing and names them.
        responses.entry(status.to_string()).or_insert_with(|| error_response(&names));
    }
}

/// Whether the operation takes a JSON body (WHEP's SDP bodies have their own codes).
pub fn has_json_body(operation: &Value) -> bool {
    operation.get("requestBody").is_some_and(|b| b["content"].get("application/json").is_some())
}

/// An error answer with one of `codes`.
fn error_response(codes: &[&str]) -> Value {
    let description = codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"allOf": [
            {"$ref": "#/components/schemas/ErrorBody"},
            {"type": "object", "properties": {"code": {"enum": codes}}},
        ]}}},
    })
}
