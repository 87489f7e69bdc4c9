//! The store's guarantees, written once against the API every backend provides
//! ([`LocalStore`] over a [`Backend`]). Each guarantee is a plain async function taking a
//! [`Subject`] (a backend that can be opened, reopened and read at rest); a backend's test
//! module runs every one of them. The native SQLite store runs them below from
//! `#[tokio::test]`s; a browser store runs the same functions in Chromium.
//!
//! Each function returns an error for a store call that failed, and panics (an assertion)
//! when a guarantee does not hold.

use std::collections::BTreeMap;

use fieldnotes_protocol::{Cursor, FeedAnchor, RejectCode};
use fieldnotes_sync_core::{ChangeRef, Effect, Limits, SyncRun, SyncState, Waiting};

use super::effects::{Applied, Applier};
use super::{Backend, DocRow, LocalStore};
use crate::ClientError;
use crate::crypto::{DataKey, Keys};

/// A store under test: it can be opened (again, as a new process or a reloaded page would),
/// and everything it holds at rest can be read back as bytes.
#[allow(async_fn_in_trait)]
pub(crate) trait Subject {
    type B: Backend;
    /// Open the store; a second call sees only what the first one committed.
    async fn open(&mut self) -> Result<LocalStore<Self::B>, ClientError>;
    /// Every byte the store keeps (called after the store is closed).
    async fn bytes_at_rest(&mut self) -> Vec<u8>;
}

/// Working keys for a test store.
pub(crate) fn test_keys() -> Keys {
    match DataKey::generate() {
        Ok(key) => key.keys(),
        Err(e) => panic!("no data key: {e}"),
    }
}

fn row(doc_id: &str, kind: &str, child: &str, summary: &str, at: i64) -> DocRow {
    DocRow {
        doc_id: doc_id.to_owned(),
        kind: kind.to_owned(),
        child_id: Some(child.to_owned()),
        summary: summary.to_owned(),
        updated_at_ms: at,
    }
}

/// What every guarantee works with: the data key's keys and the device's actor.
struct Fixture {
    keys: Keys,
    actor: automerge::ActorId,
}

impl Fixture {
    /// A new fixture, and `subject`'s store opened.
    async fn open<S: Subject>(subject: &mut S) -> Result<(Self, LocalStore<S::B>), ClientError> {
        let fixture = Fixture {
            keys: test_keys(),
            actor: automerge::ActorId::random(),
        };
        Ok((fixture, subject.open().await?))
    }

    /// Record a document with its first change (its hash: [`hash_of`]), as an edit does: in
    /// one transaction, under the scope of the document's child.
    async fn record<B: Backend>(
        &self,
        store: &LocalStore<B>,
        doc: &DocRow,
        snapshot: &[u8],
        change: &[u8],
    ) -> Result<(), ClientError> {
        let scope = format!("child:{}", doc.child_id.as_deref().unwrap_or_default());
        let mut tx = store.begin().await?;
        tx.put_document(&self.keys, doc, &scope, snapshot).await?;
        let hash = hash_of(change);
        tx.enqueue(&self.keys, &doc.doc_id, &hash, change, doc.updated_at_ms)
            .await?;
        store.commit(tx).await
    }

    /// Add a further change of `doc_id` to the outbox, as a later edit does.
    async fn enqueue<B: Backend>(
        &self,
        store: &LocalStore<B>,
        doc_id: &str,
        change: &[u8],
        at: i64,
    ) -> Result<(), ClientError> {
        let mut tx = store.begin().await?;
        tx.enqueue(&self.keys, doc_id, &hash_of(change), change, at)
            .await?;
        store.commit(tx).await
    }

    /// Apply `effects` in one transaction, as a sync does.
    async fn apply<B: Backend>(
        &self,
        store: &LocalStore<B>,
        effects: &[Effect],
    ) -> Result<Applied, ClientError> {
        let by = Applier {
            keys: &self.keys,
            actor: &self.actor,
            now_ms: 1_000,
        };
        store.apply_effects(by, effects).await
    }

    /// Hold the first outbox change of `doc_id` (whose bytes are `change`) with `reason`.
    async fn hold<B: Backend>(
        &self,
        store: &LocalStore<B>,
        doc_id: &str,
        change: &[u8],
        reason: &str,
    ) -> Result<Effect, ClientError> {
        let seq = store.doc_outbox(&self.keys, doc_id).await?[0].seq;
        Ok(Effect::Hold {
            doc_id: doc_id.into(),
            changes: vec![ChangeRef {
                seq,
                hash: hash_of(change),
            }],
            code: RejectCode::InvalidDocument,
            reason: reason.into(),
        })
    }
}

fn complete(key: &str) -> Effect {
    Effect::CompleteScope { key: key.into() }
}

fn acknowledge(doc_id: &str, change: &[u8]) -> Effect {
    Effect::Acknowledge {
        doc_id: doc_id.into(),
        hashes: vec![hash_of(change)],
    }
}

/// What a guarantee returns: an error for a store call that failed.
type Outcome = Result<(), ClientError>;

/// The outbox changes a sync would send, as (document, bytes), in outbox order.
async fn to_send<B: Backend>(
    store: &LocalStore<B>,
    keys: &Keys,
) -> Result<Vec<(String, Vec<u8>)>, ClientError> {
    let mut run = SyncRun::new(Limits {
        push_batch_bytes: u64::MAX,
        page_bytes: 1,
    });
    let mut batch = run.batch();
    store.fill_batch(keys, &mut batch).await?;
    let round = run.round(SyncState::default(), batch, Vec::new());
    let mut out = Vec::new();
    for doc in &round.request().push {
        for change in &doc.changes {
            out.push((doc.doc_id.clone(), change.0.clone()));
        }
    }
    Ok(out)
}

/// The tests' changes are not automerge changes: a test change's hash is its bytes in hex.
fn hash_of(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// A recorded edit is in the outbox, and its document and listing readable, after the store
/// is closed and opened again.
pub(crate) async fn recorded_edit_survives_reopen<S: Subject>(s: &mut S) -> Outcome {
    let (fx, store) = Fixture::open(s).await?;
    let keys = &fx.keys;
    let doc = row("doc-1", "note", "c1", "Home visit", 10);
    let change: &[u8] = b"change one of doc-1";
    fx.record(&store, &doc, b"saved state of doc-1", change)
        .await?;
    store.close().await;

    let store = s.open().await?;
    assert_eq!(
        store.snapshot(keys, "doc-1").await?.as_deref(),
        Some(&b"saved state of doc-1"[..]),
        "the document is readable after reopen"
    );
    assert_eq!(store.pending_changes().await?, 1);
    assert_eq!(
        to_send(&store, keys).await?,
        vec![("doc-1".to_owned(), change.to_vec())],
        "the change waits in the outbox, as it was recorded"
    );
    let listed = store.list(keys, None).await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].child_id.as_deref(), Some("c1"));
    assert_eq!(listed[0].summary, "Home visit");
    assert_eq!(
        store.own_heads_after("", 10).await?,
        vec![("doc-1".to_owned(), hash_of(change))],
        "the edit is this device's newest change to the document"
    );
    store.close().await;
    Ok(())
}

/// A transaction that fails part-way leaves nothing of itself: neither a transaction
/// dropped after some writes, nor a list of effects of which one fails.
pub(crate) async fn failed_transaction_leaves_nothing<S: Subject>(s: &mut S) -> Outcome {
    let (fx, store) = Fixture::open(s).await?;
    let keys = &fx.keys;
    let kept: &[u8] = b"kept change";
    let doc = row("doc-kept", "note", "c1", "Kept", 10);
    fx.record(&store, &doc, b"kept state", kept).await?;

    // Written, then dropped (as `?` drops it on an error) before the commit.
    {
        let mut tx = store.begin().await?;
        let lost: &[u8] = b"lost change";
        let doc = row("doc-lost", "note", "c1", "Lost", 20);
        tx.put_document(keys, &doc, "child:c1", b"s").await?;
        tx.enqueue(keys, "doc-lost", &hash_of(lost), lost, 20)
            .await?;
        tx.set_meta("cursor", "lost-cursor").await?;
        tx.acknowledge("doc-kept", &hash_of(kept)).await?;
    }
    // Effects applied together: the last one fails, so none of them is kept.
    let cursor = Effect::SetCursor {
        cursor: Cursor("effects-cursor".into()),
        anchor: None,
    };
    let failed = fx
        .apply(
            &store,
            &[acknowledge("doc-kept", kept), cursor, Effect::Wipe],
        )
        .await;
    assert!(failed.is_err(), "a wipe inside a transaction fails it");
    store.close().await;

    let store = s.open().await?;
    assert_eq!(store.snapshot(keys, "doc-lost").await?, None);
    assert_eq!(store.document_count().await?, 1);
    assert_eq!(store.meta("cursor").await?, None);
    assert_eq!(
        to_send(&store, keys).await?,
        vec![("doc-kept".to_owned(), kept.to_vec())],
        "only the committed change waits"
    );
    assert_eq!(store.own_heads_after("", 10).await?.len(), 1);
    store.close().await;
    Ok(())
}

/// Changes the server acknowledged leave the outbox; the others stay, in order.
pub(crate) async fn acknowledged_changes_leave_the_outbox<S: Subject>(s: &mut S) -> Outcome {
    let (fx, store) = Fixture::open(s).await?;
    let keys = &fx.keys;
    let (one, two): (&[u8], &[u8]) = (b"first change", b"second change");
    let doc = row("doc-1", "note", "c1", "A", 10);
    fx.record(&store, &doc, b"s1", one).await?;
    fx.enqueue(&store, "doc-1", two, 11).await?;
    fx.record(
        &store,
        &row("doc-2", "note", "c1", "B", 12),
        b"s2",
        b"third change",
    )
    .await?;
    assert_eq!(store.pending_changes().await?, 3);
    assert_eq!(
        store.pending_by_document().await?,
        BTreeMap::from([("doc-1".to_owned(), 2), ("doc-2".to_owned(), 1)]),
        "each document counts its own waiting changes"
    );

    let applied = fx
        .apply(
            &store,
            &[
                acknowledge("doc-1", one),
                acknowledge("doc-2", b"third change"),
            ],
        )
        .await?;
    assert_eq!(applied.acknowledged, 2);
    store.close().await;

    let store = s.open().await?;
    assert_eq!(store.pending_changes().await?, 1);
    assert_eq!(
        store.pending_by_document().await?,
        BTreeMap::from([("doc-1".to_owned(), 1)]),
        "a document with nothing waiting is not counted"
    );
    assert_eq!(
        to_send(&store, keys).await?,
        vec![("doc-1".to_owned(), two.to_vec())]
    );
    // Acknowledging again (a duplicated answer) removes nothing more.
    let applied = fx.apply(&store, &[acknowledge("doc-1", one)]).await?;
    assert_eq!(applied.acknowledged, 0);
    assert_eq!(store.pending_changes().await?, 1);
    store.close().await;
    Ok(())
}

/// A change the server refused is held with its reason: kept, shown, not sent, until its
/// document is edited again.
pub(crate) async fn held_changes_keep_their_reason<S: Subject>(s: &mut S) -> Outcome {
    let (fx, store) = Fixture::open(s).await?;
    let (refused, other): (&[u8], &[u8]) = (b"refused change", b"other document's change");
    fx.record(&store, &row("doc-1", "note", "c1", "A", 10), b"s1", refused)
        .await?;
    fx.record(&store, &row("doc-2", "note", "c1", "B", 11), b"s2", other)
        .await?;
    let reason = "the child's date of birth is in the future";
    let hold = fx.hold(&store, "doc-1", refused, reason).await?;
    fx.apply(&store, &[hold]).await?;
    store.close().await;

    let store = s.open().await?;
    let keys = &fx.keys;
    let held = store.held(keys).await?;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].doc_id, "doc-1");
    assert_eq!(held[0].code, RejectCode::InvalidDocument);
    assert_eq!(held[0].reason, reason);
    assert_eq!(held[0].changes, 1);
    assert_eq!(store.held_count().await?, 1);
    assert_eq!(store.held_doc_ids().await?, vec!["doc-1".to_owned()]);
    let rows = store.doc_outbox(keys, "doc-1").await?;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].held_code.as_deref(), Some("invalid_document"));
    assert_eq!(rows[0].held_reason, reason);
    assert_eq!(store.pending_changes().await?, 2, "a held change is kept");
    assert_eq!(
        to_send(&store, keys).await?,
        vec![("doc-2".to_owned(), other.to_vec())],
        "a held change is not sent"
    );

    // Edited again, the document is released: all its changes go.
    let edit: &[u8] = b"the fix";
    fx.enqueue(&store, "doc-1", edit, 12).await?;
    assert!(store.held(keys).await?.is_empty());
    assert_eq!(to_send(&store, keys).await?.len(), 3);
    store.close().await;
    Ok(())
}

/// The cursor, the anchor and the scope lists the sync core keeps read back as written.
pub(crate) async fn sync_metadata_round_trips<S: Subject>(s: &mut S) -> Outcome {
    let (fx, store) = Fixture::open(s).await?;
    let keys = &fx.keys;
    let effects = [
        complete("child:c1"),
        complete("child:c2"),
        Effect::StartRemoval {
            key: "child:c2".into(),
        },
        Effect::SetHealing(Some("doc-9".into())),
        Effect::SetCursor {
            cursor: Cursor("cursor-1".into()),
            anchor: Some(FeedAnchor("anchor-1".into())),
        },
    ];
    fx.apply(&store, &effects).await?;
    store.close().await;

    let store = s.open().await?;
    let state = store.sync_state(keys).await?;
    assert_eq!(state.cursor, Some(Cursor("cursor-1".into())));
    assert_eq!(state.anchor, Some(FeedAnchor("anchor-1".into())));
    assert_eq!(state.scopes, vec!["child:c1".to_owned()]);
    assert_eq!(state.removing, vec!["child:c2".to_owned()]);
    assert_eq!(state.healing.as_deref(), Some("doc-9"));
    assert_eq!(store.held_scopes(keys).await?, vec!["child:c1".to_owned()]);

    // A cursor without an anchor keeps the anchor; the end of healing clears it.
    let effects = [
        Effect::SetHealing(None),
        Effect::CancelRemoval {
            key: "child:c2".into(),
        },
        Effect::SetCursor {
            cursor: Cursor("cursor-2".into()),
            anchor: None,
        },
    ];
    fx.apply(&store, &effects).await?;
    let state = store.sync_state(keys).await?;
    assert_eq!(state.cursor, Some(Cursor("cursor-2".into())));
    assert_eq!(state.anchor, Some(FeedAnchor("anchor-1".into())));
    assert!(state.removing.is_empty());
    assert_eq!(state.healing, None);
    store.close().await;
    Ok(())
}

/// A removed scope's documents (and their held changes) are gone; other scopes' stay.
pub(crate) async fn removed_scope_is_gone<S: Subject>(s: &mut S) -> Outcome {
    let (fx, store) = Fixture::open(s).await?;
    let (gone, stays): (&[u8], &[u8]) = (b"change of c1", b"change of c2");
    for (doc, snapshot, change) in [
        (row("doc-c1", "note", "c1", "A", 10), b"s1", gone),
        (row("doc-c2", "note", "c2", "B", 11), b"s2", stays),
    ] {
        fx.record(&store, &doc, snapshot, change).await?;
    }
    let keys = &fx.keys;
    let waiting = store
        .waiting(keys, &["child:c1".to_owned(), "child:c2".to_owned()])
        .await?;
    let mut expected = Waiting::default();
    expected.insert("child:c1".into(), vec![hash_of(gone)]);
    expected.insert("child:c2".into(), vec![hash_of(stays)]);
    assert_eq!(waiting, expected, "each scope's changes waiting to be sent");
    let remove = Effect::RemoveScope {
        key: "child:c1".into(),
    };
    let effects = [complete("child:c1"), complete("child:c2"), remove];
    let applied = fx.apply(&store, &effects).await?;
    assert_eq!(applied.removed_docs, vec!["doc-c1".to_owned()]);
    store.close().await;

    let store = s.open().await?;
    assert_eq!(store.snapshot(keys, "doc-c1").await?, None);
    assert!(store.doc_outbox(keys, "doc-c1").await?.is_empty());
    assert_eq!(
        store.snapshot(keys, "doc-c2").await?.as_deref(),
        Some(&b"s2"[..])
    );
    assert_eq!(listed_ids(&store, keys, None).await?, vec!["doc-c2"]);
    assert_eq!(store.held_scopes(keys).await?, vec!["child:c2".to_owned()]);
    assert_eq!(
        to_send(&store, keys).await?,
        vec![("doc-c2".to_owned(), stays.to_vec())]
    );
    store.close().await;
    Ok(())
}

/// The documents a list shows, in its order.
async fn listed_ids<B: Backend>(
    store: &LocalStore<B>,
    keys: &Keys,
    kind: Option<&str>,
) -> Result<Vec<String>, ClientError> {
    let listed = store.list(keys, kind).await?;
    Ok(listed.into_iter().map(|r| r.doc_id).collect())
}

/// The listing names each document's child and summary, most recently changed first, and
/// filters by kind: what a list of a child's records is made from.
pub(crate) async fn listing_by_child<S: Subject>(s: &mut S) -> Outcome {
    let (fx, store) = Fixture::open(s).await?;
    let keys = &fx.keys;
    let docs = [
        row("doc-a", "note", "c1", "First visit", 10),
        row("doc-b", "referral", "c1", "Referral to speech therapy", 30),
        row("doc-c", "note", "c2", "Other child's visit", 20),
    ];
    for doc in &docs {
        let change = format!("change of {}", doc.doc_id);
        fx.record(&store, doc, b"s", change.as_bytes()).await?;
    }
    store.close().await;

    let store = s.open().await?;
    let listed = store.list(keys, None).await?;
    let seen: Vec<(&str, Option<&str>, &str, i64)> = listed
        .iter()
        .map(|r| {
            (
                r.doc_id.as_str(),
                r.child_id.as_deref(),
                r.summary.as_str(),
                r.updated_at_ms,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("doc-b", Some("c1"), "Referral to speech therapy", 30),
            ("doc-c", Some("c2"), "Other child's visit", 20),
            ("doc-a", Some("c1"), "First visit", 10),
        ]
    );
    let of_c1: Vec<&str> = listed
        .iter()
        .filter(|r| r.child_id.as_deref() == Some("c1"))
        .map(|r| r.doc_id.as_str())
        .collect();
    assert_eq!(of_c1, vec!["doc-b", "doc-a"]);
    assert_eq!(
        listed_ids(&store, keys, Some("note")).await?,
        vec!["doc-c", "doc-a"]
    );
    store.close().await;
    Ok(())
}

/// Nothing a person would recognise is kept in the clear: no child id, title, note text or
/// held reason appears in the store's bytes at rest, while all of them read back.
pub(crate) async fn sealed_at_rest<S: Subject>(s: &mut S) -> Outcome {
    const CHILD: &str = "child-QUINCE-7f3a";
    const TITLE: &str = "Visit to the Marchbank family";
    const NOTE: &str = "Mother says the boiler is broken again";
    const REASON: &str = "refused: Marchbank boiler";
    let (fx, store) = Fixture::open(s).await?;
    let keys = &fx.keys;
    let snapshot = format!("snapshot: {NOTE}");
    let change = format!("change: {NOTE}");
    let doc = row("doc-1", "note", CHILD, TITLE, 10);
    fx.record(&store, &doc, snapshot.as_bytes(), change.as_bytes())
        .await?;
    let hold = fx.hold(&store, "doc-1", change.as_bytes(), REASON).await?;
    fx.apply(&store, &[hold, complete(&format!("child:{CHILD}"))])
        .await?;
    store.close().await;

    let bytes = s.bytes_at_rest().await;
    assert!(!bytes.is_empty(), "the store keeps something at rest");
    for secret in [CHILD, TITLE, NOTE, "Marchbank", "QUINCE"] {
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "{secret:?} is in the clear in the store"
        );
    }

    let store = s.open().await?;
    let listed = store.list(keys, None).await?;
    assert_eq!(listed[0].child_id.as_deref(), Some(CHILD));
    assert_eq!(listed[0].summary, TITLE);
    assert_eq!(
        store.snapshot(keys, "doc-1").await?,
        Some(snapshot.into_bytes())
    );
    assert_eq!(store.held(keys).await?[0].reason, REASON);
    assert_eq!(
        store.held_scopes(keys).await?,
        vec![format!("child:{CHILD}")]
    );
    store.close().await;
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Calls `$runner!` with the name of every guarantee above, so that each backend's runner (the
/// native tests below, a browser runner) runs the same list.
macro_rules! guarantees {
    ($runner:ident) => {
        $runner!(
            recorded_edit_survives_reopen,
            failed_transaction_leaves_nothing,
            acknowledged_changes_leave_the_outbox,
            held_changes_keep_their_reason,
            sync_metadata_round_trips,
            removed_scope_is_gone,
            listing_by_child,
            sealed_at_rest,
        );
    };
}
pub(crate) use guarantees;

/// Every guarantee, each against a fresh store from `subject`.
#[cfg(all(test, not(target_arch = "wasm32")))]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod native {
    use std::path::PathBuf;

    use super::*;
    use crate::store::Sqlite;

    /// The SQLite store in a temporary data folder.
    struct Native {
        dir: tempfile::TempDir,
    }

    impl Native {
        fn new() -> Self {
            Native {
                dir: tempfile::tempdir().unwrap(),
            }
        }
    }

    impl Subject for Native {
        type B = Sqlite;

        async fn open(&mut self) -> Result<LocalStore<Sqlite>, ClientError> {
            LocalStore::open(self.dir.path()).await
        }

        async fn bytes_at_rest(&mut self) -> Vec<u8> {
            let mut bytes = Vec::new();
            let files: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            for file in files {
                bytes.extend(std::fs::read(file).unwrap());
            }
            bytes
        }
    }

    /// One `#[tokio::test]` a guarantee, each against a fresh SQLite store.
    macro_rules! native_tests {
        ($($name:ident),* $(,)?) => {$(
            #[tokio::test]
            async fn $name() {
                super::$name(&mut Native::new()).await.unwrap();
            }
        )*};
    }

    super::guarantees!(native_tests);
}

/// Every guarantee against the browser store (IndexedDB), each in a fresh database, in a
/// browser: `wasm-bindgen-test` in headless Chromium (see docs/ARCHITECTURE.md, "A backend",
/// for the command).
#[cfg(all(test, target_arch = "wasm32"))]
#[allow(clippy::unwrap_used)] // A failed unwrap is a failed test.
mod browser {
    use super::*;
    use crate::store::idb::{self, Idb};

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    /// The IndexedDB store in a database of its own.
    struct Browser {
        name: String,
    }

    impl Browser {
        fn new(test: &str) -> Self {
            Browser {
                name: format!("fieldnotes-conformance-{test}-{}", uuid::Uuid::new_v4()),
            }
        }
    }

    impl Subject for Browser {
        type B = Idb;

        async fn open(&mut self) -> Result<LocalStore<Idb>, ClientError> {
            LocalStore::open_browser(&self.name).await
        }

        /// Every key and value the browser was given to keep (its files are out of a page's
        /// reach): what IndexedDB writes to disk.
        async fn bytes_at_rest(&mut self) -> Vec<u8> {
            idb::contents(&self.name).await.unwrap()
        }
    }

    /// One `#[wasm_bindgen_test]` a guarantee, each against a fresh IndexedDB database.
    macro_rules! browser_tests {
        ($($name:ident),* $(,)?) => {$(
            #[wasm_bindgen_test::wasm_bindgen_test]
            async fn $name() {
                super::$name(&mut Browser::new(stringify!($name))).await.unwrap();
            }
        )*};
    }

    super::guarantees!(browser_tests);
}
