//! The server's one error type and its one mapping to HTTP responses.
//!
//! Every error becomes JSON `{code, message, details}`. Client errors say what to change;
//! server errors are logged in full and answered with a generic message, never the detail.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use fieldnotes_protocol::ErrorBody;
use fieldnotes_store::StoreError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request cannot be used as sent; `code` is stable, `message` says what to fix.
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        details: Option<serde_json::Value>,
    },
    #[error("the request body is larger than the {limit} bytes this server accepts")]
    PayloadTooLarge { limit: usize },
    #[error("{what} was not found")]
    NotFound { what: String },
    /// No valid credentials: sign in (again), or refresh the access token (`token_expired`).
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// Signed in, but not allowed; `device_revoked` tells a device to wipe itself.
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// Too many tries (sign-in throttling): answered 429 with `Retry-After`.
    #[error("{message}")]
    TooManyRequests {
        code: &'static str,
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
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// Not allowed, with the reason.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::Forbidden {
            code: "forbidden",
            message: message.into(),
        }
    }

    /// The device was revoked: it must wipe its local store.
    pub fn device_revoked() -> Self {
        ApiError::Forbidden {
            code: "device_revoked",
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
        let body = match self {
            ApiError::BadRequest {
                code,
                message,
                details,
            } => ErrorBody {
                code: code.into(),
                message,
                details,
            },
            ApiError::PayloadTooLarge { limit } => ErrorBody {
                code: "payload_too_large".into(),
                message: format!(
                    "the request body is larger than the {limit} bytes this server accepts; \
                     send the changes in smaller batches"
                ),
                details: Some(serde_json::json!({ "limit_bytes": limit })),
            },
            ApiError::NotFound { what } => ErrorBody {
                code: "not_found".into(),
                message: format!("{what} was not found"),
                details: None,
            },
            ApiError::Unauthorized { code, message } => {
                let body = ErrorBody {
                    code: code.into(),
                    message,
                    details: None,
                };
                return (
                    status,
                    [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::Forbidden { code, message } => ErrorBody {
                code: code.into(),
                message,
                details: None,
            },
            ApiError::TooManyRequests {
                code,
                message,
                retry_after_secs,
            } => {
                let body = ErrorBody {
                    code: code.into(),
                    message,
                    details: Some(serde_json::json!({ "retry_after_secs": retry_after_secs })),
                };
                return (
                    status,
                    [(
                        axum::http::header::RETRY_AFTER,
                        retry_after_secs.to_string(),
                    )],
                    Json(body),
                )
                    .into_response();
            }
            ApiError::Store(StoreError::QuarantineFull { entries, bytes }) => ErrorBody {
                code: "quarantine_full".into(),
                message: format!(
                    "{}; ask your admin to review the quarantine, then send this again",
                    StoreError::QuarantineFull { entries, bytes }
                ),
                details: Some(serde_json::json!({ "entries": entries, "bytes": bytes })),
            },
            ApiError::Store(StoreError::NotFound { what }) => ErrorBody {
                code: "not_found".into(),
                message: format!("{what} was not found"),
                details: None,
            },
            ApiError::Store(StoreError::Conflict(message)) => ErrorBody {
                code: "conflict".into(),
                message,
                details: None,
            },
            ApiError::Store(e) => return storage_failure_response(status, &e),
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error");
                ErrorBody {
                    code: "internal".into(),
                    message: "the server failed; nothing in this request was acknowledged".into(),
                    details: None,
                }
            }
        };
        (status, Json(body)).into_response()
    }
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
        code: "storage_unavailable".into(),
        message: format!(
            "{}, so it could not store this request; nothing in it was acknowledged, so it is \
             safe to send again once the server's storage is fixed",
            failure.describe()
        ),
        details: Some(serde_json::json!({ "reason": failure.as_str() })),
    };
    let mut response = (
        status,
        [(axum::http::header::RETRY_AFTER, "30")],
        Json(body),
    )
        .into_response();
    response
        .extensions_mut()
        .insert(crate::routes::health::StorageFailed(failure));
    response
}
