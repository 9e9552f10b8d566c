//! Wall-clock helpers: every timestamp camview stores or sends is RFC 3339 UTC.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    let now = OffsetDateTime::now_utc();
    let now = now.replace_millisecond(now.millisecond()).unwrap_or(now); // invariant: millisecond() is always valid
    now.format(&Rfc3339).unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// Now plus `d`, as RFC 3339 with milliseconds (a deadline on the wire).
pub fn rfc3339_after(d: std::time::Duration) -> String {
    let t = OffsetDateTime::now_utc() + d;
    let t = t.replace_millisecond(t.millisecond()).unwrap_or(t); // invariant: millisecond() is always valid
    t.format(&Rfc3339).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Whether an RFC 3339 deadline has passed; an unreadable one counts as passed.
pub fn is_past(deadline: &str) -> bool {
    parse_rfc3339(deadline).is_none_or(|t| t < OffsetDateTime::now_utc())
}

/// Seconds since the Unix epoch (what tokens and shares count expiry in).
pub fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Unix seconds as RFC 3339 (the wire format of every time); out-of-range values give the epoch.
pub fn unix_to_rfc3339(unix: u64) -> String {
    let t = i64::try_from(unix)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Parses an RFC 3339 timestamp written by [`now_rfc3339`].
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_seconds_format_as_rfc3339() {
        assert_eq!(unix_to_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(unix_to_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert!(
            (parse_rfc3339(&unix_to_rfc3339(now_unix())).unwrap() - OffsetDateTime::now_utc()).whole_seconds().abs()
                < 5
        );
    }

    #[test]
    fn now_parses_back() {
        let s = now_rfc3339();
        let t = parse_rfc3339(&s).expect(&s);
        assert!((OffsetDateTime::now_utc() - t).whole_seconds().abs() < 5);
    }
}
