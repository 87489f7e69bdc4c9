//! The write rules, checked on every change, against a hostile device that bypasses the SDK and
//! writes raw automerge changes, over a real socket on both backends: each field fixed at
//! creation, rewritten, is refused as `immutable_field` and quarantined while the record keeps
//! loading and taking legitimate edits and the rest of the push lands; life-cycle moves by the
//! wrong person are `not_permitted`; a locked record refuses a plain edit as `locked`.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ROOT};
use fieldnotes_model::{Document, NewContactCard, NewRecord, NoteStatus, Record};
use fieldnotes_protocol::RejectCode::{self, ImmutableField, Locked, NotPermitted};
use fieldnotes_tests::check::{accepted, assert_quarantined, assert_rejected, rejected};
use fieldnotes_tests::fixtures;
use fieldnotes_tests::wire::{push_all, push_doc, raw_push};
use fieldnotes_tests::{Backend, RawDevice, TestDb, TestServer};
use reqwest::StatusCode;

const T: i64 = 1_763_900_000_000;

fn note(child: &str, author: &str) -> NewRecord {
    fixtures::note(child, author, "Home visit", "Talked about school.")
}

async fn setup(backend: Backend) -> anyhow::Result<(TestDb, TestServer)> {
    TestServer::standard(backend, 2).await
}

/// Raw root writes on top of `doc`, written as `actor`, one change per write, as a hostile
/// device would send them: the new changes' bytes.
fn raw_changes(doc: &mut Document, actor: &ActorId, puts: &[(&str, &str)]) -> Vec<Vec<u8>> {
    let heads = doc.heads();
    let mut raw = AutoCommit::load(&doc.save())
        .unwrap()
        .with_actor(actor.clone());
    for (field, value) in puts {
        raw.put(ROOT, *field, *value).unwrap();
        raw.commit();
    }
    raw.get_changes(&heads)
        .into_iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

/// `device` writes `puts` on top of `doc` with plain automerge and pushes them alone: refused
/// as `code`, for a reason naming `needle`, and kept in quarantine.
async fn raw_write_refused(
    device: &RawDevice,
    doc: &mut Document,
    puts: &[(&str, &str)],
    code: RejectCode,
    needle: &str,
) -> anyhow::Result<()> {
    let changes = raw_changes(doc, &device.actor, puts);
    let response = device.push(vec![raw_push(doc.id(), changes)]).await?;
    assert_rejected(&response, 0, code, needle);
    Ok(())
}

/// Which document, the field, and the raw root writes of one hostile attempt.
type Attempt = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

/// Each field fixed at creation, rewritten by a later change (and the author rewritten and put
/// back), is refused with `immutable_field` and quarantined; a good document in the same push
/// lands; the record still loads and takes a legitimate edit.
async fn each_fixed_field_rewrite_is_refused(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    let sw = server.device("sw-a").await?;
    let mut visit = sw.create(note("child-00", "sw-a"))?;
    let mut profile = sw.create(fixtures::about_me("child-00", "Football"))?;
    let mut card = sw.create(NewRecord::ContactCard(NewContactCard {
        worker_id: "sw-a".into(),
        display_name: "Alex".into(),
        ..Default::default()
    }))?;
    let all = vec![
        push_all(&mut visit),
        push_all(&mut profile),
        push_all(&mut card),
    ];
    let first = sw.push(all).await?;
    assert!((0..3).all(|i| accepted(&first, i)), "{:?}", first.results);

    let attempts: Vec<Attempt> = vec![
        ("visit", "id", vec![("id", "another-id")]),
        ("visit", "kind", vec![("kind", "about_me")]),
        ("visit", "child_id", vec![("child_id", "child-01")]),
        ("visit", "author", vec![("author", "sw-b")]),
        // Rewritten and put back: the end state is clean, the change is not.
        (
            "visit",
            "author",
            vec![("author", "sw-b"), ("author", "sw-a")],
        ),
        ("profile", "subject_kind", vec![("subject_kind", "worker")]),
        ("profile", "subject_id", vec![("subject_id", "child-01")]),
        ("card", "worker_id", vec![("worker_id", "sw-b")]),
    ];
    for (which, field, puts) in attempts {
        let doc = match which {
            "visit" => &mut visit,
            "profile" => &mut profile,
            _ => &mut card,
        };
        let hostile = raw_changes(doc, &sw.actor, &puts);
        let mut bystander = sw.create(note("child-00", "sw-a"))?;
        let response = sw
            .push(vec![raw_push(doc.id(), hostile), push_all(&mut bystander)])
            .await?;
        let (code, reason, quarantine_id) = rejected(&response, 0);
        assert_eq!(
            code,
            RejectCode::ImmutableField,
            "{field} {puts:?}: {reason}"
        );
        assert!(reason.contains(&format!("`{field}`")), "{reason}");
        assert!(quarantine_id.is_some(), "kept for review");
        assert!(accepted(&response, 1), "the rest of the push lands");
        let kept = server.state.store.list_quarantine(None, 100).await?;
        assert_quarantined(&kept, ImmutableField, doc.id());
        // The record still loads, unchanged.
        let answer = sw.get(&format!("/v1/documents/{}", doc.id())).await?;
        assert_eq!(answer.status, StatusCode::OK, "{field}");
    }

    // And takes a legitimate edit.
    let edit = visit
        .edit(fixtures::title("Home visit, after school"), T + 10)?
        .unwrap();
    let response = sw.push(vec![push_doc(visit.id(), &[edit])]).await?;
    assert!(accepted(&response, 0), "{:?}", response.results);
    let stored = server.state.store.get_document(visit.id()).await?.unwrap();
    let record = Document::load(visit.id(), &stored.snapshot)?.read()?;
    let Record::VisitNote(n) = record else {
        panic!("a visit note")
    };
    assert_eq!(
        (n.content.author.as_str(), n.content.child_id.as_str()),
        ("sw-a", "child-00")
    );
    assert_eq!(n.content.title, "Home visit, after school");
    Ok(())
}

/// Completing someone else's note, signing off as a social worker, deleting as a social
/// worker, taking a completed note back to draft: each `not_permitted`. Swapping the author
/// and then completing in the other's name is refused, and the record keeps its author.
async fn life_cycle_moves_are_checked_whoever_makes_them(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = setup(backend).await?;
    let (sw, mgr) = (server.device("sw-a").await?, server.device("mgr").await?);
    let mut doc = sw.create(note("child-00", "sw-a"))?;
    assert!(accepted(&sw.push(vec![push_all(&mut doc)]).await?, 0));

    // The manager completes the social worker's note.
    let complete = [("status", "completed")];
    let only_the_author = "only the author (sw-a)";
    raw_write_refused(&mgr, &mut doc, &complete, NotPermitted, only_the_author).await?;

    // The manager makes themselves the author, then completes "their" note.
    let swap = [("author", "mgr"), ("status", "completed")];
    raw_write_refused(&mgr, &mut doc, &swap, ImmutableField, "`author`").await?;

    // The social worker deletes the note.
    let mut theirs = doc.fork(sw.actor.clone());
    let delete = theirs.delete("sw-a", "filed on the wrong child", T + 1)?;
    let response = sw.push(vec![push_doc(doc.id(), &[delete])]).await?;
    assert_rejected(&response, 0, RejectCode::NotPermitted, "manager's decision");

    // The author completes (allowed), then signs off their own note (not).
    let completed = doc
        .edit(fixtures::note_status(NoteStatus::Completed), T + 2)?
        .unwrap();
    assert!(accepted(
        &sw.push(vec![push_doc(doc.id(), &[completed])]).await?,
        0
    ));
    let mut own = doc.fork(sw.actor.clone());
    let sign = own.sign_off("sw-a", T + 3)?;
    let response = sw.push(vec![push_doc(doc.id(), &[sign])]).await?;
    assert_rejected(&response, 0, RejectCode::NotPermitted, "manager's decision");

    // Nobody takes it back to draft, not even the manager.
    let back = [("status", "draft")];
    let no_going_back = "cannot go back to draft";
    raw_write_refused(&mgr, &mut doc, &back, NotPermitted, no_going_back).await?;

    // A plain edit to the completed note: locked.
    let edit = [("title", "Changed")];
    raw_write_refused(&sw, &mut doc, &edit, Locked, "amendment").await?;

    // The record is as its author left it, and the manager's own sign-off lands.
    let stored = server.state.store.get_document(doc.id()).await?.unwrap();
    let Record::VisitNote(n) = Document::load(doc.id(), &stored.snapshot)?.read()? else {
        panic!("a visit note")
    };
    assert_eq!(n.content.author, "sw-a");
    assert_eq!(n.status, NoteStatus::Completed);
    let mut managers = doc.fork(mgr.actor.clone());
    let sign = managers.sign_off("mgr", T + 4)?;
    assert!(accepted(
        &mgr.push(vec![push_doc(doc.id(), &[sign])]).await?,
        0
    ));
    // A manager may delete a signed-off record (filed on the wrong child): the rules the
    // device runs allow it, and so does the server.
    let delete = managers.delete("mgr", "filed on the wrong child", T + 5)?;
    let response = mgr.push(vec![push_doc(doc.id(), &[delete])]).await?;
    assert!(accepted(&response, 0), "{:?}", response.results);
    Ok(())
}

on_both_backends!(
    each_fixed_field_rewrite_is_refused,
    life_cycle_moves_are_checked_whoever_makes_them,
);
