//! Invariant 3 end to end: a batch sent twice, out of order, or cut off part-way leaves the
//! same state as sending it once.

// Test code: a failed unwrap is a failed test, and sizes here are small.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use automerge::ActorId;
use fieldnotes_model::Document;
use fieldnotes_protocol::{PushDoc, PushOutcome};
use fieldnotes_tests::check::all_accepted;
use fieldnotes_tests::fixtures::{self, actor, new_id, rng, visit_note, words};
use fieldnotes_tests::wire::raw_push;
use fieldnotes_tests::{Backend, PASSWORD, RawDevice, TestDb, TestServer};

/// Three notes, each created and then edited five times on one device writing as `actor`.
fn batch(actor: &ActorId) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut r = rng(7);
    (0..3)
        .map(|i| {
            let mut doc = Document::create(
                &new_id(),
                actor.clone(),
                visit_note(&mut r, i, "sw-a"),
                1_763_900_000_000,
            )
            .unwrap();
            for n in 0..5 {
                let body = format!("{} {}", words(&mut r, 200), n);
                doc.edit(fixtures::body(&body), 1_763_900_000_000 + n)
                    .unwrap();
            }
            let changes = doc.all_changes().into_iter().map(|c| c.bytes).collect();
            (doc.id().to_owned(), changes)
        })
        .collect()
}

fn as_push(docs: &[(String, Vec<Vec<u8>>)]) -> Vec<PushDoc> {
    docs.iter()
        .map(|(id, changes)| raw_push(id, changes.clone()))
        .collect()
}

/// Heads and record of every document, as the server holds them.
async fn server_state(
    device: &RawDevice,
    ids: &[String],
) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    let mut state = BTreeMap::new();
    for id in ids {
        let mut view: serde_json::Value =
            device.get(&format!("/v1/documents/{id}")).await?.json()?;
        // When it was stored differs between runs; what it holds must not.
        view.as_object_mut().map(|o| o.remove("updated_at"));
        state.insert(id.clone(), view);
    }
    Ok(state)
}

/// A new server, and a device on it writing as `actor` (the same actor on every server, so
/// one batch can be sent to each).
async fn fresh_server(
    backend: Backend,
    actor: &ActorId,
) -> anyhow::Result<(TestDb, TestServer, RawDevice)> {
    let (db, server) = TestServer::standard(backend, 3).await?;
    let device =
        RawDevice::login_with_actor(&server.url(), "sw-a", PASSWORD, actor.clone()).await?;
    Ok((db, server, device))
}

async fn replays_leave_the_state_of_one_send(backend: Backend) -> anyhow::Result<()> {
    let actor = actor();
    let docs = batch(&actor);
    let ids: Vec<String> = docs.iter().map(|(id, _)| id.clone()).collect();

    // Reference: the batch sent once.
    let (_db0, once, once_dev) = fresh_server(backend, &actor).await?;
    let response = once_dev.sync_round(as_push(&docs), None).await?;
    assert!(all_accepted(&response), "{:?}", response.results);
    let reference = server_state(&once_dev, &ids).await?;

    // Sent twice: the second send stores nothing new and still acknowledges every change.
    let (_db1, twice, twice_dev) = fresh_server(backend, &actor).await?;
    twice_dev.sync_round(as_push(&docs), None).await?;
    let again = twice_dev.sync_round(as_push(&docs), None).await?;
    for (result, (_, changes)) in again.results.iter().zip(&docs) {
        match &result.outcome {
            PushOutcome::Accepted { hashes } => assert_eq!(hashes.len(), changes.len()),
            other => panic!("a replay must be accepted, got {other:?}"),
        }
    }
    assert_eq!(server_state(&twice_dev, &ids).await?, reference);
    let history: Vec<serde_json::Value> = twice_dev
        .get(&format!("/v1/documents/{}/changes", ids[0]))
        .await?
        .json()?;
    assert_eq!(history.len(), 6, "each change is stored once");

    // Out of order: documents reversed, and each document's changes reversed.
    let (_db2, shuffled, shuffled_dev) = fresh_server(backend, &actor).await?;
    let mut reversed: Vec<(String, Vec<Vec<u8>>)> = docs.clone();
    reversed.reverse();
    for (_, changes) in &mut reversed {
        changes.reverse();
    }
    let response = shuffled_dev.sync_round(as_push(&reversed), None).await?;
    assert!(all_accepted(&response), "{:?}", response.results);
    assert_eq!(server_state(&shuffled_dev, &ids).await?, reference);

    // Cut off half-way: only the first half of each document's changes arrived, then the
    // device sent everything again.
    let (_db3, cut, cut_dev) = fresh_server(backend, &actor).await?;
    let halves: Vec<(String, Vec<Vec<u8>>)> = docs
        .iter()
        .map(|(id, c)| (id.clone(), c[..c.len() / 2].to_vec()))
        .collect();
    cut_dev.sync_round(as_push(&halves), None).await?;
    cut_dev.sync_round(as_push(&docs), None).await?;
    assert_eq!(server_state(&cut_dev, &ids).await?, reference);

    // Only the later half arrived first: it waits for what it builds on (nothing is stored),
    // then lands when the whole batch comes.
    let (_db4, late, late_dev) = fresh_server(backend, &actor).await?;
    let tails: Vec<(String, Vec<Vec<u8>>)> = docs
        .iter()
        .map(|(id, c)| (id.clone(), c[c.len() / 2..].to_vec()))
        .collect();
    let response = late_dev.sync_round(as_push(&tails), None).await?;
    assert!(
        response.results.iter().all(|r| matches!(r.outcome, PushOutcome::Deferred { ref missing, .. } if !missing.is_empty())),
        "{:?}",
        response.results
    );
    late_dev.sync_round(as_push(&docs), None).await?;
    assert_eq!(server_state(&late_dev, &ids).await?, reference);

    for server in [once, twice, shuffled, cut, late] {
        server.stop().await?;
    }
    Ok(())
}

/// The response is lost (the device never reads it): the server has still committed, and the
/// device's resend is acknowledged without storing anything twice.
async fn a_lost_response_is_safe_to_resend(backend: Backend) -> anyhow::Result<()> {
    let actor = actor();
    let docs = batch(&actor);
    let ids: Vec<String> = docs.iter().map(|(id, _)| id.clone()).collect();
    let (_db, server, device) = fresh_server(backend, &actor).await?;

    let body = serde_json::to_vec(&fieldnotes_protocol::SyncRequest {
        protocol: fieldnotes_protocol::PROTOCOL_VERSION,
        cursor: None,
        push: as_push(&docs),
        max_page_bytes: None,
        scopes: Vec::new(),
        anchor: None,
        verify: Vec::new(),
    })?;
    // Send and drop the answer unread, as a device whose connection died would.
    let answer = device.post_raw(&body, true).await?;
    drop(answer);
    let first = server_state(&device, &ids).await?;

    let response = device.sync_round(as_push(&docs), None).await?;
    assert!(all_accepted(&response), "{:?}", response.results);
    assert_eq!(server_state(&device, &ids).await?, first);

    // Another device pulling from the start sees each change exactly once.
    let other = server.device("sw-a").await?;
    let pulled = other.sync_round(Vec::new(), None).await?;
    let total: usize = pulled.pull.iter().map(|d| d.changes.len()).sum();
    assert_eq!(total, docs.iter().map(|(_, c)| c.len()).sum::<usize>());
    server.stop().await
}

on_both_backends!(
    replays_leave_the_state_of_one_send,
    a_lost_response_is_safe_to_resend
);
