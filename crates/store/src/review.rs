//! The review queue: what a merge could not decide on its own, waiting for a manager or admin.
//!
//! Items are raised inside the push transaction that found them (the merger reports
//! [`ReviewFinding`]s), so an item exists exactly when the change that caused it is durable.
//! An open item is identified by document, kind and field: a later push that touches the same
//! field updates it (new sides, new version) instead of adding another. Items are decided —
//! resolved or dismissed, with who, when and why — never deleted, and each decision is written
//! to the audit log in the same transaction.
//!
//! Like [`crate::directory`], the SQL is written once for both backends.

use async_trait::async_trait;
/// Items are read as the queue shows them, and decided as the reviewer asked.
pub use fieldnotes_protocol::review::{Decision, ReviewItem};
use fieldnotes_vocab::{DocKind, ItemKind, ReviewStatus, ScopeKey};

use crate::backend::Backend;
use crate::directory::audit::Audited;
use crate::directory::{Actor, NewAudit};
use crate::sql_store::SqlStore;
use crate::{PushContext, StoreError};

/// What the merger found in one document that needs a person's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewFinding {
    pub item_kind: ItemKind,
    /// The field at issue (`''` for the whole record, or a key that keeps items apart).
    pub field: String,
    /// One line for the queue.
    pub summary: String,
    /// The competing values, each with its change, actor and times (JSON).
    pub sides: serde_json::Value,
    /// The document's heads (hex) when found.
    pub seen_heads: Vec<String>,
}

/// The document a finding is about, as the push knows it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReviewTarget<'a> {
    pub doc_id: &'a str,
    pub doc_kind: DocKind,
    pub child_id: Option<&'a str>,
    /// The worker a worker-scoped record belongs to (their team reviews it).
    pub worker_id: Option<&'a str>,
}

impl<'a> ReviewTarget<'a> {
    /// The target for a stored document: worker records (`worker:ID`) go to that worker's team.
    pub(crate) fn new(
        doc_id: &'a str,
        doc_kind: DocKind,
        child_id: Option<&'a str>,
        scope_key: &'a str,
    ) -> Self {
        ReviewTarget {
            doc_id,
            doc_kind,
            child_id,
            worker_id: match scope_key.parse() {
                Ok(ScopeKey::Worker(_)) => scope_key.get(ScopeKey::WORKER_PREFIX.len()..),
                _ => None,
            },
        }
    }
}

/// An item to record directly (not from a push): tests and benchmarks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReviewItem {
    pub doc_id: String,
    pub doc_kind: DocKind,
    pub child_id: Option<String>,
    pub finding: ReviewFinding,
    pub device_id: Option<String>,
    pub at_ms: i64,
}

/// Which items to list; every given filter applies. Oldest first, ids above `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewFilter {
    /// [`ReviewStatus::Open`] for the queue; `None` for every status.
    pub status: Option<ReviewStatus>,
    pub team_id: Option<String>,
    pub child_id: Option<String>,
    pub doc_kind: Option<DocKind>,
    pub item_kind: Option<ItemKind>,
    pub doc_id: Option<String>,
    /// Raised at or before this time (items at least this old).
    pub created_before_ms: Option<i64>,
    /// Raised at or after this time.
    pub created_after_ms: Option<i64>,
    pub after: Option<i64>,
    pub limit: u32,
}

/// The review queue. Implemented by both stores.
#[async_trait]
pub trait ReviewQueue: Send + Sync {
    /// Record an item directly (the push path records findings in its own transaction).
    async fn record_review(&self, item: &NewReviewItem) -> Result<i64, StoreError>;
    async fn list_review(&self, filter: &ReviewFilter) -> Result<Vec<ReviewItem>, StoreError>;
    async fn get_review(&self, item_id: i64) -> Result<Option<ReviewItem>, StoreError>;
    /// Decide an open item: the decision's action ([`ReviewStatus::Resolved`] or
    /// [`ReviewStatus::Dismissed`]) becomes its status, and the decision says what and why.
    /// `Conflict` if it was decided already (by someone else, meanwhile).
    async fn decide_review(
        &self,
        item_id: i64,
        decision: &Decision,
        by: &Actor,
    ) -> Result<ReviewItem, StoreError>;
}

/// The columns of a [`ReviewItem`].
const REVIEW_COLUMNS: &str = "item_id, doc_id, doc_kind, child_id, team_id, item_kind, field, \
     status, summary, sides, seen_heads, created_at_ms AS created_at, updated_at_ms AS updated_at, \
     decided_by, decided_at_ms AS decided_at, decision";

/// Insert or update the open item for (doc, kind, field); shared by both backends.
pub(crate) const UPSERT_REVIEW: &str = "INSERT INTO review_items
         (doc_id, doc_kind, child_id, team_id, item_kind, field, summary, sides, seen_heads,
          raised_by_device, created_at_ms, updated_at_ms)
     VALUES ($1, $2, $3,
             COALESCE((SELECT team_id FROM children WHERE child_id = $3),
                      (SELECT team_id FROM users WHERE user_id = $4)),
             $5, $6, $7, $8, $9, $10, $11, $11)
     ON CONFLICT (doc_id, item_kind, field) WHERE status = 'open'
     DO UPDATE SET summary = excluded.summary, sides = excluded.sides,
         seen_heads = excluded.seen_heads, raised_by_device = excluded.raised_by_device,
         updated_at_ms = excluded.updated_at_ms
     RETURNING item_id";

/// Raise or update the open items for a pushed document's findings, in the push transaction.
pub(crate) async fn raise_findings<DB: Backend>(
    conn: &mut DB::Connection,
    target: ReviewTarget<'_>,
    findings: &[ReviewFinding],
    ctx: &PushContext,
) -> Result<(), sqlx::Error> {
    for finding in findings {
        upsert_review::<DB>(
            conn,
            target,
            finding,
            Some(&ctx.device_id),
            ctx.received_at_ms,
        )
        .await?;
    }
    Ok(())
}

/// Raise or update the open item for a finding; its id.
async fn upsert_review<DB: Backend>(
    conn: &mut DB::Connection,
    target: ReviewTarget<'_>,
    finding: &ReviewFinding,
    device_id: Option<&str>,
    at_ms: i64,
) -> Result<i64, sqlx::Error> {
    let seen_heads =
        serde_json::to_string(&finding.seen_heads).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    DB::sql(UPSERT_REVIEW)
        .bind(target.doc_id)
        .bind(target.doc_kind)
        .bind(target.child_id)
        .bind(target.worker_id)
        .bind(finding.item_kind)
        .bind(&finding.field)
        .bind(&finding.summary)
        .bind(finding.sides.to_string())
        .bind(seen_heads)
        .bind(device_id)
        .bind(at_ms)
        .fetch_scalar(conn)
        .await
}

/// Why an item could not be decided: decided already, or never raised.
async fn not_open<DB: Backend>(
    conn: &mut DB::Connection,
    item_id: i64,
) -> Result<StoreError, StoreError> {
    let status: Option<ReviewStatus> =
        DB::sql("SELECT status FROM review_items WHERE item_id = $1")
            .bind(item_id)
            .fetch_optional_scalar(conn)
            .await?;
    Ok(match status {
        Some(status) => StoreError::Conflict(format!("review item {item_id} is already {status}")),
        None => StoreError::NotFound {
            what: format!("review item {item_id}"),
        },
    })
}

/// The audit entry for a decision.
fn decision_audit(record: &ReviewItem, decision: &Decision) -> NewAudit {
    let entry = NewAudit::new(&format!("review_{}", decision.action))
        .doc(&record.doc_id)
        .details(serde_json::json!({
            "item_id": record.item_id,
            "item_kind": record.item_kind,
            "field": record.field,
            "decision": decision,
        }));
    match &record.child_id {
        Some(child) => entry.child(child),
        None => entry,
    }
}

#[async_trait]
impl<DB: Backend> ReviewQueue for SqlStore<DB> {
    async fn record_review(&self, item: &NewReviewItem) -> Result<i64, StoreError> {
        let mut tx = self.writer().begin().await?;
        let target = ReviewTarget {
            doc_id: &item.doc_id,
            doc_kind: item.doc_kind,
            child_id: item.child_id.as_deref(),
            worker_id: None,
        };
        let id = upsert_review::<DB>(
            &mut tx,
            target,
            &item.finding,
            item.device_id.as_deref(),
            item.at_ms,
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    async fn list_review(&self, f: &ReviewFilter) -> Result<Vec<ReviewItem>, StoreError> {
        // Only the filters given become conditions, so each backend can use the index that
        // fits (`col = $n OR $n IS NULL` hides them from SQLite's planner).
        let mut q = DB::sql(format!(
            "SELECT {REVIEW_COLUMNS} FROM review_items WHERE item_id > "
        ))
        .push_bind(f.after.unwrap_or(0));
        for (column, value) in [
            ("status", f.status.map(ReviewStatus::as_str)),
            ("team_id", f.team_id.as_deref()),
            ("child_id", f.child_id.as_deref()),
            ("doc_kind", f.doc_kind.map(DocKind::as_str)),
            ("item_kind", f.item_kind.map(ItemKind::as_str)),
            ("doc_id", f.doc_id.as_deref()),
        ] {
            if let Some(value) = value {
                q = q.push(&format!(" AND {column} = ")).push_bind(value);
            }
        }
        if let Some(before) = f.created_before_ms {
            q = q.push(" AND created_at_ms <= ").push_bind(before);
        }
        if let Some(after) = f.created_after_ms {
            q = q.push(" AND created_at_ms >= ").push_bind(after);
        }
        q = q
            .push(" ORDER BY item_id LIMIT ")
            .push_bind(i64::from(f.limit));
        Ok(q.fetch_all(self.reader()).await?)
    }

    async fn get_review(&self, item_id: i64) -> Result<Option<ReviewItem>, StoreError> {
        Ok(DB::sql(format!(
            "SELECT {REVIEW_COLUMNS} FROM review_items WHERE item_id = $1"
        ))
        .bind(item_id)
        .fetch_optional(self.reader())
        .await?)
    }

    async fn decide_review(
        &self,
        item_id: i64,
        decision: &Decision,
        by: &Actor,
    ) -> Result<ReviewItem, StoreError> {
        let encoded = serde_json::to_string(decision).map_err(|e| sqlx::Error::Encode(e.into()))?;
        let mut tx = Audited::begin(self, by).await?;
        let record: Option<ReviewItem> = DB::sql(format!(
            "UPDATE review_items SET status = $2, decided_by = $3, decided_device = $4,
                 decided_at_ms = $5, decision = $6
             WHERE item_id = $1 AND status = 'open' RETURNING {REVIEW_COLUMNS}"
        ))
        .bind(item_id)
        .bind(decision.action)
        .bind(&by.user_id)
        .bind(&by.device_id)
        .bind(by.at_ms)
        .bind(encoded)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(record) = record else {
            return Err(not_open::<DB>(&mut tx, item_id).await?);
        };
        let entry = decision_audit(&record, decision);
        tx.commit(&[entry], record).await
    }
}
