//! Who sees what, end to end: real devices (the client SDK with its encrypted store) signed in
//! to the real server over a real socket. A social worker's device holds exactly their
//! allocated children; a youth worker's only the young people referred to them;
//! re-allocation moves a child's whole history to the new worker and off the old one's device,
//! and back again in full even while the old device still had work about the child to send;
//! a revoked device wipes itself on its next contact.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;

use anyhow::Context as _;
use fieldnotes_client::{Client, ClientError};
use fieldnotes_model::{NewContactCard, NewRecord, Record, RuleCode, hash_hex};
use fieldnotes_protocol::Role;
use fieldnotes_protocol::admin::{AccessGrant, AuditEntry, Listing};
use fieldnotes_protocol::{PROTOCOL_VERSION, SyncRequest};
use fieldnotes_tests::check::assert_status;
use fieldnotes_tests::client::signed_in;
use fieldnotes_tests::fixtures::{self, body, rng, title, visit_note, wishes};
use fieldnotes_tests::org::TEAM;
use fieldnotes_tests::wire::{push_all, raw_push};
use fieldnotes_tests::{Backend, PASSWORD, TestDb, TestServer};
use serde_json::json;
use tempfile::tempdir;

/// The children whose records a device holds.
async fn children_held(client: &Client) -> anyhow::Result<BTreeSet<String>> {
    Ok(client
        .list(None)
        .await?
        .into_iter()
        .filter_map(|d| d.child_id)
        .collect())
}

/// The id of a document `client` holds about `child`.
async fn document_about(client: &Client, child: &str) -> anyhow::Result<String> {
    let held = client.list(None).await?;
    let about = held
        .into_iter()
        .find(|d| d.child_id.as_deref() == Some(child));
    Ok(about
        .with_context(|| format!("no document about {child}"))?
        .id)
}

fn plan(child: &str, author: &str) -> NewRecord {
    let mut plan = fixtures::plan(child, author, &["Meet at the skate park on Tuesdays"]);
    if let NewRecord::ShortPlan(p) = &mut plan {
        p.review_on = Some("2026-12-15".to_owned());
        p.planned_end = Some("2027-02-01".to_owned());
    }
    plan
}

fn card(worker: &str) -> NewRecord {
    NewRecord::ContactCard(NewContactCard {
        worker_id: worker.to_owned(),
        display_name: format!("{worker} the worker"),
        picture: None,
        three_things: vec!["I have a dog".to_owned()],
        how_to_reach: "07700 900000".to_owned(),
        when_to_reach: "weekdays".to_owned(),
    })
}

/// Team pod-1: sw-a holds child-00 and child-01, sw-b holds child-02. Each records a note per
/// child and a contact card. A second team's worker records about their own child.
async fn recorded_org(backend: Backend) -> anyhow::Result<(TestDb, TestServer)> {
    let (db, server) = TestServer::standard(backend, 2).await?;
    let org = server.org();
    org.caseload("child-02", TEAM, "sw-b").await?;
    org.team("pod-2", false).await?;
    org.person("sw-c", Role::SocialWorker, Some("pod-2"))
        .await?;
    org.caseload("child-09", "pod-2", "sw-c").await?;
    let mut r = rng(11);
    for (user, children) in [
        ("sw-a", &["child-00", "child-01"][..]),
        ("sw-b", &["child-02"][..]),
        ("sw-c", &["child-09"][..]),
    ] {
        let client = server.client(user).await?;
        for (i, child) in children.iter().enumerate() {
            let mut record = visit_note(&mut r, i, user);
            if let NewRecord::VisitNote(note) = &mut record {
                note.child_id = (*child).to_owned();
            }
            client.create(record).await?;
        }
        client.create(card(user)).await?;
        let report = client.sync().await?;
        assert!(
            report.protocol.refused.is_empty(),
            "{user}: {:?}",
            report.protocol.refused
        );
    }
    Ok((db, server))
}

async fn a_social_worker_holds_exactly_their_allocated_children(
    backend: Backend,
) -> anyhow::Result<()> {
    let (_db, server) = recorded_org(backend).await?;

    let laptop = server.client("sw-a").await?;
    laptop.sync().await?;
    assert_eq!(
        children_held(&laptop).await?,
        BTreeSet::from(["child-00".to_owned(), "child-01".to_owned()])
    );
    // The team's contact cards come too (sw-a's and sw-b's), not other teams'.
    let cards: BTreeSet<String> = laptop
        .list(Some(fieldnotes_model::DocKind::ContactCard))
        .await?
        .into_iter()
        .map(|d| d.summary)
        .collect();
    assert_eq!(
        cards,
        BTreeSet::from([
            "contact card: sw-a the worker".to_owned(),
            "contact card: sw-b the worker".to_owned()
        ])
    );
    Ok(())
}

async fn a_youth_worker_sees_only_referred_young_people(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = recorded_org(backend).await?;

    // The case holder refers child-01 through the API.
    let case_holder = server.device("sw-a").await?;
    let answer = case_holder
        .post(
            "/v1/children/child-01/referrals",
            &json!({ "youth_worker_id": "yw", "planned_end": "2099-01-31" }),
        )
        .await?;
    assert_status(&answer, 201);

    let yw = server.client("yw").await?;
    yw.sync().await?;
    assert_eq!(
        children_held(&yw).await?,
        BTreeSet::from(["child-01".to_owned()])
    );

    // The youth worker's plan reaches the case holder; a plan for another child is refused on
    // the device before it is written (the server would refuse it).
    let plan_id = yw.create(plan("child-01", "yw")).await?;
    let stray = yw.create(plan("child-00", "yw")).await;
    assert!(
        matches!(
            &stray,
            Err(ClientError::Refused {
                code: fieldnotes_model::RuleCode::OutOfScope,
                ..
            })
        ),
        "{stray:?}"
    );
    let report = yw.sync().await?;
    assert!(report.protocol.refused.is_empty(), "{report:?}");
    assert_eq!(yw.pending_changes().await?, 0);

    let sw_a = server.client("sw-a").await?;
    sw_a.sync().await?;
    assert!(matches!(
        sw_a.get(&plan_id).await?,
        Some(Record::ShortPlan(_))
    ));
    Ok(())
}

async fn reallocation_moves_the_whole_history(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = recorded_org(backend).await?;

    let old = server.client("sw-a").await?;
    let new = server.client("sw-b").await?;
    old.sync().await?;
    new.sync().await?;
    let note = document_about(&old, "child-00").await?;
    // History: several edits on the old worker's device, synced.
    for i in 0..3 {
        old.edit(&note, title(&format!("Home visit, revision {i}")))
            .await?;
    }
    old.sync().await?;
    // One more edit made offline, before the re-allocation reaches the device.
    old.edit(&note, wishes("I want to stay at my school"))
        .await?;
    // The new worker's cursor is already past every change about child-00.
    new.sync().await?;
    assert!(!children_held(&new).await?.contains("child-00"));

    let manager = server.device("mgr").await?;
    let to_sw_b = json!({ "worker_id": "sw-b" });
    let answer = manager
        .post("/v1/children/child-00/allocation", &to_sw_b)
        .await?;
    assert_status(&answer, 200);

    // The old device pushes its pending edit first, then removes the child.
    let report = old.sync().await?;
    assert!(
        report.protocol.refused.is_empty(),
        "late work is accepted: {report:?}"
    );
    assert_eq!(
        report.removed_docs, 1,
        "the one note about child-00: {report:?}"
    );
    assert!(!children_held(&old).await?.contains("child-00"));
    assert!(old.get(&note).await?.is_none());
    assert_eq!(old.pending_changes().await?, 0);

    // The new worker's device receives the child in full, whatever its cursor.
    new.sync().await?;
    assert!(children_held(&new).await?.contains("child-00"));
    let server_changes = server.state.store.document_changes(&note).await?;
    assert_eq!(
        server_changes.len(),
        5,
        "creation, three edits, the offline edit"
    );
    let mut held = new.document(&note).await?.unwrap();
    assert_eq!(
        held.all_changes().len(),
        server_changes.len(),
        "the whole history"
    );
    match new.get(&note).await? {
        Some(Record::VisitNote(n)) => {
            assert_eq!(n.content.title, "Home visit, revision 2");
            assert_eq!(n.content.wishes_and_feelings, "I want to stay at my school");
        }
        other => panic!("expected the note, got {other:?}"),
    }
    // The allocation history counts both workers.
    let history: serde_json::Value = manager
        .get("/v1/children/child-00/allocations")
        .await?
        .json()?;
    assert_eq!(history["distinct_workers"], 2);
    Ok(())
}

async fn a_revoked_device_is_wiped_on_next_contact(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = recorded_org(backend).await?;
    let dir = tempfile::tempdir()?;
    let laptop = signed_in(dir.path(), &server.url(), "sw-a").await?;
    laptop.sync().await?;
    assert!(!laptop.list(None).await?.is_empty());
    assert!(
        std::fs::metadata(dir.path().join("fieldnotes.db")).is_ok(),
        "the store is there before the revocation"
    );

    let admin = server.device("admin").await?;
    let answer = admin
        .post(
            &format!("/v1/admin/devices/{}/revoke", laptop.device_id()),
            &json!({}),
        )
        .await?;
    assert_status(&answer, 200);

    let err = laptop.sync().await.unwrap_err();
    assert!(matches!(err, ClientError::Wiped), "{err:?}");
    assert!(err.to_string().contains("revoked"), "{err}");
    assert!(matches!(laptop.list(None).await, Err(ClientError::Wiped)));
    let store_files = |dir: &std::path::Path| -> anyhow::Result<Vec<String>> {
        Ok(std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("fieldnotes.db"))
            .collect())
    };
    assert!(
        store_files(dir.path())?.is_empty(),
        "the store files are gone"
    );

    // Reopened, the folder holds a new, empty store: nothing to unlock, and signing in
    // registers a new device; the revoked one stays revoked.
    let old_device = laptop.device_id().to_owned();
    drop(laptop);
    let reopened = fieldnotes_tests::client::open(dir.path(), &server.url()).await?;
    assert!(matches!(
        reopened.unlock(PASSWORD).await,
        Err(ClientError::SignedOut)
    ));
    reopened.sign_in("sw-a", PASSWORD, "laptop again").await?;
    assert_ne!(reopened.device_id(), old_device);
    let devices: fieldnotes_protocol::admin::Listing<fieldnotes_protocol::admin::Device> =
        admin.get("/v1/admin/devices?user=sw-a").await?.json()?;
    let old = devices
        .items
        .iter()
        .find(|d| d.device_id == old_device)
        .unwrap();
    assert!(old.revoked_at.is_some());
    Ok(())
}

async fn access_outside_allocation_is_on_the_record(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = recorded_org(backend).await?;
    let duty = server.client("sw-b").await?;
    duty.sync().await?;
    assert!(!children_held(&duty).await?.contains("child-00"));

    let raw = server.device("sw-b").await?;
    let refused = raw
        .post("/v1/children/child-00/access", &json!({ "reason": "" }))
        .await?;
    assert_eq!(refused.status, 400);
    assert!(refused.error_body()?.message.contains("say why"));
    let grant: serde_json::Value = raw
        .post(
            "/v1/children/child-00/access",
            &json!({ "reason": "duty: school called, case holder on leave" }),
        )
        .await?
        .json()?;
    let at = |field: &str| {
        let text = grant[field].as_str().unwrap_or_default();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    };
    let (granted, expires) = (at("granted_at")?, at("expires_at")?);
    assert_eq!(
        (expires - granted).whole_minutes(),
        120,
        "two hours by default"
    );

    duty.sync().await?;
    assert!(children_held(&duty).await?.contains("child-00"));

    // The team manager sees it, with the reason, and so does the audit log.
    let manager = server.device("mgr").await?;
    let grants: Listing<AccessGrant> =
        manager.get("/v1/access-grants?active=true").await?.json()?;
    assert!(grants.items.iter().any(|g| g.user_id == "sw-b"
        && g.child_id == "child-00"
        && g.reason.contains("school called")));
    let audit: Listing<AuditEntry> = manager.get("/v1/audit?child=child-00").await?.json()?;
    assert!(
        audit.items.iter().any(
            |e| e.action == "access_outside_allocation" && e.user_id.as_deref() == Some("sw-b")
        )
    );
    // A youth worker cannot open a child this way.
    let yw = server.device("yw").await?;
    let answer = yw
        .post(
            "/v1/children/child-00/access",
            &json!({ "reason": "just curious, honestly" }),
        )
        .await?;
    assert_eq!(answer.status, 403);
    Ok(())
}

async fn pod_reading_is_read_only(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = recorded_org(backend).await?;
    let admin = server.device("admin").await?;
    let answer = admin
        .patch("/v1/admin/teams/pod-1", &json!({ "pod_read_access": true }))
        .await?;
    assert_eq!(answer.status, 200);

    let colleague = server.client("sw-b").await?;
    colleague.sync().await?;
    assert_eq!(
        children_held(&colleague).await?,
        BTreeSet::from([
            "child-00".to_owned(),
            "child-01".to_owned(),
            "child-02".to_owned()
        ])
    );
    // Reading, not writing: an edit to a colleague's child is refused on the device, in the
    // server's words, and nothing waits to be sent.
    let theirs = document_about(&colleague, "child-00").await?;
    let refused = colleague
        .edit(&theirs, title("Not mine to change"))
        .await
        .expect_err("a read-only child's note cannot be edited");
    assert!(
        matches!(
            &refused,
            ClientError::Refused { code: RuleCode::OutOfScope, message } if message.contains("child:child-00")
        ),
        "{refused:?}"
    );
    let mut r = rng(31);
    let refused = colleague
        .create(visit_note(&mut r, 0, "sw-b"))
        .await
        .expect_err("a new note on a read-only child is refused");
    assert!(
        matches!(
            &refused,
            ClientError::Refused {
                code: RuleCode::OutOfScope,
                ..
            }
        ),
        "{refused:?}"
    );
    assert_eq!(colleague.pending_changes().await?, 0);

    // The server refuses the same edit from a device that skips the check.
    let raw = server.device("sw-b").await?;
    let stored = server
        .state
        .store
        .get_document(&theirs)
        .await?
        .expect("stored");
    let mut doc = fieldnotes_model::Document::load(&theirs, &stored.snapshot)?;
    doc.set_actor(raw.actor.clone());
    let change = doc.edit(title("Not mine to change"), 1)?.expect("a change");
    let answer = raw
        .push(vec![raw_push(&theirs, vec![change.bytes])])
        .await?;
    assert!(
        answer
            .read_only_scopes
            .contains(&"child:child-00".to_owned()),
        "the device is told what it may only read: {:?}",
        answer.read_only_scopes
    );
    assert!(
        matches!(
            &answer.results[0].outcome,
            fieldnotes_protocol::PushOutcome::Rejected { code, .. } if *code == fieldnotes_protocol::RejectCode::OutOfScope
        ),
        "{:?}",
        answer.results
    );
    Ok(())
}

/// A child moved away while a device was part-way through fetching its records (one small
/// page): the device does not list the child's key yet, only its cursor names it, and it is
/// still told to remove what it holds (found by the simulation).
async fn a_child_moved_away_mid_backfill_is_removed(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = TestServer::standard(backend, 1).await?;
    let writer = server.device("sw-a").await?;
    for i in 0..3 {
        let mut doc = writer.create(fixtures::note(
            "child-00",
            "sw-a",
            &format!("Visit {i}"),
            "Notes",
        ))?;
        writer.push(vec![push_all(&mut doc)]).await?;
    }
    let device = server.device("sw-b").await?;
    let first = device.round(Vec::new(), None, Vec::new()).await?;
    let held = first.scopes_complete.clone();
    server.org().allocate("child-00", "sw-b").await?;
    let page = |cursor| SyncRequest {
        protocol: PROTOCOL_VERSION,
        cursor: Some(cursor),
        push: Vec::new(),
        max_page_bytes: Some(1),
        scopes: held.clone(),
        anchor: None,
        verify: Vec::new(),
    };
    let body = serde_json::to_vec(&page(first.cursor.clone()))?;
    let partial = device.post_raw(&body, true).await?.sync_response()?;
    assert!(partial.more && !partial.pull.is_empty(), "{partial:?}");
    assert!(partial.scopes_complete.is_empty(), "{partial:?}");
    // Back to sw-a before sw-b's device finishes: what it holds of child-00 must go.
    server.org().allocate("child-00", "sw-a").await?;
    let body = serde_json::to_vec(&page(partial.cursor.clone()))?;
    let next = device.post_raw(&body, true).await?.sync_response()?;
    assert_eq!(next.remove_scopes, vec!["child:child-00".to_owned()]);
    assert!(next.pull.is_empty(), "{next:?}");
    Ok(())
}

/// Every change hash of a document as the device holds it, and as the server stores it.
async fn hashes(
    client: &Client,
    server: &TestServer,
    id: &str,
) -> anyhow::Result<(BTreeSet<String>, BTreeSet<String>)> {
    let mut doc = client.document(id).await?.context("the device lacks it")?;
    let held = doc
        .all_changes()
        .iter()
        .map(|c| hash_hex(&c.hash))
        .collect();
    let stored = (server.state.store.document_changes(id).await?)
        .into_iter()
        .map(|c| c.hash)
        .collect();
    Ok((held, stored))
}

/// A child moved away while the laptop still had an edit about it to send, and came back
/// before the edit could go: the laptop must then be sent what the other worker wrote
/// meanwhile (found by the simulation, seeds 452 and 1539). The edit waits because it builds
/// on a change a restore lost until the phone that wrote it sends it again. While it waits the
/// laptop no longer lists the child, so the server treats the child's return as new to it and
/// sends the whole history; a laptop still listing it would be sent nothing, because the feed
/// skipped the child's changes while it was out of scope.
async fn a_child_back_before_its_removal_finished_brings_what_changed_meanwhile(
    backend: Backend,
) -> anyhow::Result<()> {
    let (db, server) = TestServer::standard(backend, 1).await?;
    let (laptop_dir, phone_dir, sw_b_dir) = (tempdir()?, tempdir()?, tempdir()?);
    let laptop = signed_in(laptop_dir.path(), &server.url(), "sw-a").await?;
    let phone = signed_in(phone_dir.path(), &server.url(), "sw-a").await?;
    let note = laptop
        .create(fixtures::note("child-00", "sw-a", "Home visit", "Notes"))
        .await?;
    laptop.sync().await?;
    phone.sync().await?;
    let backup = db.backup().await?;
    // After the backup: the phone's edit, acknowledged, and the laptop's edit built on it.
    phone.edit(&note, body("What the phone wrote")).await?;
    phone.sync().await?;
    laptop.sync().await?;
    laptop.edit(&note, title("Home visit, revised")).await?;
    server.stop().await?;

    // The server comes back on the backup (without the phone's edit) and the child moves to
    // sw-b. The laptop's edit waits for the phone's: the child's records stay on the laptop.
    let server = TestServer::start(&backup.url).await?;
    server.org().allocate("child-00", "sw-b").await?;
    let reopen = |client: Client, dir: &std::path::Path| {
        drop(client);
        let url = server.url();
        let dir = dir.to_owned();
        async move {
            let client = fieldnotes_tests::client::open(&dir, &url).await?;
            client.unlock(PASSWORD).await?;
            anyhow::Ok(client)
        }
    };
    let laptop = reopen(laptop, laptop_dir.path()).await?;
    let report = laptop.sync().await?;
    assert_eq!(
        report.protocol.removals_waiting,
        ["child:child-00"],
        "{report:?}"
    );
    assert_eq!(laptop.pending_changes().await?, 1);

    // sw-b writes about the child; the laptop syncs while the child is out of its scope.
    let sw_b = signed_in(sw_b_dir.path(), &server.url(), "sw-b").await?;
    sw_b.sync().await?;
    sw_b.edit(&note, wishes("I want to stay at my school"))
        .await?;
    sw_b.sync().await?;
    let report = laptop.sync().await?;
    assert_eq!(
        report.protocol.removals_waiting,
        ["child:child-00"],
        "{report:?}"
    );

    // Back to sw-a before the laptop's edit could go: the laptop gets sw-b's words.
    server.org().allocate("child-00", "sw-a").await?;
    let report = laptop.sync().await?;
    assert!(report.protocol.removals_waiting.is_empty(), "{report:?}");
    assert!(children_held(&laptop).await?.contains("child-00"));
    match laptop.get(&note).await? {
        Some(Record::VisitNote(n)) => {
            assert_eq!(n.content.wishes_and_feelings, "I want to stay at my school");
            assert_eq!(n.content.title, "Home visit, revised");
        }
        other => panic!("expected the note, got {other:?}"),
    }

    // The phone sends its lost edit again; then the laptop's goes, and both sides agree.
    let phone = reopen(phone, phone_dir.path()).await?;
    phone.sync().await?;
    let report = laptop.sync().await?;
    assert!(report.protocol.refused.is_empty(), "{report:?}");
    assert_eq!(laptop.pending_changes().await?, 0);
    let (held, stored) = hashes(&laptop, &server, &note).await?;
    assert_eq!(held, stored, "the laptop has the whole history, once");
    assert_eq!(
        held.len(),
        4,
        "created, the phone's, the laptop's and sw-b's edits"
    );
    // The child is the laptop's again for good: nothing of it goes on later syncs.
    let report = laptop.sync().await?;
    assert!(report.protocol.removed_scopes.is_empty(), "{report:?}");
    assert!(children_held(&laptop).await?.contains("child-00"));
    assert!(laptop.get(&note).await?.is_some(), "the note stays");
    Ok(())
}

on_both_backends!(
    a_child_back_before_its_removal_finished_brings_what_changed_meanwhile,
    a_child_moved_away_mid_backfill_is_removed,
    a_social_worker_holds_exactly_their_allocated_children,
    a_youth_worker_sees_only_referred_young_people,
    reallocation_moves_the_whole_history,
    a_revoked_device_is_wiped_on_next_contact,
    access_outside_allocation_is_on_the_record,
    pod_reading_is_read_only,
);
