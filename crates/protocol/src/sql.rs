//! Listings the server's store reads straight from its rows (the `sqlx` feature): the parts of
//! a record it keeps as JSON text.

use serde::de::DeserializeOwned;

/// A TEXT column holding JSON (NULL reads as JSON `null`), on its way into the field it encodes:
/// `#[sqlx(try_from = "JsonText")]`.
#[derive(Debug, sqlx::Type)]
#[sqlx(transparent)]
pub struct JsonText(Option<String>);

impl JsonText {
    fn parse<T: DeserializeOwned>(self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.as_deref().unwrap_or("null"))
    }
}

/// `TryFrom<JsonText>` for the fields kept as JSON (the orphan rule forbids one blanket impl).
macro_rules! read_as_json {
    ($($t:ty),+) => {$(
        impl TryFrom<JsonText> for $t {
            type Error = serde_json::Error;
            fn try_from(text: JsonText) -> Result<Self, serde_json::Error> { text.parse() }
        }
    )+};
}

read_as_json!(
    serde_json::Value,
    Vec<String>,
    Vec<crate::review::Side>,
    Option<crate::review::Decision>
);
