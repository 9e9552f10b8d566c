//! Wall-clock helpers: every timestamp camview stores or sends is RFC 3339 UTC.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    let now = now.replace_millisecond(now.millisecond()).unwrap_or(now); // invariant: millisecond() is always valid
    now.format(&Rfc3339).unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Parses an RFC 3339 timestamp written by [`now_rfc3339`].
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_parses_back() {
        let s = now_rfc3339();
        let t = parse_rfc3339(&s).expect(&s);
        assert!((OffsetDateTime::now_utc() - t).whole_seconds().abs() < 5);
    }
}
