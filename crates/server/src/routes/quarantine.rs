//! Listing what the server refused to apply (admins only). Refused input is kept, never
//! dropped.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use fieldnotes_protocol::admin::QuarantineQuery;
use fieldnotes_protocol::{QuarantineItem, QuarantineList};

use super::extract::ApiQuery;
use super::list_limit;
use crate::auth::AdminDevice;
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// `GET /v1/quarantine?after=ID&limit=N`: refused input, oldest first.
pub async fn list(
    State(state): State<AppState>,
    AdminDevice(_): AdminDevice,
    ApiQuery(params): ApiQuery<QuarantineQuery>,
) -> Result<Json<QuarantineList>, ApiError> {
    let limit = list_limit(params.limit)?;
    let records = state.store.list_quarantine(params.after, limit).await?;
    let items = records
        .into_iter()
        .map(|r| QuarantineItem {
            id: r.id,
            device_id: r.device_id,
            doc_id: r.doc_id,
            code: r.code.to_string(),
            reason: r.reason,
            received_at: rfc3339(r.received_at_ms),
            size: r.size,
        })
        .collect();
    Ok(Json(QuarantineList { items }))
}

/// `GET /v1/quarantine/{id}/payload`: the exact bytes that were refused.
pub async fn payload(
    State(state): State<AppState>,
    AdminDevice(_): AdminDevice,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(
            ErrorCode::InvalidId,
            format!("quarantine id must be a number, got {id:?}"),
        )
    })?;
    let bytes = state.store.quarantine_payload(id).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes))
}
