//! The viewer pages: `/`, `/viewer` and `/static/*`, embedded in the binary, or read from
//! `STATIC_DIR` when set.
//!
//! Invariant: only plain relative paths (no `..`, no hidden files) are ever looked up.

use std::borrow::Cow;

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{web, HttpResponse};
use rust_embed::RustEmbed;

use crate::error::ApiError;
use crate::startup::AppState;

/// The repository's `static/` folder, baked in at build time.
#[derive(RustEmbed)]
#[folder = "../../static/"]
struct Assets;

/// `GET /`.
pub async fn index(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    serve(&state, "index.html").await
}

/// `GET /viewer` (`?camera=ID` is read by the page itself).
pub async fn viewer(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    serve(&state, "viewer.html").await
}

/// `GET /static/{path}`.
pub async fn asset(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
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
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_served() {
        assert!(is_safe("viewer.html"));
        assert!(is_safe("js/viewer.js"));
        for bad in [
            "",
            "/etc/passwd",
            "../Cargo.toml",
            "a/../../b",
            ".env",
            "a//b",
            "a\\b",
            "a b",
        ] {
            assert!(!is_safe(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_placeholder_pages_are_embedded() {
        assert!(Assets::get("index.html").is_some());
        assert!(Assets::get("viewer.html").is_some());
    }
}
