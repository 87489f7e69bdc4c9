//! `POST /v1/sync`: one round of push and pull.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use fieldnotes_protocol::{
    Cursor, DEFAULT_PAGE_BYTES, DocMeta, MAX_PAGE_BYTES, PROTOCOL_VERSION, PulledDoc, PushOutcome,
    PushResult, RejectCode, SyncRequest, SyncResponse,
};
use fieldnotes_store::{DocResult, FeedPosition, IncomingDoc, NewQuarantine, PushContext};

use super::extract::{DeviceId, RawBody};
use super::now_ms;
use crate::error::ApiError;
use crate::merge::ModelMerger;
use crate::state::AppState;

/// Handle one sync round: store the push (committed before anything is acknowledged), then
/// answer with the page of the feed the device is missing.
pub async fn sync(
    State(state): State<AppState>,
    DeviceId(device_id): DeviceId,
    RawBody(body): RawBody,
) -> Result<Json<SyncResponse>, ApiError> {
    let received_at_ms = now_ms();
    // serde_path_to_error names the field at fault ("push[3].changes[0]: ...").
    let mut json = serde_json::Deserializer::from_slice(&body);
    let request: SyncRequest = match serde_path_to_error::deserialize(&mut json) {
        Ok(request) => request,
        Err(e) => {
            // Nothing sent is dropped silently: keep the unreadable body for review.
            let reason =
                format!("the sync request is not valid JSON for protocol {PROTOCOL_VERSION}: {e}");
            let id = state
                .store
                .quarantine(NewQuarantine {
                    device_id: Some(device_id),
                    doc_id: None,
                    code: "malformed_request".into(),
                    reason: reason.clone(),
                    payload: body.to_vec(),
                    received_at_ms,
                })
                .await?;
            return Err(ApiError::BadRequest {
                code: "malformed_request",
                message: format!("{reason}; the body was kept in quarantine as entry {id}"),
                details: Some(serde_json::json!({ "quarantine_id": id })),
            });
        }
    };
    if request.protocol != PROTOCOL_VERSION {
        return Err(ApiError::bad_request(
            "unsupported_protocol",
            format!(
                "this server speaks sync protocol {PROTOCOL_VERSION}, the request is protocol {}; \
                 update the app",
                request.protocol
            ),
        ));
    }
    let after = request.cursor.as_ref().map(decode_cursor).transpose()?;

    let (docs, order) = group_push(request.push);
    let results = if docs.is_empty() {
        Vec::new()
    } else {
        let ctx = PushContext {
            device_id: device_id.clone(),
            received_at_ms,
        };
        let merger = ModelMerger {
            max_doc_push_bytes: state.limits.max_doc_push_bytes,
        };
        state.store.push(&ctx, docs, &merger).await?
    };
    let results = order
        .into_iter()
        .zip(results)
        .map(|(doc_id, r)| to_push_result(doc_id, r))
        .collect();

    let page_bytes = request
        .max_page_bytes
        .unwrap_or(DEFAULT_PAGE_BYTES)
        .clamp(1, MAX_PAGE_BYTES);
    let page = state.store.pull(&device_id, after, page_bytes).await?;
    let mut pull: Vec<PulledDoc> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for change in page.changes {
        let slot = *index.entry(change.doc_id.clone()).or_insert_with(|| {
            pull.push(PulledDoc {
                doc_id: change.doc_id.clone(),
                changes: Vec::new(),
                meta: Some(DocMeta {
                    kind: change.kind.clone(),
                    child_id: change.child_id.clone(),
                    summary: change.summary.clone(),
                }),
            });
            pull.len() - 1
        });
        pull[slot].changes.push(change.bytes.into());
    }

    Ok(Json(SyncResponse {
        protocol: PROTOCOL_VERSION,
        results,
        pull,
        cursor: encode_cursor(page.next),
        more: page.more,
    }))
}

/// Merge entries that name the same document, keeping first-appearance order.
fn group_push(push: Vec<fieldnotes_protocol::PushDoc>) -> (Vec<IncomingDoc>, Vec<String>) {
    let mut docs: Vec<IncomingDoc> = Vec::with_capacity(push.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(push.len());
    for entry in push {
        let changes = entry.changes.into_iter().map(|c| c.into_inner());
        match index.get(&entry.doc_id) {
            Some(&i) => docs[i].changes.extend(changes),
            None => {
                index.insert(entry.doc_id.clone(), docs.len());
                docs.push(IncomingDoc {
                    doc_id: entry.doc_id,
                    changes: changes.collect(),
                });
            }
        }
    }
    let order = docs.iter().map(|d| d.doc_id.clone()).collect();
    (docs, order)
}

fn to_push_result(doc_id: String, result: DocResult) -> PushResult {
    let outcome = match result {
        DocResult::Accepted { hashes } => PushOutcome::Accepted { hashes },
        DocResult::Rejected {
            code,
            reason,
            quarantine_id,
        } => PushOutcome::Rejected {
            code: reject_code(&code),
            reason,
            quarantine_id: Some(quarantine_id),
        },
        DocResult::Deferred { reason, missing } => PushOutcome::Deferred { reason, missing },
    };
    PushResult { doc_id, outcome }
}

fn reject_code(code: &str) -> RejectCode {
    match code {
        "malformed_change" => RejectCode::MalformedChange,
        "invalid_document_id" => RejectCode::InvalidDocumentId,
        "too_large" => RejectCode::TooLarge,
        _ => RejectCode::InvalidDocument,
    }
}

const CURSOR_PREFIX: &str = "1.";

/// Cursors are `1.<seq>`: opaque to clients, versioned so the format can change.
pub fn encode_cursor(position: FeedPosition) -> Cursor {
    Cursor(format!("{CURSOR_PREFIX}{}", position.seq))
}

pub fn decode_cursor(cursor: &Cursor) -> Result<FeedPosition, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_cursor",
            format!(
                "cursor {:?} was not issued by this server; sync again without a cursor to \
                 start from the beginning",
                cursor.0
            ),
        )
    };
    let rest = cursor.0.strip_prefix(CURSOR_PREFIX).ok_or_else(invalid)?;
    let seq: i64 = rest.parse().map_err(|_| invalid())?;
    if seq < 0 {
        return Err(invalid());
    }
    Ok(FeedPosition { seq })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let pos = FeedPosition { seq: 9_000_000_042 };
        assert_eq!(decode_cursor(&encode_cursor(pos)).unwrap(), pos);
    }

    #[test]
    fn foreign_cursors_are_refused_with_a_way_out() {
        for bad in ["", "1.", "1.x", "2.1", "1.-3", "1.1.1", "1.+"] {
            let err = decode_cursor(&Cursor(bad.into())).unwrap_err().to_string();
            assert!(err.contains("without a cursor"), "{bad}: {err}");
        }
    }
}
