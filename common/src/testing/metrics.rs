//! Metrics in tests: a private meter provider exported exactly as the process' one is (tests run
//! in parallel in one process and share the global provider), and reading samples back out of
//! Prometheus text, whether rendered here or scraped from a service's `/metrics`.

use std::collections::BTreeMap;

use opentelemetry::metrics::{Meter, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;

use crate::telemetry::{encode_text, prometheus_reader};

/// A meter provider only one test's instruments fill, read back as Prometheus text.
pub struct TestMetrics {
    provider: SdkMeterProvider,
    registry: prometheus::Registry,
}

impl TestMetrics {
    pub fn new() -> Self {
        let (reader, registry) = prometheus_reader();
        Self { provider: SdkMeterProvider::builder().with_reader(reader).build(), registry }
    }

    pub fn meter(&self) -> Meter {
        self.provider.meter("test")
    }

    pub fn text(&self) -> String {
        encode_text(&self.registry)
    }

    /// The sample `name` carrying every label of `labels`, if present.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        sample(&self.text(), name, labels)
    }
}

impl Default for TestMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// One sample line: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    /// Whether the sample is `name` and carries every label of `labels`.
    pub fn matches(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.name == name && labels.iter().all(|(k, v)| self.labels.get(*k).map(String::as_str) == Some(*v))
    }
}

/// Every sample of a Prometheus text exposition (comments skipped).
pub fn samples(text: &str) -> Vec<Sample> {
    text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()).filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (series, value) = line.rsplit_once(' ')?;
    let value = value.parse().ok()?;
    let Some((name, rest)) = series.split_once('{') else {
        return Some(Sample { name: series.to_owned(), labels: BTreeMap::new(), value });
    };
    let mut labels = BTreeMap::new();
    // Label values here are route patterns, codes and ids: no escaped quotes or commas inside.
    for pair in rest.trim_end_matches('}').split("\",").filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once("=\"")?;
        labels.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
    }
    Some(Sample { name: name.to_owned(), labels, value })
}

/// The value of the first sample `name` in `text` carrying every label of `labels`.
pub fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text).into_iter().find(|s| s.matches(name, labels)).map(|s| s.value)
}

/// The value of the series written exactly as `name{labels}` (labels in exposition order), for
/// tests that compare a few whole series before and after.
pub fn series(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .map(|v| v.trim().parse().expect("a sample value is a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE camview_errors_total counter\ncamview_errors_total{code=\"a\",job=\"x\"} 1\ncamview_errors_total{code=\"b\"} 2\ncamview_up 1\n";

    #[test]
    fn samples_are_found_by_name_and_every_given_label() {
        assert_eq!(sample(TEXT, "camview_errors_total", &[]), Some(1.0));
        assert_eq!(sample(TEXT, "camview_errors_total", &[("code", "b")]), Some(2.0));
        assert_eq!(sample(TEXT, "camview_errors_total", &[("code", "a"), ("job", "x")]), Some(1.0));
        assert_eq!(sample(TEXT, "camview_errors_total", &[("code", "c")]), None);
        assert_eq!(sample(TEXT, "camview_up", &[]), Some(1.0));
        assert_eq!(sample(TEXT, "camview_down", &[]), None);
    }

    #[test]
    fn a_series_is_found_only_by_its_whole_name_and_labels() {
        assert_eq!(series(TEXT, r#"camview_errors_total{code="b"}"#), Some(2.0));
        assert_eq!(series(TEXT, r#"camview_errors_total{code="a"}"#), None);
        assert_eq!(series(TEXT, "camview_up"), Some(1.0));
        assert_eq!(series(TEXT, "camview_u"), None);
    }

    #[test]
    fn a_private_provider_shows_only_its_own_instruments() {
        let (a, b) = (TestMetrics::new(), TestMetrics::new());
        a.meter().u64_counter("camview_test_things_total").build().add(3, &[opentelemetry::KeyValue::new("kind", "x")]);
        assert_eq!(a.value("camview_test_things_total", &[("kind", "x")]), Some(3.0));
        assert_eq!(b.value("camview_test_things_total", &[]), None);
    }
}
