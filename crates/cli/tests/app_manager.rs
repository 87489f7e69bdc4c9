//! The manager's console in the field app (issue 12), in real headless Chromium against the
//! real server: a social worker's app (on a phone) and their second device (the `fieldnotes`
//! CLI, the real binary) give a note two titles while apart. The manager, in the console (run at
//! a laptop's size and at a phone's), sees both sides with who wrote each and on which
//! device, and settles it with a merged title; both devices show it after their next sync.
//! The manager signs the completed note off; an edit made on the device that had not seen
//! the sign-off becomes a pending amendment, shown in the console with what it changed word
//! by word and the record's history. The manager puts the signed-off note back, then amends
//! it with a reason, and the amendment is queued.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use common::Device;
use fieldnotes_app::status::Connection;
use fieldnotes_model::{NoteStatus, Record, VisitNote};
use fieldnotes_tests::app::{
    accessible, click, fill, go, holds, retype, says, serve, shown, sign_in, sync_words,
};
use fieldnotes_tests::browser::{Browser, Viewport};

/// The second device's name, as the console shows it.
const LAPTOP: &str = "sw-a's laptop";

/// The note as `fieldnotes show --json` prints it on the CLI device, and who deleted it (if
/// anyone did).
async fn note_on(cli: &Device, url: &str, id: &str) -> (VisitNote, Option<String>) {
    let out = cli.ok(url, &["show", id, "--json"]).await;
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let deleted_by = shown["deleted"]["by"].as_str().map(str::to_owned);
    match serde_json::from_value(shown).unwrap() {
        Record::VisitNote(note) => (note, deleted_by),
        other => panic!("the CLI device holds {other:?} for {id}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_laptop_a_manager_settles_a_conflict_signs_off_and_sees_the_late_edit()
-> anyhow::Result<()> {
    a_managers_review(Viewport::LAPTOP).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_a_manager_settles_a_conflict_signs_off_and_sees_the_late_edit()
-> anyhow::Result<()> {
    a_managers_review(Viewport::PHONE).await
}

/// The story, with the manager's console at this size (its screenshots are taken at it).
async fn a_managers_review(console_size: Viewport) -> anyhow::Result<()> {
    let (_db, server) = serve().await?;
    let url = server.url();

    // The social worker writes a note on their phone, and it reaches their second device.
    let phone = Browser::start(Viewport::PHONE).await?;
    phone.goto(&url).await?;
    sign_in(&phone, "sw-a").await?;
    click(&phone, "#child-child-00").await?;
    click(&phone, "#new-note-for-child").await?;
    shown(&phone, "#visit-note").await?;
    click(&phone, "#seen-yes").await?;
    click(&phone, "#alone-yes").await?;
    fill(&phone, "#title", "Visit at school").await?;
    fill(&phone, "#body", "Sam showed me the garden club.").await?;
    click(&phone, "#save-note").await?;
    says(&phone, "#child-notes", "Visit at school").await?;
    sync_words(&phone, "Nothing waiting to be sent").await?;
    let note_id = phone
        .eval("return document.querySelector('#child-notes li').dataset.id;")
        .await?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the note on the page has no id"))?;
    let cli = Device::new();
    cli.ok(
        &url,
        &["login", "--username", "sw-a", "--device-name", LAPTOP],
    )
    .await;
    cli.ok(&url, &["sync"]).await;

    // Apart, each gives it another title.
    go(&phone, Connection::Offline).await?;
    click(&phone, &format!("#note-{note_id}")).await?;
    shown(&phone, "#visit-note #save-complete").await?;
    retype(&phone, "#title", "Visit at Hillside school").await?;
    click(&phone, "#save-note").await?;
    says(&phone, "#child-notes", "Visit at Hillside school").await?;
    cli.ok(
        &url,
        &["note", "edit", &note_id, "--title", "School visit with Sam"],
    )
    .await;
    cli.ok(&url, &["sync"]).await;
    go(&phone, Connection::Online).await?;
    sync_words(&phone, "Nothing waiting to be sent").await?;

    // The manager's console: the item, both sides, who and which device.
    let console = Browser::start(console_size).await?;
    console.goto(&url).await?;
    sign_in(&console, "mgr").await?;
    says(&console, "#caseload h2", "My team's children").await?;
    click(&console, "#open-review").await?;
    shown(&console, "#review-queue ul.rows button.row").await?;
    says(
        &console,
        "#review-queue ul.rows",
        "Written differently on two devices",
    )
    .await?;
    says(&console, "#review-queue ul.rows", "visit note, title").await?;
    accessible(&console, "the review queue").await?;
    console.screenshot("review-queue").await?;
    click(&console, "#review-queue ul.rows button.row").await?;
    shown(&console, "#review-item .side").await?;
    for words in [
        "Visit at Hillside school",
        "School visit with Sam",
        "sw-a (test)",
        "Web browser",
        LAPTOP,
    ] {
        says(&console, "#review-item", words).await?;
    }
    // A reason is asked for before anything is written.
    retype(
        &console,
        "#merged-value",
        "Visit at Hillside school with Sam",
    )
    .await?;
    click(&console, "#use-merged").await?;
    says(&console, "#review-decide .answer", "reason").await?;
    accessible(&console, "a review item").await?;
    console
        .eval("document.querySelector('#review-item').scrollIntoView(); return true;")
        .await?;
    console.screenshot("review-item").await?;
    fill(&console, "#review-reason", "Both are right: one visit").await?;
    click(&console, "#use-merged").await?;
    shown(&console, "#review-empty").await?;

    // Both devices show the settled title after their next sync.
    click(&phone, "#sync-now").await?;
    says(&phone, "#child-notes", "Visit at Hillside school with Sam").await?;
    cli.ok(&url, &["sync"]).await;
    assert_eq!(
        note_on(&cli, &url, &note_id).await.0.content.title,
        "Visit at Hillside school with Sam"
    );

    // The social worker completes the note; the second device does not hear of it.
    click(&phone, &format!("#note-{note_id}")).await?;
    shown(&phone, "#visit-note #save-complete").await?;
    click(&phone, "#save-complete").await?;
    says(&phone, "#child-notes", "Completed").await?;
    sync_words(&phone, "Nothing waiting to be sent").await?;

    // The manager signs it off from the child's page.
    click(&console, "#back-home").await?;
    click(&console, "#sync-now").await?;
    sync_words(&console, "last synced").await?;
    click(&console, "#child-child-00").await?;
    says(&console, "#child-notes", "Completed").await?;
    click(&console, &format!("#note-{note_id}")).await?;
    shown(&console, "#sign-off").await?;
    accessible(&console, "a note to sign off").await?;
    console.screenshot("sign-off").await?;
    click(&console, "#sign-off").await?;
    says(&console, "#child-notes", "Signed off").await?;
    sync_words(&console, "Nothing waiting to be sent").await?;

    // The second device, which never saw the completion or the sign-off, edits the note.
    assert_eq!(
        note_on(&cli, &url, &note_id).await.0.status,
        NoteStatus::Draft
    );
    cli.ok(
        &url,
        &[
            "note",
            "edit",
            &note_id,
            "--body",
            "Sam showed me the garden club. Added on the bus home.",
        ],
    )
    .await;
    cli.ok(&url, &["sync"]).await;

    // The console shows it as a change after sign-off, with the sign-off and the edit.
    click(&console, "#back-home").await?;
    click(&console, "#open-review").await?;
    says(&console, "#review-queue ul.rows", "Changed after sign-off").await?;
    click(&console, "#review-queue ul.rows button.row").await?;
    says(&console, "#review-item", "mgr (test)").await?;
    says(&console, "#review-item", LAPTOP).await?;
    // Each side in a person's words: the version signed off, and what the late edit changed.
    says(&console, "#review-item #side-0", "The signed-off version").await?;
    says(&console, "#review-item #side-1", "Changed what happened").await?;
    says(
        &console,
        "#review-summary",
        "Edited on a device that had not yet seen it signed off. Changed what happened.",
    )
    .await?;
    shown(&console, "#review-decide #accept").await?;
    shown(&console, "#review-decide #restore").await?;
    // What the late edit changed, word by word.
    says(&console, "#review-item .diff ins", "Added on the bus home.").await?;
    console.screenshot("review-pending-amendment").await?;

    // The record's history: every version, who and on which device, and a word diff.
    click(&console, "#item-history").await?;
    shown(&console, "#history li.version").await?;
    says(&console, "#history", LAPTOP).await?;
    says(&console, "#history", "changed what happened").await?;
    click(&console, "#history button[id^=diff-]").await?;
    shown(&console, "#history .diff ins").await?;
    accessible(&console, "a record's history").await?;
    console.screenshot("history").await?;
    click(&console, "#history-back").await?;

    // The manager puts the signed-off note back; the late edit stays in the history.
    shown(&console, "#review-decide #restore").await?;
    fill(
        &console,
        "#review-reason",
        "The signed-off note stands; add a new note",
    )
    .await?;
    click(&console, "#restore").await?;
    shown(&console, "#review-empty").await?;
    cli.ok(&url, &["sync"]).await;
    let (note, _) = note_on(&cli, &url, &note_id).await;
    assert_eq!(note.status, NoteStatus::SignedOff);
    assert_eq!(note.content.body, "Sam showed me the garden club.");

    // A change to the signed-off note is an amendment with a reason, and is queued.
    click(&console, "#back-home").await?;
    click(&console, "#child-child-00").await?;
    shown(&console, &format!("#note-{note_id}")).await?;
    click(&console, &format!("#note-{note_id}")).await?;
    shown(&console, "#visit-note #amend").await?;
    click(&console, "#amend").await?;
    fill(&console, "#body", " Sam's aunt was there too.").await?;
    fill(&console, "#why", "Sam told me on the phone").await?;
    accessible(&console, "an amendment").await?;
    console.screenshot("amend").await?;
    click(&console, "#save-amendment").await?;
    shown(&console, "#child-notes").await?;
    sync_words(&console, "Nothing waiting to be sent").await?;
    click(&console, "#back-home").await?;
    click(&console, "#open-review").await?;
    says(&console, "#review-queue ul.rows", "Amendment").await?;
    click(&console, "#review-queue ul.rows button.row").await?;
    says(
        &console,
        "#review-summary",
        "Amended after it was signed off. The reason given: Sam told me on the phone.",
    )
    .await?;
    click(&console, "#back-review").await?;
    shown(&console, "#review-queue").await?;

    // A manager deletes a note (filed on the wrong child), with a reason: it stays, shown as
    // deleted, with no way to change it.
    click(&console, "#back-home").await?;
    click(&console, "#child-child-00").await?;
    shown(&console, &format!("#note-{note_id}")).await?;
    click(&console, &format!("#note-{note_id}")).await?;
    shown(&console, "#visit-note #delete-note").await?;
    click(&console, "#delete-note").await?;
    fill(&console, "#why", "Filed on the wrong child").await?;
    click(&console, "#confirm-delete").await?;
    says(
        &console,
        "#child-notes",
        "Deleted by a manager: Filed on the wrong child",
    )
    .await?;
    click(&console, &format!("#note-{note_id}")).await?;
    says(&console, "#note-deleted", "Filed on the wrong child").await?;
    assert!(
        !holds(
            &console,
            "document.querySelector('#amend, #delete-note, #save-note') !== null"
        )
        .await?,
        "a deleted note is offered for change"
    );
    cli.ok(&url, &["sync"]).await;
    let (_, deleted_by) = note_on(&cli, &url, &note_id).await;
    assert_eq!(deleted_by.as_deref(), Some("mgr"));

    phone.close().await?;
    console.close().await?;
    server.stop().await
}
