//! Damaged and full storage, on the device and on the server: each failure is named in the
//! words a person sees, nothing is created over a damaged store, and work not yet sent is kept
//! or exported and reaches the server after an import — never dropped without a word.
//!
//! The full-disk tests mount a small tmpfs of their own (`mount -t tmpfs`), so the disk really
//! fills: they need root (CI runs them as root) and fail, saying so, when mounting is refused.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use fieldnotes_client::{Client, ClientError, Damage, Export, StoreState, check};
use fieldnotes_model::{Document, NewRecord, Record};
use fieldnotes_tests::client::{open, signed_in};
use fieldnotes_tests::disk::SmallDisk;
use fieldnotes_tests::{Backend, PASSWORD, TestDb, TestServer, fixtures};
use tempfile::TempDir;

const CHILD: &str = "child-00";

fn note(title: &str) -> NewRecord {
    fixtures::note(CHILD, "sw-a", title, "We talked about school and football.")
}

fn store_file(dir: &Path) -> PathBuf {
    dir.join("fieldnotes.db")
}

const ADVICE: &str = "Nothing has been changed or created over it. Run `fieldnotes doctor` to \
                      see what can be saved and how to carry on";

/// What the device says of its store in `dir` with this `damage`.
fn damage_message(dir: &Path, damage: &str) -> String {
    let store = store_file(dir);
    format!(
        "the store at {} is damaged: {damage}. {ADVICE}",
        store.display()
    )
}

/// The device in `dir` will not open: why.
async fn refused_to_open(dir: &Path, url: &str) -> anyhow::Result<ClientError> {
    match open(dir, url).await {
        Ok(_) => anyhow::bail!("the damaged store at {} opened", dir.display()),
        Err(e) => Ok(e.downcast::<ClientError>()?),
    }
}

async fn server() -> anyhow::Result<(TestDb, TestServer)> {
    TestServer::standard(Backend::Sqlite, 1).await
}

/// The title of a document as the server stores it, if it has it.
async fn server_title(server: &TestServer, id: &str) -> anyhow::Result<Option<String>> {
    let Some(stored) = server.state.store.get_document(id).await? else {
        return Ok(None);
    };
    match Document::load(id, &stored.snapshot)?.read()? {
        Record::VisitNote(n) => Ok(Some(n.content.title)),
        other => anyhow::bail!("not a note: {other:?}"),
    }
}

/// The server stores each of these notes with this title.
async fn assert_titles(server: &TestServer, notes: [(&String, &str); 2]) -> anyhow::Result<()> {
    for (id, title) in notes {
        let stored = server_title(server, id).await?;
        assert_eq!(stored.as_deref(), Some(title), "the server's copy of {id}");
    }
    Ok(())
}

/// What a person does after `fieldnotes doctor`: move the damaged folder aside, carry on as
/// the same device in a fresh folder at the same place, fetch, import the export, sync. The
/// server then holds the `work` that was waiting: the offline edit and the unsent note.
async fn recover(
    dir: &Path,
    server: &TestServer,
    export: &Export,
    work: &Work,
) -> anyhow::Result<()> {
    let url = &server.url();
    let aside = PathBuf::from(format!("{}.damaged", dir.display()));
    std::fs::rename(dir, &aside)?;
    let client = Client::builder(dir)
        .server_url(url)
        .retry(fieldnotes_client::RetryPolicy::none())
        .password_kdf(fieldnotes_client::PasswordKdf::insecure_fast_for_tests())
        .device_identity(&export.device_id, &export.actor_id)
        .open()
        .await?;
    client
        .sign_in(&export.user.username, PASSWORD, "recovered")
        .await?;
    client.sync().await?;
    let imported = client.import(export, PASSWORD).await?;
    assert!(imported.waiting.is_empty(), "{imported:?}");
    assert_eq!(imported.queued, export.changes.len() as u64);
    let report = client.sync().await?;
    assert_eq!(report.accepted, export.changes.len() as u64, "{report:?}");
    assert_eq!(client.pending_changes().await?, 0);
    std::fs::remove_dir_all(&aside)?;
    let waiting = [
        (&work.synced, "Synced visit, edited offline"),
        (&work.unsent, "Offline visit"),
    ];
    assert_titles(server, waiting).await
}

/// The work on a device made by [`device_with_unsent_work`].
struct Work {
    synced: String,
    unsent: String,
    pending: u64,
}

/// A server, and the folder of a device (closed) with one synced note and unsent work: an edit
/// to that note and a second note. Returns them, the two ids and the changes waiting.
async fn device_with_unsent_work() -> anyhow::Result<(TestDb, TestServer, TempDir, Work)> {
    let (db, server) = server().await?;
    let dir = tempfile::tempdir()?;
    let client = signed_in(dir.path(), &server.url(), "sw-a").await?;
    let synced = client.create(note("Synced visit")).await?;
    client.sync().await?;
    client
        .edit(&synced, fixtures::title("Synced visit, edited offline"))
        .await?;
    let unsent = client.create(note("Offline visit")).await?;
    let pending = client.pending_changes().await?;
    assert!(pending >= 2);
    client.close().await;
    let work = Work {
        synced,
        unsent,
        pending,
    };
    Ok((db, server, dir, work))
}

fn overwrite(path: &Path, offset: u64, len: usize) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let garbage: Vec<u8> = (0..len).map(|i| (i * 7 + 13) as u8).collect();
    file.write_all(&garbage)?;
    file.sync_all()?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_cut_to_nothing_is_named_and_never_replaced() -> anyhow::Result<()> {
    let (_db, server, dir, Work { synced, .. }) = device_with_unsent_work().await?;
    std::fs::OpenOptions::new()
        .write(true)
        .open(store_file(dir.path()))?
        .set_len(0)?;

    // Opening (which every command and every sign-in does) refuses, naming the damage.
    for _ in 0..2 {
        let err = refused_to_open(dir.path(), &server.url()).await?;
        assert!(matches!(err, ClientError::StoreDamaged { .. }), "{err:?}");
        let damage = "the store file is empty (0 bytes): its contents are gone from it";
        assert_eq!(err.to_string(), damage_message(dir.path(), damage));
    }
    // No new store was started over it.
    assert_eq!(std::fs::metadata(store_file(dir.path()))?.len(), 0);

    // The check says what was lost; there is nothing it can export.
    let report = check(dir.path(), Some(PASSWORD)).await?;
    assert_eq!(report.state, StoreState::Damaged);
    assert_eq!(report.damage, vec![Damage::Empty]);
    assert!(report.export().is_none());
    assert_eq!(
        report.damage[0].to_string(),
        "the store file is empty (0 bytes): what it held is gone from this device"
    );

    // What the server had is safe: a fresh folder gets it back.
    let aside = PathBuf::from(format!("{}.damaged", dir.path().display()));
    std::fs::rename(dir.path(), &aside)?;
    let fresh = signed_in(dir.path(), &server.url(), "sw-a").await?;
    fresh.sync().await?;
    assert!(fresh.get(&synced).await?.is_some());
    std::fs::remove_dir_all(&aside)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn garbage_over_the_header_is_named_and_the_unsent_work_exported() -> anyhow::Result<()> {
    let (_db, server, dir, work) = device_with_unsent_work().await?;
    overwrite(&store_file(dir.path()), 0, 100)?;
    let damaged = std::fs::read(store_file(dir.path()))?;

    let err = refused_to_open(dir.path(), &server.url()).await?;
    let damage = "the file is not a database (its first bytes were overwritten or it was replaced)";
    assert_eq!(err.to_string(), damage_message(dir.path(), damage));

    // A wrong password is said as such; the right one checks every unsent change.
    assert!(matches!(
        check(dir.path(), Some("not the password")).await,
        Err(ClientError::WrongPassword)
    ));
    let report = check(dir.path(), Some(PASSWORD)).await?;
    assert_eq!(report.state, StoreState::Damaged);
    assert!(
        report.damage.contains(&Damage::NotADatabase),
        "{:?}",
        report.damage
    );
    let outbox = report.outbox.unwrap();
    assert_eq!((outbox.readable, outbox.unreadable), (work.pending, 0));
    assert!(outbox.verified);
    // The check never writes to the damaged store.
    assert_eq!(std::fs::read(store_file(dir.path()))?, damaged);

    // The export goes through a file, as `fieldnotes doctor` writes it.
    let file = tempfile::tempdir()?;
    let path = file.path().join("export.json");
    report.export().unwrap().write_to(&path)?;
    assert!(
        report.export().unwrap().write_to(&path).is_err(),
        "never overwritten"
    );
    let text = std::fs::read_to_string(&path)?;
    assert!(!text.contains("Offline visit"), "sealed as in the store");
    let export = Export::read_from(&path)?;

    recover(dir.path(), &server, &export, &work).await?;
    Ok(())
}

/// The page numbers of a table's b-tree root, read before the damage.
async fn root_page(path: &Path, table: &str) -> anyhow::Result<u64> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", path.display())).await?;
    let page: i64 = sqlx::query_scalar("SELECT rootpage FROM sqlite_schema WHERE name = ?")
        .bind(table)
        .fetch_one(&pool)
        .await?;
    pool.close().await;
    Ok(page as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn corrupt_pages_are_named_once_and_the_unsent_work_exported() -> anyhow::Result<()> {
    let (_db, server, dir, work) = device_with_unsent_work().await?;
    // Garbage over the documents table's page, in the middle of the file.
    let page = root_page(&store_file(dir.path()), "documents").await?;
    assert!(page > 1);
    overwrite(&store_file(dir.path()), (page - 1) * 4096, 4096)?;

    let client = open(dir.path(), &server.url()).await?;
    let err = match client.unlock(PASSWORD).await {
        Err(e) => e,
        Ok(()) => client.list(None).await.unwrap_err(),
    };
    let damage = "parts of the file are corrupt (SQLite: \"database disk image is malformed\")";
    let expected = damage_message(dir.path(), damage);
    assert_eq!(err.to_string(), expected);
    // Said once: no chain of causes repeating SQLite's words.
    assert!(std::error::Error::source(&err).is_none());
    // Recording refuses the same way, and nothing is half-written.
    let err = client.create(note("Another")).await.unwrap_err();
    assert!(matches!(err, ClientError::StoreDamaged { .. }), "{err:?}");
    client.close().await;

    let report = check(dir.path(), Some(PASSWORD)).await?;
    assert_eq!(report.state, StoreState::Damaged);
    assert!(
        report
            .damage
            .iter()
            .any(|d| matches!(d, Damage::CorruptPages { problems } if !problems.is_empty())),
        "{:?}",
        report.damage
    );
    let outbox = report.outbox.unwrap();
    assert_eq!((outbox.readable, outbox.unreadable), (work.pending, 0));
    let export = report.export().unwrap().clone();

    recover(dir.path(), &server, &export, &work).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_device_disk_is_named_and_loses_nothing() -> anyhow::Result<()> {
    let (_db, server) = server().await?;
    let disk = SmallDisk::mount("4m");
    let dir = disk.path().join("device");
    let client = signed_in(&dir, &server.url(), "sw-a").await?;
    let first = client.create(note("Before the disk filled")).await?;
    let filler = disk.fill();

    let err = client
        .create(note("While the disk is full"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::StorageFull { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "this device's storage is full: the store at {} could not be written, so the last \
             change was not saved. Nothing saved before was lost. Free some space on this device \
             (delete or move files you do not need), then try again",
            store_file(&dir).display()
        )
    );
    // What was saved before is all there.
    assert!(client.get(&first).await?.is_some());
    assert_eq!(client.pending_changes().await?, 1);

    // With space again, recording and syncing carry on.
    std::fs::remove_file(filler)?;
    let second = client.create(note("After freeing space")).await?;
    let report = client.sync().await?;
    assert_eq!(report.accepted, 2);
    let stored = [
        (&first, "Before the disk filled"),
        (&second, "After freeing space"),
    ];
    assert_titles(&server, stored).await?;
    client.close().await;
    Ok(())
}

async fn readyz(server: &TestServer) -> anyhow::Result<(u16, String)> {
    let answer = reqwest::get(format!("{}/readyz", server.url())).await?;
    Ok((answer.status().as_u16(), answer.text().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_server_disk_is_the_servers_storage_not_the_connection() -> anyhow::Result<()> {
    let disk = SmallDisk::mount("16m");
    let url = format!("sqlite://{}", disk.path().join("server.db").display());
    let server = TestServer::start(&url).await?;
    server.org().standard(1).await?;
    assert_eq!(readyz(&server).await?, (200, "ready".to_owned()));
    let dir = tempfile::tempdir()?;
    let client = signed_in(dir.path(), &server.url(), "sw-a").await?;
    let id = client
        .create(note("Recorded while the server's disk is full"))
        .await?;
    let filler = disk.fill();

    let err = client.sync().await.unwrap_err();
    assert!(matches!(err, ClientError::ServerStorage { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "the server at {} could not store the changes: its storage is full. Your connection \
             is fine; everything recorded is safe on this device and will be sent by a later \
             sync. If this goes on, tell your administrator that the server's storage is failing",
            server.url()
        )
    );
    assert_eq!(client.pending_changes().await?, 1);

    // Not ready, and why.
    let (status, body) = readyz(&server).await?;
    assert_eq!(status, 503, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(body["code"], "storage_unavailable");
    assert_eq!(body["details"]["reason"], "full");
    assert_eq!(
        body["message"],
        "not ready: the server's storage is full (a test write failed just now); devices keep \
         their work until it can be stored"
    );

    // Space again: the work goes through and the server is ready.
    std::fs::remove_file(filler)?;
    let report = client.sync().await?;
    assert_eq!(report.accepted, 1);
    assert!(server_title(&server, &id).await?.is_some());
    assert_eq!(readyz(&server).await?, (200, "ready".to_owned()));
    client.close().await;
    server.stop().await?;
    Ok(())
}
