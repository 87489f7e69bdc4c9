//! Logic both backends share: filling a feed page and encoding quarantined pushes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::{FeedChange, FeedPosition, IncomingDoc, PullPage};

/// Rows read from the feed per query while filling a page.
pub(crate) const FEED_BATCH: i64 = 512;

/// One row of the change feed as a backend reads it.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FeedRow {
    pub seq: i64,
    pub doc_id: String,
    pub hash: String,
    pub kind: String,
    pub child_id: Option<String>,
    pub summary: String,
    /// Written by the pulling device itself: skipped, but the cursor moves past it.
    pub own: bool,
    /// `None` for the device's own rows (not worth reading).
    pub bytes: Option<Vec<u8>>,
}

/// Add `rows` to `page` until it holds `max_bytes` of change data. Returns `true` when the
/// page is full (and `page.more` is set), `false` when every row fitted.
pub(crate) fn fill_page(
    page: &mut PullPage,
    used: &mut u64,
    rows: Vec<FeedRow>,
    max_bytes: u64,
) -> bool {
    for row in rows {
        let position = FeedPosition { seq: row.seq };
        if row.own {
            page.next = position;
            continue;
        }
        let bytes = row.bytes.unwrap_or_default();
        let len = bytes.len() as u64;
        // A page always carries at least one change, however large.
        if !page.changes.is_empty() && used.saturating_add(len) > max_bytes {
            page.more = true;
            return true;
        }
        *used += len;
        page.changes.push(FeedChange {
            doc_id: row.doc_id,
            hash: row.hash,
            bytes,
            kind: row.kind,
            child_id: row.child_id,
            summary: row.summary,
        });
        page.next = position;
    }
    false
}

/// The quarantine payload for a refused document: the push entry as JSON, changes in base64,
/// exactly as a device would send it again.
pub(crate) fn quarantine_payload(doc: &IncomingDoc) -> Vec<u8> {
    let changes: Vec<String> = doc.changes.iter().map(|c| STANDARD.encode(c)).collect();
    serde_json::to_vec(&serde_json::json!({ "doc_id": doc.doc_id, "changes": changes }))
        .unwrap_or_default()
}

/// Indices of `docs` sorted by document id, so concurrent pushes lock documents in one order.
pub(crate) fn lock_order(docs: &[IncomingDoc]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..docs.len()).collect();
    order.sort_by(|&a, &b| docs[a].doc_id.cmp(&docs[b].doc_id));
    order
}

pub(crate) fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
