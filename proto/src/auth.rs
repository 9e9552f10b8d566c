//! Who may do what: users, roles and per-camera grants, share links, camera secrets, the
//! REST bodies of `/auth/*`, `/users`, `/cameras/{id}/shares`, and the revocation event.
//!
//! Invariant: no type that leaves a service (REST body, bus event) carries a password hash,
//! a camera secret's digest or a signing key; those live only in the stored records.

use serde::{Deserialize, Serialize};

use crate::ids::CameraId;

/// What a user may do: `admin` everything, `viewer` watch the cameras granted to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "viewer" => Ok(Role::Viewer),
            other => Err(format!("unknown role {other:?}: use admin or viewer")),
        }
    }
}

/// The grant that covers every camera.
pub const ALL_CAMERAS: &str = "*";

/// A user as stored (registry in split mode, the data directory in the all-in-one binary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    pub role: Role,
    /// Camera ids this user may watch, or [`ALL_CAMERAS`]; ignored for admins.
    #[serde(default)]
    pub grants: Vec<String>,
    /// PHC string of an argon2id hash.
    pub password_hash: String,
    /// Raised on every password change and revocation: tokens carry it, and a token with an
    /// older version is no longer accepted.
    #[serde(default)]
    pub token_version: u64,
    /// RFC 3339.
    pub created_at: String,
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct UserInfo {
    pub username: String,
    pub role: Role,
    pub grants: Vec<String>,
    pub created_at: String,
}

impl From<&UserRecord> for UserInfo {
    fn from(u: &UserRecord) -> Self {
        Self { username: u.username.clone(), role: u.role, grants: u.grants.clone(), created_at: u.created_at.clone() }
    }
}

/// A time-limited, revocable link to watch one camera without an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRecord {
    pub id: String,
    pub camera_id: CameraId,
    pub created_by: String,
    /// RFC 3339.
    pub created_at: String,
    /// Unix seconds.
    pub expires_at: u64,
    /// RFC 3339 time of revocation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

/// A camera's keepalive secret, stored as its SHA-256 (the secret itself is random and
/// long, so a slow hash adds nothing and would cost every keepalive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CameraSecretRecord {
    pub camera_id: CameraId,
    /// Lower-case hex SHA-256 of the secret.
    pub secret_sha256: String,
    pub created_at: String,
}

/// `POST /auth/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

/// `POST /auth/link`: a one-time login code (the demo's printed link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LinkLoginRequest {
    pub code: String,
}

/// `POST /auth/share`: exchange a share link's token for a session cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ShareLoginRequest {
    pub token: String,
}

/// Answer of every login and of `POST /auth/refresh`; the same token is set as a cookie.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// Who is asking: a user or a share link.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    User { username: String },
    Share { id: String },
}

/// `GET /auth/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct MeResponse {
    #[serde(flatten)]
    pub subject: Subject,
    pub role: Role,
    pub grants: Vec<String>,
    /// RFC 3339 expiry of the token used.
    pub expires_at: String,
}

/// `POST /users`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    pub username: String,
    pub password: String,
    pub role: Role,
    #[serde(default)]
    pub grants: Vec<String>,
}

/// `PUT /users/{name}/password`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    pub password: String,
}

/// `PUT /users/{name}/grants`: the whole new list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantsRequest {
    pub grants: Vec<String>,
}

/// `POST /cameras/{id}/shares`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateShareRequest {
    /// Lifetime in seconds (default 24 h, at most 30 days).
    #[serde(default)]
    pub expires_in_seconds: Option<u64>,
}

/// A share as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct ShareInfo {
    pub id: String,
    pub camera_id: CameraId,
    pub created_by: String,
    pub created_at: String,
    /// RFC 3339.
    pub expires_at: String,
    pub revoked: bool,
}

/// Answer of `POST /cameras/{id}/shares`: the link is shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct CreateShareResponse {
    pub share: ShareInfo,
    /// Opening it plays the camera with no account (the token rides in the fragment, so it
    /// never reaches a server log).
    pub url: String,
    pub token: String,
}

/// Bus event, broadcast to every signaling instance: end the live viewers of `subject`
/// whose access no longer holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRevoked {
    pub subject: Subject,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roundtrip;

    #[test]
    fn records_and_bodies_round_trip() {
        roundtrip(&UserRecord {
            username: "ann".into(),
            role: Role::Viewer,
            grants: vec!["cam1".into()],
            password_hash: "$argon2id$v=19$...".into(),
            token_version: 3,
            created_at: "2026-01-01T00:00:00Z".into(),
        });
        roundtrip(&ShareRecord {
            id: "s1".into(),
            camera_id: CameraId::from_static("cam1"),
            created_by: "admin".into(),
            created_at: "2026-01-01T00:00:00Z".into(),
            expires_at: 1,
            revoked_at: None,
        });
        roundtrip(&AccessRevoked { subject: Subject::Share { id: "s1".into() } });
        roundtrip(&LoginRequest { username: "a".into(), password: "b".into() });
    }

    #[test]
    fn me_shows_the_subject_flat() {
        let me = MeResponse {
            subject: Subject::User { username: "ann".into() },
            role: Role::Viewer,
            grants: vec!["cam1".into()],
            expires_at: "2026-01-01T00:00:00Z".into(),
        };
        assert_eq!(
            serde_json::to_value(&me).unwrap(),
            serde_json::json!({"kind": "user", "username": "ann", "role": "viewer", "grants": ["cam1"], "expires_at": "2026-01-01T00:00:00Z"})
        );
        roundtrip(&me);
    }

    #[test]
    fn login_bodies_refuse_unknown_fields() {
        assert!(serde_json::from_str::<LoginRequest>(r#"{"username":"a","password":"b","admin":true}"#).is_err());
    }

    #[test]
    fn user_info_never_carries_the_hash() {
        let u = UserRecord {
            username: "ann".into(),
            role: Role::Admin,
            grants: vec![],
            password_hash: "$argon2id$secret".into(),
            token_version: 0,
            created_at: "t".into(),
        };
        assert!(!serde_json::to_string(&UserInfo::from(&u)).unwrap().contains("argon2"));
    }
}
