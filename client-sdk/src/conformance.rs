//! The sync conformance suite: what a device promises a person about their work, written once
//! against the SDK's public API ([`Client`]) and run against the real server on 127.0.0.1 from
//! both kinds of device:
//!
//! - natively, over the SQLite store, by `tests/tests/sdk_conformance.rs` (one in-process
//!   server a test; part of `cargo test --workspace`, with this crate's `conformance` feature);
//! - in headless Chromium, over the IndexedDB store, by the `browser` module below, against the
//!   `fieldnotes-server` binary that `cargo xtask sdk-browser-test` starts (and `cargo xtask
//!   test`, and so CI).
//!
//! Each guarantee is a plain async function taking a [`Devices`]: where stores live, how to
//! read one at rest, and the server with an admin on it. It sets up its own people through the
//! admin API (a team, a social worker, a child allocated to them), under names no other test
//! uses, so that every guarantee can share one server. Each returns an error for an SDK call
//! that failed, and panics (an assertion) when a guarantee does not hold.
//!
//! The store-level guarantees (transactions, the outbox, sealing, with no server) are in
//! `store/conformance.rs`.

use std::path::{Path, PathBuf};

use fieldnotes_model::{NewRecord, NewVisitNote, Patch, Record, VisitKind, VisitNotePatch};
use fieldnotes_protocol::Role;
use fieldnotes_protocol::admin::{NewChild, NewTeam, NewUser};

use crate::{Client, ClientError, PasswordKdf, RetryPolicy};

/// What the suite runs on: stores of one kind of device and a server.
#[allow(async_fn_in_trait)]
pub trait Devices {
    /// The server's address, for example `http://127.0.0.1:7878`.
    fn server_url(&self) -> String;
    /// The username and password of an admin on that server.
    fn admin(&self) -> (String, String);
    /// Where the store called `name` lives, as given to [`Client::builder`]: a folder
    /// natively, an IndexedDB database's name in a browser. The same name is the same store.
    fn location(&self, name: &str) -> PathBuf;
    /// Every byte the closed store at `location` keeps at rest.
    async fn bytes_at_rest(&self, location: &Path) -> Result<Vec<u8>, ClientError>;
}

/// What a guarantee returns: an error for an SDK call that failed.
pub type Outcome = Result<(), ClientError>;

/// The password of the social worker each guarantee adds.
const WORKER_PASSWORD: &str = "conformance worker password";

/// A server address where nothing answers: a device pointed at it is offline. (Port 9,
/// "discard", has no listener here, and a browser refuses to fetch from it.)
const NOWHERE: &str = "http://127.0.0.1:9";

/// One guarantee's people on the shared server: a social worker with a child allocated to
/// them, in a team of their own, all named after the guarantee and a random tag.
struct Cast {
    /// The guarantee's name and the random tag, for store names.
    tag: String,
    /// The social worker's username (also their user id).
    worker: String,
    child: String,
}

impl Cast {
    /// Add the cast through the admin API, signed in as the server's admin on a device of its
    /// own.
    async fn new<D: Devices>(devices: &D, guarantee: &str) -> Result<Cast, ClientError> {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let tag = format!("{guarantee}-{}", &random[..12]);
        let cast = Cast {
            worker: format!("sw-{tag}"),
            child: format!("child-{tag}"),
            tag,
        };
        let team = format!("team-{}", cast.tag);
        let (username, password) = devices.admin();
        let admin = open(devices, &cast.store("admin"), &devices.server_url()).await?;
        admin
            .sign_in(&username, &password, "conformance admin")
            .await?;
        admin
            .create_team(&NewTeam {
                team_id: team.clone(),
                name: format!("Team {}", cast.tag),
                pod_read_access: false,
                plan_point_limit: None,
            })
            .await?;
        admin
            .create_user(&NewUser {
                user_id: None,
                username: cast.worker.clone(),
                display_name: format!("Worker {}", cast.tag),
                role: Role::SocialWorker,
                team_id: Some(team.clone()),
                password: Some(WORKER_PASSWORD.to_owned()),
                external_subject: None,
            })
            .await?;
        admin
            .create_child(&NewChild {
                child_id: cast.child.clone(),
                display_name: format!("Child {}", cast.tag),
                team_id: team,
            })
            .await?;
        admin.allocate(&cast.child, &cast.worker).await?;
        admin.close().await;
        Ok(cast)
    }

    /// The name of this cast's store `device`.
    fn store(&self, device: &str) -> String {
        format!("{}-{device}", self.tag)
    }

    /// The worker's store `device`, opened at `server` (a new store, or the one opened
    /// before under this name).
    async fn open<D: Devices>(
        &self,
        devices: &D,
        device: &str,
        server: &str,
    ) -> Result<Client, ClientError> {
        open(devices, &self.store(device), server).await
    }

    /// The worker signed in online on their store `device`, which has synced once (so it
    /// knows its scope).
    async fn signed_in<D: Devices>(
        &self,
        devices: &D,
        device: &str,
    ) -> Result<Client, ClientError> {
        let client = self.open(devices, device, &devices.server_url()).await?;
        client
            .sign_in(&self.worker, WORKER_PASSWORD, device)
            .await?;
        client.sync().await?;
        Ok(client)
    }

    /// A visit note by the worker about their child.
    fn note(&self, title: &str, body: &str, wishes: &str) -> NewRecord {
        NewRecord::VisitNote(NewVisitNote {
            wishes_and_feelings: wishes.to_owned(),
            tags: vec!["school".to_owned(), "home".to_owned()],
            ..NewVisitNote::new(
                &self.child,
                &self.worker,
                VisitKind::HomeVisit,
                "2026-11-20T14:30:00Z",
                title,
                body,
            )
        })
    }
}

/// A client on the store `name`, pointed at `server`, with no retries (a failed round fails
/// at once) and the SDK's cheap password key.
async fn open<D: Devices>(devices: &D, name: &str, server: &str) -> Result<Client, ClientError> {
    Client::builder(devices.location(name))
        .server_url(server)
        .retry(RetryPolicy::none())
        .password_kdf(PasswordKdf::insecure_fast_for_tests())
        .open()
        .await
}

/// The visit note `id` as `client` holds it; panics if it holds none.
async fn note_of(client: &Client, id: &str) -> Result<fieldnotes_model::VisitNote, ClientError> {
    match client.get(id).await? {
        Some(Record::VisitNote(note)) => Ok(note),
        other => panic!("the device holds no visit note {id}: {other:?}"),
    }
}

/// A note recorded with no server to reach is kept in the outbox, survives the device being
/// closed and opened again (a restarted process, a reloaded page), and is sent by the next
/// sync that reaches the server: nothing is left waiting afterwards.
pub async fn offline_record_survives_reopen_and_is_sent<D: Devices>(devices: &D) -> Outcome {
    let cast = Cast::new(devices, "offline").await?;
    const TITLE: &str = "Visit with no signal";
    const BODY: &str = "We talked in the garden about the new school";
    cast.signed_in(devices, "phone").await?.close().await;

    // The same store with no server to reach: unlocked offline, a note recorded.
    let offline = cast.open(devices, "phone", NOWHERE).await?;
    offline.unlock(WORKER_PASSWORD).await?;
    let id = offline.create(cast.note(TITLE, BODY, "")).await?;
    assert_eq!(
        offline.pending_changes().await?,
        1,
        "the note is in the outbox"
    );
    assert!(
        offline.sync().await.is_err(),
        "a sync with no server to reach fails"
    );
    assert_eq!(
        offline.sync_status().await?.pending_changes,
        1,
        "a failed sync keeps the note in the outbox"
    );
    offline.close().await;

    // Opened again (a new process, a reloaded page), with the server in reach.
    let online = cast.open(devices, "phone", &devices.server_url()).await?;
    assert_eq!(
        online.pending_changes().await?,
        1,
        "the note is still in the outbox after the store is opened again"
    );
    online.unlock(WORKER_PASSWORD).await?;
    let note = note_of(&online, &id).await?;
    assert_eq!(
        (note.content.title.as_str(), note.content.body.as_str()),
        (TITLE, BODY)
    );
    let listed = online.list(None).await?;
    assert!(
        listed
            .iter()
            .any(|d| d.id == id && d.child_id.as_deref() == Some(&cast.child)),
        "the note is listed under its child: {listed:?}"
    );
    online.sync().await?;
    let status = online.sync_status().await?;
    assert_eq!(status.pending_changes, 0, "the sync sent the note");
    assert!(status.last_sync_ms.is_some(), "the sync is recorded");
    online.close().await;
    Ok(())
}

/// A note synced from one device reaches the same person's second device, whole: every field,
/// the listing and the document's history (its heads) are the same on both.
pub async fn second_device_receives_the_whole_record<D: Devices>(devices: &D) -> Outcome {
    let cast = Cast::new(devices, "second").await?;
    let laptop = cast.signed_in(devices, "laptop").await?;
    let note = cast.note(
        "Visit after the school meeting",
        "He showed me his drawings and said the bus is better now",
        "wants to stay at the same school",
    );
    let id = laptop.create(note).await?;
    laptop.sync().await?;
    assert_eq!(laptop.pending_changes().await?, 0);

    let phone = cast.signed_in(devices, "phone").await?;
    let on_laptop = laptop.get(&id).await?;
    assert!(on_laptop.is_some());
    assert_eq!(
        phone.get(&id).await?,
        on_laptop,
        "the second device holds the note as it was written"
    );
    assert_eq!(phone.heads(&id).await?, laptop.heads(&id).await?);
    let listed = |list: Vec<crate::DocSummary>| {
        list.into_iter()
            .find(|d| d.id == id)
            .map(|d| (d.kind, d.child_id, d.summary))
    };
    let on_phone = listed(phone.list(None).await?);
    assert!(on_phone.is_some(), "the second device lists the note");
    assert_eq!(on_phone, listed(laptop.list(None).await?));
    laptop.close().await;
    phone.close().await;
    Ok(())
}

/// Two devices of one person edit the same note without seeing each other's edit (different
/// fields, and both ends of the same text); once both have synced (and the first again, to
/// fetch the second's edit), they hold the same note, with every edit in it.
pub async fn concurrent_edits_converge<D: Devices>(devices: &D) -> Outcome {
    let cast = Cast::new(devices, "converge").await?;
    let laptop = cast.signed_in(devices, "laptop").await?;
    let phone = cast.signed_in(devices, "phone").await?;
    const BODY: &str = "We walked to the park.";
    let id = laptop.create(cast.note("Park visit", BODY, "")).await?;
    laptop.sync().await?;
    phone.sync().await?;
    assert!(phone.get(&id).await?.is_some(), "the phone holds the note");

    laptop
        .edit(
            &id,
            Patch::VisitNote(VisitNotePatch {
                title: Some("Park visit with his sister".to_owned()),
                body: Some(format!("{BODY} Then we had lunch.")),
                ..VisitNotePatch::default()
            }),
        )
        .await?;
    phone
        .edit(
            &id,
            Patch::VisitNote(VisitNotePatch {
                body: Some(format!("After school. {BODY}")),
                wishes_and_feelings: Some("wants more time outside".to_owned()),
                ..VisitNotePatch::default()
            }),
        )
        .await?;
    assert_ne!(laptop.heads(&id).await?, phone.heads(&id).await?);

    laptop.sync().await?;
    phone.sync().await?;
    laptop.sync().await?;
    for device in [&laptop, &phone] {
        assert_eq!(device.pending_changes().await?, 0);
    }
    assert_eq!(
        laptop.heads(&id).await?,
        phone.heads(&id).await?,
        "the devices converge"
    );
    let merged = note_of(&laptop, &id).await?;
    assert_eq!(
        Some(Record::VisitNote(merged.clone())),
        phone.get(&id).await?
    );
    assert_eq!(merged.content.title, "Park visit with his sister");
    assert_eq!(
        merged.content.body,
        format!("After school. {BODY} Then we had lunch."),
        "both edits of the text are kept"
    );
    assert_eq!(
        merged.content.wishes_and_feelings,
        "wants more time outside"
    );
    laptop.close().await;
    phone.close().await;
    Ok(())
}

/// The first bytes of every automerge change and saved document.
const AUTOMERGE_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// What a device keeps at rest — the one that wrote a note and the one that received it by
/// sync — holds none of the note's text, its title, its child's id or the person's name in
/// the clear, and no automerge change or document, while both read the note back whole.
pub async fn nothing_readable_at_rest<D: Devices>(devices: &D) -> Outcome {
    let cast = Cast::new(devices, "at-rest").await?;
    const TITLE: &str = "Visit to the Marchbank family";
    const BODY: &str = "Mother says the boiler is broken again";
    const WISHES: &str = "marmalade sandwiches every Saturday";
    let laptop = cast.signed_in(devices, "laptop").await?;
    let id = laptop.create(cast.note(TITLE, BODY, WISHES)).await?;
    laptop.sync().await?;
    laptop.close().await;
    let phone = cast.signed_in(devices, "phone").await?;
    let received = note_of(&phone, &id).await?;
    assert_eq!(
        (
            received.content.title.as_str(),
            received.content.body.as_str()
        ),
        (TITLE, BODY)
    );
    assert_eq!(received.content.wishes_and_feelings, WISHES);
    phone.close().await;

    let secrets = [
        cast.child.as_str(),
        TITLE,
        BODY,
        WISHES,
        "Marchbank",
        "boiler",
    ];
    for device in ["laptop", "phone"] {
        let bytes = devices
            .bytes_at_rest(&devices.location(&cast.store(device)))
            .await?;
        assert!(!bytes.is_empty(), "the {device} keeps something at rest");
        assert!(
            !contains(&bytes, &AUTOMERGE_MAGIC),
            "an automerge change or document is kept in the clear on the {device}"
        );
        for secret in secrets {
            assert!(
                !contains(&bytes, secret.as_bytes()),
                "{secret:?} is kept in the clear on the {device}"
            );
        }
    }
    Ok(())
}

/// A form's draft, kept as the person types with no signal, survives the device being closed
/// and opened again, is not kept in the clear, is never sent, and goes once dropped.
pub async fn a_draft_survives_reopen_sealed_and_goes_when_dropped<D: Devices>(
    devices: &D,
) -> Outcome {
    let cast = Cast::new(devices, "draft").await?;
    const TYPED: &str = "Sam said the new foster carer makes pancakes";
    cast.signed_in(devices, "phone").await?.close().await;

    let offline = cast.open(devices, "phone", NOWHERE).await?;
    offline.unlock(WORKER_PASSWORD).await?;
    assert_eq!(offline.draft("visit-note-new").await?, None);
    offline
        .keep_draft("visit-note-new", TYPED.as_bytes())
        .await?;
    assert!(
        offline.keep_draft("child:c1", b"x").await.is_err(),
        "a form name that could hold a child's id is refused"
    );
    assert_eq!(offline.pending_changes().await?, 0, "a draft is not sent");
    offline.close().await;

    let bytes = devices
        .bytes_at_rest(&devices.location(&cast.store("phone")))
        .await?;
    assert!(
        !contains(&bytes, b"pancakes"),
        "the draft is kept in the clear"
    );

    let reopened = cast.open(devices, "phone", NOWHERE).await?;
    reopened.unlock(WORKER_PASSWORD).await?;
    assert_eq!(
        reopened.draft("visit-note-new").await?.as_deref(),
        Some(TYPED.as_bytes()),
        "the draft is there after the device is opened again"
    );
    reopened.drop_draft("visit-note-new").await?;
    assert_eq!(reopened.draft("visit-note-new").await?, None);
    reopened.close().await;
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Calls `$runner!` with the name of every guarantee above, so that each kind of device's
/// runner (the native tests in `tests/tests/sdk_conformance.rs`, the browser's below) runs the
/// same list.
#[macro_export]
macro_rules! sync_guarantees {
    ($runner:ident) => {
        $runner!(
            offline_record_survives_reopen_and_is_sent,
            second_device_receives_the_whole_record,
            concurrent_edits_converge,
            nothing_readable_at_rest,
            a_draft_survives_reopen_sealed_and_goes_when_dropped,
        );
    };
}

/// Every guarantee in headless Chromium, over the browser store, against the server `cargo
/// xtask sdk-browser-test` starts; it gives the server's address and its admin when it builds
/// these tests (`FIELDNOTES_CONFORMANCE_*`, read at compile time). Built without them, every
/// test fails and says so: the suite is never skipped.
#[cfg(all(test, target_arch = "wasm32"))]
#[allow(clippy::unwrap_used, clippy::expect_used)] // A failed unwrap is a failed test.
mod browser {
    use super::*;
    use crate::store::idb;

    wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

    /// Set when the tests are built by `cargo xtask sdk-browser-test`.
    const SERVER: Option<&str> = option_env!("FIELDNOTES_CONFORMANCE_SERVER");
    const ADMIN: Option<&str> = option_env!("FIELDNOTES_CONFORMANCE_ADMIN");
    const ADMIN_PASSWORD: Option<&str> = option_env!("FIELDNOTES_CONFORMANCE_ADMIN_PASSWORD");

    fn given(value: Option<&'static str>, name: &str) -> String {
        value
            .unwrap_or_else(|| {
                panic!(
                    "{name} was not set when these tests were built: run them with `cargo \
                     xtask sdk-browser-test`, which starts the server they talk to"
                )
            })
            .to_owned()
    }

    /// IndexedDB stores in this page, and the server the xtask started.
    struct Browser;

    impl Devices for Browser {
        fn server_url(&self) -> String {
            given(SERVER, "FIELDNOTES_CONFORMANCE_SERVER")
        }

        fn admin(&self) -> (String, String) {
            (
                given(ADMIN, "FIELDNOTES_CONFORMANCE_ADMIN"),
                given(ADMIN_PASSWORD, "FIELDNOTES_CONFORMANCE_ADMIN_PASSWORD"),
            )
        }

        fn location(&self, name: &str) -> PathBuf {
            PathBuf::from(format!("fieldnotes-sync-conformance-{name}"))
        }

        /// Every key and value the browser was given to keep (its files are out of a page's
        /// reach): what IndexedDB writes to disk.
        async fn bytes_at_rest(&self, location: &Path) -> Result<Vec<u8>, ClientError> {
            idb::contents(&location.to_string_lossy()).await
        }
    }

    /// One `#[wasm_bindgen_test]` a guarantee.
    macro_rules! browser_tests {
        ($($name:ident),* $(,)?) => {$(
            #[wasm_bindgen_test::wasm_bindgen_test]
            async fn $name() {
                super::$name(&Browser).await.unwrap();
            }
        )*};
    }

    crate::sync_guarantees!(browser_tests);
}
