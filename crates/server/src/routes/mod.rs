//! HTTP routes. Each module owns one resource; [`extract`] holds the request extractors that
//! turn malformed input into readable [`ApiError`](crate::ApiError)s.

pub mod documents;
pub mod extract;
pub mod health;
pub mod quarantine;
pub mod sync;

use axum::Router;
use axum::routing::{get, post};
use fieldnotes_protocol::{HEALTH_PATH, QUARANTINE_PATH, READY_PATH, SYNC_PATH};

use crate::error::ApiError;
use crate::state::AppState;

/// Every route the server answers.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(HEALTH_PATH, get(health::live))
        .route(READY_PATH, get(health::ready))
        .route(SYNC_PATH, post(sync::sync))
        .route(QUARANTINE_PATH, get(quarantine::list))
        .route("/v1/quarantine/{id}/payload", get(quarantine::payload))
        .route("/v1/documents/{id}", get(documents::show))
        .route("/v1/documents/{id}/changes", get(documents::changes))
        .fallback(|| async {
            ApiError::NotFound {
                what: "this path (see the README for the endpoints)".into(),
            }
        })
}

/// Milliseconds since the Unix epoch, from the server's clock.
pub(crate) fn now_ms() -> i64 {
    let now = time::OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Milliseconds since the epoch as RFC 3339 UTC text; an out-of-range value is shown as the
/// number itself rather than failing a listing.
pub(crate) fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("{ms}ms"))
}
