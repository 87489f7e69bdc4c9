//! Invariant 3 end to end: a batch sent twice, out of order, or cut off part-way leaves the
//! same state as sending it once.

// Test code: a failed unwrap is a failed test, and sizes here are small.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss
)]

mod common;

use std::collections::BTreeMap;

use common::*;
use fieldnotes_model::{Document, Patch, VisitNotePatch};
use fieldnotes_protocol::{PushDoc, PushOutcome};
use fieldnotes_tests::fixtures::{rng, visit_note, words};
use fieldnotes_tests::wire::{post_raw, sync_round};
use fieldnotes_tests::{Backend, TestDb, TestServer};

/// Three notes, each created and then edited five times on one device.
fn batch() -> Vec<(String, Vec<Vec<u8>>)> {
    let mut r = rng(7);
    (0..3)
        .map(|i| {
            let mut doc: Document = create(visit_note(&mut r, i, "sw-1"));
            for n in 0..5 {
                let body = format!("{} {}", words(&mut r, 200), n);
                let patch = VisitNotePatch {
                    body: Some(body),
                    ..Default::default()
                };
                doc.edit(Patch::VisitNote(patch), 1_763_900_000_000 + n)
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
    http: &reqwest::Client,
    base: &str,
    ids: &[String],
) -> anyhow::Result<BTreeMap<String, serde_json::Value>> {
    let mut state = BTreeMap::new();
    for id in ids {
        let mut view: serde_json::Value = http
            .get(format!("{base}/v1/documents/{id}"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        // When it was stored differs between runs; what it holds must not.
        view.as_object_mut().map(|o| o.remove("updated_at"));
        state.insert(id.clone(), view);
    }
    Ok(state)
}

async fn fresh_server(backend: Backend) -> anyhow::Result<(TestDb, TestServer)> {
    let db = TestDb::new(backend).await?;
    let server = TestServer::start(&db.url).await?;
    Ok((db, server))
}

async fn replays_leave_the_state_of_one_send(backend: Backend) -> anyhow::Result<()> {
    let docs = batch();
    let ids: Vec<String> = docs.iter().map(|(id, _)| id.clone()).collect();
    let http = reqwest::Client::new();

    // Reference: the batch sent once.
    let (_db0, once) = fresh_server(backend).await?;
    let response = sync_round(&http, &once.url(), "dev", as_push(&docs), None).await?;
    assert!(
        response
            .results
            .iter()
            .all(|r| matches!(r.outcome, PushOutcome::Accepted { .. }))
    );
    let reference = server_state(&http, &once.url(), &ids).await?;

    // Sent twice: the second send stores nothing new and still acknowledges every change.
    let (_db1, twice) = fresh_server(backend).await?;
    sync_round(&http, &twice.url(), "dev", as_push(&docs), None).await?;
    let again = sync_round(&http, &twice.url(), "dev", as_push(&docs), None).await?;
    for (result, (_, changes)) in again.results.iter().zip(&docs) {
        match &result.outcome {
            PushOutcome::Accepted { hashes } => assert_eq!(hashes.len(), changes.len()),
            other => panic!("a replay must be accepted, got {other:?}"),
        }
    }
    assert_eq!(server_state(&http, &twice.url(), &ids).await?, reference);
    let history: Vec<serde_json::Value> = http
        .get(format!("{}/v1/documents/{}/changes", twice.url(), ids[0]))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(history.len(), 6, "each change is stored once");

    // Out of order: documents reversed, and each document's changes reversed.
    let (_db2, shuffled) = fresh_server(backend).await?;
    let mut reversed: Vec<(String, Vec<Vec<u8>>)> = docs.clone();
    reversed.reverse();
    for (_, changes) in &mut reversed {
        changes.reverse();
    }
    let response = sync_round(&http, &shuffled.url(), "dev", as_push(&reversed), None).await?;
    assert!(
        response
            .results
            .iter()
            .all(|r| matches!(r.outcome, PushOutcome::Accepted { .. }))
    );
    assert_eq!(server_state(&http, &shuffled.url(), &ids).await?, reference);

    // Cut off half-way: only the first half of each document's changes arrived, then the
    // device sent everything again.
    let (_db3, cut) = fresh_server(backend).await?;
    let halves: Vec<(String, Vec<Vec<u8>>)> = docs
        .iter()
        .map(|(id, c)| (id.clone(), c[..c.len() / 2].to_vec()))
        .collect();
    sync_round(&http, &cut.url(), "dev", as_push(&halves), None).await?;
    sync_round(&http, &cut.url(), "dev", as_push(&docs), None).await?;
    assert_eq!(server_state(&http, &cut.url(), &ids).await?, reference);

    // Only the later half arrived first: it waits for what it builds on (nothing is stored),
    // then lands when the whole batch comes.
    let (_db4, late) = fresh_server(backend).await?;
    let tails: Vec<(String, Vec<Vec<u8>>)> = docs
        .iter()
        .map(|(id, c)| (id.clone(), c[c.len() / 2..].to_vec()))
        .collect();
    let response = sync_round(&http, &late.url(), "dev", as_push(&tails), None).await?;
    assert!(
        response.results.iter().all(|r| matches!(r.outcome, PushOutcome::Deferred { ref missing, .. } if !missing.is_empty())),
        "{:?}",
        response.results
    );
    sync_round(&http, &late.url(), "dev", as_push(&docs), None).await?;
    assert_eq!(server_state(&http, &late.url(), &ids).await?, reference);

    for server in [once, twice, shuffled, cut, late] {
        server.stop().await?;
    }
    Ok(())
}

/// The response is lost (the device never reads it): the server has still committed, and the
/// device's resend is acknowledged without storing anything twice.
async fn a_lost_response_is_safe_to_resend(backend: Backend) -> anyhow::Result<()> {
    let docs = batch();
    let ids: Vec<String> = docs.iter().map(|(id, _)| id.clone()).collect();
    let http = reqwest::Client::new();
    let (_db, server) = fresh_server(backend).await?;

    let body = serde_json::to_vec(&fieldnotes_protocol::SyncRequest {
        protocol: fieldnotes_protocol::PROTOCOL_VERSION,
        cursor: None,
        push: as_push(&docs),
        max_page_bytes: None,
    })?;
    // Send and drop the answer unread, as a device whose connection died would.
    let answer = post_raw(&http, &server.url(), "dev", &body, true).await?;
    drop(answer);
    let first = server_state(&http, &server.url(), &ids).await?;

    let response = sync_round(&http, &server.url(), "dev", as_push(&docs), None).await?;
    assert!(
        response
            .results
            .iter()
            .all(|r| matches!(r.outcome, PushOutcome::Accepted { .. }))
    );
    assert_eq!(server_state(&http, &server.url(), &ids).await?, first);

    // Another device pulling from the start sees each change exactly once.
    let pulled = sync_round(&http, &server.url(), "other", Vec::new(), None).await?;
    let total: usize = pulled.pull.iter().map(|d| d.changes.len()).sum();
    assert_eq!(total, docs.iter().map(|(_, c)| c.len()).sum::<usize>());
    server.stop().await
}

on_both_backends!(
    replays_leave_the_state_of_one_send,
    a_lost_response_is_safe_to_resend
);
