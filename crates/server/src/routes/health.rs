//! Liveness and readiness probes: the only endpoints that will stay unauthenticated.
//!
//! Readiness means the server can do its job: store what devices send. `/readyz` commits one
//! small write (`Store::probe_write`), so a full disk, a read-only database or a replica in
//! recovery answers 503 `storage_unavailable` with the reason. A write probe can still pass
//! while larger writes fail (SQLite reuses space in its write-ahead log), so a storage failure
//! met by any request is remembered for [`FAILURE_WINDOW`] and reported too, until a sync
//! round commits again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use fieldnotes_protocol::{ErrorBody, ErrorCode, SYNC_PATH};
use fieldnotes_store::StorageFailure;

use crate::state::AppState;

/// How long a storage failure met by a request keeps the server not ready (unless a sync round
/// commits first).
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Marks a response whose request failed on the server's storage (set by `ApiError`).
#[derive(Debug, Clone, Copy)]
pub struct StorageFailed(pub StorageFailure);

/// The last storage failure a request met, shared by the handlers of one server.
#[derive(Debug, Default)]
pub struct StorageHealth {
    last: Mutex<Option<(StorageFailure, Instant)>>,
}

impl StorageHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(StorageFailure, Instant)>> {
        self.last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn record(&self, failure: StorageFailure) {
        *self.lock() = Some((failure, Instant::now()));
    }

    pub fn clear(&self) {
        *self.lock() = None;
    }

    /// The failure met within [`FAILURE_WINDOW`], with how long ago.
    pub fn recent(&self) -> Option<(StorageFailure, Duration)> {
        let last = *self.lock();
        last.map(|(f, at)| (f, at.elapsed()))
            .filter(|(_, age)| *age < FAILURE_WINDOW)
    }
}

/// Middleware: remember storage failures answered to any request; a committed sync round
/// (every round writes) shows storage works again.
pub async fn watch_storage(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let is_sync = request.method() == Method::POST && request.uri().path() == SYNC_PATH;
    let response = next.run(request).await;
    if let Some(StorageFailed(failure)) = response.extensions().get::<StorageFailed>() {
        state.storage.record(*failure);
    } else if is_sync && response.status().is_success() {
        state.storage.clear();
    }
    response
}

/// The process is up.
pub async fn live() -> &'static str {
    "ok"
}

/// The process can read and write its database.
pub async fn ready(State(state): State<AppState>) -> Response {
    if let Err(e) = state.store.probe_write(crate::clock::now_ms()).await {
        let failure = e.storage_failure().unwrap_or(StorageFailure::Unavailable);
        tracing::error!(error = %e, reason = failure.as_str(), "readiness: the database takes no writes");
        state.storage.record(failure);
        return not_ready(failure, "a test write failed just now".to_owned());
    }
    if let Some((failure, age)) = state.storage.recent() {
        return not_ready(failure, format!("a write failed {} s ago", age.as_secs()));
    }
    (StatusCode::OK, "ready").into_response()
}

fn not_ready(failure: StorageFailure, when: String) -> Response {
    let body = ErrorBody {
        code: ErrorCode::StorageUnavailable.as_str().to_owned(),
        message: format!(
            "not ready: {} ({when}); devices keep their work until it can be stored",
            failure.describe()
        ),
        details: Some(serde_json::json!({ "reason": failure.as_str() })),
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}
