//! [`Access`]: who may call a route, as the route table declares it next to each handler.
//!
//! The check itself is the handler's extractor ([`super::Authenticated`], [`super::Admin`], the
//! camera's secret in `cameras::keepalive`); this column says the same thing to the OpenAPI
//! document, and the api's tests hold the two together by asking every route anonymously and
//! with a viewer's token.

use camview_proto::ErrorCode;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, no token: the pages (which redirect to `/login` without a session), the logins,
    /// `/config.js`, `/health` (more for an admin), `/metrics` (trusted networks or an admin)
    /// and `/openapi.json` (the document describes routes, it reveals no data).
    Public,
    /// A camera: its secret as the bearer token, or no token from `CAMERA_TRUSTED_NETWORKS`.
    Camera,
    /// Any valid token, a user's or a share's (bearer or cookie): the handler takes `Authenticated`.
    User,
    /// An admin's token: the handler takes `Admin`.
    Admin,
}

impl Access {
    /// The error codes the check itself answers with.
    pub fn errors(self) -> &'static [ErrorCode] {
        match self {
            Access::Public => &[],
            // A wrong or missing secret; the auth store that holds the secrets failed.
            Access::Camera | Access::User => &[ErrorCode::Unauthorized, ErrorCode::RegistryUnavailable],
            Access::Admin => &[ErrorCode::Unauthorized, ErrorCode::Forbidden, ErrorCode::RegistryUnavailable],
        }
    }

    /// The name in the document's `x-camview-access`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Camera => "camera",
            Access::User => "user",
            Access::Admin => "admin",
        }
    }
}
