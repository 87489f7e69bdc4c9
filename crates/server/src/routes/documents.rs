//! Read-only views of what the server holds for a document: its merged state and the history
//! of changes with their attribution.

use axum::Json;
use axum::extract::{Path, State};
use fieldnotes_model::{Document, hash_hex};
use serde::Serialize;

use super::{rfc3339, scope_of};
use crate::auth::AuthDevice;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /v1/documents/{id}`.
#[derive(Debug, Serialize)]
pub struct DocumentView {
    pub doc_id: String,
    pub kind: String,
    pub child_id: Option<String>,
    pub updated_at: String,
    /// Current heads (hex change hashes): two replicas with the same heads hold the same state.
    pub heads: Vec<String>,
    pub record: fieldnotes_model::Record,
    /// Fields where concurrent edits left competing values (the record shows the merge's pick).
    pub conflicts: Vec<fieldnotes_model::FieldConflict>,
}

/// The stored document, if the caller may read it. A document out of scope answers as if
/// it did not exist, so ids cannot be probed.
async fn readable(
    state: &AppState,
    auth: &AuthDevice,
    doc_id: &str,
) -> Result<fieldnotes_store::StoredDocument, ApiError> {
    let scope = scope_of(state, auth).await?;
    state
        .store
        .get_document(doc_id)
        .await?
        .filter(|d| scope.can_read(&d.scope_key))
        .ok_or_else(|| ApiError::NotFound {
            what: format!("document {doc_id} (or it is not in your scope)"),
        })
}

pub async fn show(
    State(state): State<AppState>,
    auth: AuthDevice,
    Path(doc_id): Path<String>,
) -> Result<Json<DocumentView>, ApiError> {
    let stored = readable(&state, &auth, &doc_id).await?;
    let mut document = Document::load(&doc_id, &stored.snapshot)
        .map_err(|e| ApiError::Internal(format!("stored document {doc_id} does not load: {e}")))?;
    let record = document
        .read()
        .map_err(|e| ApiError::Internal(format!("stored document {doc_id} does not read: {e}")))?;
    Ok(Json(DocumentView {
        heads: document.heads().iter().map(hash_hex).collect(),
        conflicts: document.conflicts(),
        record,
        doc_id,
        kind: stored.kind,
        child_id: stored.child_id,
        updated_at: rfc3339(stored.updated_at_ms),
    }))
}

/// One stored change of a document, with who wrote it and when.
#[derive(Debug, Serialize)]
pub struct ChangeView {
    pub hash: String,
    pub actor: String,
    pub device_id: String,
    /// When the server received it (its clock).
    pub received_at: String,
    /// The device's own clock when the change was made (informational, never used to order).
    pub device_time: String,
    pub size: usize,
}

/// `GET /v1/documents/{id}/changes`.
pub async fn changes(
    State(state): State<AppState>,
    auth: AuthDevice,
    Path(doc_id): Path<String>,
) -> Result<Json<Vec<ChangeView>>, ApiError> {
    readable(&state, &auth, &doc_id).await?;
    let changes = state.store.document_changes(&doc_id).await?;
    Ok(Json(
        changes
            .into_iter()
            .map(|c| ChangeView {
                size: c.bytes.len(),
                hash: c.hash,
                actor: c.actor,
                device_id: c.device_id,
                received_at: rfc3339(c.received_at_ms),
                device_time: rfc3339(c.device_time_ms),
            })
            .collect(),
    ))
}
