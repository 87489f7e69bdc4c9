//! `POST /v1/sync`: one round of push and pull.
//!
//! The round: work out the person's scope; store the push, each document checked for who may
//! write it (committed before anything is acknowledged); then answer with what the device is
//! missing: first the whole history of scope keys new to it (a child just allocated), then the
//! feed after its cursor, and the keys it must remove (an allocation that ended).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fieldnotes_protocol::{
    Cursor, DEFAULT_PAGE_BYTES, DocMeta, MAX_PAGE_BYTES, PROTOCOL_VERSION, PulledDoc, PushDoc,
    PushOutcome, PushResult, RejectCode, SyncResponse,
};
use fieldnotes_store::directory::NewAudit;
use fieldnotes_store::{
    BackfillPosition, DocResult, FeedPosition, IncomingDoc, NewQuarantine, PullRequest, PushContext,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::extract::RawBody;
use super::{now_ms, scope_of};
use crate::auth::AuthDevice;
use crate::error::ApiError;
use crate::merge::{ModelMerger, Writer};
use crate::scope::delta;
use crate::state::AppState;

/// [`fieldnotes_protocol::SyncRequest`] as the server reads it: each push entry is parsed on
/// its own, so one unreadable entry is refused (and quarantined) without sinking the others.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRequest<'a> {
    protocol: u32,
    #[serde(default)]
    cursor: Option<Cursor>,
    #[serde(default, borrow)]
    push: Vec<&'a RawValue>,
    #[serde(default)]
    max_page_bytes: Option<u64>,
    #[serde(default)]
    scopes: Vec<String>,
}

/// Handle one sync round.
pub async fn sync(
    State(state): State<AppState>,
    auth: AuthDevice,
    RawBody(body): RawBody,
) -> Result<Json<SyncResponse>, ApiError> {
    let received_at_ms = now_ms();
    let device_id = auth.device_id().to_owned();
    // serde_path_to_error names the field at fault ("push[3].changes[0]: ...").
    let mut json = serde_json::Deserializer::from_slice(&body);
    let request: WireRequest<'_> = match serde_path_to_error::deserialize(&mut json) {
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
    let position = request.cursor.as_ref().map(decode_cursor).transpose()?;
    let scope = scope_of(&state, &auth).await?;

    // Push.
    let (docs, slots) = read_push(&state, &device_id, &request.push, received_at_ms).await?;
    let stored = if docs.is_empty() {
        Vec::new()
    } else {
        let merger = ModelMerger {
            max_doc_push_bytes: state.limits.max_doc_push_bytes,
            writer: Writer {
                user_id: auth.user_id(),
                role: auth.role,
                device_id: &device_id,
                actor: &auth.device.actor_id,
                scope: &scope,
                received_at_ms,
            },
        };
        let ctx = PushContext {
            device_id: device_id.clone(),
            received_at_ms,
        };
        state.store.push(&ctx, docs, &merger).await?
    };
    let mut stored = stored.into_iter();
    let mut results = Vec::with_capacity(slots.len());
    let mut access = AccessLog::default();
    for slot in slots {
        match slot {
            Slot::Stored(doc_id) => {
                let result = stored.next().ok_or_else(|| {
                    ApiError::Internal("the store answered for fewer documents".into())
                })?;
                access.pushed(&doc_id, &result);
                results.push(to_push_result(doc_id, result));
            }
            Slot::Refused(result) => results.push(result),
        }
    }

    // Pull.
    let scope_delta = delta(&scope, &request.scopes);
    let page_bytes = request
        .max_page_bytes
        .unwrap_or(DEFAULT_PAGE_BYTES)
        .clamp(1, MAX_PAGE_BYTES);
    let (after, backfill_from) = match position {
        Some(p) => (Some(p.feed), p.backfill),
        None => (None, None),
    };
    let page = state
        .store
        .pull(&PullRequest {
            device_id: device_id.clone(),
            after,
            max_bytes: page_bytes,
            scope: scope.filter(),
            backfill: scope_delta.backfill,
            backfill_from,
        })
        .await?;
    let mut pull: Vec<PulledDoc> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for change in &page.changes {
        access.pulled(change);
    }
    for change in page.changes {
        let slot = *index.entry(change.doc_id.clone()).or_insert_with(|| {
            pull.push(PulledDoc {
                doc_id: change.doc_id.clone(),
                changes: Vec::new(),
                meta: Some(DocMeta {
                    kind: change.kind.clone(),
                    child_id: change.child_id.clone(),
                    summary: change.summary.clone(),
                    scope: change.scope_key.clone(),
                }),
            });
            pull.len() - 1
        });
        pull[slot].changes.push(change.bytes.into());
    }
    // Removing every document first: the device refills from what it then lists.
    let more = page.more
        || scope_delta
            .remove
            .iter()
            .any(|k| k == fieldnotes_protocol::SCOPE_ALL);
    state
        .store
        .record_sync(&device_id, &access.entries(), &auth.actor(received_at_ms))
        .await?;

    Ok(Json(SyncResponse {
        protocol: PROTOCOL_VERSION,
        results,
        pull,
        cursor: encode_cursor(&Position {
            feed: page.next,
            backfill: page.backfill_at,
        }),
        more,
        scopes_complete: page.completed,
        remove_scopes: scope_delta.remove,
    }))
}

/// Who pushed and pulled which child's records in this round, for the audit log: one entry
/// per action and child, naming the documents. Record events (`complete`, `sign_off`, `amend`,
/// `delete_record`, reported by the merge step) on a record not about a child are logged by
/// the record; refusals by their code, since a refused record's child may be unreadable.
#[derive(Debug, Default)]
struct AccessLog {
    entries: BTreeMap<(String, Subject), (BTreeSet<String>, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Subject {
    Child(String),
    Record(String),
    Refused(String),
}

impl AccessLog {
    fn pushed(&mut self, doc_id: &str, result: &DocResult) {
        match result {
            DocResult::Accepted {
                child_id,
                new_changes,
                events,
                ..
            } => {
                let subject = match child_id {
                    Some(child) => Subject::Child(child.clone()),
                    None => Subject::Record(doc_id.to_owned()),
                };
                for event in events {
                    self.add(event, subject.clone(), doc_id, 0);
                }
                if *new_changes > 0 && child_id.is_some() {
                    self.add("push", subject, doc_id, *new_changes);
                }
            }
            DocResult::Rejected { code, .. } | DocResult::NotKept { code, .. } => {
                self.add("push_refused", Subject::Refused(code.clone()), doc_id, 0);
            }
            DocResult::Deferred { .. } => {}
        }
    }

    fn pulled(&mut self, change: &fieldnotes_store::FeedChange) {
        if let Some(child) = &change.child_id {
            self.add("pull", Subject::Child(child.clone()), &change.doc_id, 1);
        }
    }

    fn add(&mut self, action: &str, subject: Subject, doc_id: &str, changes: u64) {
        let entry = self
            .entries
            .entry((action.to_owned(), subject))
            .or_default();
        entry.0.insert(doc_id.to_owned());
        entry.1 += changes;
    }

    fn entries(&self) -> Vec<NewAudit> {
        self.entries
            .iter()
            .map(|((action, subject), (docs, changes))| {
                let entry = NewAudit::new(action);
                match subject {
                    Subject::Child(child) => entry
                        .child(child)
                        .details(serde_json::json!({ "docs": docs, "changes": changes })),
                    Subject::Record(doc) => entry
                        .doc(doc)
                        .details(serde_json::json!({ "changes": changes })),
                    Subject::Refused(code) => {
                        entry.details(serde_json::json!({ "docs": docs, "code": code }))
                    }
                }
            })
            .collect()
    }
}

/// Where a pushed entry's result comes from.
enum Slot {
    /// From the store, for this document.
    Stored(String),
    /// Refused before storing (unreadable entry), already quarantined.
    Refused(PushResult),
}

/// Parse each push entry on its own and merge entries naming the same document. An unreadable
/// entry is quarantined with its reason and answered on its own.
async fn read_push(
    state: &AppState,
    device_id: &str,
    push: &[&RawValue],
    received_at_ms: i64,
) -> Result<(Vec<IncomingDoc>, Vec<Slot>), ApiError> {
    let mut docs: Vec<IncomingDoc> = Vec::with_capacity(push.len());
    let mut slots = Vec::with_capacity(push.len());
    let mut index: HashMap<String, usize> = HashMap::with_capacity(push.len());
    for (i, raw) in push.iter().enumerate() {
        let mut json = serde_json::Deserializer::from_str(raw.get());
        match serde_path_to_error::deserialize::<_, PushDoc>(&mut json) {
            Ok(entry) => {
                let changes = entry.changes.into_iter().map(|c| c.into_inner());
                match index.get(&entry.doc_id) {
                    Some(&at) => docs[at].changes.extend(changes),
                    None => {
                        index.insert(entry.doc_id.clone(), docs.len());
                        slots.push(Slot::Stored(entry.doc_id.clone()));
                        docs.push(IncomingDoc {
                            doc_id: entry.doc_id,
                            changes: changes.collect(),
                        });
                    }
                }
            }
            Err(e) => {
                let doc_id = serde_json::from_str::<serde_json::Value>(raw.get())
                    .ok()
                    .and_then(|v| v.get("doc_id").and_then(|d| d.as_str()).map(str::to_owned));
                let reason = format!("push[{i}] cannot be read: {e}");
                let code = RejectCode::MalformedChange;
                let kept = state
                    .store
                    .quarantine(NewQuarantine {
                        device_id: Some(device_id.to_owned()),
                        doc_id: doc_id.clone(),
                        code: code.as_str().to_owned(),
                        reason: reason.clone(),
                        payload: raw.get().as_bytes().to_vec(),
                        received_at_ms,
                    })
                    .await;
                let outcome = match kept {
                    Ok(id) => PushOutcome::Rejected {
                        code,
                        reason,
                        quarantine_id: Some(id),
                    },
                    Err(full @ fieldnotes_store::StoreError::QuarantineFull { .. }) => {
                        PushOutcome::Rejected {
                            code: RejectCode::QuarantineFull,
                            reason: format!(
                                "{reason}; it was not kept on the server because {full}. Ask \
                                 your admin to review the quarantine"
                            ),
                            quarantine_id: None,
                        }
                    }
                    Err(e) => return Err(e.into()),
                };
                slots.push(Slot::Refused(PushResult {
                    doc_id: doc_id.unwrap_or_default(),
                    outcome,
                }));
            }
        }
    }
    Ok((docs, slots))
}

fn to_push_result(doc_id: String, result: DocResult) -> PushResult {
    let outcome = match result {
        DocResult::Accepted { hashes, .. } => PushOutcome::Accepted { hashes },
        DocResult::Rejected {
            code,
            reason,
            quarantine_id,
        } => PushOutcome::Rejected {
            code: RejectCode::parse(&code).unwrap_or(RejectCode::InvalidDocument),
            reason,
            quarantine_id: Some(quarantine_id),
        },
        DocResult::NotKept { reason, .. } => PushOutcome::Rejected {
            code: RejectCode::QuarantineFull,
            reason,
            quarantine_id: None,
        },
        DocResult::Deferred { reason, missing } => PushOutcome::Deferred { reason, missing },
    };
    PushResult { doc_id, outcome }
}

/// What a cursor holds: the feed position, and where an unfinished backfill stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub feed: FeedPosition,
    pub backfill: Option<BackfillPosition>,
}

const CURSOR_PREFIX: &str = "1.";

/// Cursors are `1.<seq>`, or `1.<seq>.<backfill seq>.<backfill key, base64url>` while a
/// backfill is unfinished: opaque to clients, versioned so the format can change.
pub fn encode_cursor(position: &Position) -> Cursor {
    match &position.backfill {
        None => Cursor(format!("{CURSOR_PREFIX}{}", position.feed.seq)),
        Some(b) => Cursor(format!(
            "{CURSOR_PREFIX}{}.{}.{}",
            position.feed.seq,
            b.seq,
            URL_SAFE_NO_PAD.encode(b.key.as_bytes())
        )),
    }
}

pub fn decode_cursor(cursor: &Cursor) -> Result<Position, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "invalid_cursor",
            format!(
                "cursor {:?} was not issued by this server; the app should sync again from the \
                 start (sign out and in again)",
                cursor.0
            ),
        )
    };
    let rest = cursor.0.strip_prefix(CURSOR_PREFIX).ok_or_else(invalid)?;
    let parts: Vec<&str> = rest.split('.').collect();
    let seq = |s: &str| -> Result<i64, ApiError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        s.parse().map_err(|_| invalid())
    };
    match parts.as_slice() {
        [feed] => Ok(Position {
            feed: FeedPosition { seq: seq(feed)? },
            backfill: None,
        }),
        [feed, backfill_seq, key] => {
            let key = URL_SAFE_NO_PAD
                .decode(key)
                .ok()
                .and_then(|k| String::from_utf8(k).ok())
                .ok_or_else(invalid)?;
            Ok(Position {
                feed: FeedPosition { seq: seq(feed)? },
                backfill: Some(BackfillPosition {
                    key,
                    seq: seq(backfill_seq)?,
                }),
            })
        }
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use fieldnotes_protocol::{ChangeBytes, SyncRequest};

    use super::*;

    #[test]
    fn cursors_round_trip() {
        let plain = Position {
            feed: FeedPosition { seq: 9_000_000_042 },
            backfill: None,
        };
        assert_eq!(decode_cursor(&encode_cursor(&plain)).unwrap(), plain);
        let backfilling = Position {
            feed: FeedPosition { seq: 7 },
            backfill: Some(BackfillPosition {
                key: "child:c-1.2".into(),
                seq: 3,
            }),
        };
        assert_eq!(
            decode_cursor(&encode_cursor(&backfilling)).unwrap(),
            backfilling
        );
    }

    #[test]
    fn foreign_cursors_are_refused_with_a_way_out() {
        for bad in ["", "1.", "1.x", "2.1", "1.-3", "1.1.1", "1.+", "1.1.2.!!"] {
            let err = decode_cursor(&Cursor(bad.into())).unwrap_err().to_string();
            assert!(err.contains("from the start"), "{bad}: {err}");
        }
    }

    /// The server's reading of a request must accept everything the protocol crate writes.
    #[test]
    fn the_wire_request_reads_every_protocol_field() {
        let request = SyncRequest {
            protocol: PROTOCOL_VERSION,
            cursor: Some(Cursor("1.5".into())),
            push: vec![PushDoc {
                doc_id: "d".into(),
                changes: vec![ChangeBytes(vec![1, 2, 3])],
            }],
            max_page_bytes: Some(10),
            scopes: vec!["child:c".into()],
        };
        let json = serde_json::to_string(&request).unwrap();
        let wire: WireRequest<'_> = serde_json::from_str(&json).unwrap();
        assert_eq!(wire.push.len(), 1);
        assert_eq!(wire.scopes, vec!["child:c".to_owned()]);
        assert_eq!(wire.max_page_bytes, Some(10));
    }
}
