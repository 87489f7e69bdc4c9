//! Scoped pulls: the feed sends only documents in scope, and keys new to a device are sent in
//! full (their history up to the cursor) whatever the cursor, paged like the feed.

use fieldnotes_store::{BackfillPosition, FeedPosition, PullPage, PullRequest, ScopeFilter, Store};

use super::{Db, ctx, doc, push_ok};

fn keys(k: &[&str]) -> ScopeFilter {
    ScopeFilter::Keys(k.iter().map(|s| (*s).to_owned()).collect())
}

async fn page(
    s: &dyn Store,
    device: &str,
    after: Option<FeedPosition>,
    max_bytes: u64,
    scope: ScopeFilter,
    backfill: &[&str],
    backfill_from: Option<BackfillPosition>,
) -> PullPage {
    s.pull(&PullRequest {
        device_id: device.to_owned(),
        after,
        max_bytes,
        scope,
        backfill: backfill.iter().map(|s| (*s).to_owned()).collect(),
        backfill_from,
    })
    .await
    .unwrap()
}

/// A page of the feed alone (no backfill) for `dev-x`, with the scope `scope_keys`.
async fn feed_page(s: &dyn Store, after: Option<FeedPosition>, scope_keys: &[&str]) -> PullPage {
    page(s, "dev-x", after, 1 << 20, keys(scope_keys), &[], None).await
}

fn docs_of(page: &PullPage) -> Vec<String> {
    let mut ids: Vec<String> = page.changes.iter().map(|c| c.doc_id.clone()).collect();
    ids.dedup();
    ids
}

/// A device in scope of child `ann` gets ann's documents and nothing of `bob`'s, and the
/// cursor still moves past bob's changes.
pub async fn the_feed_sends_only_documents_in_scope(db: Db) {
    let s = &*db.store;
    let docs = [("ann~1", "a1"), ("bob~1", "b1"), ("ann~2", "a2")];
    let docs = docs.iter().map(|(id, change)| doc(id, &[change])).collect();
    push_ok(s, &ctx("dev-a"), docs).await;
    let p = feed_page(s, None, &["child:ann"]).await;
    assert_eq!(docs_of(&p), vec!["ann~1".to_owned(), "ann~2".to_owned()]);
    assert!(p.changes.iter().all(|c| c.scope_key == "child:ann"));
    assert!(!p.more);
    let later = feed_page(s, Some(p.next), &["child:ann"]).await;
    assert!(later.changes.is_empty(), "nothing is sent twice");
    // The cursor is past bob's change too: the feed from it holds nothing of bob's even for a
    // device that may see bob (that history comes by backfill instead).
    let bob = feed_page(s, Some(p.next), &["child:bob"]).await;
    assert!(bob.changes.is_empty(), "{:?}", docs_of(&bob));
    let from_start = feed_page(s, None, &["child:bob"]).await;
    assert_eq!(docs_of(&from_start), vec!["bob~1".to_owned()]);
}

/// A key that enters scope after the device's cursor passed its changes arrives in full on the
/// next pull, and later changes come with the feed.
pub async fn a_key_new_to_the_device_is_sent_in_full_whatever_the_cursor(db: Db) {
    let s = &*db.store;
    push_ok(s, &ctx("dev-a"), vec![doc("bob~1", &["b1", "b2"])]).await;
    push_ok(s, &ctx("dev-a"), vec![doc("ann~1", &["a1"])]).await;
    // The device holds ann only; its cursor is past bob's changes.
    let first = feed_page(s, None, &["child:ann"]).await;
    assert_eq!(docs_of(&first), vec!["ann~1".to_owned()]);
    push_ok(s, &ctx("dev-a"), vec![doc("bob~1", &["b3"])]).await;

    // Bob is allocated: backfill bob up to the cursor, then the feed brings b3.
    let both = keys(&["child:ann", "child:bob"]);
    let p = page(
        s,
        "dev-x",
        Some(first.next),
        1 << 20,
        both.clone(),
        &["child:bob"],
        None,
    )
    .await;
    let hashes: Vec<&str> = p.changes.iter().map(|c| c.hash.as_str()).collect();
    assert_eq!(
        hashes,
        vec!["b1", "b2", "b3"],
        "history first, then the feed"
    );
    assert_eq!(p.completed, vec!["child:bob".to_owned()]);
    assert!(!p.more && p.backfill_at.is_none());
}

/// A device that removed a key's documents (the key left its scope) and fetches the key again
/// gets its own changes to them made after its cursor too: the feed skips a device's own
/// changes, so the backfill must bring them (found by the simulation).
pub async fn a_key_fetched_again_brings_the_devices_own_later_changes(db: Db) {
    let s = &*db.store;
    push_ok(s, &ctx("dev-a"), vec![doc("bob~1", &["b1"])]).await;
    let first = feed_page(s, None, &["child:bob"]).await;
    // The device's own edit, after its cursor; then bob leaves and comes back.
    push_ok(s, &ctx("dev-x"), vec![doc("bob~1", &["b2"])]).await;
    let p = page(
        s,
        "dev-x",
        Some(first.next),
        1 << 20,
        keys(&["child:bob"]),
        &["child:bob"],
        None,
    )
    .await;
    let hashes: Vec<&str> = p.changes.iter().map(|c| c.hash.as_str()).collect();
    assert_eq!(hashes, vec!["b1", "b2"]);
    assert_eq!(p.completed, vec!["child:bob".to_owned()]);
}

/// Backfill pages by size; while unfinished the cursor stays put, and resuming from the
/// backfill position sends each change once.
pub async fn backfill_pages_resume_without_repeats(db: Db) {
    let s = &*db.store;
    let changes: Vec<String> = (0..12).map(|i| format!("bob-change-{i:02}")).collect();
    for c in &changes {
        push_ok(s, &ctx("dev-a"), vec![doc("bob~1", &[c])]).await;
    }
    let head = feed_page(s, None, &[]).await.next;
    let mut got = Vec::new();
    let mut from = None;
    let mut rounds = 0;
    loop {
        rounds += 1;
        let p = page(
            s,
            "dev-x",
            Some(head),
            40,
            keys(&["child:bob"]),
            &["child:bob"],
            from.clone(),
        )
        .await;
        assert_eq!(p.next, head, "the cursor waits for the backfill");
        got.extend(p.changes.iter().map(|c| c.hash.clone()));
        if p.completed.contains(&"child:bob".to_owned()) {
            assert!(p.backfill_at.is_none());
            break;
        }
        assert!(p.more, "an unfinished backfill asks for another round");
        from = p.backfill_at;
        assert!(rounds < 20, "backfill does not progress");
    }
    assert_eq!(got, changes, "every change once, in order");
    assert!(rounds > 2, "the page size was respected");
}

/// `*` backfills every document (an admin's device).
pub async fn backfilling_everything(db: Db) {
    let s = &*db.store;
    push_ok(
        s,
        &ctx("dev-a"),
        vec![doc("ann~1", &["a1"]), doc("bob~1", &["b1"])],
    )
    .await;
    let head = feed_page(s, None, &[]).await.next;
    let p = page(
        s,
        "dev-x",
        Some(head),
        1 << 20,
        ScopeFilter::All,
        &["*"],
        None,
    )
    .await;
    assert_eq!(docs_of(&p), vec!["ann~1".to_owned(), "bob~1".to_owned()]);
    assert_eq!(p.completed, vec!["*".to_owned()]);
}
