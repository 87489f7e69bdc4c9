//! Logic both backends share: building a feed page (backfill, then the feed) and encoding
//! quarantined pushes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use fieldnotes_protocol::ByteBudget;

use fieldnotes_vocab::{DocKind, RejectCode};

use crate::backend::Backend;
use crate::sql_store::SqlStore;
use crate::{
    BackfillPosition, FeedChange, FeedPosition, IncomingDoc, PullPage, PullRequest, StoreError,
};

/// Rows read from the feed per query while filling a page: the `LIMIT` of each read, and a
/// read that returns fewer has reached the end.
const FEED_BATCH: u16 = 512;

/// The columns of a feed row that both feed reads select (`c` changes, `d` documents).
pub(crate) const FEED_COLUMNS: &str =
    "c.seq, c.doc_id, c.hash, d.kind, d.child_id, d.scope_key, d.summary";

/// One row of the change feed as a backend reads it.
#[derive(Debug, sqlx::FromRow)]
pub struct FeedRow {
    pub seq: i64,
    pub doc_id: String,
    pub hash: String,
    pub kind: DocKind,
    pub child_id: Option<String>,
    pub scope_key: String,
    pub summary: String,
    /// Written by the pulling device itself: skipped, but the cursor moves past it.
    pub own: bool,
    /// `None` for the device's own rows (not worth reading).
    pub bytes: Option<Vec<u8>>,
}

/// Add `rows` to `page` while they fit its byte budget. Returns `true` when the page is full
/// (and `page.more` is set), `false` when every row fitted.
pub(crate) fn fill_page(
    page: &mut PullPage,
    budget: &mut ByteBudget,
    rows: Vec<FeedRow>,
) -> Result<bool, StoreError> {
    for row in rows {
        let position = FeedPosition { seq: row.seq };
        if row.own {
            page.next = position;
            continue;
        }
        if !add_change(page, budget, row)? {
            page.more = true;
            return Ok(true);
        }
        page.next = position;
    }
    Ok(false)
}

/// Add one change to `page` if it fits the budget (a page always carries at least one change,
/// however large). `false` when it does not fit.
fn add_change(
    page: &mut PullPage,
    budget: &mut ByteBudget,
    row: FeedRow,
) -> Result<bool, StoreError> {
    let bytes = row.bytes.ok_or_else(|| {
        StoreError::Corrupt(format!("feed row {} was read without its bytes", row.seq))
    })?;
    if !budget.take(bytes.len() as u64) {
        return Ok(false);
    }
    page.changes.push(FeedChange {
        doc_id: row.doc_id,
        hash: row.hash,
        bytes,
        kind: row.kind,
        child_id: row.child_id,
        scope_key: row.scope_key,
        summary: row.summary,
    });
    Ok(true)
}

/// The quarantine payload for a refused document: the push entry as JSON, changes in base64,
/// exactly as a device would send it again.
pub(crate) fn quarantine_payload(doc: &IncomingDoc) -> Result<Vec<u8>, StoreError> {
    #[derive(serde::Serialize)]
    struct PushEntry<'a> {
        doc_id: &'a str,
        changes: Vec<String>,
    }
    let entry = PushEntry {
        doc_id: &doc.doc_id,
        changes: doc.changes.iter().map(|c| STANDARD.encode(c)).collect(),
    };
    serde_json::to_vec(&entry).map_err(|e| StoreError::Backend(sqlx::Error::Encode(Box::new(e))))
}

/// What one device has in quarantine: entries and bytes.
pub(crate) const QUARANTINE_USAGE: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) \
     FROM quarantine WHERE device_id = $1";

/// Refuse to keep `size` more bytes for a device that has `usage` (entries, bytes) in
/// quarantine when that would pass `cap`.
pub(crate) fn check_quarantine_room(
    cap: crate::QuarantineCap,
    usage: (i64, i64),
    size: usize,
) -> Result<(), StoreError> {
    let entries = u64::try_from(usage.0).unwrap_or(0);
    let bytes = u64::try_from(usage.1).unwrap_or(0);
    if entries >= cap.max_entries || bytes.saturating_add(size as u64) > cap.max_bytes {
        return Err(StoreError::QuarantineFull { entries, bytes });
    }
    Ok(())
}

/// A refused document's answer when the device's quarantine is full.
pub(crate) fn not_kept(code: RejectCode, reason: &str, full: &StoreError) -> crate::DocResult {
    crate::DocResult::NotKept {
        code: RejectCode::QuarantineFull,
        reason: format!(
            "{reason} ({code}). It was not kept on the server: {full}; ask your admin to \
             review the quarantine. The change stays on this device until then"
        ),
    }
}

/// Indices of `docs` sorted by document id, so concurrent pushes lock documents in one order.
pub(crate) fn lock_order(docs: &[IncomingDoc]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..docs.len()).collect();
    order.sort_by(|&a, &b| docs[a].doc_id.cmp(&docs[b].doc_id));
    order
}

/// The stamp for the change rows of one push: random and never 0 (0 marks rows stored before
/// stamps existed).
pub(crate) fn new_stamp() -> i64 {
    let (high, _) = uuid::Uuid::new_v4().as_u64_pair();
    i64::from_ne_bytes((high | 1).to_ne_bytes())
}

/// The lacking documents (in the order the device named them) with the actor's stored hashes.
pub(crate) fn group_lacking(
    missing: Vec<String>,
    have: Vec<(String, String)>,
) -> Vec<crate::Lacking> {
    let index: std::collections::HashMap<String, usize> = missing
        .iter()
        .enumerate()
        .map(|(i, d)| (d.clone(), i))
        .collect();
    let mut out: Vec<crate::Lacking> = missing
        .into_iter()
        .map(|doc_id| crate::Lacking {
            doc_id,
            have: Vec::new(),
        })
        .collect();
    for (doc_id, hash) in have {
        if let Some(&i) = index.get(&doc_id) {
            out[i].have.push(hash);
        }
    }
    out
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Build one page: first every change up to the cursor of each backfill key (in key order,
/// resuming where the previous page stopped), then the feed after the cursor. While backfill
/// is unfinished the cursor does not move, so a document never arrives without its history.
pub(crate) async fn build_page<DB: Backend>(
    src: &SqlStore<DB>,
    req: &PullRequest,
) -> Result<PullPage, StoreError> {
    let start = req.after.unwrap_or_default();
    let mut page = PullPage {
        changes: Vec::new(),
        next: start,
        more: false,
        completed: Vec::new(),
        backfill_at: None,
    };
    let mut budget = ByteBudget::new(req.max_bytes);
    for key in &req.backfill {
        let from = match &req.backfill_from {
            Some(p) if &p.key == key => p.seq,
            _ => 0,
        };
        let rows = BackfillRows {
            key,
            device_id: &req.device_id,
            upto: start.seq,
        };
        if let Some(stopped) = backfill_key(src, &rows, from, &mut page, &mut budget).await? {
            page.more = true;
            page.backfill_at = Some(BackfillPosition {
                key: key.clone(),
                seq: stopped,
            });
            return Ok(page);
        }
        page.completed.push(key.clone());
    }
    // Read before the feed: every change at or below it is visible to the reads that follow.
    let head = src.feed_head().await?;
    loop {
        let rows = src
            .feed_rows(
                &req.device_id,
                page.next.seq,
                &req.scope,
                i64::from(FEED_BATCH),
            )
            .await?;
        let fetched = rows.len();
        if fill_page(&mut page, &mut budget, rows)? {
            return Ok(page);
        }
        if fetched < usize::from(FEED_BATCH) {
            // The end of the feed: skip what lies out of scope up to the head.
            page.next.seq = page.next.seq.max(head);
            return Ok(page);
        }
    }
}

/// What a backfill reads: the changes of `key`'s documents up to the cursor `upto`, and the
/// device's own changes to them after it (the feed skips those).
struct BackfillRows<'a> {
    key: &'a str,
    device_id: &'a str,
    upto: i64,
}

/// Add the changes `rows` names after `from` to `page`. `Some(seq)` of the last change sent
/// when the page filled first, `None` when the key is complete.
async fn backfill_key<DB: Backend>(
    src: &SqlStore<DB>,
    rows: &BackfillRows<'_>,
    mut from: i64,
    page: &mut PullPage,
    budget: &mut ByteBudget,
) -> Result<Option<i64>, StoreError> {
    loop {
        let batch = src
            .backfill_rows(
                rows.key,
                rows.device_id,
                from,
                rows.upto,
                i64::from(FEED_BATCH),
            )
            .await?;
        let fetched = batch.len();
        for row in batch {
            let seq = row.seq;
            if !add_change(page, budget, row)? {
                return Ok(Some(from));
            }
            from = seq;
        }
        if fetched < usize::from(FEED_BATCH) {
            break;
        }
    }
    Ok(None)
}
