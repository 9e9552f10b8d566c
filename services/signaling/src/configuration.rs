//! Settings of one signaling instance, read once from the environment and validated.
//!
//! Invariant: every value is checked here; a bad value stops the service with the
//! variable's name in the error (see [`camview_common::config::ConfigError`]).

use std::time::Duration;

use camview_common::config::{ConfigError, Env, Reader, RedisConfig, Source};
use camview_common::telemetry::LogFormat;
use camview_common::tls::TlsSettings;

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
    /// `MAX_VIEWERS_PER_STREAM` (10), enforced across every instance.
    pub max_viewers_per_stream: u32,
    /// `BUS_REQUEST_TIMEOUT_MS` (5000): how long to wait for the media-controller.
    pub bus_request_timeout: Duration,
    /// `AUTH_JWT_SECRET`: HS256 secret for viewer tokens; auth is off when unset.
    pub auth_jwt_secret: Option<String>,
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
            .field(
                "redis",
                &self
                    .redis
                    .as_ref()
                    .map(|r| (redact_url(&r.url), r.prefix.clone())),
            )
            .field("key_prefix", &self.key_prefix)
            .field("max_viewers_per_stream", &self.max_viewers_per_stream)
            .field("bus_request_timeout", &self.bus_request_timeout)
            .field("auth", &self.auth_jwt_secret.as_ref().map(|_| "<redacted>"))
            .field("liveness_ttl", &self.liveness_ttl)
            .field("max_connections", &self.max_connections)
            .field(
                "rate",
                &(self.rate_per_second, self.rate_burst, self.rate_close_after),
            )
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
        let ping_interval = Duration::from_millis(r.ranged::<u64>(
            "SIGNALING_PING_INTERVAL_MS",
            10_000,
            50,
            3_600_000,
        )?);
        let idle_timeout = Duration::from_millis(r.ranged::<u64>(
            "SIGNALING_IDLE_TIMEOUT_MS",
            30_000,
            100,
            86_400_000,
        )?);
        if idle_timeout <= ping_interval {
            return Err(ConfigError::new(
                "SIGNALING_IDLE_TIMEOUT_MS",
                &idle_timeout.as_millis().to_string(),
                "must be longer than SIGNALING_PING_INTERVAL_MS",
            ));
        }
        let default_workers = std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(2);
        Ok(Self {
            host: r.string("SIGNALING_SERVER_HOST", "0.0.0.0"),
            port: r.parse("SIGNALING_SERVER_PORT", 8765)?,
            redis,
            key_prefix,
            max_viewers_per_stream: r.ranged("MAX_VIEWERS_PER_STREAM", 10, 1, 10_000)?,
            bus_request_timeout: Duration::from_millis(r.ranged::<u64>(
                "BUS_REQUEST_TIMEOUT_MS",
                5000,
                10,
                600_000,
            )?),
            auth_jwt_secret: r.raw("AUTH_JWT_SECRET"),
            liveness_ttl: Duration::from_secs(r.ranged::<u64>(
                "SIGNALING_LIVENESS_TTL_SECONDS",
                10,
                1,
                3600,
            )?),
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
        let map: std::collections::HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::from_source(&map)
    }

    #[test]
    fn defaults_match_the_original_system() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.address(), "0.0.0.0:8765");
        assert!(s.redis.is_none());
        assert_eq!(s.max_viewers_per_stream, 10);
        assert_eq!(s.bus_request_timeout, Duration::from_secs(5));
        assert_eq!(s.liveness_interval(), Duration::from_secs(2));
        assert_eq!(s.max_connections, 1000);
        assert_eq!((s.rate_per_second, s.rate_burst), (50, 100));
        assert!(s.auth_jwt_secret.is_none());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (name, value) in [
            ("SIGNALING_SERVER_PORT", "http"),
            ("MAX_VIEWERS_PER_STREAM", "0"),
            ("BUS_REQUEST_TIMEOUT_MS", "soon"),
            ("SIGNALING_MAX_CONNECTIONS", "-1"),
            ("SIGNALING_RATE_LIMIT_BURST", "0"),
            ("LOG_FORMAT", "xml"),
            ("REDIS_URL", "http://redis"),
            ("SIGNALING_USE_SSL", "true"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name, "{err}");
        }
    }

    #[test]
    fn the_idle_timeout_must_exceed_the_ping_interval() {
        let err = settings(&[
            ("SIGNALING_PING_INTERVAL_MS", "5000"),
            ("SIGNALING_IDLE_TIMEOUT_MS", "5000"),
        ])
        .unwrap_err();
        assert_eq!(err.name, "SIGNALING_IDLE_TIMEOUT_MS");
    }

    #[test]
    fn redis_is_used_only_when_redis_url_is_set() {
        let s = settings(&[
            ("REDIS_URL", "redis://:pw@r:6379"),
            ("REDIS_KEY_PREFIX", "x:"),
        ])
        .unwrap();
        assert_eq!(s.redis.as_ref().unwrap().prefix, "x:");
        let shown = format!("{s:?}");
        assert!(!shown.contains("pw"), "{shown}");
    }

    #[test]
    fn the_jwt_secret_is_never_printed() {
        let s = settings(&[("AUTH_JWT_SECRET", "hunter2")]).unwrap();
        assert_eq!(s.auth_jwt_secret.as_deref(), Some("hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
