//! The server's database restored from a backup (or failed over to a replica that missed the
//! last transactions), on both backends, with real SDK devices: every change the server had
//! acknowledged and then lost comes back, no device skips a change written after the restore
//! at a reused feed position, and the person is told once. A plain restart is not a restore.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use fieldnotes_client::{Client, SyncReport};
use fieldnotes_model::hash_hex;
use fieldnotes_tests::client::{open, signed_in};
use fieldnotes_tests::fixtures::{self, body};
use fieldnotes_tests::org::TEAM;
use fieldnotes_tests::{Backend, PASSWORD, TestDb, TestServer};

/// `sw-a` holds `child-a`, `sw-b` holds `child-b`; the manager `mgr` sees both.
async fn people(server: &TestServer) -> anyhow::Result<()> {
    let org = server.org();
    org.standard(0).await?;
    org.caseload("child-a", TEAM, "sw-a").await?;
    org.caseload("child-b", TEAM, "sw-b").await?;
    Ok(())
}

fn note(child: &str, author: &str, title: &str) -> fieldnotes_model::NewRecord {
    fixtures::note(
        child,
        author,
        title,
        &format!("{title}: what was seen and said"),
    )
}

/// Open the device in `dir` again, now pointed at `url`, unlocked.
async fn reopen(client: Client, dir: &Path, url: &str) -> anyhow::Result<Client> {
    drop(client);
    let client = open(dir, url).await?;
    client.unlock(PASSWORD).await?;
    Ok(client)
}

/// Every change hash of a document as the device holds it.
async fn device_hashes(client: &Client, id: &str) -> anyhow::Result<BTreeSet<String>> {
    let mut doc = client.document(id).await?.unwrap();
    Ok(doc
        .all_changes()
        .iter()
        .map(|c| hash_hex(&c.hash))
        .collect())
}

/// Every change hash of a document as the server has stored it (read from its store).
async fn server_hashes(server: &TestServer, id: &str) -> anyhow::Result<BTreeSet<String>> {
    Ok(server
        .state
        .store
        .document_changes(id)
        .await?
        .into_iter()
        .map(|c| c.hash)
        .collect())
}

fn titles(list: &[fieldnotes_client::DocSummary]) -> BTreeSet<String> {
    list.iter().map(|d| d.summary.clone()).collect()
}

fn told(report: &SyncReport) -> bool {
    report.server_restored.is_some()
}

/// Back up, write and acknowledge more from two devices, restore the backup, write from a
/// third device at the reused feed positions, and sync everyone.
async fn a_restore_is_healed_and_told_once(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let server = TestServer::start(&db.url).await?;
    people(&server).await?;
    let (dir_a, dir_b, dir_m) = (
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    );
    let a = signed_in(dir_a.path(), &server.url(), "sw-a").await?;
    let b = signed_in(dir_b.path(), &server.url(), "sw-b").await?;
    let m = signed_in(dir_m.path(), &server.url(), "mgr").await?;

    // Before the backup: one note each, acknowledged; everyone in step.
    let a_old = a.create(note("child-a", "sw-a", "A before backup")).await?;
    let b_old = b.create(note("child-b", "sw-b", "B before backup")).await?;
    a.sync().await?;
    b.sync().await?;
    m.sync().await?;
    assert_eq!(m.list(None).await?.len(), 2);

    let backup = db.backup().await?;

    // After the backup: more work from both, acknowledged by the server.
    a.edit(&a_old, body("A's edit after the backup")).await?;
    let a_new = a.create(note("child-a", "sw-a", "A after backup")).await?;
    b.edit(&b_old, body("B's edit after the backup")).await?;
    let b_new = b.create(note("child-b", "sw-b", "B after backup")).await?;
    b.edit(&b_new, body("B's second thoughts")).await?;
    for device in [&a, &b] {
        let report = device.sync().await?;
        assert!(report.accepted > 0 && !told(&report));
        assert_eq!(device.pending_changes().await?, 0, "all acknowledged");
    }
    // A's cursor moves on to the feed's head (past B's changes, out of its scope).
    a.sync().await?;
    let mut acknowledged = Vec::new();
    for (device, id) in [(&a, &a_old), (&a, &a_new), (&b, &b_old), (&b, &b_new)] {
        let hashes = device_hashes(device, id).await?;
        assert_eq!(server_hashes(&server, id).await?, hashes);
        acknowledged.push((id.clone(), hashes));
    }
    server.stop().await?;

    // Restore: the server comes back on the backup, which lacks all of that.
    let server = TestServer::start(&backup.url).await?;
    assert!(server_hashes(&server, &a_new).await?.is_empty());
    assert!(server_hashes(&server, &b_new).await?.is_empty());
    let restored_old = server_hashes(&server, &a_old).await?;
    assert!(restored_old.is_subset(&acknowledged[0].1) && restored_old != acknowledged[0].1);
    let mut lost = [0usize; 2];
    for (i, (id, hashes)) in acknowledged.iter().enumerate() {
        lost[i / 2] += hashes
            .difference(&server_hashes(&server, id).await?)
            .count();
    }
    assert!(lost[0] >= 2 && lost[1] >= 3, "{lost:?}");

    // The manager last synced before the backup, so nothing was lost for them; their new notes
    // take the feed positions the lost changes had.
    let m = reopen(m, dir_m.path(), &server.url()).await?;
    let m_a = m
        .create(note("child-a", "mgr", "Manager after restore (A)"))
        .await?;
    let m_b = m
        .create(note("child-b", "mgr", "Manager after restore (B)"))
        .await?;
    let report = m.sync().await?;
    assert!(!told(&report), "nothing the manager knew of was lost");

    let a = reopen(a, dir_a.path(), &server.url()).await?;
    let b = reopen(b, dir_b.path(), &server.url()).await?;
    let ra = a.sync().await?;
    // The manager writes again before B has synced: B's re-sent work is not on the server
    // yet, so this note takes a feed position A's cursor had passed before the restore.
    let m_a2 = m
        .create(note("child-a", "mgr", "Manager later (A)"))
        .await?;
    assert!(!told(&m.sync().await?));
    let rb = b.sync().await?;
    let restored = ra.server_restored.clone().expect("A is told");
    assert_eq!(restored.resent_changes, lost[0] as u64, "{ra:?}");
    assert_eq!(restored.checked_documents, 2, "{ra:?}");
    let restored = rb.server_restored.clone().expect("B is told");
    assert_eq!(restored.resent_changes, lost[1] as u64, "{rb:?}");

    // Every acknowledged change is back on the server.
    for (id, hashes) in &acknowledged {
        let stored = server_hashes(&server, id).await?;
        assert!(stored.is_superset(hashes), "document {id} lacks changes");
    }
    // No device skipped the manager's notes, written at reused positions.
    let a_list = titles(&a.list(None).await?);
    assert!(
        a.get(&m_a).await?.is_some(),
        "A has the manager's note: {a_list:?}"
    );
    assert!(b.get(&m_b).await?.is_some(), "B has the manager's note");
    for device in [&a, &b] {
        assert_eq!(device.pending_changes().await?, 0);
    }

    // Told once; A gets the manager's later note.
    let report = a.sync().await?;
    assert!(!told(&report), "told once: {report:?}");
    assert!(
        a.get(&m_a2).await?.is_some(),
        "the manager's later note reaches A"
    );
    assert!(!told(&b.sync().await?), "told once");
    // The manager gets the work the server had lost; they are not told of a restore (their
    // device lost nothing).
    assert!(!told(&m.sync().await?));
    assert!(m.get(&a_new).await?.is_some() && m.get(&b_new).await?.is_some());
    for (id, _) in &acknowledged {
        let on_server = server_hashes(&server, id).await?;
        assert_eq!(device_hashes(&m, id).await?, on_server, "manager has {id}");
    }
    assert_eq!(
        device_hashes(&a, &a_new).await?,
        device_hashes(&m, &a_new).await?
    );

    // Nothing more to tell or fetch.
    for device in [&a, &b, &m] {
        let report = device.sync().await?;
        assert!(!told(&report), "{report:?}");
        assert_eq!(
            report.protocol.pulled_changes, 0,
            "nothing fetched again: {report:?}"
        );
    }
    server.stop().await?;
    Ok(())
}

/// A server restarted on the same database is not a restore: nobody is told anything, nothing
/// is sent again or fetched again, and new work flows as before.
async fn a_restart_is_not_a_restore(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let server = TestServer::start(&db.url).await?;
    people(&server).await?;
    let (dir_a, dir_m) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let a = signed_in(dir_a.path(), &server.url(), "sw-a").await?;
    let m = signed_in(dir_m.path(), &server.url(), "mgr").await?;
    let id = a.create(note("child-a", "sw-a", "Before restart")).await?;
    a.sync().await?;
    m.sync().await?;
    server.stop().await?;

    let server = TestServer::start(&db.url).await?;
    let a = reopen(a, dir_a.path(), &server.url()).await?;
    let m = reopen(m, dir_m.path(), &server.url()).await?;
    a.edit(&id, body("After restart")).await?;
    let report = a.sync().await?;
    assert!(!told(&report), "{report:?}");
    assert_eq!(
        report.protocol.pushed_changes, 1,
        "only the new edit: {report:?}"
    );
    let report = m.sync().await?;
    assert!(!told(&report), "{report:?}");
    assert_eq!(
        report.protocol.pulled_changes, 1,
        "only the new edit: {report:?}"
    );
    assert_eq!(a.heads(&id).await?, m.heads(&id).await?);
    server.stop().await?;
    Ok(())
}

on_both_backends!(
    a_restore_is_healed_and_told_once,
    a_restart_is_not_a_restore
);
