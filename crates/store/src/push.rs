//! Storing one push: every document merged and stored, or quarantined, in one transaction.
//!
//! Documents are locked and merged in a stable order (sorted by id); the new change rows are
//! inserted last, after every merge, so that on PostgreSQL only that step is serialised (see
//! [`Backend::insert_changes`]).

use fieldnotes_vocab::{DocKind, RejectCode};

use crate::backend::Backend;
use crate::common::{lock_order, new_stamp, not_kept, quarantine_payload};
use crate::review::{ReviewTarget, raise_findings};
use crate::sql_store::{SqlStore, check_room, insert_quarantine, load_document};
use crate::{
    DocResult, IncomingDoc, MergeOutcome, Merger, NewChange, NewQuarantine, PushContext, StoreError,
};

/// What one push keeps while it runs: its context, its settings and the change rows to insert
/// at the end.
struct Push<'a> {
    ctx: &'a PushContext,
    cap: crate::QuarantineCap,
    pending: Vec<(String, NewChange)>,
}

/// See [`crate::Store::push`].
pub(crate) async fn push<DB: Backend>(
    store: &SqlStore<DB>,
    ctx: &PushContext,
    docs: Vec<IncomingDoc>,
    merger: &dyn Merger,
) -> Result<Vec<DocResult>, StoreError> {
    let mut results: Vec<Option<DocResult>> = vec![None; docs.len()];
    let mut push = Push {
        ctx,
        cap: store.options.quarantine_cap,
        pending: Vec::new(),
    };
    let mut tx = store.writer().begin().await?;
    for i in lock_order(&docs) {
        let doc = &docs[i];
        DB::lock_document(&mut tx, &doc.doc_id).await?;
        let current = load_document::<DB>(&mut *tx, &doc.doc_id).await?;
        let outcome = merger.merge(&doc.doc_id, current.as_ref(), &doc.changes);
        results[i] = Some(push.store_outcome::<DB>(&mut tx, doc, outcome).await?);
    }
    DB::insert_changes(&mut tx, ctx, new_stamp(), push.pending).await?;
    tx.commit().await?;
    results
        .into_iter()
        .map(|r| r.ok_or_else(|| StoreError::Corrupt("a pushed document got no result".into())))
        .collect()
}

impl Push<'_> {
    /// Store what the merger decided for `doc`.
    async fn store_outcome<DB: Backend>(
        &mut self,
        conn: &mut DB::Connection,
        doc: &IncomingDoc,
        outcome: MergeOutcome,
    ) -> Result<DocResult, StoreError> {
        match outcome {
            MergeOutcome::Applied {
                kind,
                child_id,
                scope_key,
                summary,
                snapshot,
                new_changes,
                accepted_hashes,
                findings,
                events,
            } => {
                let new_count = new_changes.len() as u64;
                if !new_changes.is_empty() {
                    let row = DocumentRow {
                        doc_id: &doc.doc_id,
                        kind,
                        child_id: child_id.as_deref(),
                        scope_key: &scope_key,
                        summary: &summary,
                        snapshot: &snapshot,
                    };
                    upsert_document::<DB>(conn, &row, self.ctx.received_at_ms).await?;
                    let doc_id = &doc.doc_id;
                    self.pending
                        .extend(new_changes.into_iter().map(|c| (doc_id.clone(), c)));
                }
                let target = ReviewTarget::new(&doc.doc_id, kind, child_id.as_deref(), &scope_key);
                raise_findings::<DB>(conn, target, &findings, self.ctx).await?;
                Ok(DocResult::Accepted {
                    hashes: accepted_hashes,
                    child_id,
                    new_changes: new_count,
                    events,
                })
            }
            MergeOutcome::Rejected { code, reason } => {
                self.refuse::<DB>(conn, doc, code, reason).await
            }
            MergeOutcome::Deferred { reason, missing } => {
                Ok(DocResult::Deferred { reason, missing })
            }
        }
    }

    /// Keep a refused document in quarantine, or say it was not kept when the device's
    /// quarantine is full.
    async fn refuse<DB: Backend>(
        &self,
        conn: &mut DB::Connection,
        doc: &IncomingDoc,
        code: RejectCode,
        reason: String,
    ) -> Result<DocResult, StoreError> {
        let payload = quarantine_payload(doc)?;
        let device_id = &self.ctx.device_id;
        if let Err(full) = check_room::<DB>(conn, self.cap, device_id, payload.len()).await {
            return match full {
                StoreError::QuarantineFull { .. } => Ok(not_kept(code, &reason, &full)),
                other => Err(other),
            };
        }
        let item = NewQuarantine {
            device_id: Some(device_id.clone()),
            doc_id: Some(doc.doc_id.clone()),
            code: code.into(),
            reason,
            payload,
            received_at_ms: self.ctx.received_at_ms,
        };
        let quarantine_id = insert_quarantine::<DB>(conn, &item).await?;
        Ok(DocResult::Rejected {
            code,
            reason: item.reason,
            quarantine_id,
        })
    }
}

/// A document's row as a push stores it.
struct DocumentRow<'a> {
    doc_id: &'a str,
    kind: DocKind,
    child_id: Option<&'a str>,
    scope_key: &'a str,
    summary: &'a str,
    snapshot: &'a [u8],
}

/// Store a document's merged state, created or updated at `at_ms`.
async fn upsert_document<DB: Backend>(
    conn: &mut DB::Connection,
    row: &DocumentRow<'_>,
    at_ms: i64,
) -> Result<(), sqlx::Error> {
    DB::sql(
        "INSERT INTO documents
             (doc_id, kind, child_id, scope_key, summary, snapshot, created_at_ms, updated_at_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
         ON CONFLICT (doc_id) DO UPDATE SET kind = excluded.kind,
             child_id = excluded.child_id, scope_key = excluded.scope_key,
             summary = excluded.summary, snapshot = excluded.snapshot,
             updated_at_ms = excluded.updated_at_ms",
    )
    .bind(row.doc_id)
    .bind(row.kind)
    .bind(row.child_id)
    .bind(row.scope_key)
    .bind(row.summary)
    .bind(row.snapshot)
    .bind(at_ms)
    .execute(conn)
    .await?;
    Ok(())
}
