//! The server's clock, in the forms the server uses: milliseconds since the Unix epoch (what
//! the store keeps), RFC 3339 text (what answers show) and the date (what referrals use).

use fieldnotes_protocol::admin::Timestamp;
use time::OffsetDateTime;

/// The server's clock now (UTC).
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Milliseconds since the Unix epoch, from the server's clock.
pub(crate) fn now_ms() -> i64 {
    millis(now())
}

/// `at` as milliseconds since the Unix epoch (saturating far outside the years 0 to 9999).
pub(crate) fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub(crate) fn today() -> String {
    date(now())
}

/// The date of `at`, `YYYY-MM-DD`.
pub(crate) fn date(at: OffsetDateTime) -> String {
    at.date().to_string()
}

/// Milliseconds since the epoch as RFC 3339 UTC text; an out-of-range value is shown as the
/// number itself rather than failing a listing.
pub(crate) fn rfc3339(ms: i64) -> String {
    Timestamp(ms).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_is_the_calendar_date_in_utc() {
        let at = OffsetDateTime::from_unix_timestamp(1_781_481_599).unwrap();
        assert_eq!(date(at), "2026-06-14");
        assert_eq!(rfc3339(millis(at)), "2026-06-14T23:59:59Z");
        assert_eq!(date(at + time::Duration::SECOND), "2026-06-15");
    }

    #[test]
    fn an_instant_outside_the_calendar_is_shown_as_a_number() {
        assert_eq!(rfc3339(i64::MAX), format!("{}ms", i64::MAX));
    }
}
