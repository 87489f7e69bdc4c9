//! Read-only views of what the server holds for a document: its merged state and the history
//! of changes with their attribution.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use fieldnotes_model::{DiffSpan, Document, hash_hex, parse_hash, text_diff};
use fieldnotes_protocol::DocKind;
use fieldnotes_protocol::review::{DiffQuery, DiffSpanView, VersionView};
use fieldnotes_store::StoredDocument;
use serde::Serialize;

use super::extract::{ApiQuery, PathResource, Reached};
use super::scope_of;
use crate::auth::AuthDevice;
use crate::clock::rfc3339;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// `GET /v1/documents/{id}`.
#[derive(Debug, Serialize)]
pub struct DocumentView {
    pub doc_id: String,
    pub kind: DocKind,
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
impl PathResource for StoredDocument {
    type Id = String;

    async fn reach(state: &AppState, auth: &AuthDevice, doc_id: String) -> Result<Self, ApiError> {
        let scope = scope_of(state, auth).await?;
        state
            .store
            .get_document(&doc_id)
            .await?
            .filter(|d| scope.can_read(&d.scope_key))
            .ok_or_else(|| ApiError::NotFound {
                what: format!("document {doc_id} (or it is not in your scope)"),
            })
    }
}

/// The stored document as the model reads it.
fn load(stored: &StoredDocument) -> Result<Document, ApiError> {
    Document::load(&stored.doc_id, &stored.snapshot).map_err(|e| {
        ApiError::Internal(format!(
            "stored document {} does not load: {e}",
            stored.doc_id
        ))
    })
}

pub async fn show(
    Reached(_, stored): Reached<StoredDocument>,
) -> Result<Json<DocumentView>, ApiError> {
    let mut document = load(&stored)?;
    let doc_id = stored.doc_id;
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
    Reached(_, stored): Reached<StoredDocument>,
) -> Result<Json<Vec<ChangeView>>, ApiError> {
    let changes = state.store.document_changes(&stored.doc_id).await?;
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

/// `GET /v1/documents/{id}/history`: every version, oldest first, with who made it, on which
/// device, when (the server's receive time and the device's own time), the fields it changed,
/// and an amendment's reason.
pub async fn history(
    State(state): State<AppState>,
    Reached(_, stored): Reached<StoredDocument>,
) -> Result<Json<Vec<VersionView>>, ApiError> {
    let mut document = load(&stored)?;
    let changes = state.store.document_changes(&stored.doc_id).await?;
    let received: HashMap<&str, (&str, i64)> = changes
        .iter()
        .map(|c| (c.hash.as_str(), (c.device_id.as_str(), c.received_at_ms)))
        .collect();
    // Per actor: the person's id and name, and the device's name.
    let mut users: HashMap<String, Option<(String, Option<String>, String)>> = HashMap::new();
    let mut out = Vec::new();
    for version in document.history() {
        let hash = hash_hex(&version.hash);
        let (device_id, received_at) = match received.get(hash.as_str()) {
            Some((device, at)) => (Some((*device).to_owned()), Some(rfc3339(*at))),
            None => (None, None),
        };
        if !users.contains_key(&version.actor) {
            let known = match state.store.device_by_actor(&version.actor).await? {
                Some(device) => {
                    let person = state.store.get_user(&device.user_id).await?;
                    let name = person.map(|p| p.info.display_name);
                    Some((device.user_id, name, device.name))
                }
                None => None,
            };
            users.insert(version.actor.clone(), known);
        }
        let who = users.get(&version.actor).cloned().flatten();
        out.push(VersionView {
            change: hash,
            user_id: who.as_ref().map(|(id, _, _)| id.clone()),
            user_name: who.as_ref().and_then(|(_, name, _)| name.clone()),
            device_name: who.map(|(_, _, device)| device),
            actor: version.actor,
            device_id,
            received_at,
            device_time: rfc3339(version.device_time_ms),
            changed: version.changed,
            amendment: version.amendment,
        });
    }
    Ok(Json(out))
}

/// `GET /v1/documents/{id}/diff?from=HASH&to=HASH&field=body`: a word-level diff of one field
/// between two versions.
pub async fn diff(
    Reached(_, stored): Reached<StoredDocument>,
    ApiQuery(q): ApiQuery<DiffQuery>,
) -> Result<Json<Vec<DiffSpanView>>, ApiError> {
    let document = load(&stored)?;
    let field = q.field.as_deref().unwrap_or("body");
    let text_at = |version: &str| -> Result<String, ApiError> {
        let hash = parse_hash(version).map_err(|e| {
            ApiError::bad_request(
                ErrorCode::InvalidVersion,
                format!("{e}; take one from the history"),
            )
        })?;
        document.field_text_at(&[hash], field).map_err(|e| {
            ApiError::bad_request(
                ErrorCode::InvalidVersion,
                format!("cannot read {field} at version {version}: {e}"),
            )
        })
    };
    let (old, new) = (text_at(&q.from)?, text_at(&q.to)?);
    Ok(Json(
        text_diff(&old, &new)
            .into_iter()
            .map(|span| match span {
                DiffSpan::Same(t) => DiffSpanView::Same(t),
                DiffSpan::Added(t) => DiffSpanView::Added(t),
                DiffSpan::Removed(t) => DiffSpanView::Removed(t),
            })
            .collect(),
    ))
}
