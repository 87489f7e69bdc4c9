//! HTTP routes. Each module owns one resource; [`extract`] holds the request extractors that
//! turn malformed input into readable [`ApiError`](crate::ApiError)s.

pub mod admin;
pub mod auth;
pub mod children;
pub mod documents;
pub mod extract;
pub mod health;
pub mod quarantine;
pub mod review;
pub mod sync;

use axum::Router;
use axum::routing::{get, post};
use fieldnotes_protocol::auth::{
    EXTERNAL_LOGIN_PATH, LOGIN_PATH, LOGOUT_PATH, ME_PATH, REFRESH_PATH, TEAM_PATH,
    TEAM_PEOPLE_PATH,
};
use fieldnotes_protocol::{HEALTH_PATH, QUARANTINE_PATH, READY_PATH, SYNC_PATH};

use crate::auth::AuthDevice;
use crate::clock;
use crate::error::{ApiError, ErrorCode};
use crate::scope::Scope;
use crate::state::AppState;

/// Every route the server answers: the single routes here, and the admin, children and
/// review routes from their modules. Only the health checks and sign-in work
/// without an access token; every other handler takes an authenticated device. The sign-in
/// handlers take a try from the per-address throttle first.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(HEALTH_PATH, get(health::live))
        .route(READY_PATH, get(health::ready))
        .route(LOGIN_PATH, post(auth::login))
        .route(EXTERNAL_LOGIN_PATH, post(auth::external))
        .route(REFRESH_PATH, post(auth::refresh))
        .route(LOGOUT_PATH, post(auth::logout))
        .route(ME_PATH, get(auth::me))
        .route(TEAM_PATH, get(auth::team))
        .route(TEAM_PEOPLE_PATH, get(auth::team_people))
        .route(SYNC_PATH, post(sync::sync))
        .route(QUARANTINE_PATH, get(quarantine::list))
        .route("/v1/quarantine/{id}/payload", get(quarantine::payload))
        .route("/v1/documents/{id}", get(documents::show))
        .route("/v1/documents/{id}/changes", get(documents::changes))
        .route("/v1/documents/{id}/history", get(documents::history))
        .route("/v1/documents/{id}/diff", get(documents::diff))
        .merge(admin::routes())
        .merge(children::routes())
        .merge(review::routes())
        .fallback(|| async {
            ApiError::NotFound {
                what: "this path (see the README for the endpoints)".into(),
            }
        })
}

/// An id the server accepts for a person, team, child or device: 1 to 100 letters, digits,
/// `-`, `_`, `.` or `@`.
pub(crate) fn check_id(field: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 100
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            ErrorCode::InvalidId,
            format!("{field} {value:?} must be 1 to 100 letters, digits, '-', '_', '.' or '@'"),
        ))
    }
}

/// A name shown to people: 1 to 200 characters, not blank.
pub(crate) fn check_name(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.chars().count() > 200 {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidName,
            format!("{field} must be 1 to 200 characters and not blank"),
        ));
    }
    Ok(())
}

/// Entries a listing answers with when the request names no `limit`.
pub(crate) const DEFAULT_LIST_LIMIT: u32 = 100;
/// Most entries one listing answers with.
pub(crate) const MAX_LIST_LIMIT: u32 = 1000;

/// A listing's `limit` parameter: [`DEFAULT_LIST_LIMIT`] when not given, refused outside 1 to
/// [`MAX_LIST_LIMIT`].
pub(crate) fn list_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if !(1..=MAX_LIST_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!("limit must be between 1 and {MAX_LIST_LIMIT}, got {limit}"),
        ));
    }
    Ok(limit)
}

/// Longest reason kept with a decision or an access grant.
pub(crate) const MAX_REASON_CHARS: usize = 1000;

/// Refuse a reason too long to keep (before anything is written).
pub(crate) fn check_reason_length(reason: &str) -> Result<(), ApiError> {
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::bad_request(
            ErrorCode::ReasonTooLong,
            format!(
                "a reason can be at most {MAX_REASON_CHARS} characters; say it in short and \
                 keep the detail in the record itself"
            ),
        ));
    }
    Ok(())
}

/// The caller's scope now.
pub(crate) async fn scope_of(state: &AppState, auth: &AuthDevice) -> Result<Scope, ApiError> {
    let now = clock::now();
    let now_ms = clock::millis(now);
    let grace = i64::try_from(state.policy.late_work.as_millis()).unwrap_or(i64::MAX);
    let facts = state
        .store
        .scope_facts(
            &auth.user,
            now_ms,
            &clock::date(now),
            now_ms.saturating_sub(grace),
        )
        .await?;
    Ok(Scope::from_facts(&facts, auth.role))
}
