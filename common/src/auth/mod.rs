//! Who may do what, shared by every service: users with roles and per-camera grants, share
//! links, camera secrets, the tokens that carry them, and the limits around logins.
//!
//! Invariants:
//! - a token authenticates; the store authorizes: every use re-reads the user (or share),
//!   so a deleted user, a revoked share or a changed password (which raises the user's
//!   `token_version`) stops its tokens at once, and role and grants are always current;
//! - secrets (passwords, tokens, camera secrets, the signing key) never reach a log line or
//!   a `Debug` output;
//! - revocations are also broadcast on the bus ([`publish_revocation`]) so live viewers of
//!   the subject are ended by whichever signaling instance holds them.

pub mod limit;
pub mod net;
pub mod password;
pub mod store;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use camview_proto::auth::{AccessRevoked, CameraSecretRecord, Role, ShareRecord, Subject, UserRecord, ALL_CAMERAS};
use camview_proto::bus::Message;
use camview_proto::keys::AUTH_EVENTS_INSTANCE;
use camview_proto::CameraId;

use crate::bus::{envelope, Bus, BusError};
use crate::config::{ConfigError, Reader};
pub use net::{client_ip, Networks};
pub use store::{AuthStore, AuthStoreError, FileAuthStore, RedisAuthStore};
pub use token::{Claims, TokenError, TokenKeys, TokenKind};

/// Name of the cookie that carries the token.
pub const COOKIE_NAME: &str = "camview_token";
/// Default lifetime of a session token; the viewer pages refresh it while open.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// Default and longest lifetime of a share link.
pub const DEFAULT_SHARE_TTL: Duration = Duration::from_secs(24 * 3600);
pub const MAX_SHARE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Lifetime of a one-time login code (the demo's printed link).
pub const LOGIN_CODE_TTL: Duration = Duration::from_secs(10 * 60);
/// Shortest accepted `AUTH_JWT_SECRET`.
pub const MIN_SECRET_LEN: usize = 32;

/// Settings every service that checks tokens reads.
#[derive(Clone)]
pub struct AuthSettings {
    /// `AUTH_JWT_SECRET`: the HS256 key; unset: generated once and kept in the store.
    pub jwt_secret: Option<String>,
    /// `AUTH_TOKEN_TTL_SECONDS` (900): lifetime of a session token.
    pub token_ttl: Duration,
    /// `TRUSTED_PROXIES` (none): peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Networks,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("token_ttl", &self.token_ttl)
            .field("trusted_proxies", &self.trusted_proxies.to_string())
            .finish()
    }
}

impl AuthSettings {
    pub fn from_reader(r: &Reader<'_>) -> Result<Self, ConfigError> {
        let jwt_secret = r.raw("AUTH_JWT_SECRET");
        if let Some(s) = &jwt_secret {
            if s.len() < MIN_SECRET_LEN {
                return Err(ConfigError::new(
                    "AUTH_JWT_SECRET",
                    "<redacted>",
                    format!("must be at least {MIN_SECRET_LEN} bytes (e.g. `openssl rand -base64 48`)"),
                ));
            }
        }
        let token_ttl =
            Duration::from_secs(r.ranged::<u64>("AUTH_TOKEN_TTL_SECONDS", DEFAULT_TOKEN_TTL.as_secs(), 60, 86_400)?);
        let trusted_proxies = r.networks("TRUSTED_PROXIES", Networks::none())?;
        Ok(Self { jwt_secret, token_ttl, trusted_proxies })
    }
}

/// Why a request is refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No valid credentials: 401.
    #[error("{0}")]
    Unauthenticated(String),
    /// Valid credentials without the right: 403.
    #[error("{0}")]
    Forbidden(String),
    /// The store failed: 503.
    #[error(transparent)]
    Store(#[from] AuthStoreError),
}

/// Who is asking, as the store says now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: Subject,
    pub role: Role,
    /// Cameras a viewer may watch ([`ALL_CAMERAS`] for all).
    pub grants: Vec<String>,
    /// Unix seconds when the token used expires.
    pub expires_at: u64,
    /// The user's token version the token carried (0 for shares): a live viewer is ended
    /// when it changes ([`Authenticator::still_allowed`]).
    pub token_version: u64,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn may_watch(&self, camera_id: &CameraId) -> bool {
        self.is_admin() || self.grants.iter().any(|g| g == ALL_CAMERAS || *g == *camera_id)
    }

    /// For logs: a username or a share id, never a token.
    pub fn label(&self) -> String {
        match &self.subject {
            Subject::User { username } => format!("user:{username}"),
            Subject::Share { id } => format!("share:{id}"),
        }
    }

    pub fn require_admin(&self) -> Result<(), AuthError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AuthError::Forbidden("this needs the admin role".into()))
        }
    }
}

/// A token and its expiry (unix seconds).
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    pub token: String,
    pub expires_at: u64,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").field("token", &"<redacted>").field("expires_at", &self.expires_at).finish()
    }
}

/// Why a service could not start authentication.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("opening the auth store in {place}")]
    Store {
        place: String,
        #[source]
        source: AuthStoreError,
    },
    #[error("reading the token signing key from the auth store")]
    SigningKey(#[source] AuthStoreError),
}

/// Issues and checks tokens against the store.
pub struct Authenticator {
    store: Arc<dyn AuthStore>,
    keys: TokenKeys,
    token_ttl: Duration,
}

impl Authenticator {
    /// Takes the key from `settings` or from the store (creating it at first start).
    pub async fn start(store: Arc<dyn AuthStore>, settings: &AuthSettings) -> Result<Self, AuthStoreError> {
        let key = match &settings.jwt_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => store.signing_key().await?,
        };
        Ok(Self { store, keys: TokenKeys::from_secret(&key), token_ttl: settings.token_ttl })
    }

    /// Opens the deployment's store ([`store::open`]: Redis when `redis` is set, else the
    /// file in `data_dir`) and starts on it; errors name the store.
    pub async fn open(
        redis: Option<&crate::config::RedisConfig>,
        data_dir: &std::path::Path,
        settings: &AuthSettings,
    ) -> Result<Self, OpenError> {
        let place = match redis {
            Some(_) => "Redis (REDIS_URL)".to_owned(),
            None => format!("CAMVIEW_DATA_DIR={}", data_dir.display()),
        };
        let store = store::open(redis, data_dir).await.map_err(|source| OpenError::Store { place, source })?;
        Self::start(store, settings).await.map_err(OpenError::SigningKey)
    }

    pub fn store(&self) -> &Arc<dyn AuthStore> {
        &self.store
    }

    pub fn token_ttl(&self) -> Duration {
        self.token_ttl
    }

    /// Checks a username and password; a wrong name and a wrong password look the same.
    pub async fn login(&self, username: &str, password: &str) -> Result<(Issued, UserRecord), AuthError> {
        let user = self.store.get_user(username).await?;
        let phc = user.as_ref().map(|u| u.password_hash.clone());
        let pw = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || password::verify(&pw, phc.as_deref()))
            .await
            .map_err(|e| AuthStoreError::Unavailable(format!("password check failed: {e}")))?;
        match user {
            Some(user) if ok => Ok((self.issue_session(&user), user)),
            _ => Err(AuthError::Unauthenticated("invalid username or password".into())),
        }
    }

    /// Redeems a one-time login code.
    pub async fn login_with_code(&self, code: &str) -> Result<(Issued, UserRecord), AuthError> {
        let invalid = || AuthError::Unauthenticated("this login link is invalid, used or expired".into());
        if code.len() > 256 {
            return Err(invalid());
        }
        let username = self.store.take_login_code(&password::sha256_hex(code)).await?.ok_or_else(invalid)?;
        let user = self.store.get_user(&username).await?.ok_or_else(invalid)?;
        Ok((self.issue_session(&user), user))
    }

    /// Creates a one-time login code for `username`, valid for [`LOGIN_CODE_TTL`].
    pub async fn create_login_code(&self, username: &str) -> Result<String, AuthStoreError> {
        let code = password::random_token(24);
        self.store.put_login_code(&password::sha256_hex(&code), username, LOGIN_CODE_TTL).await?;
        Ok(code)
    }

    /// A session token for `user`.
    pub fn issue_session(&self, user: &UserRecord) -> Issued {
        let now = crate::clock::now_unix();
        let exp = now + self.token_ttl.as_secs();
        let claims = Claims {
            iss: token::ISSUER.into(),
            sub: user.username.clone(),
            kind: TokenKind::Session,
            role: user.role,
            grants: user.grants.clone(),
            ver: user.token_version,
            iat: now,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        Issued { token: self.keys.sign(&claims), expires_at: exp }
    }

    /// A token for a share, expiring at `min(now + ttl, share expiry)`.
    pub fn issue_share(&self, share: &ShareRecord, ttl: Option<Duration>) -> Issued {
        let now = crate::clock::now_unix();
        let exp = ttl.map_or(share.expires_at, |t| (now + t.as_secs()).min(share.expires_at));
        let claims = Claims {
            iss: token::ISSUER.into(),
            sub: share.id.clone(),
            kind: TokenKind::Share,
            role: Role::Viewer,
            grants: vec![share.camera_id.to_string()],
            ver: 0,
            iat: now,
            exp,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        Issued { token: self.keys.sign(&claims), expires_at: exp }
    }

    /// A new token for whoever `principal` is, while its access still holds.
    pub async fn refresh(&self, principal: &Principal) -> Result<Issued, AuthError> {
        match &principal.subject {
            Subject::User { username } => {
                let user = self
                    .store
                    .get_user(username)
                    .await?
                    .ok_or_else(|| AuthError::Unauthenticated("the user no longer exists".into()))?;
                Ok(self.issue_session(&user))
            }
            Subject::Share { id } => {
                let share = self.live_share(id).await?;
                Ok(self.issue_share(&share, Some(self.token_ttl)))
            }
        }
    }

    /// Creates a share of `camera_id` for `ttl` and its link token.
    pub async fn create_share(
        &self,
        camera_id: &CameraId,
        created_by: &str,
        ttl: Duration,
    ) -> Result<(ShareRecord, Issued), AuthStoreError> {
        let now = crate::clock::now_unix();
        let share = ShareRecord {
            id: uuid::Uuid::new_v4().simple().to_string(),
            camera_id: camera_id.to_owned(),
            created_by: created_by.to_owned(),
            created_at: crate::clock::now_rfc3339(),
            expires_at: now + ttl.as_secs(),
            revoked_at: None,
        };
        self.store.put_share(&share).await?;
        let issued = self.issue_share(&share, None);
        Ok((share, issued))
    }

    async fn live_share(&self, id: &str) -> Result<ShareRecord, AuthError> {
        let share = self
            .store
            .get_share(id)
            .await?
            .ok_or_else(|| AuthError::Unauthenticated("this share link no longer exists".into()))?;
        if share.revoked_at.is_some() {
            return Err(AuthError::Unauthenticated("this share link was revoked".into()));
        }
        if share.expires_at <= crate::clock::now_unix() {
            return Err(AuthError::Unauthenticated("this share link has expired".into()));
        }
        Ok(share)
    }

    /// Who `token` belongs to, checked against the store now.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, AuthError> {
        let claims = self.keys.verify(token).map_err(|e| AuthError::Unauthenticated(e.to_string()))?;
        match claims.kind {
            TokenKind::Session => {
                let stale = || AuthError::Unauthenticated("this session is no longer valid: log in again".into());
                let user = self.store.get_user(&claims.sub).await?.ok_or_else(stale)?;
                if user.token_version != claims.ver {
                    return Err(stale());
                }
                Ok(Principal {
                    subject: Subject::User { username: user.username },
                    role: user.role,
                    grants: user.grants,
                    expires_at: claims.exp,
                    token_version: claims.ver,
                })
            }
            TokenKind::Share => {
                let share = self.live_share(&claims.sub).await?;
                Ok(Principal {
                    subject: Subject::Share { id: share.id },
                    role: Role::Viewer,
                    grants: vec![share.camera_id.into()],
                    expires_at: claims.exp,
                    token_version: 0,
                })
            }
        }
    }

    /// Whether `principal` still has access to `camera_id` (used to re-check live viewers):
    /// the user exists with the same token version and the grant, or the share is live.
    pub async fn still_allowed(&self, principal: &Principal, camera_id: &CameraId) -> Result<bool, AuthStoreError> {
        let token_version = match principal.subject {
            Subject::User { .. } => Some(principal.token_version),
            Subject::Share { .. } => None,
        };
        match &principal.subject {
            Subject::User { username } => Ok(self.store.get_user(username).await?.is_some_and(|u| {
                token_version.is_none_or(|v| v == u.token_version)
                    && (u.role == Role::Admin || u.grants.iter().any(|g| g == ALL_CAMERAS || *g == *camera_id))
            })),
            Subject::Share { id } => Ok(self.store.get_share(id).await?.is_some_and(|s| {
                s.revoked_at.is_none() && s.expires_at > crate::clock::now_unix() && s.camera_id == *camera_id
            })),
        }
    }

    /// Checks a camera's keepalive secret: `Ok(true)` if the camera has one and `secret`
    /// matches, `Ok(false)` otherwise.
    pub async fn camera_secret_matches(&self, camera_id: &CameraId, secret: &str) -> Result<bool, AuthStoreError> {
        Ok(self
            .store
            .get_camera_secret(camera_id)
            .await?
            .is_some_and(|r| password::secret_matches(secret, &r.secret_sha256)))
    }
}

/// Creates (or replaces) a camera's secret; returns the secret, shown once.
pub async fn new_camera_secret(store: &dyn AuthStore, camera_id: &CameraId) -> Result<String, AuthStoreError> {
    let secret = password::random_token(32);
    store
        .put_camera_secret(&CameraSecretRecord {
            camera_id: camera_id.to_owned(),
            secret_sha256: password::sha256_hex(&secret),
            created_at: crate::clock::now_rfc3339(),
        })
        .await?;
    Ok(secret)
}

/// A new user record with a hashed password (hashing runs off the executor).
pub async fn new_user(username: &str, password: &str, role: Role, grants: Vec<String>) -> UserRecord {
    let pw = password.to_owned();
    let password_hash =
        tokio::task::spawn_blocking(move || password::hash(&pw)).await.expect("argon2 hashing does not panic");
    UserRecord {
        username: username.to_owned(),
        role,
        grants,
        password_hash,
        token_version: 0,
        created_at: crate::clock::now_rfc3339(),
    }
}

/// Sets a new password and raises the token version, so older tokens stop working.
pub async fn set_password(user: &mut UserRecord, password: &str) {
    let pw = password.to_owned();
    user.password_hash =
        tokio::task::spawn_blocking(move || password::hash(&pw)).await.expect("argon2 hashing does not panic");
    user.token_version += 1;
}

/// Checks a username: 1-64 characters of letters, digits, `.`, `_`, `-`, `@`.
pub fn check_username(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("a username has 1 to 64 characters".into());
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')) {
        return Err("a username may contain only letters, digits, '.', '_', '-' and '@'".into());
    }
    Ok(())
}

/// What [`ensure_admin`] did.
#[derive(PartialEq, Eq)]
pub enum AdminBootstrap {
    /// Users exist and no password was given: nothing changed.
    Unchanged,
    /// The `admin` user was created or its password set from `CAMVIEW_ADMIN_PASSWORD`.
    FromEnvironment,
    /// The `admin` user was created with this random password: print it once.
    Generated(String),
}

impl std::fmt::Debug for AdminBootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdminBootstrap::Unchanged => "Unchanged",
            AdminBootstrap::FromEnvironment => "FromEnvironment",
            AdminBootstrap::Generated(_) => "Generated(<redacted>)",
        })
    }
}

/// Username of the first administrator.
pub const ADMIN_USERNAME: &str = "admin";

/// First start: with no users, creates `admin` with `password` or a random one. With
/// `password` given and `admin` existing under another password, sets it (the environment
/// is the operator's word).
pub async fn ensure_admin(store: &dyn AuthStore, password: Option<&str>) -> Result<AdminBootstrap, AuthStoreError> {
    if let Some(pw) = password {
        match store.get_user(ADMIN_USERNAME).await? {
            Some(mut admin) => {
                let (pw2, phc) = (pw.to_owned(), admin.password_hash.clone());
                let same =
                    tokio::task::spawn_blocking(move || password::verify(&pw2, Some(&phc))).await.unwrap_or(false);
                if !same || admin.role != Role::Admin {
                    set_password(&mut admin, pw).await;
                    admin.role = Role::Admin;
                    store.update_user(&admin).await?;
                }
                return Ok(AdminBootstrap::FromEnvironment);
            }
            None => {
                store.create_user(&new_user(ADMIN_USERNAME, pw, Role::Admin, vec![]).await).await?;
                return Ok(AdminBootstrap::FromEnvironment);
            }
        }
    }
    if !store.list_users().await?.is_empty() {
        return Ok(AdminBootstrap::Unchanged);
    }
    let generated = password::random_token(15);
    if store.create_user(&new_user(ADMIN_USERNAME, &generated, Role::Admin, vec![]).await).await? {
        Ok(AdminBootstrap::Generated(generated))
    } else {
        Ok(AdminBootstrap::Unchanged) // another instance created it first
    }
}

/// Tells every signaling instance that `subject`'s access changed.
pub async fn publish_revocation(bus: &dyn Bus, subject: Subject) -> Result<(), BusError> {
    bus.publish(AUTH_EVENTS_INSTANCE, &envelope(Message::AccessRevoked(AccessRevoked { subject }), None, None)).await
}
