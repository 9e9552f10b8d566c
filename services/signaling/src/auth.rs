//! Who may join: every `join` is authenticated with the shared
//! [`camview_common::auth::Authenticator`] (always on) before a slot is reserved.
//!
//! The token comes from the `join` message's `token` field, else from the `camview_token`
//! cookie sent on the upgrade. The check reads the auth store (async), so it runs in the
//! join executor ([`crate::hub::Hub`]), never in the sans-IO session.
//!
//! Invariants: no token, a bad signature, an expired token, `alg: none`, a deleted user,
//! a changed password or a revoked share -> `unauthorized`; a valid token without the
//! camera in its grants -> `forbidden`; a token never reaches a log line.

use camview_common::auth::token::MAX_TOKEN_LEN;
use camview_common::auth::{AuthError, Authenticator, Principal};
use camview_proto::CameraId;

use crate::error::SessionError;

/// Who is joining `camera` with `token`, or why not.
pub async fn authorize_join(
    auth: &Authenticator,
    token: Option<&str>,
    camera: &CameraId,
) -> Result<Principal, SessionError> {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return Err(SessionError::Unauthorized("a token is required: log in, or send it in join".into()));
    };
    if token.len() > MAX_TOKEN_LEN {
        return Err(SessionError::Unauthorized("token is too long".into()));
    }
    let principal = auth.authenticate(token).await.map_err(from_auth_error)?;
    if !principal.may_watch(camera) {
        tracing::info!(principal = %principal.label(), camera_id = %camera, "join refused: camera not granted");
        return Err(SessionError::Forbidden(format!("you may not watch camera {camera}")));
    }
    Ok(principal)
}

/// The one mapping of the shared auth errors to viewer errors.
pub fn from_auth_error(e: AuthError) -> SessionError {
    match e {
        AuthError::Unauthenticated(msg) => SessionError::Unauthorized(msg),
        AuthError::Forbidden(msg) => SessionError::Forbidden(msg),
        AuthError::Store(e) => {
            tracing::error!(error = %e, "the auth store is unavailable");
            SessionError::RegistryUnavailable
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camview_common::auth::{new_user, AuthSettings, FileAuthStore};
    use camview_common::config::Reader;
    use camview_proto::auth::Role;
    use camview_proto::ErrorCode;
    use std::sync::Arc;

    async fn authenticator() -> (Authenticator, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("camview-signaling-auth-{}", uuid::Uuid::new_v4()));
        let store = Arc::new(FileAuthStore::open(&dir).unwrap());
        let vars: std::collections::HashMap<String, String> = Default::default();
        let settings = AuthSettings::from_reader(&Reader::new(&vars)).unwrap();
        (Authenticator::start(store, &settings).await.unwrap(), dir)
    }

    #[tokio::test]
    async fn a_join_needs_a_token_granting_its_camera() {
        let (auth, dir) = authenticator().await;
        let user = new_user("alice", "correct horse battery", Role::Viewer, vec!["cam1".into()]).await;
        auth.store().create_user(&user).await.unwrap();
        let token = auth.issue_session(&user).token;
        assert!(authorize_join(&auth, Some(&token), &CameraId::from_static("cam1")).await.is_ok());
        let code = |r: Result<Principal, SessionError>| r.unwrap_err().code();
        assert_eq!(
            code(authorize_join(&auth, Some(&token), &CameraId::from_static("cam2")).await),
            ErrorCode::Forbidden
        );
        assert_eq!(code(authorize_join(&auth, None, &CameraId::from_static("cam1")).await), ErrorCode::Unauthorized);
        assert_eq!(
            code(authorize_join(&auth, Some(""), &CameraId::from_static("cam1")).await),
            ErrorCode::Unauthorized
        );
        assert_eq!(
            code(authorize_join(&auth, Some("garbage"), &CameraId::from_static("cam1")).await),
            ErrorCode::Unauthorized
        );
        let huge = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(
            code(authorize_join(&auth, Some(&huge), &CameraId::from_static("cam1")).await),
            ErrorCode::Unauthorized
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
