//! An instant as the server keeps it (milliseconds since the Unix epoch) and shows it (RFC 3339
//! text in UTC).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Milliseconds since the Unix epoch. On the wire it is RFC 3339 text in UTC
/// (`2026-06-14T23:59:59.5Z`); an instant outside the calendar (years 0 to 9999 and so on) is
/// written as the number itself, `{ms}ms`, rather than failing a listing. Both forms read back.
/// Stored as BIGINT (the `sqlx` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

/// Text that is neither RFC 3339 nor `{ms}ms`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a time: expected RFC 3339 text such as 2026-06-14T09:30:00Z")]
pub struct TimestampError {
    pub value: String,
}

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub const fn ms(self) -> i64 {
        self.0
    }
}

impl From<i64> for Timestamp {
    fn from(ms: i64) -> Self {
        Timestamp(ms)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        match OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
        {
            Some(text) => f.write_str(&text),
            None => write!(f, "{ms}ms"),
        }
    }
}

impl FromStr for Timestamp {
    type Err = TimestampError;

    fn from_str(text: &str) -> Result<Self, TimestampError> {
        let bad = || TimestampError {
            value: text.to_owned(),
        };
        if let Some(number) = text.strip_suffix("ms") {
            return number.parse().map(Timestamp).map_err(|_| bad());
        }
        let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| bad())?;
        i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000))
            .map(Timestamp)
            .map_err(|_| bad())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
