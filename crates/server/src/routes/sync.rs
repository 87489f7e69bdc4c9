//! `POST /v1/sync`: one round of push and pull.
//!
//! The round: work out the person's scope; store the push, each document checked for who may
//! write it (committed before anything is acknowledged); then answer with what the device is
//! missing: first the whole history of scope keys new to it (a child just allocated), then the
//! feed after its cursor, and the keys it must remove (an allocation that ended).
//!
//! Restores and failovers: each answer carries an anchor naming the feed's newest row, which
//! the device sends back. A database that no longer holds that row (with its stamp) lost
//! something the device was told of; the answer then says `feed_reset`, ignores the cursor and
//! sends the device's whole scope from the start, and the device checks its own changes with
//! `verify` (see docs/ARCHITECTURE.md, "The change feed and its cursor").

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::AtomicU64;

use axum::Json;
use axum::extract::State;
use fieldnotes_protocol::ScopeKey;
use fieldnotes_protocol::{
    AnchorParts, BackfillAt, Cursor, CursorPosition, DEFAULT_PAGE_BYTES, DocHead, DocMeta,
    FeedAnchor, FeedReset, Lacking, MAX_PAGE_BYTES, MAX_VERIFY_DOCS, PROTOCOL_VERSION, PulledDoc,
    PushDoc, PushOutcome, PushResult, RejectCode, SyncResponse, group_by_document,
};
use fieldnotes_store::directory::NewAudit;
use fieldnotes_store::{
    BackfillPosition, DocResult, FeedAnchor as StoreAnchor, FeedPosition, IncomingDoc,
    NewQuarantine, PullRequest, PushContext,
};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::extract::RawBody;
use super::scope_of;
use crate::auth::AuthDevice;
use crate::clock::now_ms;
use crate::error::{ApiError, ErrorCode};
use crate::merge::{ModelMerger, Writer};
use crate::scope::{Scope, delta};
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
    #[serde(default)]
    anchor: Option<FeedAnchor>,
    #[serde(default)]
    verify: Vec<DocHead>,
}

/// Handle one sync round.
pub async fn sync(
    State(state): State<AppState>,
    auth: AuthDevice,
    RawBody(body): RawBody,
) -> Result<Json<SyncResponse>, ApiError> {
    let received_at_ms = now_ms();
    let request = read_request(&state, &auth, &body, received_at_ms).await?;
    check_protocol(request.protocol)?;
    let position = request.cursor.as_ref().map(decode_cursor).transpose()?;
    // An anchor that cannot be read is treated as one that no longer holds: the device then
    // re-checks its work and fetches its scope again, rather than being stuck on a refusal.
    let known = request.anchor.as_ref().map(decode_anchor);
    check_verify_count(&request.verify)?;
    let scope = scope_of(&state, &auth).await?;
    // Checked before the push: the push's own rows must not hide a rollback.
    let reset = match &known {
        Some(Some(anchor)) => !state.store.anchor_holds(anchor).await?,
        Some(None) => true,
        None => false,
    };
    let mut access = AccessLog::default();
    let round = Round {
        state: &state,
        auth: &auth,
        scope: &scope,
        received_at_ms,
    };
    let results = round.push(&request.push, &mut access).await?;
    // Which of the device's documents lack its newest change (after a reset).
    let lacking = lacking(&state, &auth.device.actor_id, &request.verify).await?;
    let pulled = round.pull(&request, position, reset, &mut access).await?;
    // Read last: it covers this round's push and page.
    let anchor = state.store.feed_anchor().await?;
    let mut entries = access.entries();
    let feed_reset = match (&known, reset) {
        (Some(known), true) => Some(feed_reset(&auth, known.as_ref(), &anchor, &mut entries)),
        _ => None,
    };
    state
        .store
        .record_sync(auth.device_id(), &entries, &auth.actor(received_at_ms))
        .await?;
    Ok(Json(SyncResponse {
        protocol: PROTOCOL_VERSION,
        results,
        pull: pulled.docs,
        cursor: pulled.cursor,
        more: pulled.more,
        scopes_complete: pulled.completed,
        remove_scopes: pulled.remove,
        read_only_scopes: read_only_scopes(&scope),
        anchor: Some(encode_anchor(&anchor)),
        feed_reset,
        lacking,
    }))
}

/// Parse the request; an unreadable one is refused, and kept in quarantine for review
/// (nothing sent is dropped silently).
async fn read_request<'a>(
    state: &AppState,
    auth: &AuthDevice,
    body: &'a [u8],
    received_at_ms: i64,
) -> Result<WireRequest<'a>, ApiError> {
    // serde_path_to_error names the field at fault ("push[3].changes[0]: ...").
    let mut json = serde_json::Deserializer::from_slice(body);
    let e = match serde_path_to_error::deserialize(&mut json) {
        Ok(request) => return Ok(request),
        Err(e) => e,
    };
    let reason = format!("the sync request is not valid JSON for protocol {PROTOCOL_VERSION}: {e}");
    let id = state
        .store
        .quarantine(NewQuarantine {
            device_id: Some(auth.device_id().to_owned()),
            doc_id: None,
            code: ErrorCode::MalformedRequest.into(),
            reason: reason.clone(),
            payload: body.to_vec(),
            received_at_ms,
        })
        .await?;
    Err(ApiError::BadRequest {
        code: ErrorCode::MalformedRequest,
        message: format!("{reason}; the body was kept in quarantine as entry {id}"),
        details: Some(serde_json::json!({ "quarantine_id": id })),
    })
}

fn check_protocol(protocol: u32) -> Result<(), ApiError> {
    if protocol == PROTOCOL_VERSION {
        return Ok(());
    }
    Err(ApiError::bad_request(
        ErrorCode::UnsupportedProtocol,
        format!(
            "this server speaks sync protocol {PROTOCOL_VERSION}, the request is protocol \
             {protocol}; update the app"
        ),
    ))
}

fn check_verify_count(verify: &[DocHead]) -> Result<(), ApiError> {
    if verify.len() <= MAX_VERIFY_DOCS {
        return Ok(());
    }
    Err(ApiError::bad_request(
        ErrorCode::TooManyHeads,
        format!(
            "the request lists {} documents to verify, at most {MAX_VERIFY_DOCS} are accepted \
             at once; update the app",
            verify.len()
        ),
    ))
}

/// The scope keys the device may read but not write (none for an admin).
fn read_only_scopes(scope: &Scope) -> Vec<String> {
    if scope.all {
        Vec::new()
    } else {
        scope.read.difference(&scope.write).cloned().collect()
    }
}

/// Who is syncing, with what scope, received when: what the push and pull steps share.
struct Round<'a> {
    state: &'a AppState,
    auth: &'a AuthDevice,
    scope: &'a Scope,
    received_at_ms: i64,
}

/// What a round's pull sends.
struct Pulled {
    docs: Vec<PulledDoc>,
    cursor: Cursor,
    more: bool,
    /// Backfill keys this page completes.
    completed: Vec<String>,
    /// Keys the device must remove.
    remove: Vec<String>,
}

impl Round<'_> {
    /// Store the push (committed before anything is acknowledged) and answer each entry.
    async fn push(
        &self,
        push: &[&RawValue],
        access: &mut AccessLog,
    ) -> Result<Vec<PushResult>, ApiError> {
        let (state, auth) = (self.state, self.auth);
        let (docs, slots) = read_push(state, auth.device_id(), push, self.received_at_ms).await?;
        let stored = if docs.is_empty() {
            Vec::new()
        } else {
            let ops_left = AtomicU64::new(state.limits.max_ops_per_request);
            let merger = ModelMerger {
                max_doc_push_bytes: state.limits.max_doc_push_bytes,
                ops_left: &ops_left,
                ops_per_request: state.limits.max_ops_per_request,
                writer: Writer {
                    user_id: auth.user_id(),
                    role: auth.role,
                    device_id: auth.device_id(),
                    actor: &auth.device.actor_id,
                    scope: self.scope,
                    received_at_ms: self.received_at_ms,
                },
            };
            let ctx = PushContext {
                device_id: auth.device_id().to_owned(),
                received_at_ms: self.received_at_ms,
            };
            state.store.push(&ctx, docs, &merger).await?
        };
        let mut stored = stored.into_iter();
        let mut results = Vec::with_capacity(slots.len());
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
        Ok(results)
    }

    /// The page of changes the device is missing: after its cursor, or, after a reset (the
    /// cursor may point past the feed, or at positions taken again by other changes), from
    /// the beginning, the whole scope, as on a first sync. Keys the device holds that left
    /// its scope are still removed.
    async fn pull(
        &self,
        request: &WireRequest<'_>,
        position: Option<Position>,
        reset: bool,
        access: &mut AccessLog,
    ) -> Result<Pulled, ApiError> {
        let mut scope_delta = delta(self.scope, &request.scopes);
        // A key that left the scope while its backfill was under way: the device holds part of
        // its documents without listing the key (only the cursor names it), so it must be told
        // to remove them too (found by the simulation, seed 138).
        if let Some(partial) = position.as_ref().and_then(|p| p.backfill.as_ref())
            && !self.scope.can_read(&partial.key)
            && !scope_delta.remove.contains(&partial.key)
        {
            scope_delta.remove.push(partial.key.clone());
        }
        // Removing every document first: the device refills from what it then lists.
        let removes_all = scope_delta.remove.iter().any(|k| ScopeKey::is_all_text(k));
        let (after, backfill_from) = match position {
            _ if reset => {
                if !removes_all {
                    scope_delta.backfill = self.scope.device_keys().into_iter().collect();
                }
                (None, None)
            }
            Some(p) => (Some(p.feed), p.backfill),
            None => (None, None),
        };
        let page = self
            .state
            .store
            .pull(&PullRequest {
                device_id: self.auth.device_id().to_owned(),
                after,
                max_bytes: request
                    .max_page_bytes
                    .unwrap_or(DEFAULT_PAGE_BYTES)
                    .clamp(1, MAX_PAGE_BYTES),
                scope: self.scope.filter(),
                backfill: scope_delta.backfill,
                backfill_from,
            })
            .await?;
        for change in &page.changes {
            access.pulled(change);
        }
        Ok(Pulled {
            docs: pulled_docs(page.changes),
            cursor: encode_cursor(&Position {
                feed: page.next,
                backfill: page.backfill_at,
            }),
            more: page.more || removes_all,
            completed: page.completed,
            remove: scope_delta.remove,
        })
    }
}

/// The page's changes as documents, in the order each first appears, with its listing facts.
fn pulled_docs(changes: Vec<fieldnotes_store::FeedChange>) -> Vec<PulledDoc> {
    group_by_document(changes, |c| &c.doc_id)
        .into_iter()
        .map(|(doc_id, changes)| PulledDoc {
            doc_id,
            meta: changes.first().map(|c| DocMeta {
                kind: c.kind.to_string(),
                child_id: c.child_id.clone(),
                summary: c.summary.clone(),
                scope: c.scope_key.clone(),
            }),
            changes: changes.into_iter().map(|c| c.bytes.into()).collect(),
        })
        .collect()
}

/// Tell the device its feed was reset (logged, and audited in `entries`).
fn feed_reset(
    auth: &AuthDevice,
    known: Option<&StoreAnchor>,
    anchor: &StoreAnchor,
    entries: &mut Vec<NewAudit>,
) -> FeedReset {
    let message = reset_message(known, anchor);
    let known_position = known.map(|k| k.seq);
    tracing::warn!(
        device_id = %auth.device_id(),
        user_id = %auth.user_id(),
        known_position,
        feed_head = anchor.seq,
        "{message}; the device re-sends what the server lacks and fetches its scope again"
    );
    entries.push(NewAudit::new("feed_reset").details(serde_json::json!({
        "known_position": known_position,
        "feed_head": anchor.seq,
        "known_feed": known.map(|k| k.feed_id.clone()),
        "feed": anchor.feed_id,
    })));
    FeedReset {
        feed_id: anchor.feed_id.clone(),
        message,
    }
}

/// For a log line and the device: what the check found.
fn reset_message(known: Option<&StoreAnchor>, now: &StoreAnchor) -> String {
    let Some(known) = known else {
        return "the device's feed anchor could not be read".to_owned();
    };
    if known.feed_id != now.feed_id {
        format!(
            "the server's database was replaced: its feed is {}, the device knew feed {}",
            now.feed_id, known.feed_id
        )
    } else if known.seq > now.seq {
        format!(
            "the server's database was restored or failed over: it ends at feed position {}, \
             the device was told of position {}",
            now.seq, known.seq
        )
    } else {
        format!(
            "the server's database was restored or failed over: feed position {} holds another \
             change than the one the device was told of",
            known.seq
        )
    }
}

/// The documents of `verify` whose named change the server does not hold, each with the
/// device's own changes it does hold.
async fn lacking(
    state: &AppState,
    actor: &str,
    verify: &[DocHead],
) -> Result<Vec<Lacking>, ApiError> {
    if verify.is_empty() {
        return Ok(Vec::new());
    }
    let mut seen = BTreeSet::new();
    let heads: Vec<DocHead> = verify
        .iter()
        .filter(|h| seen.insert(h.doc_id.as_str()))
        .cloned()
        .collect();
    Ok(state.store.lacking(actor, &heads).await?)
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
    Refused(RejectCode),
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
                self.add("push_refused", Subject::Refused(*code), doc_id, 0);
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
                        code: code.into(),
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
            code,
            reason,
            quarantine_id: Some(quarantine_id),
        },
        DocResult::NotKept { code, reason } => PushOutcome::Rejected {
            code,
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

/// The anchor naming the store's feed anchor (the format is the protocol crate's).
pub fn encode_anchor(anchor: &StoreAnchor) -> FeedAnchor {
    FeedAnchor::encode(&AnchorParts {
        feed_id: anchor.feed_id.clone(),
        seq: anchor.seq,
        stamp: anchor.stamp,
    })
}

/// The anchor's parts, or `None` if it is not one a server writes.
pub fn decode_anchor(anchor: &FeedAnchor) -> Option<StoreAnchor> {
    anchor.decode().map(|parts| StoreAnchor {
        feed_id: parts.feed_id,
        seq: parts.seq,
        stamp: parts.stamp,
    })
}

/// The cursor for a store position (the format is the protocol crate's).
pub fn encode_cursor(position: &Position) -> Cursor {
    Cursor::encode(&CursorPosition {
        seq: position.feed.seq,
        backfill: position.backfill.as_ref().map(|b| BackfillAt {
            key: b.key.clone(),
            seq: b.seq,
        }),
    })
}

/// The store position a cursor holds; a cursor no server wrote is refused with a way out.
pub fn decode_cursor(cursor: &Cursor) -> Result<Position, ApiError> {
    let position = cursor.decode().map_err(|e| {
        ApiError::bad_request(
            ErrorCode::InvalidCursor,
            format!("{e}; the app should sync again from the start (sign out and in again)"),
        )
    })?;
    Ok(Position {
        feed: FeedPosition { seq: position.seq },
        backfill: position.backfill.map(|b| BackfillPosition {
            key: b.key,
            seq: b.seq,
        }),
    })
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

    /// The store's anchor survives the wire form (the format's own cases are the protocol
    /// crate's tests).
    #[test]
    fn store_anchors_round_trip() {
        for stamp in [0, -1, i64::MIN, i64::MAX] {
            let anchor = StoreAnchor {
                feed_id: "4f1c9e2a7b3d4c5e8f9a0b1c2d3e4f50".into(),
                seq: 9_000_000_042,
                stamp,
            };
            assert_eq!(decode_anchor(&encode_anchor(&anchor)), Some(anchor));
        }
        assert_eq!(decode_anchor(&FeedAnchor("2.ab.1.00".into())), None);
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
            anchor: Some(FeedAnchor("1.ab.1.00".into())),
            verify: vec![DocHead {
                doc_id: "d".into(),
                hash: "ee".into(),
            }],
        };
        let json = serde_json::to_string(&request).unwrap();
        let wire: WireRequest<'_> = serde_json::from_str(&json).unwrap();
        assert_eq!(wire.push.len(), 1);
        assert_eq!(wire.scopes, vec!["child:c".to_owned()]);
        assert_eq!(wire.max_page_bytes, Some(10));
        assert_eq!(wire.anchor, request.anchor);
        assert_eq!(wire.verify, request.verify);
    }
}
