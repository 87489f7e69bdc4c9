//! The client SDK against the real server (SQLite, in-process, one per test): sign-in,
//! unlock, sign-out, tokens, encryption at rest, scope removal and the revoked-device wipe.
//! Each server logs what it was asked ([`TestServer::logged`]), so a test can say how often a
//! device signed in or refreshed and what its sync requests held.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use fieldnotes_client::{Client, ClientBuilder, ClientError, PasswordKdf, RetryPolicy};
use fieldnotes_model::{
    ActorId, DocKind, Document, NewContactCard, NewRecord, Patch, Record, VisitNotePatch, hash_hex,
};
use fieldnotes_protocol::Role;
use fieldnotes_protocol::SYNC_PATH;
use fieldnotes_protocol::auth::{LOGIN_PATH, LOGOUT_PATH};
use fieldnotes_server::Config;
use fieldnotes_store::directory::{TeamPatch, UserUpdate};
use fieldnotes_tests::org::{TEAM, cheap_hash, now_ms, setup_actor};
use fieldnotes_tests::server::test_config;
use fieldnotes_tests::tokens::idp_token_for;
use fieldnotes_tests::{Backend, PASSWORD, TestDb, TestServer, fixtures};
use tempfile::TempDir;

const TITLE: &str = "Allotment visit with grandmother Winifred";
const BODY: &str = "Zebedee showed me the kestrel nest behind the shed and said it is his secret";
const CHILD: &str = "c-102";
const WISHES: &str = "marmalade sandwiches every Saturday";
/// The social worker most tests sign in as (username and user id; password [`PASSWORD`]).
const SAM: &str = "sw-a";
/// Another person, in the same team.
const ALEX: &str = "sw-b";

/// A client for the data folder `dir` and the server at `url`, with no retries and a fast
/// password key.
fn builder(dir: &Path, url: &str) -> ClientBuilder {
    Client::builder(dir)
        .server_url(url)
        .retry(RetryPolicy::none())
        .password_kdf(PasswordKdf::insecure_fast_for_tests())
}

async fn open(dir: &Path, url: &str) -> Client {
    builder(dir, url).open().await.unwrap()
}

/// A server of its own on a new SQLite database, with `edit` made to the harness's settings,
/// logging every request; holding the standard organisation (team [`TEAM`] with [`SAM`],
/// [`ALEX`], `mgr` and `yw`, and `admin`) and these `children` of the team, allocated to
/// [`SAM`].
async fn server_with(children: &[&str], edit: impl FnOnce(&mut Config)) -> (TestDb, TestServer) {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut config = test_config(&db.url);
    edit(&mut config);
    let server = TestServer::logged(&config).await.unwrap();
    server.org().standard(0).await.unwrap();
    for child in children {
        server.org().caseload(child, TEAM, SAM).await.unwrap();
    }
    (db, server)
}

/// [`server_with`] the harness's settings.
async fn server(children: &[&str]) -> (TestDb, TestServer) {
    server_with(children, |_| {}).await
}

/// A device in a new data folder, with [`SAM`] signed in on it.
async fn signed_in(server: &TestServer) -> (TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let client = open(dir.path(), &server.url()).await;
    client.sign_in(SAM, PASSWORD, "laptop").await.unwrap();
    (dir, client)
}

/// A data folder where an earlier process signed [`SAM`] in and wrote one note; and its id.
async fn one_note_written_earlier(server: &TestServer) -> (TempDir, String) {
    let (dir, client) = signed_in(server).await;
    let id = client.create(note(CHILD, TITLE, BODY)).await.unwrap();
    (dir, id)
}

/// A visit note by [`SAM`].
fn note(child: &str, title: &str, body: &str) -> NewRecord {
    fixtures::note(child, SAM, title, body)
}

/// An edit of a note's wishes and feelings.
fn wishes(text: &str) -> Patch {
    fixtures::wishes(text)
}

/// An edit of a note's title.
fn title(text: &str) -> Patch {
    fixtures::title(text)
}

/// [`SAM`]'s second device (their phone) writes `note` and syncs it: a record written
/// elsewhere, for the device under test to pull. Its id.
async fn written_elsewhere(server: &TestServer, note: NewRecord) -> String {
    let phone = server.client(SAM).await.unwrap();
    let id = phone.create(note).await.unwrap();
    phone.sync().await.unwrap();
    id
}

/// An admin changes `user_id`'s account on `server` (role, team, password, linked identity).
async fn update_user(server: &TestServer, user_id: &str, update: UserUpdate) {
    server
        .state
        .store
        .update_user(user_id, &update, &setup_actor())
        .await
        .unwrap();
}

/// An admin revokes `device` on `server`.
async fn revoke(server: &TestServer, device: &str) {
    server
        .state
        .store
        .revoke_device(device, &setup_actor())
        .await
        .unwrap();
}

/// An admin ends `child`'s allocation on `server`.
async fn end_allocation(server: &TestServer, child: &str) {
    let store = &server.state.store;
    store.end_allocation(child, &setup_actor()).await.unwrap();
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The bytes of the store file and its WAL, as someone copying the data folder would get them.
fn store_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["fieldnotes.db", "fieldnotes.db-wal"] {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            all.extend(bytes);
        }
    }
    assert!(!all.is_empty());
    all
}

/// The first bytes of every automerge change and saved document.
const AUTOMERGE_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

fn assert_absent(bytes: &[u8], needles: &[&str]) {
    assert!(
        !bytes.windows(4).any(|w| w == AUTOMERGE_MAGIC),
        "an automerge change or document is stored in the clear"
    );
    for needle in needles {
        assert!(
            !contains(bytes, needle),
            "{needle:?} is readable in the store file"
        );
    }
}

#[tokio::test]
async fn the_store_file_reveals_no_note_text_title_or_child_id() {
    // The check is meaningful only because automerge keeps text raw in a small (uncompressed)
    // change, like the edit below: its bytes in the clear would show the words.
    let mut probe =
        Document::create("probe", ActorId::random(), note(CHILD, TITLE, BODY), 1).unwrap();
    let edit = probe.edit(wishes(WISHES), 2).unwrap().unwrap();
    assert!(contains(&edit.bytes, WISHES));
    // Larger changes are compressed, so their words would not show raw even in the clear;
    // but any automerge change or document kept in the clear starts with automerge's magic
    // bytes, so the store file must hold none.
    let mut plain =
        Document::create("probe", ActorId::random(), note(CHILD, TITLE, BODY), 1).unwrap();
    for change in plain.all_changes() {
        assert!(change.bytes.starts_with(&AUTOMERGE_MAGIC));
    }
    assert!(plain.save().starts_with(&AUTOMERGE_MAGIC));

    // The children this device records for below (it refuses any other once it knows). The
    // team reads all its children, and work sent after an allocation ends is refused at once
    // (no late-work period): so a note about a child no longer allocated is refused while the
    // child stays in the device's scope.
    let children = [CHILD, "c-777", "c-555", "c-556"];
    let (_db, server) = server_with(&children, |c| c.late_work_days = 0).await;
    server
        .state
        .store
        .update_team(
            TEAM,
            &TeamPatch {
                pod_read_access: Some(true),
                ..TeamPatch::default()
            },
            &setup_actor(),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let client = open(dir.path(), &server.url()).await;
    let signed = client.sign_in(SAM, PASSWORD, "Sam's laptop").await.unwrap();
    assert!(signed.online);
    assert_eq!(signed.user.user_id, SAM);

    // Synced: a note pulled from elsewhere, and one of ours pushed.
    written_elsewhere(
        &server,
        note(
            "c-777",
            "Persephone trombone practice",
            "Persephone practised the trombone for the school concert",
        ),
    )
    .await;
    let id = client.create(note(CHILD, TITLE, BODY)).await.unwrap();
    client.edit(&id, wishes(WISHES)).await.unwrap();
    let report = client.sync().await.unwrap();
    assert_eq!(report.accepted, 2);
    // The note from elsewhere, and our own: a first sync is a backfill of the scope, and a
    // backfill brings the device's own changes after its cursor too (it may have removed them).
    assert_eq!(report.protocol.pulled_docs, 2);
    // Unsynced: still in the outbox, and one held with a reason.
    client
        .create(note(
            "c-555",
            "Quillon ladybird count",
            "Quillon counted seventeen ladybirds",
        ))
        .await
        .unwrap();
    end_allocation(&server, "c-555").await;
    client.sync().await.unwrap();
    let unsynced = client
        .create(note(
            "c-556",
            "Ottoline bakes",
            "Ottoline baked lemon drizzle for the foster carers",
        ))
        .await
        .unwrap();
    client
        .edit(&unsynced, wishes("Ottoline wants a hamster called Biscuit"))
        .await
        .unwrap();
    assert_eq!(client.pending_changes().await.unwrap(), 3);
    let held = client.rejections().await.unwrap();
    assert_eq!(held.len(), 1);

    // Everything reads back.
    let listed = client.list(None).await.unwrap();
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().any(|d| d.child_id.as_deref() == Some(CHILD)));
    match client.get(&id).await.unwrap() {
        Some(Record::VisitNote(n)) => {
            assert_eq!(n.content.body, BODY);
            assert_eq!(n.content.wishes_and_feelings, WISHES);
        }
        other => panic!("{other:?}"),
    }

    // The server's reason for the held note, and every token it gave out.
    let tokens = server.requests().tokens_issued();
    assert!(!tokens.is_empty());
    let secrets = tokens
        .iter()
        .flat_map(|t| [t.access_token.as_str(), t.refresh_token.as_str()]);
    let needles: Vec<&str> = [
        CHILD,
        TITLE,
        BODY,
        "Zebedee",
        "kestrel",
        WISHES,
        "marmalade",
        "c-777",
        "Persephone",
        "trombone",
        "c-555",
        "Quillon",
        "ladybirds",
        "c-556",
        "Ottoline",
        "lemon drizzle",
        "hamster called Biscuit",
        held[0].reason.as_str(),
        "child:",
    ]
    .into_iter()
    .chain(secrets)
    .collect();
    // While open (database and WAL as they are), and after closing.
    assert_absent(&store_bytes(dir.path()), &needles);
    drop(client);
    assert_absent(&store_bytes(dir.path()), &needles);
}

#[tokio::test]
async fn a_new_process_unlocks_with_the_password() {
    let (_db, server) = server(&[CHILD]).await;
    let (dir, id) = one_note_written_earlier(&server).await;
    let client = open(dir.path(), &server.url()).await;
    assert!(!client.is_unlocked());
    assert_eq!(client.user().unwrap().username, SAM);
    assert!(matches!(
        client.list(None).await,
        Err(ClientError::NotUnlocked)
    ));
    assert!(matches!(
        client.get(&id).await,
        Err(ClientError::NotUnlocked)
    ));
    assert!(matches!(client.sync().await, Err(ClientError::NotUnlocked)));
    // Counts need no key.
    let status = client.status().await.unwrap();
    assert_eq!((status.documents, status.sync.pending_changes), (1, 1));
    assert!(status.signed_in && !status.unlocked);

    let wrong = client.unlock("not it").await.unwrap_err();
    assert!(matches!(wrong, ClientError::WrongPassword), "{wrong}");
    assert!(wrong.to_string().contains("password"));
    client.unlock(PASSWORD).await.unwrap();
    assert!(client.is_unlocked());
    let listed = client.list(Some(DocKind::VisitNote)).await.unwrap();
    assert_eq!(listed[0].child_id.as_deref(), Some(CHILD));
    assert!(
        matches!(client.get(&id).await.unwrap(), Some(Record::VisitNote(n)) if n.content.title == TITLE)
    );
    assert_eq!(
        server.requests().count(LOGIN_PATH),
        1,
        "unlock never calls the server"
    );
}

#[tokio::test]
async fn signing_out_keeps_unsynced_work_and_signing_in_offline_gives_it_back() {
    let (_db, mut server) = server(&[CHILD, "c-2", "c-3"]).await;
    let (_dir, client) = signed_in(&server).await;
    let a = client.create(note(CHILD, TITLE, BODY)).await.unwrap();
    client
        .create(note("c-2", "second", "second body"))
        .await
        .unwrap();

    client.sign_out().await.unwrap();
    assert_eq!(server.requests().count(LOGOUT_PATH), 1);
    assert!(client.user().is_none() && !client.is_unlocked());
    let err = client.list(None).await.unwrap_err();
    assert!(matches!(err, ClientError::SignedOut), "{err}");
    assert!(err.to_string().contains("sign in"));
    assert!(matches!(
        client.create(note("c", "t", "b")).await,
        Err(ClientError::SignedOut)
    ));
    assert!(matches!(
        client.unlock(PASSWORD).await,
        Err(ClientError::SignedOut)
    ));
    assert_eq!(client.pending_changes().await.unwrap(), 2);
    let status = client.status().await.unwrap();
    assert!(!status.signed_in);
    assert_eq!(status.owner.unwrap().username, SAM);

    // No signal: the password alone opens the store again.
    server.halt().await.unwrap();
    let signed = client.sign_in(SAM, PASSWORD, "laptop").await.unwrap();
    assert!(!signed.online);
    assert_eq!(client.list(None).await.unwrap().len(), 2);
    assert!(
        matches!(client.get(&a).await.unwrap(), Some(Record::VisitNote(n)) if n.content.body == BODY)
    );
    // Signing out deleted the tokens: syncing needs an online sign-in, and says so at once.
    let err = client.sync().await.unwrap_err();
    assert!(matches!(err, ClientError::SignInRequired { .. }), "{err}");
    assert!(err.to_string().contains("safe"));
    // Local work carries on.
    client
        .create(note("c-3", "third", "third body"))
        .await
        .unwrap();

    server.resume().await.unwrap();
    assert!(
        client
            .sign_in(SAM, PASSWORD, "laptop")
            .await
            .unwrap()
            .online
    );
    let report = client.sync().await.unwrap();
    assert_eq!(report.accepted, 3);
    assert_eq!(client.pending_changes().await.unwrap(), 0);
}

#[tokio::test]
async fn sign_in_refusals_are_clear_and_never_mix_people() {
    let (_db, mut server) = server(&[CHILD]).await;
    let dir = tempfile::tempdir().unwrap();
    let client = open(dir.path(), &server.url()).await;

    // A first sign-in needs the server.
    server.halt().await.unwrap();
    let err = client.sign_in(SAM, PASSWORD, "laptop").await.unwrap_err();
    assert!(
        matches!(err, ClientError::OfflineSignInUnavailable { .. }),
        "{err}"
    );
    server.resume().await.unwrap();

    let err = client.sign_in(SAM, "nope", "laptop").await.unwrap_err();
    assert!(
        matches!(err, ClientError::SignInRefused { ref code, .. } if code == "invalid_credentials"),
        "{err}"
    );
    assert!(!client.is_unlocked());

    client.sign_in(SAM, PASSWORD, "laptop").await.unwrap();
    client.create(note(CHILD, TITLE, BODY)).await.unwrap();
    client.sign_out().await.unwrap();

    // A wrong password online is refused by the server, with no offline fallback.
    let err = client.sign_in(SAM, "nope", "laptop").await.unwrap_err();
    assert!(matches!(err, ClientError::SignInRefused { .. }), "{err}");
    assert!(!client.is_unlocked());
    // Offline, the stored key refuses it.
    server.halt().await.unwrap();
    let err = client.sign_in(SAM, "nope", "laptop").await.unwrap_err();
    assert!(matches!(err, ClientError::WrongPassword), "{err}");
    server.resume().await.unwrap();

    // Someone else, online or not, is sent to another data folder.
    let logins = server.requests().count(LOGIN_PATH);
    let err = client.sign_in(ALEX, PASSWORD, "laptop").await.unwrap_err();
    assert!(matches!(err, ClientError::WrongUser { .. }), "{err}");
    assert!(err.to_string().contains("belongs to sw-a"), "{err}");
    assert_eq!(
        server.requests().count(LOGIN_PATH),
        logins,
        "refused before asking the server"
    );
    assert!(!client.is_unlocked());
}

/// The usual access-token lifetime (the server's default).
const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);

/// A server whose sign-ins hand out access tokens that are already expired, with no grace for
/// a refresh token presented twice (any second use ends the session); and a device signed in
/// on it. The server is then restarted to hand out tokens for the usual fifteen minutes.
async fn signed_in_with_an_expired_token(
    children: &[&str],
) -> (TestDb, TestServer, TempDir, Client) {
    let (db, mut server) = server_with(children, |c| {
        c.access_token_minutes = 0;
        c.refresh_grace_secs = 0;
    })
    .await;
    let (dir, client) = signed_in(&server).await;
    server.set_access_ttl(ACCESS_TTL).await.unwrap();
    (db, server, dir, client)
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_and_the_rotated_one_kept() {
    let (_db, mut server, dir, client) = signed_in_with_an_expired_token(&[CHILD]).await;
    {
        client.create(note(CHILD, TITLE, BODY)).await.unwrap();
        let report = client.sync().await.unwrap();
        assert!(report.refreshed_token);
        assert_eq!(report.accepted, 1);
        assert_eq!(server.requests().refreshes(), 1);

        // Still valid: no refresh.
        let report = client.sync().await.unwrap();
        assert!(!report.refreshed_token);
        assert_eq!(server.requests().refreshes(), 1);

        // The server refuses a token the device holds valid (its signing key was replaced):
        // refresh and retry once.
        server.replace_signing_key().await.unwrap();
        let report = client.sync().await.unwrap();
        assert!(report.refreshed_token);
        assert_eq!(server.requests().refreshes(), 2);
        drop(client);
    }
    // A new process uses the rotated tokens, never an old refresh token.
    let client = open(dir.path(), &server.url()).await;
    client.unlock(PASSWORD).await.unwrap();
    server.replace_signing_key().await.unwrap();
    client.sync().await.unwrap();
    let log = server.requests();
    assert_eq!((log.refreshes(), log.refresh_tokens_reused()), (3, 0));
    assert_eq!(client.me().await.unwrap().username, SAM);
}

#[tokio::test]
async fn a_refused_refresh_asks_for_sign_in_and_local_work_goes_on() {
    let (_db, server) = server(&[CHILD]).await;
    let (_dir, client) = signed_in(&server).await;
    // The server ends the device's session (as an admin, or a refresh token reused elsewhere,
    // would).
    server
        .state
        .store
        .end_session(client.device_id(), now_ms())
        .await
        .unwrap();

    client.create(note(CHILD, TITLE, BODY)).await.unwrap();
    let err = client.sync().await.unwrap_err();
    assert!(matches!(err, ClientError::SignInRequired { .. }), "{err}");
    assert_eq!(server.requests().refreshes(), 1);
    // Still working locally; the dead tokens are not tried again.
    client.create(note(CHILD, "another", "more")).await.unwrap();
    assert_eq!(client.list(None).await.unwrap().len(), 2);
    assert!(matches!(
        client.sync().await,
        Err(ClientError::SignInRequired { .. })
    ));
    assert_eq!(server.requests().refreshes(), 1);

    client.sign_in(SAM, PASSWORD, "laptop").await.unwrap();
    assert_eq!(client.sync().await.unwrap().accepted, 2);
}

#[tokio::test]
async fn a_revoked_device_wipes_its_store() {
    let (_db, server) = server(&[CHILD]).await;
    let (dir, client) = signed_in(&server).await;
    client.create(note(CHILD, TITLE, BODY)).await.unwrap();
    let device = client.device_id().to_owned();
    revoke(&server, &device).await;

    let err = client.sync().await.unwrap_err();
    assert!(matches!(err, ClientError::Wiped), "{err}");
    assert!(err.to_string().contains("revoked"));
    for name in ["fieldnotes.db", "fieldnotes.db-wal", "fieldnotes.db-shm"] {
        assert!(!dir.path().join(name).exists(), "{name} is still there");
    }
    assert!(matches!(client.list(None).await, Err(ClientError::Wiped)));
    assert!(matches!(client.status().await, Err(ClientError::Wiped)));
    assert!(matches!(
        client.pending_changes().await,
        Err(ClientError::Wiped)
    ));
    assert!(matches!(
        client.sign_in(SAM, PASSWORD, "x").await,
        Err(ClientError::Wiped)
    ));
    assert!(matches!(
        client.unlock(PASSWORD).await,
        Err(ClientError::Wiped)
    ));
    assert!(client.user().is_none());
    drop(client);

    // The folder can start again as a new device.
    let client = open(dir.path(), &server.url()).await;
    assert_ne!(client.device_id(), device);
    assert_eq!(client.status().await.unwrap().documents, 0);
}

#[tokio::test]
async fn a_revoked_device_is_wiped_on_sign_in_too() {
    let (_db, server) = server(&[]).await;
    let (dir, client) = signed_in(&server).await;
    client.sign_out().await.unwrap();
    let device = client.device_id().to_owned();
    revoke(&server, &device).await;
    let err = client.sign_in(SAM, PASSWORD, "laptop").await.unwrap_err();
    assert!(matches!(err, ClientError::Wiped), "{err}");
    assert!(!dir.path().join("fieldnotes.db").exists());
}

#[tokio::test]
async fn an_ended_scope_is_removed_after_its_pending_changes_are_pushed() {
    let (_db, server) = server(&["c-1", "c-2"]).await;
    let a = written_elsewhere(&server, note("c-1", "first child", "body one")).await;
    let b = written_elsewhere(&server, note("c-2", "second child", "body two")).await;
    let dir = tempfile::tempdir().unwrap();
    let client = builder(dir.path(), &server.url())
        .push_batch_bytes(1) // one change per round
        .open()
        .await
        .unwrap();
    client.sign_in(SAM, PASSWORD, "laptop").await.unwrap();
    let device = client.device_id().to_owned();
    // Beside the two children: the cards of SAM and their team.
    let cards = ["worker:mgr", "worker:sw-a", "worker:sw-b", "worker:yw"];
    let report = client.sync().await.unwrap();
    let mut all = vec!["child:c-1", "child:c-2"];
    all.extend(cards);
    assert_eq!(report.protocol.scopes_completed, all);
    assert_eq!(client.list(None).await.unwrap().len(), 2);

    // Work on c-1 not yet sent, then the allocation ends.
    for i in 0..3 {
        client
            .edit(&a, title(&format!("edited {i}")))
            .await
            .unwrap();
    }
    let c1_new = client.create(note("c-1", "new", "new body")).await.unwrap();
    assert_eq!(client.pending_changes().await.unwrap(), 4);
    end_allocation(&server, "c-1").await;

    let report = client.sync().await.unwrap();
    assert_eq!(
        report.accepted, 4,
        "pending changes are pushed before removal"
    );
    assert_eq!(report.protocol.round_trips, 4);
    assert_eq!(report.protocol.removed_scopes, ["child:c-1"]);
    assert_eq!(report.removed_docs, 2);
    assert!(report.protocol.removals_waiting.is_empty());
    let left: Vec<String> = client
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(left, std::slice::from_ref(&b));
    assert!(client.get(&c1_new).await.unwrap().is_none());
    let log = server.requests();
    assert_eq!(log.changes_pushed(&device, &a).len(), 3);
    assert_eq!(log.changes_pushed(&device, &c1_new).len(), 1);
    // The round that learnt of the removal listed c-1; the rounds after it, whose changes went
    // before the removal, no longer did (the device remembered it), and from now on only c-2.
    let mut left = vec!["child:c-2"];
    left.extend(cards);
    let requests = log.sync_requests(&device);
    assert_eq!(requests[1].scopes.len(), all.len());
    assert!(requests[2..5].iter().all(|r| r.scopes == left));
    client.sync().await.unwrap();
    assert_eq!(
        log.sync_requests(&device).last().map(|r| r.scopes.clone()),
        Some(left.iter().map(|k| (*k).to_owned()).collect())
    );

    // A refused (held) change does not keep a scope: the server quarantined it. (The team's
    // manager deleted the note, so the server takes no more changes to it.)
    let manager = server.client("mgr").await.unwrap();
    manager.sync().await.unwrap();
    manager.delete_record(&b, "recorded twice").await.unwrap();
    manager.sync().await.unwrap();
    client.edit(&b, title("refused edit")).await.unwrap();
    let report = client.sync().await.unwrap();
    assert_eq!(report.protocol.refused.len(), 1);
    end_allocation(&server, "c-2").await;
    let report = client.sync().await.unwrap();
    assert_eq!(
        (report.removed_docs, report.protocol.removed_scopes.len()),
        (1, 1)
    );
    assert_eq!(client.pending_changes().await.unwrap(), 0);
    assert!(client.list(None).await.unwrap().is_empty());
    assert!(client.rejections().await.unwrap().is_empty());
}

#[tokio::test]
async fn removing_every_scope_removes_every_document_after_the_push() {
    let (_db, server) = server(&["c-1"]).await;
    written_elsewhere(&server, note("c-1", "t", "b")).await;
    // An admin's device holds everything (`*`).
    let dir = tempfile::tempdir().unwrap();
    let client = open(dir.path(), &server.url()).await;
    client.sign_in("admin", PASSWORD, "laptop").await.unwrap();
    client.sync().await.unwrap();
    client
        .create(fixtures::note("c-9", "admin", "mine", "mine"))
        .await
        .unwrap();
    // The admin becomes a social worker of the team whose allocation of c-9 has just ended:
    // everything leaves their scope, and what they recorded about c-9 may still be sent.
    let demoted = UserUpdate {
        role: Some(Role::SocialWorker),
        team_id: Some(Some(TEAM.to_owned())),
        ..UserUpdate::default()
    };
    update_user(&server, "admin", demoted).await;
    server.org().caseload("c-9", TEAM, "admin").await.unwrap();
    end_allocation(&server, "c-9").await;
    let report = client.sync().await.unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(report.protocol.removed_scopes, ["*"]);
    assert_eq!(report.removed_docs, 2);
    assert!(client.list(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn external_sign_in_needs_the_server_and_a_password_sign_in_enables_offline() {
    let db = TestDb::new(Backend::Sqlite).await.unwrap();
    let mut server = TestServer::start_with_idp(&db.url).await.unwrap();
    server.org().standard(0).await.unwrap();
    let linked = UserUpdate {
        external_subject: Some(Some("idp|sam".to_owned())),
        ..UserUpdate::default()
    };
    update_user(&server, SAM, linked).await;
    let token = idp_token_for("idp|sam");
    let dir = tempfile::tempdir().unwrap();
    {
        let client = open(dir.path(), &server.url()).await;
        let signed = client.sign_in_external(&token, "laptop").await.unwrap();
        assert!(signed.online);
        client.create(note(CHILD, TITLE, BODY)).await.unwrap();
        let err = client
            .sign_in_external("bogus", "laptop")
            .await
            .unwrap_err();
        assert!(matches!(err, ClientError::SignInRefused { .. }), "{err}");
    }
    {
        let client = open(dir.path(), &server.url()).await;
        let err = client.unlock(PASSWORD).await.unwrap_err();
        assert!(
            matches!(err, ClientError::OfflineSignInUnavailable { .. }),
            "{err}"
        );
        server.halt().await.unwrap();
        let err = client.sign_in_external(&token, "laptop").await.unwrap_err();
        assert!(
            matches!(err, ClientError::OfflineSignInUnavailable { .. }),
            "{err}"
        );
        server.resume().await.unwrap();
        client.sign_in_external(&token, "laptop").await.unwrap();
        assert_eq!(client.list(None).await.unwrap().len(), 1);
        client.sign_in(SAM, PASSWORD, "laptop").await.unwrap();
    }
    let client = open(dir.path(), &server.url()).await;
    client.unlock(PASSWORD).await.unwrap();
    assert_eq!(client.list(None).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_password_changed_on_the_server_still_opens_the_store() {
    let (_db, mut server) = server(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let client = open(dir.path(), &server.url()).await;
    client.sign_in(SAM, PASSWORD, "laptop").await.unwrap();
    client.create(note(CHILD, TITLE, BODY)).await.unwrap();
    client.sign_out().await.unwrap();

    let changed = UserUpdate {
        password_hash: Some(cheap_hash("new-pw").unwrap()),
        ..UserUpdate::default()
    };
    update_user(&server, SAM, changed).await;
    client.sign_in(SAM, "new-pw", "laptop").await.unwrap();
    assert_eq!(client.list(None).await.unwrap().len(), 1);
    client.sign_out().await.unwrap();

    // Offline, only the current password opens it.
    server.halt().await.unwrap();
    assert!(matches!(
        client.sign_in(SAM, PASSWORD, "laptop").await,
        Err(ClientError::WrongPassword)
    ));
    assert!(
        !client
            .sign_in(SAM, "new-pw", "laptop")
            .await
            .unwrap()
            .online
    );
    assert_eq!(client.list(None).await.unwrap().len(), 1);
}

/// A store written by the first, unencrypted version of the SDK, for [`SAM`]: a note of theirs
/// and a colleague's ([`ALEX`]'s) contact card.
async fn make_v1_store(dir: &Path) -> (String, String, Vec<u8>) {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    let migrations = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../client-sdk/migrations/0001_init.sql"),
        migrations.path().join("0001_init.sql"),
    )
    .unwrap();
    let pool = sqlx::SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(dir.join("fieldnotes.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal),
    )
    .await
    .unwrap();
    sqlx::migrate::Migrator::new(migrations.path())
        .await
        .unwrap()
        .run(&pool)
        .await
        .unwrap();
    let actor = ActorId::from(uuid::Uuid::new_v4().as_bytes().to_vec());
    for (k, v) in [
        ("device_id", uuid::Uuid::new_v4().to_string()),
        ("actor_id", actor.to_hex_string()),
        ("cursor", "1.5".to_owned()),
    ] {
        sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?)")
            .bind(k)
            .bind(v)
            .execute(&pool)
            .await
            .unwrap();
    }
    // A visit note (child id listed) with an unsent change, and a contact card (no child id)
    // whose change the server refused.
    let note_id = uuid::Uuid::new_v4().to_string();
    let mut doc = Document::create(&note_id, actor.clone(), note(CHILD, TITLE, BODY), 1).unwrap();
    let changes = doc.all_changes();
    let note_change = changes[0].bytes.clone();
    let card_id = uuid::Uuid::new_v4().to_string();
    let mut card = Document::create(
        &card_id,
        actor,
        NewRecord::ContactCard(NewContactCard {
            worker_id: ALEX.into(),
            display_name: "Alex".into(),
            picture: None,
            three_things: vec!["Wolverhampton Wanderers".into()],
            how_to_reach: "phone".into(),
            when_to_reach: "weekdays".into(),
        }),
        1,
    )
    .unwrap();
    for (id, kind, child, summary, d) in [
        (
            &note_id,
            "visit_note",
            Some(CHILD),
            doc.read().unwrap().summary(),
            &mut doc,
        ),
        (
            &card_id,
            "contact_card",
            None,
            card.read().unwrap().summary(),
            &mut card,
        ),
    ] {
        sqlx::query(
            "INSERT INTO documents (doc_id, kind, child_id, summary, snapshot, updated_at_ms)
             VALUES (?, ?, ?, ?, ?, 1)",
        )
        .bind(id)
        .bind(kind)
        .bind(child)
        .bind(summary)
        .bind(d.save())
        .execute(&pool)
        .await
        .unwrap();
        for c in d.all_changes() {
            let held = (kind == "contact_card").then_some("invalid_document");
            sqlx::query(
                "INSERT INTO outbox (doc_id, hash, bytes, created_at_ms, held_code, held_reason)
                 VALUES (?, ?, ?, 1, ?, ?)",
            )
            .bind(id)
            .bind(hash_hex(&c.hash))
            .bind(&c.bytes)
            .bind(held)
            .bind(held.map(|_| "Wolverhampton reason"))
            .execute(&pool)
            .await
            .unwrap();
        }
    }
    pool.close().await;
    (note_id, card_id, note_change)
}

#[tokio::test]
async fn a_plaintext_store_from_the_first_version_is_sealed_at_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let (note_id, card_id, note_change) = make_v1_store(dir.path()).await;
    assert!(contains(&store_bytes(dir.path()), BODY));

    let (_db, server) = server(&[CHILD]).await;
    let client = open(dir.path(), &server.url()).await;
    // Before anyone signs in, counts work and nothing is lost.
    assert_eq!(client.pending_changes().await.unwrap(), 2);
    let signed = client.sign_in(SAM, PASSWORD, "laptop").await.unwrap();
    assert_eq!(signed.sealed_rows, 4);
    let needles = [CHILD, TITLE, BODY, "Zebedee", "Wolverhampton"];
    assert_absent(&store_bytes(dir.path()), &needles);

    let listed = client.list(None).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .any(|d| d.id == note_id && d.child_id.as_deref() == Some(CHILD))
    );
    assert!(matches!(
        client.get(&card_id).await.unwrap(),
        Some(Record::ContactCard(_))
    ));
    let held = client.rejections().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].reason, "Wolverhampton reason");

    let report = client.sync().await.unwrap();
    assert_eq!(report.accepted, 1);
    assert_eq!(
        server
            .requests()
            .changes_pushed(client.device_id(), &note_id),
        vec![note_change]
    );
    drop(client);
    assert_absent(&store_bytes(dir.path()), &needles);

    // The contact card is tagged with its worker scope: it goes when that scope ends (its
    // worker leaves the team).
    let client = open(dir.path(), &server.url()).await;
    client.unlock(PASSWORD).await.unwrap();
    client.sync().await.unwrap();
    let left = UserUpdate {
        team_id: Some(None),
        ..UserUpdate::default()
    };
    update_user(&server, ALEX, left).await;
    let report = client.sync().await.unwrap();
    assert_eq!(report.removed_docs, 1);
    assert_eq!(client.list(None).await.unwrap()[0].id, note_id);
}

#[tokio::test]
async fn concurrent_syncs_never_present_a_refresh_token_twice() {
    let (_db, server, _dir, client) = signed_in_with_an_expired_token(&[CHILD]).await;
    client.create(note(CHILD, TITLE, BODY)).await.unwrap();
    let (a, b) = tokio::join!(client.sync(), client.sync());
    a.unwrap();
    b.unwrap();
    let log = server.requests();
    assert_eq!((log.refreshes(), log.refresh_tokens_reused()), (1, 0));
}

#[tokio::test]
async fn a_sealed_value_moved_to_another_row_is_refused() {
    let (_db, server) = server(&[]).await;
    let (dir, a, b) = {
        let (dir, client) = signed_in(&server).await;
        let a = client.create(note(CHILD, TITLE, BODY)).await.unwrap();
        let b = client.create(note("c-2", "other", "other")).await.unwrap();
        (dir, a, b)
    };
    // Someone with the file copies b's sealed snapshot and listing over a's.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.path().join("fieldnotes.db").display()
    ))
    .await
    .unwrap();
    sqlx::query(
        "UPDATE documents SET snapshot = (SELECT snapshot FROM documents WHERE doc_id = ?2),
             listing = (SELECT listing FROM documents WHERE doc_id = ?2)
         WHERE doc_id = ?1",
    )
    .bind(&a)
    .bind(&b)
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let client = open(dir.path(), &server.url()).await;
    client.unlock(PASSWORD).await.unwrap();
    let err = client.get(&a).await.unwrap_err();
    assert!(matches!(err, ClientError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains(&a), "{err}");
    assert!(matches!(
        client.list(None).await,
        Err(ClientError::Corrupt(_))
    ));
    // The other document is untouched.
    assert!(client.get(&b).await.unwrap().is_some());
}

#[tokio::test]
async fn every_content_operation_needs_the_key() {
    let (_db, server) = server(&[]).await;
    let (dir, id) = one_note_written_earlier(&server).await;
    let client = open(dir.path(), &server.url()).await;
    let locked = |r: Result<(), ClientError>| matches!(r, Err(ClientError::NotUnlocked));
    assert!(locked(client.get(&id).await.map(|_| ())));
    assert!(locked(client.document(&id).await.map(|_| ())));
    assert!(locked(client.heads(&id).await.map(|_| ())));
    assert!(locked(client.conflicts(&id).await.map(|_| ())));
    assert!(locked(client.rejections().await.map(|_| ())));
    assert!(locked(client.me().await.map(|_| ())));
    assert!(locked(client.create(note("c", "t", "b")).await.map(|_| ())));
    assert!(locked(
        client
            .edit(&id, Patch::VisitNote(VisitNotePatch::default()))
            .await
    ));
    // Signing out works locked (the server's session then simply expires).
    client.sign_out().await.unwrap();
    assert_eq!(server.requests().count(LOGOUT_PATH), 0);
    assert!(matches!(client.get(&id).await, Err(ClientError::SignedOut)));
    assert_eq!(client.pending_changes().await.unwrap(), 1);
}

/// One SDK client keeps one HTTP client for its lifetime, so a worker's syncs reuse the
/// connection the sign-in opened instead of paying a new TCP set-up each call.
#[tokio::test]
async fn one_client_reuses_its_connection_across_calls_and_syncs() {
    let (_db, server) = server(&[CHILD]).await;
    let (_dir, client) = signed_in(&server).await;
    client.create(note(CHILD, TITLE, BODY)).await.unwrap();
    for _ in 0..3 {
        client.sync().await.unwrap();
    }
    let log = server.requests();
    assert!(log.count(SYNC_PATH) >= 3);
    let syncs = log.connections(SYNC_PATH);
    assert_eq!(syncs.len(), 1, "three syncs came over {syncs:?}");
    assert_eq!(
        log.connections(LOGIN_PATH),
        syncs,
        "the sign-in and the syncs used different connections"
    );
}

/// The children a person may see are kept on the device once listed, sealed: a new process
/// names them with no server, and the store file holds no child's name in the clear.
#[tokio::test]
async fn the_caseload_is_named_offline_and_kept_sealed() {
    let (_db, server) = server(&[CHILD]).await;
    let (dir, client) = signed_in(&server).await;
    assert!(client.known_children().await.unwrap().is_empty());
    let listed = client.children().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].child_id, CHILD);
    let name = listed[0].display_name.clone();
    client.close().await;

    let url = server.url();
    server.stop().await.unwrap();
    let client = open(dir.path(), &url).await;
    assert!(matches!(
        client.known_children().await,
        Err(ClientError::NotUnlocked)
    ));
    client.unlock(PASSWORD).await.unwrap();
    assert_eq!(client.known_children().await.unwrap(), listed);
    client.close().await;
    assert_absent(&store_bytes(dir.path()), &[&name, CHILD]);
}
