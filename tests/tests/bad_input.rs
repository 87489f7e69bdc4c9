//! Invariant 7 end to end: input the server will not apply gets a clear, per-document reason,
//! is kept in quarantine, and never stops the good documents in the same batch.

// Test code: a failed unwrap is a failed test, and sizes here are small.
#![allow(clippy::unwrap_used)]

mod common;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use fieldnotes_protocol::{PushOutcome, QuarantineList, RejectCode};
use fieldnotes_tests::check::{accepted, assert_rejected, rejected};
use fieldnotes_tests::fixtures::{new_id, rng, visit_note};
use fieldnotes_tests::wire::{push_doc, raw_push};
use fieldnotes_tests::{Backend, RawDevice, TestDb, TestServer};

/// The quarantine, as an admin lists it.
async fn quarantine(admin: &RawDevice) -> anyhow::Result<QuarantineList> {
    admin.get("/v1/quarantine").await?.json()
}

/// A server with the standard team, a social worker's device and an admin's.
async fn setup(backend: Backend) -> anyhow::Result<(TestDb, TestServer, RawDevice, RawDevice)> {
    let (db, server) = TestServer::standard(backend, 3).await?;
    let device = server.device("sw-a").await?;
    let admin = server.device("admin").await?;
    Ok((db, server, device, admin))
}

/// One batch holding a good note, malformed bytes, a change that breaks validation, an
/// invalid document id and another document's changes: the good note lands, each bad one gets
/// its own reason, and all four are in quarantine with the exact bytes sent.
async fn bad_documents_are_refused_one_by_one(backend: Backend) -> anyhow::Result<()> {
    let (_db, server, device, admin) = setup(backend).await?;
    let mut r = rng(1);

    let mut good = device.create(visit_note(&mut r, 0, "sw-a"))?;
    let malformed_id = new_id();
    let malformed = vec![0x85, 0x6f, 0x4a, 0x83, 0xde, 0xad, 0xbe, 0xef];

    // A note whose second change, written with plain automerge, makes its date unreadable.
    let mut broken = device.create(visit_note(&mut r, 1, "sw-a"))?;
    let mut raw = AutoCommit::load(&broken.save())?.with_actor(device.actor.clone());
    raw.put(ROOT, "occurred_at", "yesterday afternoon")?;
    raw.commit();
    let broken_changes: Vec<Vec<u8>> = raw
        .get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();

    let mut stray = device.create(visit_note(&mut r, 2, "sw-a"))?;
    let wrong_target = new_id();

    let good_changes = good.all_changes();
    let push = vec![
        push_doc(good.id(), &good_changes),
        raw_push(&malformed_id, vec![malformed.clone()]),
        raw_push(broken.id(), broken_changes),
        push_doc("../../etc/passwd", &stray.all_changes()),
        push_doc(&wrong_target, &stray.all_changes()),
    ];
    let response = device.sync_round(push, None).await?;
    assert_eq!(response.results.len(), 5);

    assert!(
        matches!(response.results[0].outcome, PushOutcome::Accepted { ref hashes } if hashes.len() == 1),
        "{:?}",
        response.results[0]
    );
    for (i, code, needle) in [
        (
            1,
            RejectCode::MalformedChange,
            "not a valid automerge change",
        ),
        (2, RejectCode::InvalidDocument, "occurred_at"),
        (3, RejectCode::InvalidDocumentId, "../../etc/passwd"),
        (4, RejectCode::InvalidDocumentId, &wrong_target),
    ] {
        assert_rejected(&response, i, code, needle);
    }

    // The good note is on the server; the refused ones are not documents there.
    let shown = device.get(&format!("/v1/documents/{}", good.id())).await?;
    assert_eq!(shown.status, 200);
    let missing = device
        .get(&format!("/v1/documents/{}", broken.id()))
        .await?;
    assert_eq!(missing.status, 404);

    // Everything refused is kept, with its reason and the exact bytes.
    let list = quarantine(&admin).await?;
    assert_eq!(list.items.len(), 4, "{list:?}");
    let item = list
        .items
        .iter()
        .find(|i| i.doc_id.as_deref() == Some(malformed_id.as_str()))
        .unwrap();
    assert_eq!(item.code, "malformed_change");
    assert_eq!(item.device_id.as_deref(), Some(device.device_id()));
    let payload = admin
        .get(&format!("/v1/quarantine/{}/payload", item.id))
        .await?
        .body;
    // The payload is the refused push entry, exactly as sent.
    let kept: fieldnotes_protocol::PushDoc = serde_json::from_slice(&payload)?;
    assert_eq!(kept.doc_id, malformed_id);
    assert_eq!(kept.changes.len(), 1);
    assert_eq!(kept.changes[0].as_slice(), malformed.as_slice());
    server.stop().await
}

/// A body that is not JSON is answered with a reason naming the problem, and kept.
async fn garbage_json_is_explained_and_kept(backend: Backend) -> anyhow::Result<()> {
    let (_db, server, device, admin) = setup(backend).await?;

    let answer = device
        .post_raw(b"{\"protocol\": 1, \"push\": [", true)
        .await?;
    assert_eq!(answer.status, 400);
    let error = answer.error_body()?;
    assert_eq!(error.code, "malformed_request");
    assert!(
        error.message.contains("not valid JSON") && error.message.contains("quarantine"),
        "{error:?}"
    );

    let answer = device
        .post_raw(br#"{"protocol": 1, "push": 7}"#, false)
        .await?;
    assert_eq!(answer.status, 400);
    assert!(
        answer.error_body()?.message.contains("push"),
        "the reason names the field"
    );

    let list = quarantine(&admin).await?;
    assert_eq!(list.items.len(), 2);
    assert!(
        list.items
            .iter()
            .all(|i| i.code == "malformed_request" && i.doc_id.is_none())
    );

    // A wrong protocol version and a missing device name are explained too.
    let answer = device.post_raw(br#"{"protocol": 99}"#, true).await?;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.error_body()?.code, "unsupported_protocol");

    // One unreadable entry (bad base64) is refused and kept on its own; the good note in the
    // same request lands.
    let mut r = rng(4);
    let mut good = device.create(visit_note(&mut r, 0, "sw-a"))?;
    let good_changes = good.all_changes();
    let good_entry = serde_json::to_value(push_doc(good.id(), &good_changes))?;
    let body = serde_json::json!({
        "protocol": 1,
        "push": [
            { "doc_id": "d-unreadable", "changes": ["not base64 at all!"] },
            good_entry,
        ],
    });
    let response = device
        .post_raw(&serde_json::to_vec(&body)?, true)
        .await?
        .sync_response()?;
    assert_rejected(&response, 0, RejectCode::MalformedChange, "push[0]");
    let (_, reason, _) = rejected(&response, 0);
    assert!(reason.contains("base64"), "{reason}");
    assert_eq!(response.results[0].doc_id, "d-unreadable");
    assert!(accepted(&response, 1));
    let list = quarantine(&admin).await?;
    assert!(
        list.items
            .iter()
            .any(|i| i.doc_id.as_deref() == Some("d-unreadable"))
    );
    server.stop().await
}

/// A request over the size limit is refused with 413 and says what to do; a single document
/// over the per-document limit is refused on its own, and the rest of the batch lands.
async fn oversized_input_is_refused_with_the_limit(backend: Backend) -> anyhow::Result<()> {
    let (_db, server, device, admin) = setup(backend).await?;

    // 40 MiB once decompressed (the default limit is 32 MiB), tiny on the wire.
    let mut huge = br#"{"protocol":1,"push":[],"padding":""#.to_vec();
    huge.resize(40 * 1024 * 1024, b' ');
    let answer = device.post_raw(&huge, true).await?;
    assert_eq!(answer.status, 413);
    let error = answer.error_body()?;
    assert_eq!(error.code, "payload_too_large");
    assert!(error.message.contains("smaller batches"), "{error:?}");

    let mut r = rng(2);
    let mut good = device.create(visit_note(&mut r, 0, "sw-a"))?;
    let big_id = new_id();
    let quarantined_before = quarantine(&admin).await?.items.len();
    let good_changes = good.all_changes();
    let push = vec![
        raw_push(&big_id, vec![vec![7u8; 9 * 1024 * 1024]]),
        push_doc(good.id(), &good_changes),
    ];
    let response = device.sync_round(push, None).await?;
    match &response.results[0].outcome {
        PushOutcome::Rejected {
            code: RejectCode::TooLarge,
            reason,
            ..
        } => {
            assert!(reason.contains("bytes"), "{reason}")
        }
        other => panic!("expected too_large, got {other:?}"),
    }
    assert!(accepted(&response, 1));
    let list = quarantine(&admin).await?;
    assert_eq!(list.items.len(), quarantined_before + 1);
    assert!(
        list.items
            .iter()
            .any(|i| i.code == "too_large" && i.doc_id.as_deref() == Some(big_id.as_str()))
    );
    server.stop().await
}

on_both_backends!(
    bad_documents_are_refused_one_by_one,
    garbage_json_is_explained_and_kept,
    oversized_input_is_refused_with_the_limit,
);
