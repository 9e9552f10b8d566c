//! Settings of one signaling instance, read once from the environment and validated.
//!
//! Invariant: every value is checked here; a bad value stops the service with the
//! variable's name in the error (see [`camview_common::config::ConfigError`]).

use std::path::PathBuf;
use std::time::Duration;

use camview_common::auth::{AuthSettings, Networks};
use camview_common::config::{ConfigError, Env, Reader, RedisConfig, Source};
use camview_common::telemetry::LogFormat;
use camview_common::tls::TlsSettings;

use crate::origin::{parse_origin, OriginPolicy};

/// Everything the service reads from the environment.
#[derive(Clone)]
pub struct Settings {
    /// `SIGNALING_SERVER_HOST` (0.0.0.0).
    pub host: String,
    /// `SIGNALING_SERVER_PORT` (8765); 0 picks a free port (tests).
    pub port: u16,
    /// `REDIS_URL` + `REDIS_KEY_PREFIX`; `None` when `REDIS_URL` is unset (in-process mode).
    pub redis: Option<RedisConfig>,
    /// `REDIS_KEY_PREFIX` (`camview:`), also used by the in-process mode for names.
    pub key_prefix: String,
    /// `BUS_REQUEST_TIMEOUT_MS` (5000): how long to wait for the media-controller.
    pub bus_request_timeout: Duration,
    /// `AUTH_JWT_SECRET`, `AUTH_TOKEN_TTL_SECONDS`, `TRUSTED_PROXIES` (shared with the api).
    pub auth: AuthSettings,
    /// Where the file auth store lives without `REDIS_URL` (`CAMVIEW_DATA_DIR`, ...).
    pub data_dir: PathBuf,
    /// Origins allowed on the WebSocket upgrade: `SIGNALING_ALLOWED_ORIGINS` plus the
    /// origin of `PUBLIC_API_URL` (besides the request's own host, always allowed).
    pub origins: OriginPolicy,
    /// `SIGNALING_UPGRADE_RATE_PER_SECOND` (5) WebSocket upgrades per client address, sustained.
    pub upgrade_rate_per_second: u32,
    /// `SIGNALING_UPGRADE_BURST` (20) WebSocket upgrades per client address in a burst.
    pub upgrade_burst: u32,
    /// `SIGNALING_AUTH_RECHECK_SECONDS` (30): every live viewer's access is re-checked this often.
    pub auth_recheck: Duration,
    /// `METRICS_ALLOWED_NETWORKS` (loopback and private ranges): who may read `/metrics`.
    pub metrics_allowed_networks: Networks,
    /// `SIGNALING_LIVENESS_TTL_SECONDS` (10); the key is refreshed every TTL / 5.
    pub liveness_ttl: Duration,
    /// `SIGNALING_MAX_CONNECTIONS` (1000) WebSockets per instance.
    pub max_connections: usize,
    /// `SIGNALING_RATE_LIMIT_PER_SECOND` (50) client messages per second, sustained.
    pub rate_per_second: u32,
    /// `SIGNALING_RATE_LIMIT_BURST` (100) client messages in a burst.
    pub rate_burst: u32,
    /// `SIGNALING_RATE_LIMIT_CLOSE_AFTER` (100) dropped messages in a row before the socket is closed (1008).
    pub rate_close_after: u32,
    /// `SIGNALING_PING_INTERVAL_MS` (10000): server ping period.
    pub ping_interval: Duration,
    /// `SIGNALING_IDLE_TIMEOUT_MS` (30000): a socket silent this long (no frame, no pong) is closed.
    pub idle_timeout: Duration,
    /// `SIGNALING_SHUTDOWN_GRACE_MS` (5000): bound on graceful shutdown.
    pub shutdown_grace: Duration,
    /// `SIGNALING_WORKERS` (number of CPUs): HTTP worker threads.
    pub workers: usize,
    /// `LOG_FORMAT` (pretty).
    pub log_format: LogFormat,
    /// `TLS_CERT_FILE` + `TLS_KEY_FILE` (or the legacy `SIGNALING_USE_SSL` + `SSL_CERT` +
    /// `SSL_KEY`): serve WSS here.
    pub tls: Option<TlsSettings>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("redis", &self.redis.as_ref().map(|r| (redact_url(&r.url), r.prefix.clone())))
            .field("key_prefix", &self.key_prefix)
            .field("bus_request_timeout", &self.bus_request_timeout)
            .field("auth", &self.auth)
            .field("data_dir", &self.data_dir)
            .field("origins", &self.origins)
            .field("upgrade_rate", &(self.upgrade_rate_per_second, self.upgrade_burst))
            .field("auth_recheck", &self.auth_recheck)
            .field("metrics_allowed_networks", &self.metrics_allowed_networks.to_string())
            .field("liveness_ttl", &self.liveness_ttl)
            .field("max_connections", &self.max_connections)
            .field("rate", &(self.rate_per_second, self.rate_burst, self.rate_close_after))
            .field("ping_interval", &self.ping_interval)
            .field("idle_timeout", &self.idle_timeout)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("workers", &self.workers)
            .field("log_format", &self.log_format)
            .field("tls", &self.tls.as_ref().map(|t| &t.cert_file))
            .finish()
    }
}

/// Hides a password in `redis://user:pass@host`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://<redacted>@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_source(&Env)
    }

    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let r = Reader::new(source);
        let redis = match r.raw("REDIS_URL") {
            Some(_) => Some(RedisConfig::from_reader(&r)?),
            None => None,
        };
        let key_prefix = r.string("REDIS_KEY_PREFIX", camview_proto::keys::DEFAULT_PREFIX);
        let ping_interval =
            Duration::from_millis(r.ranged::<u64>("SIGNALING_PING_INTERVAL_MS", 10_000, 50, 3_600_000)?);
        let idle_timeout =
            Duration::from_millis(r.ranged::<u64>("SIGNALING_IDLE_TIMEOUT_MS", 30_000, 100, 86_400_000)?);
        if idle_timeout <= ping_interval {
            return Err(ConfigError::new(
                "SIGNALING_IDLE_TIMEOUT_MS",
                &idle_timeout.as_millis().to_string(),
                "must be longer than SIGNALING_PING_INTERVAL_MS",
            ));
        }
        let mut allowed = r.origins("SIGNALING_ALLOWED_ORIGINS")?;
        // A relative PUBLIC_API_URL (`/`) means the api shares this host: covered by the same-host rule.
        if let Some(api) = r.raw("PUBLIC_API_URL").filter(|u| u.contains("://")) {
            let origin = parse_origin(&api).map_err(|e| ConfigError::new("PUBLIC_API_URL", &api, e))?;
            allowed.push(origin);
        }
        let metrics_allowed_networks = r.networks("METRICS_ALLOWED_NETWORKS", Networks::loopback_and_private())?;
        let default_workers = std::thread::available_parallelism().map(usize::from).unwrap_or(2);
        Ok(Self {
            host: r.string("SIGNALING_SERVER_HOST", "0.0.0.0"),
            port: r.parse("SIGNALING_SERVER_PORT", 8765)?,
            redis,
            key_prefix,
            bus_request_timeout: Duration::from_millis(r.ranged::<u64>("BUS_REQUEST_TIMEOUT_MS", 5000, 10, 600_000)?),
            auth: AuthSettings::from_reader(&r)?,
            data_dir: camview_common::auth::store::default_data_dir(&r),
            origins: OriginPolicy::new(allowed),
            upgrade_rate_per_second: r.ranged("SIGNALING_UPGRADE_RATE_PER_SECOND", 5, 1, 100_000)?,
            upgrade_burst: r.ranged("SIGNALING_UPGRADE_BURST", 20, 1, 100_000)?,
            auth_recheck: Duration::from_secs(r.ranged::<u64>("SIGNALING_AUTH_RECHECK_SECONDS", 30, 1, 3600)?),
            metrics_allowed_networks,
            liveness_ttl: Duration::from_secs(r.ranged::<u64>("SIGNALING_LIVENESS_TTL_SECONDS", 10, 1, 3600)?),
            max_connections: r.ranged("SIGNALING_MAX_CONNECTIONS", 1000, 1, 1_000_000)?,
            rate_per_second: r.ranged("SIGNALING_RATE_LIMIT_PER_SECOND", 50, 1, 100_000)?,
            rate_burst: r.ranged("SIGNALING_RATE_LIMIT_BURST", 100, 1, 100_000)?,
            rate_close_after: r.ranged("SIGNALING_RATE_LIMIT_CLOSE_AFTER", 100, 1, 1_000_000)?,
            ping_interval,
            idle_timeout,
            shutdown_grace: Duration::from_millis(r.ranged::<u64>(
                "SIGNALING_SHUTDOWN_GRACE_MS",
                5000,
                100,
                600_000,
            )?),
            workers: r.ranged("SIGNALING_WORKERS", default_workers, 1, 256)?,
            log_format: r.parse("LOG_FORMAT", LogFormat::Pretty)?,
            tls: TlsSettings::from_reader_or_legacy(&r, "SIGNALING_USE_SSL")?,
        })
    }

    /// `host:port` to bind.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// How often the liveness key is refreshed: a fifth of its TTL.
    pub fn liveness_interval(&self) -> Duration {
        self.liveness_ttl / 5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: std::collections::HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_source(&map)
    }

    #[test]
    fn defaults_match_the_original_system() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.address(), "0.0.0.0:8765");
        assert!(s.redis.is_none());
        assert_eq!(s.bus_request_timeout, Duration::from_secs(5));
        assert_eq!(s.liveness_interval(), Duration::from_secs(2));
        assert_eq!(s.max_connections, 1000);
        assert_eq!((s.rate_per_second, s.rate_burst), (50, 100));
        assert!(s.auth.jwt_secret.is_none());
        assert_eq!((s.upgrade_rate_per_second, s.upgrade_burst), (5, 20));
        assert_eq!(s.auth_recheck, Duration::from_secs(30));
        assert!(s.metrics_allowed_networks.contains("10.1.2.3".parse().unwrap()));
        assert!(!s.metrics_allowed_networks.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (name, value) in [
            ("SIGNALING_SERVER_PORT", "http"),
            ("BUS_REQUEST_TIMEOUT_MS", "soon"),
            ("SIGNALING_MAX_CONNECTIONS", "-1"),
            ("SIGNALING_RATE_LIMIT_BURST", "0"),
            ("LOG_FORMAT", "xml"),
            ("REDIS_URL", "http://redis"),
            ("SIGNALING_USE_SSL", "true"),
            ("SIGNALING_ALLOWED_ORIGINS", "cams.example.com"),
            ("SIGNALING_ALLOWED_ORIGINS", "https://cams.example.com/path"),
            ("SIGNALING_UPGRADE_RATE_PER_SECOND", "0"),
            ("SIGNALING_UPGRADE_BURST", "x"),
            ("SIGNALING_AUTH_RECHECK_SECONDS", "0"),
            ("SIGNALING_AUTH_RECHECK_SECONDS", "3601"),
            ("METRICS_ALLOWED_NETWORKS", "10.0.0.0/33"),
            ("AUTH_JWT_SECRET", "short"),
            ("PUBLIC_API_URL", "ftp://cams.example.com"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{err}");
        }
    }

    #[test]
    fn the_idle_timeout_must_exceed_the_ping_interval() {
        let err =
            settings(&[("SIGNALING_PING_INTERVAL_MS", "5000"), ("SIGNALING_IDLE_TIMEOUT_MS", "5000")]).unwrap_err();
        assert_eq!(err.name, "SIGNALING_IDLE_TIMEOUT_MS");
    }

    #[test]
    fn redis_is_used_only_when_redis_url_is_set() {
        let s = settings(&[("REDIS_URL", "redis://:pw@r:6379"), ("REDIS_KEY_PREFIX", "x:")]).unwrap();
        assert_eq!(s.redis.as_ref().unwrap().prefix, "x:");
        let shown = format!("{s:?}");
        assert!(!shown.contains("pw"), "{shown}");
    }

    #[test]
    fn the_jwt_secret_is_never_printed() {
        let secret = "hunter2-hunter2-hunter2-hunter2-hunter2";
        let s = settings(&[("AUTH_JWT_SECRET", secret)]).unwrap();
        assert_eq!(s.auth.jwt_secret.as_deref(), Some(secret));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn allowed_origins_come_from_the_list_and_an_absolute_public_api_url() {
        let s = settings(&[
            ("SIGNALING_ALLOWED_ORIGINS", "https://cams.example.com, http://lan.example:8080"),
            ("PUBLIC_API_URL", "https://api.example.com/camview/"),
        ])
        .unwrap();
        for allowed in ["https://cams.example.com", "http://lan.example:8080", "https://api.example.com"] {
            assert!(s.origins.allows(Some(allowed), Some("signaling.example.com:8765")), "{allowed}");
        }
        assert!(!s.origins.allows(Some("https://evil.example"), Some("signaling.example.com:8765")));
        let relative = settings(&[("PUBLIC_API_URL", "/")]).unwrap();
        assert!(!relative.origins.allows(Some("https://evil.example"), Some("cams.example.com")));
    }
}
