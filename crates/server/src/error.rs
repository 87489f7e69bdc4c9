//! The server's one error type and its one mapping to HTTP responses.
//!
//! Every error becomes JSON `{code, message, details}`. Client errors say what to change;
//! server errors are logged in full and answered with a generic message, never the detail.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fieldnotes_protocol::ErrorBody;
pub use fieldnotes_protocol::ErrorCode;
use fieldnotes_store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request cannot be used as sent; `code` is stable, `message` says what to fix.
    #[error("{message}")]
    BadRequest {
        code: ErrorCode,
        message: String,
        details: Option<serde_json::Value>,
    },
    #[error("the request body is larger than the {limit} bytes this server accepts")]
    PayloadTooLarge { limit: usize },
    #[error("{what} was not found")]
    NotFound { what: String },
    /// No valid credentials: sign in (again), or refresh the access token (`token_expired`).
    #[error("{message}")]
    Unauthorized { code: ErrorCode, message: String },
    /// Signed in, but not allowed; `device_revoked` tells a device to wipe itself.
    #[error("{message}")]
    Forbidden { code: ErrorCode, message: String },
    /// Too many tries (sign-in throttling): answered 429 with `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        code: ErrorCode,
        message: String,
        retry_after_secs: u64,
    },
    /// The database failed: nothing from the request was acknowledged.
    #[error("storage error: {0}")]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Not allowed, with the reason.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code: ErrorCode::Forbidden,
            message: message.into(),
        }
    }

    /// The device was revoked: it must wipe its local store.
    pub fn device_revoked() -> Self {
        ApiError::Forbidden {
            code: ErrorCode::DeviceRevoked,
            message:
                "this device has been revoked by an administrator; it must remove the data it holds"
                    .to_owned(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(StoreError::NotFound { .. }) => StatusCode::NOT_FOUND,
            ApiError::Store(StoreError::QuarantineFull { .. }) => StatusCode::CONFLICT,
            ApiError::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (body, header) = match self {
            ApiError::BadRequest {
                code,
                message,
                details,
            } => (body(code, message, details), None),
            ApiError::PayloadTooLarge { limit } => (payload_too_large(limit), None),
            ApiError::NotFound { what } | ApiError::Store(StoreError::NotFound { what }) => (
                body(ErrorCode::NotFound, format!("{what} was not found"), None),
                None,
            ),
            ApiError::Unauthorized { code, message } => (
                body(code, message, None),
                Some((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))),
            ),
            ApiError::Forbidden { code, message } => (body(code, message, None), None),
            ApiError::TooManyRequests {
                code,
                message,
                retry_after_secs,
            } => (
                body(
                    code,
                    message,
                    Some(serde_json::json!({ "retry_after_secs": retry_after_secs })),
                ),
                Some((header::RETRY_AFTER, HeaderValue::from(retry_after_secs))),
            ),
            ApiError::Store(StoreError::QuarantineFull { entries, bytes }) => {
                (quarantine_full(entries, bytes), None)
            }
            ApiError::Store(StoreError::Conflict(message)) => {
                (body(ErrorCode::Conflict, message, None), None)
            }
            ApiError::Store(e) => return storage_failure_response(status, &e),
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                let message = "the server failed; nothing in this request was acknowledged";
                (body(ErrorCode::Internal, message.into(), None), None)
            }
        };
        let mut response = (status, Json(body)).into_response();
        if let Some((name, value)) = header {
            response.headers_mut().insert(name, value);
        }
        response
    }
}

fn body(code: ErrorCode, message: String, details: Option<serde_json::Value>) -> ErrorBody {
    ErrorBody {
        code: code.as_str().to_owned(),
        message,
        details,
    }
}

fn payload_too_large(limit: usize) -> ErrorBody {
    body(
        ErrorCode::PayloadTooLarge,
        format!(
            "the request body is larger than the {limit} bytes this server accepts; send the \
             changes in smaller batches"
        ),
        Some(serde_json::json!({ "limit_bytes": limit })),
    )
}

fn quarantine_full(entries: u64, bytes: u64) -> ErrorBody {
    body(
        ErrorCode::QuarantineFull,
        format!(
            "{}; ask your admin to review the quarantine, then send this again",
            StoreError::QuarantineFull { entries, bytes }
        ),
        Some(serde_json::json!({ "entries": entries, "bytes": bytes })),
    )
}

/// The answer to a request the server's storage failed: 503 `storage_unavailable`, saying what
/// failed (full, read-only, I/O, damaged, not answering) in words and in `details.reason`, and
/// that nothing was acknowledged. The response is marked so `/readyz` reports it.
fn storage_failure_response(status: StatusCode, e: &StoreError) -> Response {
    let failure = e
        .storage_failure()
        .unwrap_or(fieldnotes_store::StorageFailure::Unavailable);
    tracing::error!(error = %e, reason = failure.as_str(), "storage failure");
    let body = ErrorBody {
        code: ErrorCode::StorageUnavailable.as_str().to_owned(),
        message: format!(
            "{}, so it could not store this request; nothing in it was acknowledged, so it is \
             safe to send again once the server's storage is fixed",
            failure.describe()
        ),
        details: Some(serde_json::json!({ "reason": failure.as_str() })),
    };
    let mut response = (status, [(header::RETRY_AFTER, "30")], Json(body)).into_response();
    response
        .extensions_mut()
        .insert(crate::routes::health::StorageFailed(failure));
    response
}
