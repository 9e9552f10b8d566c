//! Settings read from the environment at start; a bad value stops the service with its name.

use crate::kurento::ClientConfig;
use camview_common::config::{ConfigError, Reader, Source};
use camview_common::telemetry::LogFormat;
use std::time::Duration;

pub const DEFAULT_KURENTO_WS_URL: &str = "ws://localhost:8888/kurento";

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub kurento: ClientConfig,
    pub log_format: LogFormat,
}

impl Settings {
    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        let r = Reader::new(source);
        let url = r.string("KURENTO_WS_URL", DEFAULT_KURENTO_WS_URL);
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(ConfigError::new("KURENTO_WS_URL", &url, "must start with ws:// or wss://"));
        }
        let mut kurento = ClientConfig::new(url);
        let timeout_ms = r.ranged("KURENTO_REQUEST_TIMEOUT_MS", 10_000u64, 100, 600_000)?;
        kurento.timing.request_timeout = Duration::from_millis(timeout_ms);
        Ok(Self { kurento, log_format: r.parse("LOG_FORMAT", LogFormat::default())? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_point_at_a_local_kurento() {
        let settings = Settings::from_source(&[("UNRELATED", "x")]).unwrap();
        assert_eq!(settings.kurento.url, DEFAULT_KURENTO_WS_URL);
        assert_eq!(settings.kurento.timing.request_timeout, Duration::from_secs(10));
    }

    #[test]
    fn a_non_websocket_url_is_rejected_with_the_variable_name() {
        let err = Settings::from_source(&[("KURENTO_WS_URL", "http://kms:8888/kurento")]).unwrap_err();
        assert_eq!(err.name, "KURENTO_WS_URL");
    }

    #[test]
    fn the_request_timeout_is_configurable_within_bounds() {
        let settings = Settings::from_source(&[("KURENTO_REQUEST_TIMEOUT_MS", "2500")]).unwrap();
        assert_eq!(settings.kurento.timing.request_timeout, Duration::from_millis(2500));
        assert!(Settings::from_source(&[("KURENTO_REQUEST_TIMEOUT_MS", "5")]).is_err());
    }
}
