//! Nothing typed is lost (issue 12): a visit note being written is kept on the device as it is
//! typed, before Save, in real headless Chromium against the real server. The page is
//! reloaded with no network in the middle of a note: the note comes back as it was typed,
//! and once it is saved the draft is gone.

use fieldnotes_app::status::Connection;
use fieldnotes_tests::app::{click, fill, go, holds, says, serve, shown, sign_in, unlock};
use fieldnotes_tests::browser::{Browser, Viewport};

/// How many keystrokes the page has measured from typed to kept.
const KEPT: &str = "performance.getEntriesByName('fieldnotes:typed-to-kept').length";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_typed_and_not_saved_comes_back_after_a_reload_with_no_signal() -> anyhow::Result<()>
{
    let (_db, server) = serve().await?;
    let browser = Browser::start(Viewport::PHONE).await?;
    browser.goto(&server.url()).await?;
    sign_in(&browser, "sw-a").await?;
    fieldnotes_tests::app::kept_by_the_service_worker(&browser).await?;
    go(&browser, Connection::Offline).await?;

    let title = "Visit in the car park";
    let body = "Sam talked about the football trials";
    click(&browser, "#child-child-00").await?;
    click(&browser, "#new-note-for-child").await?;
    shown(&browser, "#visit-note #title").await?;
    assert!(
        !holds(
            &browser,
            "document.querySelector('#draft-restored') !== null"
        )
        .await?
    );
    fill(&browser, "#title", title).await?;
    fill(&browser, "#body", body).await?;
    let typed = title.chars().count() + body.chars().count();
    browser
        .wait_for("every keystroke to be kept", &format!("{KEPT} >= {typed}"))
        .await?;

    // The tab is reloaded (or the phone restarts) before Save.
    browser.reload().await?;
    unlock(&browser).await?;
    click(&browser, "#child-child-00").await?;
    click(&browser, "#new-note-for-child").await?;
    shown(&browser, "#draft-restored").await?;
    assert_eq!(
        browser
            .eval("return [document.querySelector('#title').value, document.querySelector('#body').value];")
            .await?,
        serde_json::json!([title, body]),
        "the note did not come back as typed"
    );
    browser.screenshot("draft-restored").await?;

    // Saved, it is a record, and the draft is gone.
    click(&browser, "#seen-yes").await?;
    click(&browser, "#alone-yes").await?;
    click(&browser, "#save-note").await?;
    says(&browser, "#child-notes", title).await?;
    browser.reload().await?;
    unlock(&browser).await?;
    click(&browser, "#child-child-00").await?;
    click(&browser, "#new-note-for-child").await?;
    shown(&browser, "#visit-note #title").await?;
    assert!(
        !holds(
            &browser,
            "document.querySelector('#draft-restored') !== null"
        )
        .await?,
        "the saved note's draft came back"
    );
    assert!(holds(&browser, "document.querySelector('#title').value === ''").await?);

    browser.close().await?;
    server.stop().await
}
