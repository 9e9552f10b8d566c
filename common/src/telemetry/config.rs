//! The standard OTel variables camview reads itself (the SDK and exporter read the rest:
//! endpoints' paths, `OTEL_BSP_*`, `OTEL_METRIC_EXPORT_INTERVAL`). Checked at start so a
//! typo fails loudly with the variable's name instead of silently disabling export.

/// What `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER` select.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ExporterChoice {
    #[default]
    Otlp,
    None,
}

/// A telemetry variable with a value camview cannot use.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TelemetryError {
    #[error("{var}={value:?} is not an http:// or https:// URL")]
    InvalidEndpoint { var: &'static str, value: String },
    #[error("{var}={value:?} is not supported: expected otlp or none")]
    UnsupportedExporter { var: &'static str, value: String },
}

/// The telemetry settings read from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// `OTEL_SERVICE_NAME`, overriding the binary's name.
    pub service_name: Option<String>,
    /// Whether `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set.
    pub traces_endpoint: bool,
    /// Whether `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` is set.
    pub metrics_endpoint: bool,
    pub traces_exporter: ExporterChoice,
    pub metrics_exporter: ExporterChoice,
    /// Values the OTel specification says to ignore with a warning (logged once logging is up).
    pub warnings: Vec<String>,
}

impl TelemetryConfig {
    /// Reads the variables through `lookup`; empty values count as unset, as the OTel spec says.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, TelemetryError> {
        let get = |var: &str| lookup(var).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let endpoint = |var: &'static str| -> Result<bool, TelemetryError> {
            match get(var) {
                None => Ok(false),
                Some(v) => {
                    let lower = v.to_ascii_lowercase();
                    let rest = lower.strip_prefix("http://").or_else(|| lower.strip_prefix("https://"));
                    match rest {
                        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(true),
                        _ => Err(TelemetryError::InvalidEndpoint { var, value: v }),
                    }
                }
            }
        };
        let exporter = |var: &'static str| -> Result<ExporterChoice, TelemetryError> {
            match get(var).map(|v| v.to_ascii_lowercase()).as_deref() {
                None | Some("otlp") => Ok(ExporterChoice::Otlp),
                Some("none") => Ok(ExporterChoice::None),
                Some(_) => Err(TelemetryError::UnsupportedExporter { var, value: get(var).unwrap_or_default() }),
            }
        };
        let base = endpoint("OTEL_EXPORTER_OTLP_ENDPOINT")?;
        let traces = endpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")?;
        let metrics = endpoint("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")?;
        let mut warnings = Vec::new();
        for var in ["OTEL_BSP_SCHEDULE_DELAY", "OTEL_METRIC_EXPORT_INTERVAL"] {
            if let Some(v) = get(var) {
                if v.parse::<u64>().is_err() {
                    warnings.push(format!("{var}={v:?} is not a number of milliseconds; the SDK default applies"));
                }
            }
        }
        Ok(TelemetryConfig {
            service_name: get("OTEL_SERVICE_NAME"),
            traces_endpoint: base || traces,
            metrics_endpoint: base || metrics,
            traces_exporter: exporter("OTEL_TRACES_EXPORTER")?,
            metrics_exporter: exporter("OTEL_METRICS_EXPORTER")?,
            warnings,
        })
    }

    /// Spans are exported only to a configured endpoint and unless turned off.
    pub fn traces_export_enabled(&self) -> bool {
        self.traces_endpoint && self.traces_exporter == ExporterChoice::Otlp
    }

    /// Metrics are pushed only to a configured endpoint and unless turned off; Prometheus
    /// text is served either way.
    pub fn metrics_export_enabled(&self) -> bool {
        self.metrics_endpoint && self.metrics_exporter == ExporterChoice::Otlp
    }
}
