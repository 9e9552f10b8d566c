//! Reading scraped Prometheus text and the Grafana dashboards, for scenario tests that check
//! what the services expose against what the dashboards query.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub use camview_common::testing::{samples, Sample};

/// The sum of the samples `name` carrying every label of `labels`, over all `texts` (e.g. every
/// signaling instance); `None` when no such sample exists.
pub fn sum(texts: &[&str], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let matching: Vec<f64> =
        texts.iter().flat_map(|t| samples(t)).filter(|s| s.matches(name, labels)).map(|s| s.value).collect();
    (!matching.is_empty()).then(|| matching.iter().sum())
}

/// Metric families (`# TYPE name kind`) of a Prometheus text: name -> kind.
pub fn families(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.trim().to_owned()))
        .collect()
}

/// The `camview_*` metric names a PromQL expression refers to.
pub fn metric_tokens(expr: &str) -> BTreeSet<String> {
    let mut tokens = BTreeSet::new();
    let mut rest = expr;
    while let Some(at) = rest.find("camview_") {
        let preceded_by_word = rest[..at].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let tail = &rest[at..];
        let len = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        if !preceded_by_word {
            tokens.insert(tail[..len].to_owned());
        }
        rest = &tail[len..];
    }
    tokens
}

/// Every panel target's `expr` in one dashboard JSON (panels nested in rows included).
pub fn dashboard_exprs(dashboard: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(targets) = map.get("targets").and_then(|t| t.as_array()) {
                    out.extend(targets.iter().filter_map(|t| t.get("expr")?.as_str().map(str::to_owned)));
                }
                for (k, child) in map {
                    if k != "targets" {
                        walk(child, out);
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, &mut out);
    out
}

/// `camview_*` names each dashboard under `dir` queries: file name -> tokens.
pub fn dashboard_metrics(dir: &Path) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read the dashboards directory {}: {e}", dir.display()))?;
    let mut found = BTreeMap::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        let tokens = dashboard_exprs(&json).iter().flat_map(|e| metric_tokens(e)).collect();
        found.insert(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), tokens);
    }
    if found.is_empty() {
        return Err(format!("no dashboard JSON under {}", dir.display()));
    }
    Ok(found)
}

/// The metric family a dashboard token names, given the exposed `families`: `_bucket`, `_count`
/// and `_sum` are stripped only when the base is a histogram (or summary).
pub fn family_of(token: &str, families: &BTreeMap<String, String>) -> String {
    for suffix in ["_bucket", "_count", "_sum"] {
        if let Some(base) = token.strip_suffix(suffix) {
            if families.get(base).is_some_and(|k| k == "histogram" || k == "summary") {
                return base.to_owned();
            }
        }
    }
    token.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE camview_x_seconds histogram\ncamview_x_seconds_bucket{kind=\"A\",le=\"0.5\"} 2\ncamview_x_seconds_count{kind=\"A\"} 2\n\
                        # TYPE camview_errors_total counter\ncamview_errors_total{code=\"a\"} 1\ncamview_errors_total{code=\"b\"} 2\n# TYPE camview_up gauge\ncamview_up 1\n";

    #[test]
    fn samples_are_summed_over_texts_and_filtered_by_labels() {
        assert_eq!(sum(&[TEXT, TEXT], "camview_errors_total", &[]), Some(6.0));
        assert_eq!(sum(&[TEXT], "camview_errors_total", &[("code", "b")]), Some(2.0));
        assert_eq!(sum(&[TEXT], "camview_errors_total", &[("code", "c")]), None);
        assert_eq!(sum(&[TEXT], "camview_up", &[]), Some(1.0));
    }

    #[test]
    fn histogram_suffixes_are_stripped_only_for_histograms() {
        let f = families(TEXT);
        assert_eq!(family_of("camview_x_seconds_bucket", &f), "camview_x_seconds");
        assert_eq!(family_of("camview_stream_count", &f), "camview_stream_count");
    }

    #[test]
    fn promql_tokens_are_the_camview_metric_names() {
        let expr = r#"sum(rate(camview_kurento_rpc_seconds_bucket{job="x"}[5m])) / ignoring(le) camview_streams_active + mycamview_nope"#;
        assert_eq!(
            metric_tokens(expr).into_iter().collect::<Vec<_>>(),
            ["camview_kurento_rpc_seconds_bucket", "camview_streams_active"]
        );
        let dashboard = serde_json::json!({"panels": [{"type": "row", "panels": [{"targets": [{"expr": "camview_a"}]}]}, {"targets": [{"expr": "camview_b"}]}]});
        assert_eq!(dashboard_exprs(&dashboard), ["camview_a", "camview_b"]);
    }
}
