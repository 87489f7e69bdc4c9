//! The manager's console in the field app (issue 12), in real headless Chromium against the
//! real server: a social worker's app (on a phone) and their second device (the native SDK
//! the CLI runs on) give a note two titles while apart. The manager, in the console (run at
//! a laptop's size and at a phone's), sees both sides with who wrote each and on which
//! device, and settles it with a merged title; both devices show it after their next sync.
//! The manager signs the completed note off; an edit made on the device that had not seen
//! the sign-off becomes a pending amendment, shown in the console with what it changed word
//! by word and the record's history. The manager puts the signed-off note back, then amends
//! it with a reason, and the amendment is queued.

use fieldnotes_app::status::Connection;
use fieldnotes_model::{NoteStatus, Patch, Record, VisitNotePatch};
use fieldnotes_tests::app::{
    accessible, click, fill, go, holds, retype, says, serve, shown, sign_in, sync_words,
};
use fieldnotes_tests::browser::{Browser, Viewport};
use fieldnotes_tests::client::Device;

/// The record's title as the device holds it.
async fn title(device: &Device, id: &str) -> anyhow::Result<(String, NoteStatus)> {
    match device.get(id).await? {
        Some(Record::VisitNote(note)) => Ok((note.content.title, note.status)),
        other => anyhow::bail!("the device holds {other:?} for {id}"),
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
    let cli = Device::sign_in(&url, "sw-a").await?;
    cli.sync().await?;

    // Apart, each gives it another title.
    go(&phone, Connection::Offline).await?;
    click(&phone, &format!("#note-{note_id}")).await?;
    shown(&phone, "#visit-note #save-complete").await?;
    retype(&phone, "#title", "Visit at Hillside school").await?;
    click(&phone, "#save-note").await?;
    says(&phone, "#child-notes", "Visit at Hillside school").await?;
    cli.edit(
        &note_id,
        Patch::VisitNote(VisitNotePatch {
            title: Some("School visit with Sam".into()),
            ..VisitNotePatch::default()
        }),
    )
    .await?;
    cli.sync().await?;
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
        "sw-a's test device",
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
    cli.sync().await?;
    assert_eq!(
        title(&cli, &note_id).await?.0,
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
    assert_eq!(title(&cli, &note_id).await?.1, NoteStatus::Draft);
    cli.edit(
        &note_id,
        Patch::VisitNote(VisitNotePatch {
            body: Some("Sam showed me the garden club. Added on the bus home.".into()),
            ..VisitNotePatch::default()
        }),
    )
    .await?;
    cli.sync().await?;

    // The console shows it as a change after sign-off, with the sign-off and the edit.
    click(&console, "#back-home").await?;
    click(&console, "#open-review").await?;
    says(&console, "#review-queue ul.rows", "Changed after sign-off").await?;
    click(&console, "#review-queue ul.rows button.row").await?;
    says(&console, "#review-item", "mgr (test)").await?;
    says(&console, "#review-item", "sw-a's test device").await?;
    shown(&console, "#review-decide #accept").await?;
    shown(&console, "#review-decide #restore").await?;
    // What the late edit changed, word by word.
    says(&console, "#review-item .diff ins", "Added on the bus home.").await?;
    console.screenshot("review-pending-amendment").await?;

    // The record's history: every version, who and on which device, and a word diff.
    click(&console, "#item-history").await?;
    shown(&console, "#history li.version").await?;
    says(&console, "#history", "sw-a's test device").await?;
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
    cli.sync().await?;
    match cli.get(&note_id).await? {
        Some(Record::VisitNote(note)) => {
            assert_eq!(note.status, NoteStatus::SignedOff);
            assert_eq!(note.content.body, "Sam showed me the garden club.");
        }
        other => anyhow::bail!("the second device holds {other:?}"),
    }

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
    cli.sync().await?;
    let deleted = cli.document(&note_id).await?.and_then(|d| d.deletion());
    assert_eq!(deleted.map(|d| d.by).as_deref(), Some("mgr"));

    phone.close().await?;
    console.close().await?;
    server.stop().await
}
