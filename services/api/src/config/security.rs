//! Who may reach what: authentication, address lists, CORS, rate limits.
//!
//! Invariant: every value is validated at start and a bad one names its variable; the
//! admin password never appears in a `Debug` output.

use std::path::PathBuf;
use std::time::Duration;

use camview_common::auth::password::MIN_PASSWORD_LEN;
use camview_common::auth::store::default_data_dir;
use camview_common::auth::{AuthSettings, Networks};
use camview_common::config::{ConfigError, Reader};

/// Security settings of the API.
#[derive(Clone)]
pub struct SecuritySettings {
    /// `AUTH_JWT_SECRET`, `AUTH_TOKEN_TTL_SECONDS`, `TRUSTED_PROXIES`.
    pub auth: AuthSettings,
    /// `CAMVIEW_DATA_DIR`: where users live without `REDIS_URL`.
    pub data_dir: PathBuf,
    /// `CAMVIEW_ADMIN_PASSWORD`: sets the `admin` user's password at start (at least 8 characters).
    pub admin_password: Option<String>,
    /// `CAMERA_TRUSTED_NETWORKS` (loopback and private): keepalives without a secret are
    /// accepted from these addresses only.
    pub camera_trusted_networks: Networks,
    /// `CORS_ALLOWED_ORIGINS` (none = same-origin only): `scheme://host[:port]` each.
    pub cors_allowed_origins: Vec<String>,
    /// `METRICS_ALLOWED_NETWORKS` (loopback and private): who may read `/metrics` without
    /// an admin token.
    pub metrics_allowed_networks: Networks,
    /// `API_RATE_LIMIT_PER_SECOND` (20), `API_RATE_LIMIT_BURST` (60): every request, per
    /// client address.
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// `LOGIN_FREE_FAILURES` (5): failed logins per address or username before back-off.
    pub login_free_failures: u32,
    /// `LOGIN_BACKOFF_MAX_SECONDS` (900): longest back-off after failed logins.
    pub login_backoff_max: Duration,
    /// Set the cookie `Secure`: `TLS_CERT_FILE` is set or `PUBLIC_API_URL` is https.
    pub cookie_secure: bool,
}

impl std::fmt::Debug for SecuritySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecuritySettings")
            .field("auth", &self.auth)
            .field("data_dir", &self.data_dir)
            .field("admin_password", &self.admin_password.as_ref().map(|_| "<redacted>"))
            .field("camera_trusted_networks", &self.camera_trusted_networks.to_string())
            .field("cors_allowed_origins", &self.cors_allowed_origins)
            .field("metrics_allowed_networks", &self.metrics_allowed_networks.to_string())
            .field("rate_limit_per_second", &self.rate_limit_per_second)
            .field("rate_limit_burst", &self.rate_limit_burst)
            .field("login_free_failures", &self.login_free_failures)
            .field("login_backoff_max", &self.login_backoff_max)
            .field("cookie_secure", &self.cookie_secure)
            .finish()
    }
}

impl SecuritySettings {
    /// `public_api_https`: whether `PUBLIC_API_URL` is an https URL.
    pub fn from_reader(r: &Reader<'_>, public_api_https: bool) -> Result<Self, ConfigError> {
        let auth = AuthSettings::from_reader(r)?;
        let admin_password = r.raw("CAMVIEW_ADMIN_PASSWORD");
        if let Some(pw) = &admin_password {
            if pw.chars().count() < MIN_PASSWORD_LEN {
                return Err(ConfigError::new(
                    "CAMVIEW_ADMIN_PASSWORD",
                    "<redacted>",
                    format!("must have at least {MIN_PASSWORD_LEN} characters"),
                ));
            }
        }
        let rate_limit_per_second = r.ranged::<u32>("API_RATE_LIMIT_PER_SECOND", 20, 1, 100_000)?;
        let rate_limit_burst = r.ranged::<u32>("API_RATE_LIMIT_BURST", 60, 1, 1_000_000)?;
        let login_free_failures = r.ranged::<u32>("LOGIN_FREE_FAILURES", 5, 0, 1000)?;
        let backoff_max = r.ranged::<u64>("LOGIN_BACKOFF_MAX_SECONDS", 900, 1, 86_400)?;
        Ok(Self {
            auth,
            data_dir: default_data_dir(r),
            admin_password,
            camera_trusted_networks: r.networks("CAMERA_TRUSTED_NETWORKS", Networks::loopback_and_private())?,
            cors_allowed_origins: r.origins("CORS_ALLOWED_ORIGINS")?,
            metrics_allowed_networks: r.networks("METRICS_ALLOWED_NETWORKS", Networks::loopback_and_private())?,
            rate_limit_per_second,
            rate_limit_burst,
            login_free_failures,
            login_backoff_max: Duration::from_secs(backoff_max),
            cookie_secure: r.raw("TLS_CERT_FILE").is_some() || public_api_https,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::Settings;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_source(&map)
    }

    #[test]
    fn defaults_are_same_origin_lan_cameras_and_lan_metrics() {
        let s = settings(&[("CAMVIEW_DATA_DIR", "/tmp/cv")]).unwrap().security;
        assert!(s.cors_allowed_origins.is_empty());
        assert_eq!(s.camera_trusted_networks, Networks::loopback_and_private());
        assert_eq!(s.metrics_allowed_networks, Networks::loopback_and_private());
        assert_eq!((s.rate_limit_per_second, s.rate_limit_burst), (20, 60));
        assert_eq!((s.login_free_failures, s.login_backoff_max), (5, Duration::from_secs(900)));
        assert_eq!(s.data_dir, PathBuf::from("/tmp/cv"));
        assert!(s.admin_password.is_none());
        assert!(!s.cookie_secure);
    }

    #[test]
    fn a_bad_security_value_names_its_variable() {
        for (name, value) in [
            ("CAMVIEW_ADMIN_PASSWORD", "short"),
            ("CAMERA_TRUSTED_NETWORKS", "10.0.0.0/33"),
            ("METRICS_ALLOWED_NETWORKS", "everyone"),
            ("CORS_ALLOWED_ORIGINS", "*"),
            ("CORS_ALLOWED_ORIGINS", "https://a.example,*"),
            ("CORS_ALLOWED_ORIGINS", "https://a.example/path"),
            ("CORS_ALLOWED_ORIGINS", "a.example"),
            ("CORS_ALLOWED_ORIGINS", "ftp://a.example"),
            ("API_RATE_LIMIT_PER_SECOND", "0"),
            ("API_RATE_LIMIT_BURST", "many"),
            ("LOGIN_FREE_FAILURES", "-1"),
            ("LOGIN_BACKOFF_MAX_SECONDS", "0"),
            ("TURN_CREDENTIAL_TTL_SECONDS", "59"),
            ("TURN_CREDENTIAL_TTL_SECONDS", "86401"),
            ("AUTH_JWT_SECRET", "too-short"),
            ("TRUSTED_PROXIES", "proxy"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{err}");
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn the_admin_password_is_never_printed() {
        let s = settings(&[("CAMVIEW_ADMIN_PASSWORD", "hunter2-long-enough")]).unwrap();
        assert_eq!(s.security.admin_password.as_deref(), Some("hunter2-long-enough"));
        assert!(!format!("{s:?}").contains("hunter2"));
        let err = settings(&[("CAMVIEW_ADMIN_PASSWORD", "hunter2")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn cors_origins_are_normalized_origins() {
        let s = settings(&[("CORS_ALLOWED_ORIGINS", "https://Cams.Example, http://localhost:3000/")]).unwrap();
        assert_eq!(s.security.cors_allowed_origins, ["https://cams.example", "http://localhost:3000"]);
    }

    #[test]
    fn the_cookie_is_secure_behind_an_https_public_url() {
        assert!(settings(&[("PUBLIC_API_URL", "https://cams.example/")]).unwrap().security.cookie_secure);
        assert!(!settings(&[("PUBLIC_API_URL", "http://cams.example/")]).unwrap().security.cookie_secure);
    }

    #[test]
    fn turn_credentials_live_ten_minutes_by_default() {
        let s = settings(&[("TURN_URLS", "turn:a:3478"), ("TURN_SECRET", "s")]).unwrap();
        assert_eq!(s.ice.turn.unwrap().ttl, Duration::from_secs(600));
        let s = settings(&[("TURN_URLS", "turn:a:3478"), ("TURN_SECRET", "s"), ("TURN_TTL_SECONDS", "3600")]).unwrap();
        assert_eq!(s.ice.turn.unwrap().ttl, Duration::from_secs(3600), "the older name is still read");
    }
}
