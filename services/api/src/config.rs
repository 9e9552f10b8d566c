//! Settings of the API, read once from the environment and validated at start.
//!
//! Invariant: every bad value is reported as a [`ConfigError`] naming its variable; nothing
//! is read from the current directory.

use std::path::PathBuf;
use std::time::Duration;

use camview_common::config::{ConfigError, Reader, RedisConfig, Source};
use camview_common::telemetry::LogFormat;
use camview_common::tls::TlsSettings;

use crate::domain::{PublicUrl, UrlKind};
use crate::security_headers::EmbedSettings;

mod security;
pub use security::SecuritySettings;

/// STUN server offered to browsers when `STUN_SERVERS` is unset (`none` offers none).
pub const DEFAULT_STUN_SERVER: &str = "stun:stun.l.google.com:19302";

/// Everything `camview-api` needs to run.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `API_SERVER_HOST` (0.0.0.0).
    pub host: String,
    /// `API_SERVER_PORT` (8080); 0 picks a free port.
    pub port: u16,
    /// `REDIS_URL` + `REDIS_KEY_PREFIX`; None runs in single-process mode.
    pub redis: Option<RedisConfig>,
    /// `REDIS_KEY_PREFIX` (used for in-process mode too, only for symmetry).
    pub key_prefix: String,
    /// `REDIS_CONNECT_TIMEOUT_SECONDS` (30): how long to keep retrying Redis at start.
    pub redis_connect_timeout: Duration,
    /// `BUS_REQUEST_TIMEOUT_MS` (5000): how long to wait for the media-controller.
    pub bus_request_timeout: Duration,
    /// `CAMERA_KEEPALIVE_SECONDS` (5): how often cameras should call keepalive.
    pub camera_keepalive_seconds: u32,
    /// `CAMERA_STATUS_TTL_SECONDS` (86400): how long a camera's last keepalive is kept; at least
    /// two keepalive intervals, so a live camera's status never lapses.
    pub camera_status_ttl: Duration,
    /// `CONTROLLER_HEARTBEAT_MAX_AGE_SECONDS` (15): an older heartbeat counts as missing.
    pub controller_heartbeat_max_age: Duration,
    pub ice: IceSettings,
    /// `PUBLIC_API_URL`, `PUBLIC_SIGNALING_URL`: server defaults for the viewer pages.
    pub public: PublicSettings,
    /// `STATIC_DIR`: serve the viewer pages from disk instead of the embedded copy.
    pub static_dir: Option<PathBuf>,
    /// `LOG_FORMAT` (pretty).
    pub log_format: LogFormat,
    /// Authentication, address lists, CORS and rate limits.
    pub security: SecuritySettings,
    /// `TLS_CERT_FILE` + `TLS_KEY_FILE` (or the legacy `API_USE_SSL` + `SSL_CERT` + `SSL_KEY`):
    /// serve HTTPS here, with HSTS.
    pub tls: Option<TlsSettings>,
    /// `EMBED_ALLOWED_ORIGINS`: who may frame `/viewer?embed=1` besides this origin.
    pub embed: EmbedSettings,
    /// `SNAPSHOT_*`: the snapshot taps (`crate::snapshot`).
    pub snapshots: crate::snapshot::SnapshotSettings,
    /// `WHEP_CONNECT_TIMEOUT_SECONDS` (30), `WHEP_DISCONNECT_GRACE_SECONDS` (15).
    pub whep: crate::whep::Deadlines,
}

/// ICE servers handed to browsers by `GET /ice-servers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceSettings {
    /// `STUN_SERVERS`, comma-separated.
    pub stun_servers: Vec<String>,
    /// `TURN_URLS` + `TURN_SECRET`, all or nothing, with credentials valid
    /// `TURN_CREDENTIAL_TTL_SECONDS`.
    pub turn: Option<TurnSettings>,
}

/// Where browsers reach the services when that is not what the viewer derives from its own
/// location (`http(s)://HOST:8080`, `ws(s)://HOST:8765/ws`), e.g. one HTTPS host with `/ws`
/// routed to signaling. Served to the pages by `GET /config.js`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublicSettings {
    /// `PUBLIC_API_URL`: an absolute http(s) URL or a path like `/`.
    pub api_url: Option<PublicUrl>,
    /// `PUBLIC_SIGNALING_URL`: an absolute ws(s)/http(s) URL or a path like `/ws`.
    pub signaling_url: Option<PublicUrl>,
}

impl PublicSettings {
    fn from_reader(r: &Reader<'_>) -> Result<Self, ConfigError> {
        let read = |name: &str, kind| {
            r.raw(name)
                .map(|v| PublicUrl::parse(&v, kind).map_err(|e| ConfigError::new(name, &v, e.to_string())))
                .transpose()
        };
        Ok(Self {
            api_url: read("PUBLIC_API_URL", UrlKind::Api)?,
            signaling_url: read("PUBLIC_SIGNALING_URL", UrlKind::Signaling)?,
        })
    }
}

/// TURN REST API (ephemeral credentials) settings.
#[derive(Clone, PartialEq, Eq)]
pub struct TurnSettings {
    pub urls: Vec<String>,
    pub secret: String,
    pub ttl: Duration,
}

impl std::fmt::Debug for TurnSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnSettings")
            .field("urls", &self.urls)
            .field("secret", &"<redacted>")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&camview_common::config::Env)
    }

    /// Reads any [`Source`] (a map in tests).
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let r = Reader::new(source);
        let host = r.string("API_SERVER_HOST", "0.0.0.0");
        if host.parse::<std::net::IpAddr>().is_err()
            && !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(ConfigError::new("API_SERVER_HOST", &host, "expected an IP address or a host name"));
        }
        let port = r.parse::<u16>("API_SERVER_PORT", 8080)?;
        let redis = match r.raw("REDIS_URL") {
            Some(_) => Some(RedisConfig::from_reader(&r)?),
            None => None,
        };
        let key_prefix = r.string("REDIS_KEY_PREFIX", camview_proto::keys::DEFAULT_PREFIX);
        let connect_timeout = r.ranged::<u64>("REDIS_CONNECT_TIMEOUT_SECONDS", 30, 0, 3600)?;
        let timeout_ms = r.ranged::<u64>("BUS_REQUEST_TIMEOUT_MS", 5000, 10, 600_000)?;
        let camera_keepalive_seconds = r.ranged::<u32>("CAMERA_KEEPALIVE_SECONDS", 5, 1, 3600)?;
        let status_ttl = r.ranged::<u64>("CAMERA_STATUS_TTL_SECONDS", 86_400, 1, 30 * 86_400)?;
        if status_ttl < 2 * u64::from(camera_keepalive_seconds) {
            return Err(ConfigError::new(
                "CAMERA_STATUS_TTL_SECONDS",
                &status_ttl.to_string(),
                "must be at least twice CAMERA_KEEPALIVE_SECONDS",
            ));
        }
        let max_age = r.ranged::<u64>("CONTROLLER_HEARTBEAT_MAX_AGE_SECONDS", 15, 1, 3600)?;
        let static_dir = r.raw("STATIC_DIR").map(PathBuf::from);
        if let Some(dir) = &static_dir {
            if !dir.is_dir() {
                return Err(ConfigError::new("STATIC_DIR", &dir.display().to_string(), "is not a directory"));
            }
        }
        let log_format = r.parse::<LogFormat>("LOG_FORMAT", LogFormat::Pretty)?;
        let public = PublicSettings::from_reader(&r)?;
        let public_https = public.api_url.as_ref().is_some_and(|u| u.as_str().starts_with("https://"));
        let security = SecuritySettings::from_reader(&r, public_https)?;
        let tls = TlsSettings::from_reader_or_legacy(&r, "API_USE_SSL")?;
        Ok(Self {
            host,
            port,
            redis,
            key_prefix,
            redis_connect_timeout: Duration::from_secs(connect_timeout),
            bus_request_timeout: Duration::from_millis(timeout_ms),
            camera_keepalive_seconds,
            camera_status_ttl: Duration::from_secs(status_ttl),
            controller_heartbeat_max_age: Duration::from_secs(max_age),
            ice: IceSettings::from_reader(&r)?,
            public,
            static_dir,
            log_format,
            security: SecuritySettings { cookie_secure: security.cookie_secure || tls.is_some(), ..security },
            tls,
            embed: EmbedSettings::from_reader(&r)?,
            snapshots: crate::snapshot::SnapshotSettings::from_reader(&r)?,
            whep: crate::whep::Deadlines {
                connect: Duration::from_secs(r.ranged::<u64>("WHEP_CONNECT_TIMEOUT_SECONDS", 30, 1, 3600)?),
                disconnect_grace: Duration::from_secs(r.ranged::<u64>("WHEP_DISCONNECT_GRACE_SECONDS", 15, 1, 3600)?),
            },
        })
    }

    /// `host:port` to bind.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

impl IceSettings {
    fn from_reader(r: &Reader<'_>) -> Result<Self, ConfigError> {
        let stun_servers = match r.raw("STUN_SERVERS") {
            None => vec![DEFAULT_STUN_SERVER.to_owned()],
            Some(v) if v.eq_ignore_ascii_case("none") => vec![],
            Some(_) => r.list("STUN_SERVERS"),
        };
        for url in &stun_servers {
            if !(url.starts_with("stun:") || url.starts_with("stuns:")) {
                return Err(ConfigError::new("STUN_SERVERS", url, "each entry must start with stun: or stuns:"));
            }
        }
        let urls = r.list("TURN_URLS");
        for url in &urls {
            if !(url.starts_with("turn:") || url.starts_with("turns:")) {
                return Err(ConfigError::new("TURN_URLS", url, "each entry must start with turn: or turns:"));
            }
        }
        let secret = r.raw("TURN_SECRET");
        // TURN_TTL_SECONDS is the older name, still read.
        let ttl_name = if r.raw("TURN_CREDENTIAL_TTL_SECONDS").is_none() && r.raw("TURN_TTL_SECONDS").is_some() {
            "TURN_TTL_SECONDS"
        } else {
            "TURN_CREDENTIAL_TTL_SECONDS"
        };
        let ttl = r.ranged::<u64>(ttl_name, 600, 60, 86_400)?;
        let turn = match (urls.is_empty(), secret) {
            (true, None) => None,
            (false, Some(secret)) => Some(TurnSettings { urls, secret, ttl: Duration::from_secs(ttl) }),
            (false, None) => return Err(ConfigError::new("TURN_SECRET", "", "must be set when TURN_URLS is set")),
            (true, Some(_)) => return Err(ConfigError::new("TURN_URLS", "", "must be set when TURN_SECRET is set")),
        };
        Ok(Self { stun_servers, turn })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_source(&map)
    }

    #[test]
    fn defaults_match_the_original_system() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.address(), "0.0.0.0:8080");
        assert_eq!(s.redis, None);
        assert_eq!(s.bus_request_timeout, Duration::from_millis(5000));
        assert_eq!(s.camera_keepalive_seconds, 5);
        assert_eq!(s.camera_status_ttl, Duration::from_secs(86_400));
        assert_eq!(s.ice.stun_servers, [DEFAULT_STUN_SERVER]);
        assert_eq!(s.ice.turn, None);
        assert_eq!(s.static_dir, None);
        assert_eq!(s.public, PublicSettings::default());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (name, value) in [
            ("API_SERVER_PORT", "eighty"),
            ("API_SERVER_HOST", "not a host!"),
            ("REDIS_URL", "http://localhost"),
            ("BUS_REQUEST_TIMEOUT_MS", "0"),
            ("REDIS_CONNECT_TIMEOUT_SECONDS", "forever"),
            ("CAMERA_KEEPALIVE_SECONDS", "-1"),
            ("CAMERA_STATUS_TTL_SECONDS", "0"),
            ("CONTROLLER_HEARTBEAT_MAX_AGE_SECONDS", "x"),
            ("STUN_SERVERS", "http://x"),
            ("TURN_URLS", "stun:x"),
            ("TURN_TTL_SECONDS", "1"),
            ("STATIC_DIR", "/definitely/not/here"),
            ("LOG_FORMAT", "xml"),
            ("API_USE_SSL", "true"),
            ("API_USE_SSL", "perhaps"),
            ("PUBLIC_API_URL", "wss://cams.example/"),
            ("PUBLIC_API_URL", "cams.example"),
            ("PUBLIC_SIGNALING_URL", "ws"),
            ("PUBLIC_SIGNALING_URL", "//cams.example/ws"),
            ("EMBED_ALLOWED_ORIGINS", "*"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{err}");
            assert!(err.to_string().contains(name), "{err}");
        }
        let missing = "/definitely/not/here.pem";
        let err = settings(&[("TLS_CERT_FILE", missing), ("TLS_KEY_FILE", missing)]).unwrap_err();
        assert_eq!(err.name, "TLS_CERT_FILE", "{err}");
    }

    #[test]
    fn a_camera_status_ttl_shorter_than_two_keepalives_is_refused() {
        let err = settings(&[("CAMERA_KEEPALIVE_SECONDS", "30"), ("CAMERA_STATUS_TTL_SECONDS", "59")]).unwrap_err();
        assert_eq!(err.name, "CAMERA_STATUS_TTL_SECONDS", "{err}");
        let ok = settings(&[("CAMERA_KEEPALIVE_SECONDS", "30"), ("CAMERA_STATUS_TTL_SECONDS", "60")]).unwrap();
        assert_eq!(ok.camera_status_ttl, Duration::from_secs(60));
    }

    #[test]
    fn turn_needs_both_urls_and_secret() {
        assert_eq!(settings(&[("TURN_URLS", "turn:a:3478")]).unwrap_err().name, "TURN_SECRET");
        assert_eq!(settings(&[("TURN_SECRET", "s")]).unwrap_err().name, "TURN_URLS");
        let s =
            settings(&[("TURN_URLS", "turn:a:3478,turns:b:5349"), ("TURN_SECRET", "s"), ("TURN_TTL_SECONDS", "600")])
                .unwrap();
        let turn = s.ice.turn.unwrap();
        assert_eq!(turn.urls, ["turn:a:3478", "turns:b:5349"]);
        assert_eq!(turn.ttl, Duration::from_secs(600));
        assert!(!format!("{turn:?}").contains("\"s\""), "the secret must not be printed");
    }

    #[test]
    fn stun_servers_can_be_replaced_or_disabled() {
        assert_eq!(
            settings(&[("STUN_SERVERS", "stun:a:1, stun:b:2")]).unwrap().ice.stun_servers,
            ["stun:a:1", "stun:b:2"]
        );
        assert!(settings(&[("STUN_SERVERS", "none")]).unwrap().ice.stun_servers.is_empty());
    }

    #[test]
    fn public_urls_are_kept_as_written() {
        let s = settings(&[("PUBLIC_API_URL", "/"), ("PUBLIC_SIGNALING_URL", "wss://cams.example/ws")]).unwrap();
        assert_eq!(s.public.api_url.unwrap().as_str(), "/");
        assert_eq!(s.public.signaling_url.unwrap().as_str(), "wss://cams.example/ws");
    }

    #[test]
    fn redis_is_used_only_when_redis_url_is_set() {
        let s = settings(&[("REDIS_URL", "redis://r:6379"), ("REDIS_KEY_PREFIX", "t:")]).unwrap();
        assert_eq!(s.redis, Some(RedisConfig { url: "redis://r:6379".into(), prefix: "t:".into(), tls: None }));
    }
}
