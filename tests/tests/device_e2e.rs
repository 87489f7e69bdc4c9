//! The device's side of sign-in, against the real server: what a copied store file reveals,
//! signing out and in again with no signal, and an expired or ended sign-in never blocking
//! recording.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use fieldnotes_client::ClientError;
use fieldnotes_model::{NewRecord, Record};
use fieldnotes_store::StoreOptions;
use fieldnotes_tests::client::open;
use fieldnotes_tests::fixtures;
use fieldnotes_tests::org::TEAM;
use fieldnotes_tests::{Backend, PASSWORD, TestDb, TestServer};

const TITLE: &str = "Zebra-striped kite at Marlowe Park";
const BODY: &str = "Kayden told me about the blue bicycle his grandmother promised him";
const WISHES: &str = "I want to live with Nana Philomena";

fn note(child: &str, author: &str) -> NewRecord {
    let mut record = fixtures::note(child, author, TITLE, BODY);
    if let NewRecord::VisitNote(n) = &mut record {
        n.wishes_and_feelings = WISHES.to_owned();
        n.tags = vec!["bicycle".to_owned()];
    }
    record
}

/// Every byte of the store's files (database and write-ahead log).
fn store_bytes(dir: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("fieldnotes.db") {
            all.extend(std::fs::read(&path)?);
        }
    }
    Ok(all)
}

/// No automerge change or document in the clear: each starts with these bytes (larger ones
/// are compressed, so their words would not show raw even unencrypted).
fn holds_automerge(bytes: &[u8]) -> bool {
    bytes.windows(4).any(|w| w == [0x85, 0x6f, 0x4a, 0x83])
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// A copy of the store file — with notes recorded here and notes pulled from another device —
/// shows none of their text, no title and no child id.
async fn a_copied_store_reveals_no_record(backend: Backend) -> anyhow::Result<()> {
    let (_db, server) = TestServer::standard(backend, 0).await?;
    server.org().caseload("kayden-0427", TEAM, "sw-a").await?;

    let (dir_a, dir_m) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let manager = open(dir_m.path(), &server.url()).await?;
    manager.sign_in("mgr", PASSWORD, "office").await?;
    manager.create(note("kayden-0427", "mgr")).await?;
    manager.sync().await?;

    let laptop = open(dir_a.path(), &server.url()).await?;
    laptop.sign_in("sw-a", PASSWORD, "laptop").await?;
    let mine = laptop.create(note("kayden-0427", "sw-a")).await?;
    laptop
        .edit(&mine, fixtures::body(&format!("{BODY} and the red helmet")))
        .await?;
    laptop.sync().await?;
    assert_eq!(
        laptop.list(None).await?.len(),
        2,
        "its own note and the pulled one"
    );

    // While the app runs, and after it has closed.
    let secrets = [
        TITLE,
        "Zebra-striped",
        "blue bicycle",
        "red helmet",
        "Philomena",
        "kayden-0427",
    ];
    let copy = store_bytes(dir_a.path())?;
    assert!(copy.len() > 10_000, "the store is really there");
    assert!(!holds_automerge(&copy), "open: automerge data in the clear");
    for secret in secrets {
        assert!(!contains(&copy, secret), "open: the store shows {secret:?}");
    }
    drop(laptop);
    let copy = store_bytes(dir_a.path())?;
    assert!(
        !holds_automerge(&copy),
        "closed: automerge data in the clear"
    );
    for secret in secrets {
        assert!(
            !contains(&copy, secret),
            "closed: the store shows {secret:?}"
        );
    }
    // The person's password opens it again.
    let laptop = open(dir_a.path(), &server.url()).await?;
    laptop.unlock(PASSWORD).await?;
    match laptop.get(&mine).await? {
        Some(Record::VisitNote(n)) => assert_eq!(n.content.title, TITLE),
        other => panic!("the note is back: {other:?}"),
    }
    assert!(matches!(
        open(tempfile::tempdir()?.path(), &server.url())
            .await?
            .unlock(PASSWORD)
            .await,
        Err(ClientError::SignedOut | ClientError::WrongPassword)
    ));
    Ok(())
}

/// Signing out and in again with no signal keeps what was not yet sent; it goes on the next
/// sync.
async fn signing_out_and_in_offline_keeps_unsynced_work(backend: Backend) -> anyhow::Result<()> {
    let (_db, mut server) = TestServer::standard(backend, 1).await?;
    let dir = tempfile::tempdir()?;
    let laptop = open(dir.path(), &server.url()).await?;
    laptop.sign_in("sw-a", PASSWORD, "laptop").await?;
    server.halt().await?;

    // No signal from here.
    let id = laptop.create(note("child-00", "sw-a")).await?;
    laptop.sign_out().await?;
    assert!(matches!(laptop.get(&id).await, Err(ClientError::SignedOut)));
    assert_eq!(
        laptop.pending_changes().await?,
        1,
        "counted while signed out"
    );
    let wrong = laptop.sign_in("sw-a", "not my password", "laptop").await;
    assert!(
        matches!(wrong, Err(ClientError::WrongPassword)),
        "{wrong:?}"
    );
    let offline = laptop.sign_in("sw-a", PASSWORD, "laptop").await?;
    assert!(!offline.online);
    assert!(
        laptop.get(&id).await?.is_some(),
        "the unsynced note is back"
    );

    // Signal again. The offline sign-in holds no tokens (signing out dropped them), so sync
    // asks for an online sign-in rather than sending anything.
    server.resume().await?;
    let store = &server.state.store;
    let err = laptop.sync().await.unwrap_err();
    assert!(matches!(err, ClientError::SignInRequired { .. }), "{err:?}");
    assert!(store.get_document(&id).await?.is_none());
    assert_eq!(laptop.pending_changes().await?, 1);
    let online = laptop.sign_in("sw-a", PASSWORD, "laptop").await?;
    assert!(online.online);
    laptop.sync().await?;
    assert_eq!(laptop.pending_changes().await?, 0);
    assert!(store.get_document(&id).await?.is_some());
    Ok(())
}

/// Access tokens that expire at once are refreshed as needed; a sign-in the server has ended
/// stops only sync, never recording.
async fn an_expired_or_ended_sign_in_never_blocks_recording(
    backend: Backend,
) -> anyhow::Result<()> {
    let db = TestDb::new(backend).await?;
    let config = fieldnotes_server::Config::with_database(&db.url);
    let mut policy = config.policy();
    policy.access_ttl = Duration::from_secs(1);
    let (options, limits) = (StoreOptions::default(), config.limits());
    let server = TestServer::start_with_parts(&db.url, options, limits, policy).await?;
    server.org().standard(1).await?;
    let dir = tempfile::tempdir()?;
    let laptop = open(dir.path(), &server.url()).await?;
    laptop.sign_in("sw-a", PASSWORD, "laptop").await?;

    laptop.create(note("child-00", "sw-a")).await?;
    let report = laptop.sync().await?;
    assert!(
        report.refreshed_token,
        "a one-second token is refreshed before it is used"
    );
    assert_eq!(laptop.pending_changes().await?, 0);

    // The server ends the session (as a reused refresh token would).
    server
        .state
        .store
        .end_session(laptop.device_id(), 0)
        .await?;
    let id = laptop.create(note("child-00", "sw-a")).await?;
    let err = laptop.sync().await.unwrap_err();
    assert!(matches!(err, ClientError::SignInRequired { .. }), "{err:?}");
    assert!(err.to_string().contains("sign in again"), "{err}");
    laptop.edit(&id, fixtures::title("Still recording")).await?;
    assert_eq!(laptop.pending_changes().await?, 2);

    laptop.sign_in("sw-a", PASSWORD, "laptop").await?;
    laptop.sync().await?;
    assert_eq!(laptop.pending_changes().await?, 0);
    Ok(())
}

on_both_backends!(
    a_copied_store_reveals_no_record,
    signing_out_and_in_offline_keeps_unsynced_work,
    an_expired_or_ended_sign_in_never_blocks_recording,
);
