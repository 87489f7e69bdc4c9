//! A browser device's whole life (issue 11), in real headless Chromium against the real server
//! serving the built field app: it signs in and syncs; the network is cut; it records a visit
//! note; the page is reloaded with no network and the note is still there once the password
//! opens the records; a second tab is refused as a second writer; the browser's storage holds
//! none of the note or the child in the clear; and when the network comes back the app syncs by
//! itself and a native device sees the note whole. And the browser's refusals: one that keeps
//! no data for the site is told so at once with the ways out, and a save refused on a full
//! phone keeps what was typed and goes through once there is space.

use fieldnotes_app::status::Connection;
use fieldnotes_model::Record;
use fieldnotes_tests::app::{
    click, fill, go, holds, kept_by_the_service_worker, record_listed, says, serve, shown, sign_in,
    sync_words, unlock,
};
use fieldnotes_tests::browser::{Browser, Viewport};
use fieldnotes_tests::client::Device;
use fieldnotes_tests::disk::SmallDisk;
use serde_json::json;

/// Every byte the page's storage keeps: each IndexedDB database's keys and values (text as
/// it is, byte arrays read as Latin-1 so any text in them shows), and local and session
/// storage. One string, for a test to search for what must not be there.
const STORAGE_DUMP: &str = r"(async () => {
  const out = [];
  const walk = (v) => {
    if (v === null || v === undefined) return;
    if (typeof v === 'string') { out.push(v); return; }
    if (typeof v !== 'object') { out.push(String(v)); return; }
    if (v instanceof ArrayBuffer) { out.push(new TextDecoder('latin1').decode(v)); return; }
    if (ArrayBuffer.isView(v)) { out.push(new TextDecoder('latin1').decode(v)); return; }
    for (const [key, value] of Object.entries(v)) { out.push(key); walk(value); }
  };
  const done = (request) => new Promise((ok, fail) => {
    request.onsuccess = () => ok(request.result);
    request.onerror = () => fail(request.error);
  });
  for (const info of await indexedDB.databases()) {
    const db = await done(indexedDB.open(info.name));
    for (const name of db.objectStoreNames) {
      const store = db.transaction(name, 'readonly').objectStore(name);
      walk(await done(store.getAllKeys()));
      walk(await done(store.getAll()));
    }
    db.close();
  }
  for (const storage of [localStorage, sessionStorage]) {
    for (let i = 0; i < storage.length; i++) {
      out.push(storage.key(i), storage.getItem(storage.key(i)));
    }
  }
  return out.join('\n');
})()";

/// A browser that keeps no data for any site (its settings, a policy, some private windows)
/// cannot hold a field worker's notes: the app says so at once, in words a person can act on,
/// and offers to try again, instead of letting them sign in and write into nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_that_keeps_no_data_is_refused_with_the_way_out() -> anyhow::Result<()> {
    let (_db, server) = serve().await?;
    let browser = Browser::start_refusing_storage(Viewport::PHONE).await?;
    browser.goto(&server.url()).await?;
    browser
        .wait_for(
            "the app to say the browser keeps no records",
            "document.querySelector('#refused')?.textContent.includes('not letting Fieldnotes keep records')",
        )
        .await?;
    let words = browser.text("#refused").await?;
    for way_out in [
        "private or incognito window",
        "allow it for this site",
        "Try again",
    ] {
        assert!(words.contains(way_out), "the refusal says {words:?}");
    }
    assert!(
        !holds(&browser, "document.querySelector('#sign-in') !== null").await?,
        "a sign-in form is offered on a browser that keeps nothing"
    );
    browser.screenshot("browser-keeps-no-data").await?;
    browser.close().await?;
    server.stop().await
}

/// When the phone is full as a note is saved, the browser refuses the write: the save says so
/// and what to do, what was typed stays in the form, and once space is freed the same form
/// saves one note, which is sent. Chromium's profile is on a small disk of the test's own,
/// filled to the last byte before the save.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_save_refused_on_a_full_phone_keeps_the_typed_note_and_goes_through_once_there_is_space()
-> anyhow::Result<()> {
    let (_db, server) = serve().await?;
    let disk = SmallDisk::mount("96m");
    let browser = Browser::start_with_profile_in(Viewport::PHONE, disk.path()).await?;
    browser.goto(&server.url()).await?;
    sign_in(&browser, "sw-a").await?;

    let title = "Visit after the strategy meeting";
    let body = "Sam showed me the new bike and talked about the football trial";
    click(&browser, "#new-note").await?;
    shown(&browser, "#visit-note").await?;
    click(&browser, "#seen-yes").await?;
    click(&browser, "#alone-yes").await?;
    fill(&browser, "#title", title).await?;
    fill(&browser, "#body", body).await?;

    // The phone fills up, then the note is saved.
    let filler = disk.fill();
    click(&browser, "#visit-note button[type=submit]").await?;
    says(&browser, "#visit-note .answer", "refused storage").await?;
    let answer = browser.text("#visit-note .answer").await?;
    assert!(
        answer.contains("storage")
            && answer.contains("is full")
            && answer.contains("nothing saved before was lost")
            && answer.contains("Free space for this site"),
        "the refusal says {answer:?}"
    );
    assert_eq!(
        browser
            .eval("return [document.querySelector('#title').value, document.querySelector('#body').value];")
            .await?,
        json!([title, body]),
        "what was typed did not stay in the form"
    );
    browser.screenshot("save-refused-phone-full").await?;

    // Space is freed: the same form saves, one note, and it is sent.
    std::fs::remove_file(&filler)?;
    click(&browser, "#visit-note button[type=submit]").await?;
    browser
        .wait_for("the note in the list", &record_listed(title))
        .await?;
    sync_words(&browser, "Nothing waiting to be sent").await?;
    let native = Device::sign_in(&server.url(), "sw-a").await?;
    native.sync().await?;
    let listed = native.list(None).await?;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('#records li').length;")
            .await?,
        json!(1)
    );
    browser.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_device_records_offline_keeps_it_sealed_and_syncs_when_the_signal_returns()
-> anyhow::Result<()> {
    let (_db, server) = serve().await?;
    let browser = Browser::start(Viewport::PHONE).await?;
    browser.goto(&server.url()).await?;

    // Sign in online: the caseload comes from the server, and the device syncs by itself.
    sign_in(&browser, "sw-a").await?;
    kept_by_the_service_worker(&browser).await?;

    // No signal: record a statutory visit.
    go(&browser, Connection::Offline).await?;
    let title = "Visit before the school review";
    let body = "Met Sam at home with their aunt; the bedroom is now repainted";
    let wishes = "I want to stay at Hillside and see my nan on Sundays";
    click(&browser, "#new-note").await?;
    browser
        .wait_for(
            "the visit note form",
            "document.querySelector('#visit-note') !== null",
        )
        .await?;
    click(&browser, "#seen-yes").await?;
    click(&browser, "#alone-yes").await?;
    fill(&browser, "#title", title).await?;
    fill(&browser, "#body", body).await?;
    fill(&browser, "#wishes", wishes).await?;
    browser.screenshot("visit-note-offline").await?;
    click(&browser, "#visit-note button[type=submit]").await?;
    browser
        .wait_for("the note in the list", &record_listed(title))
        .await?;
    sync_words(&browser, "1 change waiting to be sent").await?;
    browser.screenshot("records-offline").await?;

    // The server has not seen it: a native device of the same person finds nothing yet.
    let native = Device::sign_in(&server.url(), "sw-a").await?;
    native.sync().await?;
    assert!(
        native.list(None).await?.is_empty(),
        "the note reached the server with the network cut"
    );

    // Reload with no network: the app opens from its service worker, the records open with
    // the password alone, and the note and its waiting change are still there.
    browser.reload().await?;
    unlock(&browser).await?;
    assert!(holds(&browser, "navigator.onLine === false").await?);
    browser
        .wait_for("the note after the reload", &record_listed(title))
        .await?;
    sync_words(&browser, "1 change waiting to be sent").await?;

    // What the browser keeps holds none of it in the clear.
    let dump = browser.eval_async(STORAGE_DUMP).await?;
    let dump = dump
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("the storage could not be read: {dump}"))?;
    // The dump does read the store: the server's address is kept in the clear, as it may be.
    assert!(
        dump.contains(&server.url()),
        "the storage dump does not hold the store's plain settings ({} bytes)",
        dump.len()
    );
    for secret in [
        title,
        body,
        wishes,
        "child-00",
        "Child child-00",
        "Hillside",
    ] {
        assert!(
            !dump.contains(secret),
            "the browser's storage holds {secret:?} in the clear"
        );
    }

    // A second tab of the app is refused as a second writer, and says what to do.
    let first = browser.client().window().await?;
    let second = browser.client().new_window(true).await?;
    browser.client().switch_to_window(second.handle).await?;
    browser.goto(&server.url()).await?;
    browser
        .wait_for(
            "the second tab to be refused",
            "document.querySelector('#refused')?.textContent.includes('already open in another tab')",
        )
        .await?;
    browser.screenshot("second-tab-refused").await?;
    browser.client().close_window().await?;
    browser.client().switch_to_window(first).await?;

    // The signal comes back: the app sends the note by itself, and the native device gets it
    // whole.
    go(&browser, Connection::Online).await?;
    sync_words(&browser, "Nothing waiting to be sent").await?;
    native.sync().await?;
    let listed = native.list(None).await?;
    assert_eq!(listed.len(), 1, "{listed:?}");
    match native.get(&listed[0].id).await? {
        Some(Record::VisitNote(note)) => {
            let note = note.content;
            assert_eq!((note.title.as_str(), note.body.as_str()), (title, body));
            assert_eq!(note.wishes_and_feelings, wishes);
            assert_eq!(note.child_id, "child-00");
            assert_eq!((note.child_seen, note.seen_alone), (Some(true), Some(true)));
        }
        other => panic!("the native device holds {other:?}"),
    }
    assert_eq!(
        browser
            .eval("return document.querySelectorAll('#records li').length;")
            .await?,
        json!(1)
    );
    browser.close().await?;
    server.stop().await
}
