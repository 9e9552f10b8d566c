//! The viewer pages: `/`, `/viewer`, `/login`, `/share` and `/static/*`, embedded in the
//! binary, or read from `STATIC_DIR` when set.
//!
//! Invariants: only plain relative paths (no `..`, no hidden files) are ever looked up;
//! `/` and `/viewer` need a valid session cookie, else they redirect to
//! `/login?next=<path>` with a `next` that is always a path on this site.

use std::borrow::Cow;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

use crate::error::ApiError;
use crate::security::cookie_token;
use crate::startup::AppState;

/// The repository's `static/` folder, baked in at build time.
#[derive(RustEmbed)]
#[folder = "../../static/"]
struct Assets;

/// `GET /` (logged in).
#[utoipa::path(
    get,
    path = "/",
    responses(
        (status = 200, description = "The camera list page", content_type = "text/html", body = String),
        (status = 302, description = "No valid session cookie: to /login?next=/"),
    )
)]
pub async fn index_page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve_logged_in(&state, &req, "index.html").await
}

/// `GET /viewer` (logged in; `?camera=ID` is read by the page itself).
#[utoipa::path(
    get,
    path = "/viewer",
    responses(
        (status = 200, description = "The viewer page", content_type = "text/html", body = String),
        (status = 302, description = "No valid session cookie: to /login?next=<this page>"),
    )
)]
pub async fn viewer_page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve_logged_in(&state, &req, "viewer.html").await
}

/// `GET /login`.
#[utoipa::path(
    get,
    path = "/login",
    responses((status = 200, description = "The login page", content_type = "text/html", body = String))
)]
pub async fn login_page(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    serve(&state, "login.html").await
}

/// `GET /share` (the token rides in the fragment, read by the page).
#[utoipa::path(
    get,
    path = "/share",
    responses((status = 200, description = "The share link page", content_type = "text/html", body = String))
)]
pub async fn share_page(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    serve(&state, "share.html").await
}

/// The page for a valid session cookie, else a redirect to the login page.
async fn serve_logged_in(state: &AppState, req: &HttpRequest, page: &str) -> Result<HttpResponse, ApiError> {
    let valid = match cookie_token(req) {
        Some(token) => match state.auth.authenticate(&token).await {
            Ok(_) => true,
            Err(camview_common::auth::AuthError::Store(e)) => return Err(e.into()),
            Err(_) => false,
        },
        None => false,
    };
    if !valid {
        let here = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        return Ok(HttpResponse::Found()
            .insert_header((LOCATION, login_location(here)))
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish());
    }
    serve(state, page).await
}

/// `/login?next=<here>`, with `here` kept only when it is a path on this site.
fn login_location(here: &str) -> String {
    let local = here.starts_with('/') && !here.starts_with("//") && !here.contains('\\');
    let next = if local { here } else { "/" };
    let encoded: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("/login?next={encoded}")
}

/// `GET /static/{path}`.
#[utoipa::path(
    get,
    path = "/static/{path}",
    params(("path" = String, Path, description = "A file of the viewer pages, e.g. viewer-core.js")),
    responses((status = 200, description = "The file, typed by its extension", content_type = "application/octet-stream", body = String))
)]
pub async fn asset(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    serve(&state, &path.into_inner()).await
}

#[tracing::instrument(skip(state))]
async fn serve(state: &AppState, path: &str) -> Result<HttpResponse, ApiError> {
    if !is_safe(path) {
        return Err(ApiError::NotFound);
    }
    let body: Cow<'static, [u8]> = match &state.static_dir {
        Some(dir) => match tokio::fs::read(dir.join(path)).await {
            Ok(bytes) => Cow::Owned(bytes),
            Err(e) => {
                tracing::debug!(error = %e, "static file not readable");
                return Err(ApiError::NotFound);
            }
        },
        None => Assets::get(path).ok_or(ApiError::NotFound)?.data,
    };
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, mime.essence_str()))
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(body.into_owned()))
}

/// A relative path of plain segments: letters, digits, `-`, `_`, `.`, no segment starting with `.`.
fn is_safe(path: &str) -> bool {
    !path.is_empty()
        && path.split('/').all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_served() {
        assert!(is_safe("viewer.html"));
        assert!(is_safe("js/viewer.js"));
        for bad in ["", "/etc/passwd", "../Cargo.toml", "a/../../b", ".env", "a//b", "a\\b", "a b"] {
            assert!(!is_safe(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_placeholder_pages_are_embedded() {
        for page in ["index.html", "viewer.html", "login.html", "share.html"] {
            assert!(Assets::get(page).is_some(), "{page}");
        }
    }

    #[test]
    fn the_login_redirect_keeps_only_local_paths() {
        assert_eq!(login_location("/viewer?camera=cam1"), "/login?next=%2Fviewer%3Fcamera%3Dcam1");
        assert_eq!(login_location("/"), "/login?next=%2F");
        for foreign in ["//evil.example/x", "https://evil.example", "/\\evil.example"] {
            assert_eq!(login_location(foreign), "/login?next=%2F", "{foreign}");
        }
    }
}
