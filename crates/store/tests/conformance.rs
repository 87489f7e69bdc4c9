//! The store conformance suite: every test runs on SQLite (a temp file) and on PostgreSQL (a
//! fresh database per test on `$FIELDNOTES_TEST_PG_URL`, default the local trust-auth server).
//! A PostgreSQL that cannot be reached fails the suite; it is never skipped.
//!
//! The merger here treats change bytes as opaque, so the suite tests storage, not automerge:
//! a change's "hash" is its bytes as text, bytes starting `bad` are refused, `dep` deferred.

// Test code: a failed unwrap is a failed test, and sizes here are small.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use fieldnotes_store::StoreError;
use fieldnotes_store::review::{NewReviewItem, ReviewFinding};
use fieldnotes_store::testing;
use fieldnotes_store::{
    DocHead, DocResult, FeedAnchor, FeedPosition, IncomingDoc, Lacking, MergeOutcome, Merger,
    NewChange, NewQuarantine, PullPage, PullRequest, PushContext, ScopeFilter, Store,
    StoredDocument,
};
use fieldnotes_vocab::{DocKind, ErrorCode, ItemKind, RejectCode, ReviewStatus};
use sqlx::Connection;

#[path = "conformance/directory.rs"]
mod directory;
#[path = "conformance/late_commit.rs"]
mod late_commit;
#[path = "conformance/scoped.rs"]
mod scoped;

use directory::*;
use scoped::*;

struct Db {
    store: Arc<dyn Store>,
    /// The database's URL, for tests that write to it behind the store's back.
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg.take() {
            testing::drop_pg_database(admin, name);
        }
    }
}

impl Db {
    /// Run `sql` on the database directly, as damage or an older server would.
    async fn execute(&self, sql: &str) {
        if self.pg.is_some() {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
    }
}

async fn sqlite() -> Db {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join("nested/folder/server.db").display()
    );
    let store = fieldnotes_store::open(&url).await.unwrap();
    Db {
        store: Arc::from(store),
        url,
        _dir: Some(dir),
        pg: None,
    }
}

async fn postgres() -> Db {
    let admin = testing::pg_admin_url();
    let (name, url) = testing::create_pg_database(&admin, "fieldnotes_store")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let store = fieldnotes_store::open(&url).await.unwrap();
    Db {
        store: Arc::from(store),
        url,
        _dir: None,
        pg: Some((admin, name)),
    }
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name(super::sqlite().await).await }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() { super::$name(super::postgres().await).await }
            )*
        }
    };
}

on_both!(
    push_then_pull_round_trips,
    duplicate_push_stores_once,
    own_changes_are_not_pulled_back_but_cursor_moves,
    pages_respect_size_and_never_split_or_repeat,
    refusals_are_quarantined_and_do_not_block_the_batch,
    deferred_documents_store_nothing,
    late_commit_is_never_skipped,
    history_keeps_attribution,
    quarantine_of_unreadable_input,
    the_feed_sends_only_documents_in_scope,
    a_key_new_to_the_device_is_sent_in_full_whatever_the_cursor,
    a_key_fetched_again_brings_the_devices_own_later_changes,
    backfill_pages_resume_without_repeats,
    backfilling_everything,
    people_children_and_allocation_history,
    scope_facts_follow_allocations_referrals_and_grants,
    refresh_tokens_work_once_and_reuse_ends_the_session,
    a_refresh_retried_within_the_grace_window_gets_its_successor,
    usernames_are_unique_and_found_without_case,
    devices_keep_their_person_and_actor,
    revoked_devices_cannot_refresh,
    the_signing_secret_is_made_once,
    the_feed_anchor_names_the_newest_row,
    lacking_names_documents_without_the_head_and_the_actors_changes,
    a_stored_value_outside_the_vocabulary_is_an_error_naming_it,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_push_cannot_overtake_one_in_flight() {
    late_commit::a_push_cannot_overtake_one_in_flight(postgres().await).await
}

/// Opaque test merger: snapshot is the sorted set of change bytes joined by `|`. With a
/// [`Hold`], it blocks inside the write transaction on documents named `hold…` until released.
struct TestMerger(Option<Hold>);

/// The test merger, holding nothing.
static TEST_MERGER: TestMerger = TestMerger(None);

/// Where a holding [`TestMerger`] says it has reached a `hold…` document, and waits to go on.
struct Hold {
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Merger for TestMerger {
    fn merge(
        &self,
        doc_id: &str,
        current: Option<&StoredDocument>,
        incoming: &[Vec<u8>],
    ) -> MergeOutcome {
        if let Some(hold) = &self.0
            && doc_id.starts_with("hold")
        {
            hold.entered.lock().unwrap().send(()).unwrap();
            hold.release
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(30))
                .unwrap();
        }
        if incoming.iter().any(|c| c.starts_with(b"bad")) {
            return MergeOutcome::Rejected {
                code: RejectCode::MalformedChange,
                reason: "starts with bad".into(),
            };
        }
        if incoming.iter().any(|c| c.starts_with(b"dep")) {
            return MergeOutcome::Deferred {
                reason: "needs more".into(),
                missing: vec!["x".into()],
            };
        }
        let mut known: BTreeSet<Vec<u8>> = current
            .map(|d| {
                d.snapshot
                    .split(|b| *b == b'|')
                    .filter(|s| !s.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect()
            })
            .unwrap_or_default();
        let mut new_changes = Vec::new();
        for change in incoming {
            if known.insert(change.clone()) {
                new_changes.push(NewChange {
                    hash: String::from_utf8_lossy(change).into_owned(),
                    bytes: change.clone(),
                    actor: "aa".into(),
                    device_time_ms: 7,
                });
            }
        }
        // A document `kid~x` is about child `kid`; any other about `child-1`.
        let child = doc_id.split_once('~').map_or("child-1", |(c, _)| c);
        MergeOutcome::Applied {
            kind: DocKind::VisitNote,
            child_id: Some(child.to_owned()),
            scope_key: format!("child:{child}"),
            summary: format!("{} change(s)", known.len()),
            snapshot: known.into_iter().collect::<Vec<_>>().join(&b'|'),
            new_changes,
            accepted_hashes: incoming
                .iter()
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect(),
            findings: Vec::new(),
            events: Vec::new(),
        }
    }
}

fn ctx(device: &str) -> PushContext {
    ctx_at(device, 1_700_000_000_000)
}

fn ctx_at(device: &str, received_at_ms: i64) -> PushContext {
    PushContext {
        device_id: device.into(),
        received_at_ms,
    }
}

/// Push `docs` with the test merger; a failure fails the test.
async fn push_ok(s: &dyn Store, ctx: &PushContext, docs: Vec<IncomingDoc>) -> Vec<DocResult> {
    s.push(ctx, docs, &TEST_MERGER).await.unwrap()
}

/// What the test merger answers for a document of `child-1` whose pushed `hashes` held
/// `new_changes` changes the store did not have.
fn accepted(hashes: &[&str], new_changes: u64) -> DocResult {
    DocResult::Accepted {
        hashes: hashes.iter().map(|h| (*h).to_owned()).collect(),
        child_id: Some("child-1".into()),
        new_changes,
        events: Vec::new(),
    }
}

fn doc(id: &str, changes: &[&str]) -> IncomingDoc {
    IncomingDoc {
        doc_id: id.into(),
        changes: changes.iter().map(|c| c.as_bytes().to_vec()).collect(),
    }
}

/// One page of the whole feed for `device` (no scope limit, no backfill).
async fn pull(
    store: &dyn Store,
    device: &str,
    after: Option<FeedPosition>,
    max_bytes: u64,
) -> Result<PullPage, fieldnotes_store::StoreError> {
    store
        .pull(&PullRequest {
            device_id: device.to_owned(),
            after,
            max_bytes,
            scope: ScopeFilter::All,
            backfill: Vec::new(),
            backfill_from: None,
        })
        .await
}

/// Pull everything due for `device` from `after`, following `more`.
async fn pull_all(
    store: &dyn Store,
    device: &str,
    after: Option<FeedPosition>,
) -> (Vec<String>, FeedPosition) {
    let mut hashes = Vec::new();
    let mut cursor = after;
    loop {
        let page = pull(store, device, cursor, 1 << 20).await.unwrap();
        hashes.extend(page.changes.iter().map(|c| c.hash.clone()));
        cursor = Some(page.next);
        if !page.more {
            return (hashes, page.next);
        }
    }
}

async fn push_then_pull_round_trips(db: Db) {
    let s = &*db.store;
    let res = push_ok(
        s,
        &ctx("dev-a"),
        vec![doc("d1", &["c1", "c2"]), doc("d2", &["c3"])],
    )
    .await;
    assert_eq!(res[0], accepted(&["c1", "c2"], 2));
    assert_eq!(res[1], accepted(&["c3"], 1));
    let page = pull(s, "dev-b", None, 1 << 20).await.unwrap();
    assert!(!page.more);
    let got: Vec<(String, Vec<u8>)> = page
        .changes
        .iter()
        .map(|c| (c.doc_id.clone(), c.bytes.clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("d1".into(), b"c1".to_vec()),
            ("d1".into(), b"c2".to_vec()),
            ("d2".into(), b"c3".to_vec())
        ]
    );
    // Nothing new after the cursor.
    let again = pull(s, "dev-b", Some(page.next), 1 << 20).await.unwrap();
    assert!(again.changes.is_empty());
    assert_eq!(again.next, page.next);
    let stored = s.get_document("d1").await.unwrap().unwrap();
    assert_eq!(stored.snapshot, b"c1|c2");
    assert_eq!(stored.kind, DocKind::VisitNote);
    assert_eq!(stored.child_id.as_deref(), Some("child-1"));
    assert!(s.get_document("nope").await.unwrap().is_none());
    s.ping().await.unwrap();
}

async fn duplicate_push_stores_once(db: Db) {
    let s = &*db.store;
    for round in 0..3 {
        let res = push_ok(s, &ctx("dev-a"), vec![doc("d1", &["c1", "c2"])]).await;
        assert_eq!(
            res[0],
            accepted(&["c1", "c2"], if round == 0 { 2 } else { 0 })
        );
    }
    // Out of order and overlapping.
    push_ok(s, &ctx("dev-a"), vec![doc("d1", &["c3", "c1"])]).await;
    assert_eq!(s.document_changes("d1").await.unwrap().len(), 3);
    let (hashes, _) = pull_all(s, "dev-b", None).await;
    assert_eq!(hashes, vec!["c1", "c2", "c3"]);
}

async fn own_changes_are_not_pulled_back_but_cursor_moves(db: Db) {
    let s = &*db.store;
    push_ok(s, &ctx("dev-a"), vec![doc("d1", &["a1"])]).await;
    push_ok(s, &ctx("dev-b"), vec![doc("d2", &["b1"])]).await;
    push_ok(s, &ctx("dev-a"), vec![doc("d3", &["a2"])]).await;
    let page = pull(s, "dev-a", None, 1 << 20).await.unwrap();
    assert_eq!(
        page.changes
            .iter()
            .map(|c| c.hash.as_str())
            .collect::<Vec<_>>(),
        vec!["b1"]
    );
    // The cursor is past a2 too, so a later pull does not rescan it.
    let later = pull(s, "dev-a", Some(page.next), 1 << 20).await.unwrap();
    assert!(later.changes.is_empty());
    let (all_b, _) = pull_all(s, "dev-b", None).await;
    assert_eq!(all_b, vec!["a1", "a2"]);
}

async fn pages_respect_size_and_never_split_or_repeat(db: Db) {
    let s = &*db.store;
    // 1,500 changes of ~100 bytes across several pushes: more than one feed batch.
    let mut expected = Vec::new();
    for p in 0..5 {
        let docs: Vec<IncomingDoc> = (0..30)
            .map(|d| {
                let changes: Vec<String> = (0..10)
                    .map(|c| format!("p{p}-d{d}-c{c}-{}", "x".repeat(90)))
                    .collect();
                expected.extend(changes.iter().cloned());
                IncomingDoc {
                    doc_id: format!("doc-{p}-{d:02}"),
                    changes: changes.into_iter().map(String::into_bytes).collect(),
                }
            })
            .collect();
        s.push(&ctx("dev-a"), docs, &TEST_MERGER).await.unwrap();
    }
    let mut got = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = pull(s, "dev-b", cursor, 10_000).await.unwrap();
        pages += 1;
        let size: usize = page.changes.iter().map(|c| c.bytes.len()).sum();
        assert!(size <= 10_000, "page of {size} bytes exceeds the limit");
        assert!(!page.changes.is_empty());
        got.extend(page.changes.iter().map(|c| c.hash.clone()));
        cursor = Some(page.next);
        if !page.more {
            break;
        }
    }
    assert!(pages >= 15, "expected many pages, got {pages}");
    let mut sorted_got = got.clone();
    sorted_got.sort();
    sorted_got.dedup();
    assert_eq!(sorted_got.len(), got.len(), "a change was delivered twice");
    let mut sorted_expected = expected.clone();
    sorted_expected.sort();
    assert_eq!(sorted_got, sorted_expected);
    // A change larger than the page still comes through, alone.
    let big = "y".repeat(50_000);
    push_ok(s, &ctx("dev-a"), vec![doc("big", &[&big])]).await;
    let page = pull(s, "dev-b", cursor, 1_000).await.unwrap();
    assert_eq!(page.changes.len(), 1);
    assert_eq!(page.changes[0].bytes.len(), 50_000);
}

async fn refusals_are_quarantined_and_do_not_block_the_batch(db: Db) {
    let s = &*db.store;
    let res = push_ok(
        s,
        &ctx("dev-a"),
        vec![
            doc("good-1", &["g1"]),
            doc("broken", &["bad!"]),
            doc("good-2", &["g2"]),
        ],
    )
    .await;
    assert_eq!(res[0], accepted(&["g1"], 1));
    let DocResult::Rejected {
        code,
        reason,
        quarantine_id,
    } = &res[1]
    else {
        panic!("{:?}", res[1])
    };
    assert_eq!(*code, RejectCode::MalformedChange);
    assert_eq!(reason, "starts with bad");
    assert_eq!(res[2], accepted(&["g2"], 1));
    let list = s.list_quarantine(None, 10).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, *quarantine_id);
    assert_eq!(list[0].doc_id.as_deref(), Some("broken"));
    assert_eq!(list[0].device_id.as_deref(), Some("dev-a"));
    let payload = s.quarantine_payload(*quarantine_id).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(json["doc_id"], "broken");
    assert_eq!(json["changes"][0], "YmFkIQ=="); // base64 of "bad!"
    assert_eq!(list[0].size, payload.len() as u64);
    assert!(s.get_document("broken").await.unwrap().is_none());
    assert!(matches!(
        s.quarantine_payload(quarantine_id + 1000).await,
        Err(fieldnotes_store::StoreError::NotFound { .. })
    ));
}

async fn deferred_documents_store_nothing(db: Db) {
    let s = &*db.store;
    let res = push_ok(
        s,
        &ctx("dev-a"),
        vec![doc("d1", &["dep-1"]), doc("d2", &["ok"])],
    )
    .await;
    assert!(
        matches!(&res[0], DocResult::Deferred { missing, .. } if missing == &vec!["x".to_string()])
    );
    assert!(matches!(&res[1], DocResult::Accepted { .. }));
    assert!(s.get_document("d1").await.unwrap().is_none());
    assert!(s.list_quarantine(None, 10).await.unwrap().is_empty());
}

/// A push that took its feed position before another push but commits after it must still be
/// delivered to a device that pulled in between. On PostgreSQL the two pushes really run
/// concurrently; on SQLite the single writer makes the second wait.
async fn late_commit_is_never_skipped(db: Db) {
    let store = db.store.clone();
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel();
    let holding = Arc::new(TestMerger(Some(Hold {
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    })));

    // Slow push: merges `a-first`, then holds its transaction open while merging `hold`.
    let slow = {
        let store = store.clone();
        let holding = holding.clone();
        tokio::spawn(async move {
            store
                .push(
                    &ctx("dev-a"),
                    vec![doc("a-first", &["slow-1"]), doc("hold", &["slow-2"])],
                    &*holding,
                )
                .await
        })
    };
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(Duration::from_secs(30)))
        .await
        .unwrap()
        .expect("slow push should reach its merge");

    // Fast push from another device, started meanwhile. On PostgreSQL it commits while the slow
    // push is still open, and the pull below waits for that commit; on SQLite the single
    // writer makes it wait for the slow push, so it cannot commit before the pull either way.
    let mut fast = Some({
        let store = store.clone();
        tokio::spawn(async move {
            store
                .push(&ctx("dev-b"), vec![doc("b-doc", &["fast-1"])], &TEST_MERGER)
                .await
        })
    });
    if db.pg.is_some() {
        let committed = fast.take().unwrap();
        tokio::time::timeout(Duration::from_secs(30), committed)
            .await
            .expect("a push waited for the merge of another push")
            .unwrap()
            .unwrap();
    }

    // A third device pulls now, while the slow push is still open.
    let (seen_early, cursor) = pull_all(&*store, "dev-c", None).await;
    assert!(
        !seen_early.contains(&"slow-1".to_string()),
        "uncommitted data was visible"
    );

    release_tx.send(()).unwrap();
    slow.await.unwrap().unwrap();
    if let Some(fast) = fast {
        fast.await.unwrap().unwrap();
    }

    let (seen_late, _) = pull_all(&*store, "dev-c", Some(cursor)).await;
    let mut all: Vec<String> = seen_early.into_iter().chain(seen_late).collect();
    all.sort();
    assert_eq!(
        all,
        vec!["fast-1", "slow-1", "slow-2"],
        "a change was skipped or repeated"
    );
}

async fn history_keeps_attribution(db: Db) {
    let s = &*db.store;
    push_ok(s, &ctx_at("dev-a", 1000), vec![doc("d1", &["c1"])]).await;
    push_ok(s, &ctx_at("dev-b", 2000), vec![doc("d1", &["c2"])]).await;
    let history = s.document_changes("d1").await.unwrap();
    let summary: Vec<(&str, &str, i64, i64)> = history
        .iter()
        .map(|c| {
            (
                c.hash.as_str(),
                c.device_id.as_str(),
                c.received_at_ms,
                c.device_time_ms,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![("c1", "dev-a", 1000, 7), ("c2", "dev-b", 2000, 7)]
    );
    assert_eq!(history[0].actor, "aa");
    assert_eq!(
        s.get_document("d1").await.unwrap().unwrap().updated_at_ms,
        2000
    );
}

async fn quarantine_of_unreadable_input(db: Db) {
    let s = &*db.store;
    let first = s
        .quarantine(NewQuarantine {
            device_id: Some("dev-a".into()),
            doc_id: None,
            code: ErrorCode::MalformedRequest.into(),
            reason: "not JSON".into(),
            payload: b"{not json".to_vec(),
            received_at_ms: 5,
        })
        .await
        .unwrap();
    let second = s
        .quarantine(NewQuarantine {
            device_id: None,
            doc_id: Some("d9".into()),
            code: RejectCode::InvalidDocument.into(),
            reason: "y".into(),
            payload: vec![0, 1, 2],
            received_at_ms: 6,
        })
        .await
        .unwrap();
    assert!(second > first);
    assert_eq!(s.quarantine_payload(first).await.unwrap(), b"{not json");
    let after_first = s.list_quarantine(Some(first), 10).await.unwrap();
    assert_eq!(after_first.len(), 1);
    assert_eq!(after_first[0].id, second);
    assert_eq!(after_first[0].size, 3);
    assert_eq!(s.list_quarantine(None, 1).await.unwrap().len(), 1);
}

/// Text in a typed column that is not in the vocabulary reads as an error that names the
/// column and the value, never as a default.
async fn a_stored_value_outside_the_vocabulary_is_an_error_naming_it(db: Db) {
    let s = &*db.store;
    let item = NewReviewItem {
        doc_id: "d1".into(),
        doc_kind: DocKind::VisitNote,
        child_id: None,
        finding: ReviewFinding {
            item_kind: ItemKind::Conflict,
            field: "title".into(),
            summary: "two titles".into(),
            sides: serde_json::json!([]),
            seen_heads: Vec::new(),
        },
        device_id: None,
        at_ms: 1,
    };
    let id = s.record_review(&item).await.unwrap();
    let stored = s.get_review(id).await.unwrap().unwrap();
    assert_eq!(
        (stored.doc_kind, stored.item_kind, stored.status),
        (DocKind::VisitNote, ItemKind::Conflict, ReviewStatus::Open)
    );
    db.execute(&format!(
        "UPDATE review_items SET item_kind = 'made_up' WHERE item_id = {id}"
    ))
    .await;
    let err = s.get_review(id).await.unwrap_err();
    let StoreError::Unreadable { column, reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(column, "item_kind");
    assert!(reason.contains("\"made_up\""), "{reason}");
    assert!(err.storage_failure().is_some());
}

/// The anchor names the feed's newest row; it holds while that row is there with its stamp,
/// and not for another feed, a position past the feed, or another stamp.
async fn the_feed_anchor_names_the_newest_row(db: Db) {
    let s = &*db.store;
    let empty = s.feed_anchor().await.unwrap();
    assert_eq!((empty.seq, empty.stamp), (0, 0));
    assert!(!empty.feed_id.is_empty());
    assert!(s.anchor_holds(&empty).await.unwrap());

    push_ok(s, &ctx("dev-a"), vec![doc("d1", &["c1", "c2"])]).await;
    let first = s.feed_anchor().await.unwrap();
    assert!(first.seq > 0 && first.stamp != 0);
    assert_eq!(first.feed_id, empty.feed_id, "one feed");
    push_ok(s, &ctx("dev-b"), vec![doc("d2", &["c3"])]).await;
    let second = s.feed_anchor().await.unwrap();
    assert!(second.seq > first.seq);
    assert_ne!(second.stamp, first.stamp, "each push has its own stamp");
    for holds in [&empty, &first, &second] {
        assert!(s.anchor_holds(holds).await.unwrap(), "{holds:?}");
    }
    let broken = [
        FeedAnchor {
            seq: second.seq + 1,
            ..second.clone()
        },
        FeedAnchor {
            stamp: second.stamp ^ 1,
            ..second.clone()
        },
        FeedAnchor {
            feed_id: "0123456789abcdef".into(),
            ..second.clone()
        },
        FeedAnchor {
            feed_id: "0123456789abcdef".into(),
            ..empty.clone()
        },
    ];
    for anchor in &broken {
        assert!(!s.anchor_holds(anchor).await.unwrap(), "{anchor:?}");
    }
}

/// After a restore the device names its newest change per document; the store answers which
/// it lacks, with the actor's changes it holds for them.
async fn lacking_names_documents_without_the_head_and_the_actors_changes(db: Db) {
    let s = &*db.store;
    push_ok(
        s,
        &ctx("dev-a"),
        vec![doc("d1", &["c1", "c2"]), doc("d2", &["c3"])],
    )
    .await;
    let head = |d: &str, h: &str| DocHead {
        doc_id: d.into(),
        hash: h.into(),
    };
    let heads = [head("d1", "c2"), head("d9", "c1"), head("d2", "c4")];
    assert_eq!(
        s.lacking("aa", &heads).await.unwrap(),
        vec![
            Lacking {
                doc_id: "d9".into(),
                have: vec![],
            },
            Lacking {
                doc_id: "d2".into(),
                have: vec!["c3".into()],
            },
        ]
    );
    let other = s.lacking("bb", &heads).await.unwrap();
    assert!(other.iter().all(|l| l.have.is_empty()), "{other:?}");
    assert!(s.lacking("aa", &[]).await.unwrap().is_empty());
}
