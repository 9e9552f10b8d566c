//! W3C trace context (`traceparent`) for one request, carried into bus envelopes so a
//! start or stop can be followed from the API into the media-controller's logs.
//!
//! Invariant: a [`TraceContext`] always holds 32 lowercase hex digits, not all zero; a
//! malformed incoming header is ignored (a fresh trace starts), never an error.

/// The trace a request belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: String,
}

impl TraceContext {
    /// Continues the trace of a valid `traceparent` header, or starts a new one.
    pub fn from_header(traceparent: Option<&str>) -> Self {
        traceparent
            .and_then(parse_trace_id)
            .map(|trace_id| Self { trace_id })
            .unwrap_or_default()
    }

    /// A fresh trace.
    pub fn new() -> Self {
        Self {
            trace_id: uuid::Uuid::new_v4().simple().to_string(),
        }
    }

    pub fn trace_id(&self) -> &str {
        &self.trace_id
    }

    /// A `traceparent` for a new span of this trace (sampled).
    pub fn child_traceparent(&self) -> String {
        let span = uuid::Uuid::new_v4().simple().to_string();
        format!("00-{}-{}-01", self.trace_id, &span[..16])
    }
}

impl Default for TraceContext {
    fn default() -> Self {
        Self::new()
    }
}

/// The trace id of `00-<32 hex>-<16 hex>-<2 hex>`, if well formed and not all zeros.
fn parse_trace_id(header: &str) -> Option<String> {
    let mut parts = header.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = version == "00"
        && parts.next().is_none()
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0');
    valid.then(|| trace.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_continued_in_a_new_span() {
        let ctx = TraceContext::from_header(Some(SAMPLE));
        assert_eq!(ctx.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let child = ctx.child_traceparent();
        assert!(
            child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{child}"
        );
        assert_ne!(child, SAMPLE);
        assert_eq!(parse_trace_id(&child).as_deref(), Some(ctx.trace_id()));
    }

    #[test]
    fn malformed_headers_start_a_fresh_trace() {
        for bad in [
            "",
            "garbage",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_trace_id(bad), None, "{bad:?}");
            let ctx = TraceContext::from_header(Some(bad));
            assert_eq!(ctx.trace_id().len(), 32);
            assert!(parse_trace_id(&ctx.child_traceparent()).is_some());
        }
    }
}
