//! Devices with the real client SDK against the real server over a real socket: recording
//! offline, converging, and refusals that never block the rest of the outbox.

// Test code: a failed unwrap is a failed test, and sizes here are small.
#![allow(clippy::unwrap_used)]

mod common;

use fieldnotes_client::{Client, PasswordKdf};
use fieldnotes_model::{Patch, Record};
use fieldnotes_server::AppState;
use fieldnotes_server::state::Limits;
use fieldnotes_tests::client::signed_in;
use fieldnotes_tests::fixtures::{self, rng, visit_note, visit_note_in};
use fieldnotes_tests::{Backend, PASSWORD, TestDb, TestServer};

#[track_caller]
fn body_of(record: Option<Record>) -> String {
    visit_note_in(record).content.body
}

fn body_patch(body: String) -> Patch {
    fixtures::body(&body)
}

/// Two devices edit the same note body and different notes while offline; after syncing both
/// hold identical documents and both edits to the shared body are kept.
async fn offline_edits_on_two_devices_converge(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = TestServer::standard(backend, 3).await?;
    // The case holder's laptop, and the team manager's.
    let a = server.client("sw-a").await?;
    let b = server.client("mgr").await?;

    let mut r = rng(3);
    let shared = a.create(visit_note(&mut r, 0, "sw-a")).await?;
    let only_a = a.create(visit_note(&mut r, 1, "sw-a")).await?;
    let only_b = b.create(visit_note(&mut r, 2, "mgr")).await?;
    a.sync().await?;
    b.sync().await?;
    a.sync().await?;
    let original = body_of(a.get(&shared).await?);
    assert_eq!(
        body_of(b.get(&shared).await?),
        original,
        "both devices start from the same note"
    );

    // Offline: A adds a line at the start of the shared body, B one at the end; each also edits
    // a note only it touches.
    a.edit(
        &shared,
        body_patch(format!("Seen at school first. {original}")),
    )
    .await?;
    b.edit(
        &shared,
        body_patch(format!("{original} Agreed to meet next week.")),
    )
    .await?;
    a.edit(
        &only_a,
        body_patch("A's own note, rewritten offline.".into()),
    )
    .await?;
    b.edit(
        &only_b,
        body_patch("B's own note, rewritten offline.".into()),
    )
    .await?;

    a.sync().await?;
    b.sync().await?;
    a.sync().await?;

    let merged = body_of(a.get(&shared).await?);
    assert_eq!(merged, body_of(b.get(&shared).await?));
    assert!(merged.starts_with("Seen at school first. "), "{merged}");
    assert!(merged.ends_with(" Agreed to meet next week."), "{merged}");
    for id in [&shared, &only_a, &only_b] {
        assert_eq!(a.get(id).await?, b.get(id).await?, "document {id} differs");
        assert_eq!(
            a.heads(id).await?,
            b.heads(id).await?,
            "heads of {id} differ"
        );
    }
    assert_eq!(a.pending_changes().await?, 0);
    assert_eq!(b.pending_changes().await?, 0);
    server.stop().await
}

/// With the server down, recording works, sync fails saying it will retry, and nothing is
/// lost: when the server is back the work arrives.
async fn recording_works_while_the_server_is_down(backend: Backend) -> anyhow::Result<()> {
    let (db, server) = TestServer::standard(backend, 1).await?;
    let addr = server.addr;
    let url = server.url();
    let dir = tempfile::tempdir()?;
    // Signed in once, online; then the server goes away.
    drop(signed_in(dir.path(), &url, "sw-a").await?);
    server.stop().await?;

    let mut r = rng(4);
    let note = {
        let a = Client::builder(dir.path())
            .server_url(&url)
            .retry(fieldnotes_client::RetryPolicy::none())
            .password_kdf(PasswordKdf::insecure_fast_for_tests())
            .open()
            .await?;
        // A new process: the records unlock with the password, no server needed.
        a.unlock(PASSWORD).await?;
        let note = a.create(visit_note(&mut r, 0, "sw-a")).await?;
        a.edit(&note, body_patch("Written with no signal.".into()))
            .await?;
        let err = a.sync().await.expect_err("the server is down");
        assert!(
            matches!(err, fieldnotes_client::ClientError::Unreachable { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("safe on this device"), "{err}");
        assert_eq!(a.pending_changes().await?, 2);
        note
    };

    // The app restarts, and the server comes back on the same address.
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let state = AppState::open(&fieldnotes_server::Config::with_database(&db.url)).await?;
    let serving = tokio::spawn(fieldnotes_server::serve_state(
        state,
        listener,
        std::future::pending(),
    ));
    let a = Client::builder(dir.path()).open().await?;
    a.unlock(PASSWORD).await?;
    a.sync().await?;
    assert_eq!(a.pending_changes().await?, 0);

    let b_dir = tempfile::tempdir()?;
    let b = signed_in(b_dir.path(), &url, "mgr").await?;
    b.sync().await?;
    assert_eq!(body_of(b.get(&note).await?), "Written with no signal.");
    serving.abort();
    Ok(())
}

/// A document the server refuses is kept on the device with its reason and is not sent again
/// and again; the other documents keep syncing.
async fn a_refused_document_never_blocks_the_others(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    // A server that accepts at most 4 KiB of changes per document in one push.
    let limits = Limits {
        max_request_bytes: 1024 * 1024,
        max_doc_push_bytes: 4096,
        max_ops_per_request: fieldnotes_server::merge::MAX_OPS_PER_REQUEST,
    };
    let server = TestServer::start_with_limits(&db.url, limits).await?;
    server.org().standard(3).await?;

    let a = server.client("sw-a").await?;
    let mut r = rng(5);
    let small = a.create(visit_note(&mut r, 0, "sw-a")).await?;
    let big = a.create(visit_note(&mut r, 1, "sw-a")).await?;
    // Random letters: automerge compresses changes, so the text must not compress well.
    let long_body: String = {
        use rand::RngExt as _;
        (0..12_000)
            .map(|_| char::from(r.random_range(b'a'..=b'z')))
            .collect()
    };
    a.edit(&big, body_patch(long_body.clone())).await?;

    let report = a.sync().await?;
    assert_eq!(report.protocol.refused.len(), 1, "{report:?}");
    assert_eq!(report.protocol.refused[0].doc_id, big);
    assert!(
        report.protocol.refused[0].reason.contains("bytes"),
        "{:?}",
        report.protocol.refused[0]
    );

    // The refused note is kept, readable, and shown with its reason.
    assert_eq!(body_of(a.get(&big).await?), long_body);
    let rejections = a.rejections().await?;
    assert_eq!(rejections.len(), 1);
    assert_eq!(rejections[0].doc_id, big);

    // Later work still syncs, and the refused changes are not resent every round.
    let later = a.create(visit_note(&mut r, 2, "sw-a")).await?;
    let report = a.sync().await?;
    assert!(report.protocol.refused.is_empty(), "{report:?}");
    assert_eq!(
        report.protocol.pushed_changes, 1,
        "only the new note is sent: {report:?}"
    );

    let b = server.client("mgr").await?;
    b.sync().await?;
    assert!(b.get(&small).await?.is_some());
    assert!(b.get(&later).await?.is_some());
    assert!(
        b.get(&big).await?.is_none(),
        "the refused note never reached the server"
    );
    server.stop().await
}

/// The connection drops half-way through the server's answer. Nothing the device sent is
/// dropped from its outbox and its cursor does not move; the next sync resends, the server
/// stores each change once, and another device converges.
async fn an_answer_cut_off_midway_loses_nothing(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = TestServer::standard(backend, 25).await?;
    // Another device's work, so the answer carries a pull and is long enough to cut.
    let other = server.client("mgr").await?;
    let mut r = rng(6);
    for i in 0..20 {
        other.create(visit_note(&mut r, i, "mgr")).await?;
    }
    other.sync().await?;

    let cutting = fieldnotes_tests::CountingProxy::start_cutting(server.addr, 2_000).await?;
    let dir = tempfile::tempdir()?;
    drop(signed_in(dir.path(), &server.url(), "sw-a").await?);
    let mut ids = Vec::new();
    {
        let a = Client::builder(dir.path())
            .server_url(&cutting.url())
            .retry(fieldnotes_client::RetryPolicy::none())
            .open()
            .await?;
        a.unlock(PASSWORD).await?;
        for i in 0..5 {
            ids.push(a.create(visit_note(&mut r, 100 + i, "sw-a")).await?);
        }
        let err = a.sync().await.expect_err("the answer was cut off");
        assert!(
            matches!(err, fieldnotes_client::ClientError::Unreachable { .. }),
            "{err}"
        );
        assert_eq!(
            a.pending_changes().await?,
            5,
            "nothing leaves the outbox unacknowledged"
        );
        assert_eq!(
            a.list(None).await?.len(),
            5,
            "nothing from the cut answer was applied"
        );
    }
    // The server did commit the push before answering.
    for id in &ids {
        assert!(server.state.store.get_document(id).await?.is_some());
    }

    let a = signed_in(dir.path(), &server.url(), "sw-a").await?;
    let report = a.sync().await?;
    assert_eq!(report.accepted, 5, "{report:?}");
    assert_eq!(a.pending_changes().await?, 0);
    assert_eq!(a.list(None).await?.len(), 25);
    for id in &ids {
        assert_eq!(
            server.state.store.document_changes(id).await?.len(),
            1,
            "stored once"
        );
    }
    other.sync().await?;
    for id in &ids {
        assert_eq!(a.heads(id).await?, other.heads(id).await?);
    }
    server.stop().await
}

/// A server that accepts smaller requests than the device's batches: the device halves its
/// batches until they fit, and everything arrives.
async fn a_smaller_server_limit_never_blocks_the_outbox(backend: Backend) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let limits = Limits {
        max_request_bytes: 24 * 1024,
        max_doc_push_bytes: 16 * 1024,
        max_ops_per_request: fieldnotes_server::merge::MAX_OPS_PER_REQUEST,
    };
    let server = TestServer::start_with_limits(&db.url, limits).await?;
    server.org().standard(25).await?;
    let a = server.client("sw-a").await?;
    let mut r = rng(8);
    let mut ids = Vec::new();
    for i in 0..30 {
        ids.push(a.create(visit_note(&mut r, i, "sw-a")).await?);
    }
    let report = a.sync().await?;
    assert_eq!(a.pending_changes().await?, 0, "{report:?}");
    assert_eq!(report.accepted, 30);
    // One request with all 30 notes is over the limit: without halving, sync fails with 413.
    assert!(
        report.protocol.round_trips >= 2,
        "sent in smaller rounds: {report:?}"
    );
    for id in &ids {
        assert!(server.state.store.get_document(id).await?.is_some());
    }
    server.stop().await
}

/// A server merges at most so many operations per request; documents past that budget are
/// deferred, and the device sends them again in the same sync, so nothing waits for the next.
async fn documents_over_the_request_work_budget_follow_in_the_same_sync(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let mut r = rng(9);
    // Room for about two notes a request: a note of 1,500 characters of body costs an op per
    // character, and a few dozen more for its other fields.
    let limits = Limits {
        max_request_bytes: 4 * 1024 * 1024,
        max_doc_push_bytes: 1024 * 1024,
        max_ops_per_request: 3_500,
    };
    let server = TestServer::start_with_limits(&db.url, limits).await?;
    server.org().standard(6).await?;
    let a = server.client("sw-a").await?;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(a.create(visit_note(&mut r, i, "sw-a")).await?);
    }
    let report = a.sync().await?;
    assert_eq!(a.pending_changes().await?, 0, "{report:?}");
    assert_eq!(report.accepted, 6, "{report:?}");
    assert!(
        report.protocol.deferred >= 1,
        "the budget deferred some: {report:?}"
    );
    assert!(report.protocol.round_trips >= 3, "{report:?}");
    for id in &ids {
        assert!(server.state.store.get_document(id).await?.is_some());
    }
    server.stop().await
}

on_both_backends!(
    documents_over_the_request_work_budget_follow_in_the_same_sync,
    a_smaller_server_limit_never_blocks_the_outbox,
    an_answer_cut_off_midway_loses_nothing,
    offline_edits_on_two_devices_converge,
    recording_works_while_the_server_is_down,
    a_refused_document_never_blocks_the_others,
);
