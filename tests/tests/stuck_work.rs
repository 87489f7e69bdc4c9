//! No work is stuck on a device: what the server would refuse is refused on the device before
//! it is written (in the server's words), and a change the server still refuses can be
//! withdrawn, which lets the device's earlier, legitimate changes through. Every held change is
//! listed with its way out. Real server, real SDK clients, both backends.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use fieldnotes_client::{ClientError, HeldChange};
use fieldnotes_model::{NewRecord, NoteStatus, Record, RuleCode, rules};
use fieldnotes_protocol::{RejectCode, Role};
use fieldnotes_tests::check::{refusal, rejected};
use fieldnotes_tests::fixtures::{self, note_status, title};
use fieldnotes_tests::wire::push_doc;
use fieldnotes_tests::{Backend, TestDb, TestServer};
use serde_json::json;

fn note(child: &str, author: &str, title: &str) -> NewRecord {
    fixtures::note(child, author, title, "We talked about school and football.")
}

async fn setup(backend: Backend) -> anyhow::Result<(TestDb, TestServer)> {
    TestServer::standard(backend, 2).await
}

/// A social worker's delete, an edit to a completed note, and a note for a child outside
/// their scope are each refused on the device before anything is written: nothing waits in
/// the outbox, and the message is the server's own.
async fn refused_on_the_device_before_it_is_written(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    let sw = server.client("sw-a").await?;
    sw.sync().await?;
    let id = sw.create(note("child-00", "sw-a", "Home visit")).await?;
    sw.sync().await?;
    assert_eq!(sw.pending_changes().await?, 0);

    // Deleting is a manager's decision.
    let (code, message) = refusal(sw.delete_record(&id, "filed on the wrong child").await);
    assert_eq!(code, RuleCode::NotPermitted);
    assert!(
        message.starts_with(&format!(
            "deleting a record is a manager's decision; sw-a is a social worker: ask the team \
             manager to delete record {id}"
        )),
        "{message}"
    );
    assert_eq!(sw.pending_changes().await?, 0, "nothing in the outbox");
    // The server answers a device that sends it anyway in the same words.
    let raw = server.device("sw-a").await?;
    let mut doc = sw.document(&id).await?.unwrap();
    doc.set_actor(raw.actor.clone());
    let delete = doc.delete("sw-a", "filed on the wrong child", 1_763_900_000_000)?;
    let response = raw.push(vec![push_doc(&id, &[delete])]).await?;
    let (code, reason, _) = rejected(&response, 0);
    assert_eq!(code, RejectCode::NotPermitted);
    let sentence = message.split(" (change ").next().unwrap();
    assert!(reason.starts_with(sentence), "{reason:?} vs {message:?}");
    // A completed note is locked: a plain edit is refused, in the server's words.
    sw.edit(&id, note_status(NoteStatus::Completed)).await?;
    sw.sync().await?;
    // Signing off is a manager's decision too.
    let (code, message) = refusal(sw.sign_off(&id).await);
    assert_eq!(code, RuleCode::NotPermitted);
    assert!(message.contains("manager's decision"), "{message}");
    let (code, message) = refusal(sw.edit(&id, title("Changed my mind")).await);
    assert_eq!(code, RuleCode::Locked);
    assert_eq!(message, rules::locked(&id, NoteStatus::Completed).message);
    assert_eq!(sw.pending_changes().await?, 0);

    // A child who is not theirs (a typo): refused, and no record is left behind.
    let before = sw.list(None).await?.len();
    let (code, message) = refusal(sw.create(note("child-0O", "sw-a", "Typo")).await);
    assert_eq!(code, RuleCode::OutOfScope);
    assert_eq!(
        message,
        rules::out_of_scope("sw-a", "child:child-0O").message
    );
    assert_eq!(sw.list(None).await?.len(), before);
    assert_eq!(sw.pending_changes().await?, 0);
    let report = sw.sync().await?;
    assert_eq!(report.protocol.pushed_changes, 0);
    Ok(())
}

/// A manager edits a note and then deletes it, offline; before the device syncs they are no
/// longer a manager. The server refuses the note's changes together. Withdrawing takes back
/// the deletion only (named in the server's reason), keeps the record's text in a file, and
/// lets the earlier edit through to the team manager's device. While held, every waiting
/// change is listed with its way out.
async fn a_withdrawn_change_lets_the_earlier_edit_through(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    server
        .org()
        .person("lead", Role::Manager, Some("pod-1"))
        .await?;
    let sw = server.client("sw-a").await?;
    let lead = server.client("lead").await?;
    let mgr = server.client("mgr").await?;
    let id = sw.create(note("child-01", "sw-a", "Home visit")).await?;
    sw.sync().await?;
    lead.sync().await?;
    mgr.sync().await?;

    lead.edit(&id, title("Home visit with Nan")).await?;
    lead.delete_record(&id, "thought it was a duplicate")
        .await?;
    assert_eq!(lead.pending_changes().await?, 2);

    // The lead becomes a social worker, holding child-01.
    let admin = server.device("admin").await?;
    let answer = admin
        .patch("/v1/admin/users/lead", &json!({ "role": "social_worker" }))
        .await?;
    assert!(answer.status.is_success(), "{answer:?}");
    server.org().allocate("child-01", "lead").await?;

    let report = lead.sync().await?;
    assert_eq!(report.protocol.refused.len(), 1, "{report:?}");
    assert_eq!(report.protocol.refused[0].code.as_str(), "not_permitted");
    assert_eq!(
        report.protocol.refused[0].changes, 2,
        "the edit waits with the deletion"
    );

    // No outbox entry without a way out.
    let held: Vec<HeldChange> = lead.held_changes().await?;
    assert_eq!(held.len() as u64, lead.pending_changes().await?);
    assert_eq!(held.len(), 2);
    let command = format!("fieldnotes withdraw {id}");
    for h in &held {
        assert!(h.way_out.contains(&command), "{h:?}");
        assert_eq!(h.code, "not_permitted");
    }
    assert_eq!(
        held.iter().filter(|h| h.withdrawn_by_withdraw).count(),
        1,
        "only the deletion is taken back: {held:?}"
    );

    let done = lead.withdraw(&id).await?;
    assert_eq!(done.withdrawn.len(), 1, "{done:?}");
    assert!(done.dependents.is_empty());
    assert_eq!(done.released, 1);
    assert!(!done.record_removed);
    let export: serde_json::Value = serde_json::from_slice(&std::fs::read(&done.export)?)?;
    assert_eq!(export["record_as_it_stood"]["title"], "Home visit with Nan");
    assert_eq!(export["withdrawn_changes"][0]["code"], "not_permitted");
    // Reverted on the device: the record is no longer deleted, the edit stays.
    let doc = lead.document(&id).await?.unwrap();
    assert!(doc.deletion().is_none());
    assert!(
        matches!(doc.read()?, Record::VisitNote(ref n) if n.content.title == "Home visit with Nan")
    );
    assert!(lead.held_changes().await?.is_empty());

    let report = lead.sync().await?;
    assert!(report.protocol.refused.is_empty(), "{report:?}");
    assert_eq!(report.accepted, 1);
    assert_eq!(lead.pending_changes().await?, 0);
    mgr.sync().await?;
    let Some(Record::VisitNote(n)) = mgr.get(&id).await? else {
        panic!("the manager holds the note")
    };
    assert_eq!(
        n.content.title, "Home visit with Nan",
        "the earlier edit arrived"
    );
    assert!(mgr.document(&id).await?.unwrap().deletion().is_none());
    // Withdrawing again finds nothing held.
    assert!(matches!(
        lead.withdraw(&id).await,
        Err(ClientError::NothingToWithdraw { .. })
    ));
    Ok(())
}

/// A device that has not learnt its scope yet files a note on a mistyped child id; the server
/// refuses it. Withdrawing removes the record from the device after writing its text to a
/// file, and nothing is left waiting.
async fn a_note_on_a_mistyped_child_is_withdrawn_not_stuck(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    let sw = server.client("sw-a").await?;
    let id = sw.create(note("child-0O", "sw-a", "Typo visit")).await?;
    sw.edit(&id, title("Typo visit, after school")).await?;
    let report = sw.sync().await?;
    assert_eq!(report.protocol.refused.len(), 1);
    assert_eq!(report.protocol.refused[0].code.as_str(), "out_of_scope");
    let held = sw.held_changes().await?;
    assert_eq!(held.len(), 2);
    assert!(held.iter().all(
        |h| h.withdrawn_by_withdraw && h.way_out.contains(&format!("fieldnotes withdraw {id}"))
    ));

    let done = sw.withdraw(&id).await?;
    assert!(done.record_removed);
    assert_eq!(done.withdrawn.len(), 2);
    let export: serde_json::Value = serde_json::from_slice(&std::fs::read(&done.export)?)?;
    assert_eq!(export["record_as_it_stood"]["child_id"], "child-0O");
    // The same export is listed for the person to keep, by the file's name.
    let kept = sw.withdrawn_exports().await?;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        Some(kept[0].name.as_str()),
        done.export.file_name().and_then(|n| n.to_str())
    );
    assert!(kept[0].json.contains("Typo visit, after school"));
    assert_eq!(
        export["record_as_it_stood"]["title"],
        "Typo visit, after school"
    );
    assert!(sw.get(&id).await?.is_none());
    assert_eq!(sw.pending_changes().await?, 0);
    assert_eq!(sw.sync_status().await?.held_documents, 0);
    let report = sw.sync().await?;
    assert!(report.protocol.refused.is_empty());
    assert_eq!(report.protocol.pushed_changes, 0);
    Ok(())
}

on_both_backends!(
    refused_on_the_device_before_it_is_written,
    a_withdrawn_change_lets_the_earlier_edit_through,
    a_note_on_a_mistyped_child_is_withdrawn_not_stuck,
);
