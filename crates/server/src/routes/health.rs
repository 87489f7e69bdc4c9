//! Liveness and readiness probes: the only endpoints that will stay unauthenticated.

use axum::extract::State;
use axum::http::StatusCode;

use crate::error::ApiError;
use crate::state::AppState;

/// The process is up.
pub async fn live() -> &'static str {
    "ok"
}

/// The process can reach its database.
pub async fn ready(State(state): State<AppState>) -> Result<(StatusCode, &'static str), ApiError> {
    state.store.ping().await?;
    Ok((StatusCode::OK, "ready"))
}
