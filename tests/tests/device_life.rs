//! A browser device's whole life (issue 11), in real headless Chromium against the real server
//! serving the built field app: it signs in and syncs; the network is cut; it records a visit
//! note; the page is reloaded with no network and the note is still there once the password
//! opens the records; a second tab is refused as a second writer; the browser's storage holds
//! none of the note or the child in the clear; and when the network comes back the app syncs by
//! itself and a native device sees the note whole.

use fieldnotes_app::status::Connection;
use fieldnotes_model::Record;
use fieldnotes_tests::browser::{self, Browser, Viewport};
use fieldnotes_tests::client::Device;
use fieldnotes_tests::org::seed_standard;
use fieldnotes_tests::server::test_config;
use fieldnotes_tests::{Backend, PASSWORD, TestDb, TestServer};
use serde_json::{Value, json};

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

/// The standard organisation (`sw-a` holds `child-00`, named "Child child-00") on a fresh
/// SQLite database, and the server serving the built app over it.
async fn serve() -> anyhow::Result<(TestDb, TestServer)> {
    let db = TestDb::new(Backend::Sqlite).await?;
    seed_standard(&db.url, 1).await?;
    let mut config = test_config(&db.url);
    config.app_dir = Some(browser::app_dir()?);
    let server = TestServer::start_with_config(&config).await?;
    Ok((db, server))
}

/// Whether the expression `condition` is true in the page.
async fn holds(browser: &Browser, condition: &str) -> anyhow::Result<bool> {
    Ok(browser.eval(&format!("return !!({condition});")).await? == Value::Bool(true))
}

/// Type `text` into the field `css`.
async fn fill(browser: &Browser, css: &str, text: &str) -> anyhow::Result<()> {
    let field = browser.client().find(fantoccini::Locator::Css(css)).await?;
    field.send_keys(text).await?;
    Ok(())
}

async fn click(browser: &Browser, css: &str) -> anyhow::Result<()> {
    browser
        .client()
        .find(fantoccini::Locator::Css(css))
        .await?
        .click()
        .await?;
    Ok(())
}

/// Wait until the status line's sync words contain `words`.
async fn sync_words(browser: &Browser, words: &str) -> anyhow::Result<()> {
    browser
        .wait_for(
            &format!("the status line to say {words:?}"),
            &format!("document.querySelector('#sync-words').textContent.includes({words:?})"),
        )
        .await
}

/// Cut the network or give it back, and wait for the status line to follow.
async fn go(browser: &Browser, connection: Connection) -> anyhow::Result<()> {
    browser
        .set_offline(connection == Connection::Offline)
        .await?;
    browser
        .wait_for(
            &format!("the status line to say {connection:?}"),
            &format!(
                "document.querySelector('#status').dataset.connection === '{}'",
                connection.as_str()
            ),
        )
        .await
}

/// Whether the list of records on the page shows one whose line contains `title`.
fn record_listed(title: &str) -> String {
    format!(
        "[...document.querySelectorAll('#records li .summary')].some((e) => e.textContent.includes({title:?}))"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_device_records_offline_keeps_it_sealed_and_syncs_when_the_signal_returns()
-> anyhow::Result<()> {
    let (_db, server) = serve().await?;
    let browser = Browser::start(Viewport::PHONE).await?;
    browser.goto(&server.url()).await?;

    // Sign in online: the caseload comes from the server, and the device syncs by itself.
    browser
        .wait_for(
            "the sign-in form",
            "document.querySelector('#sign-in') !== null",
        )
        .await?;
    fill(&browser, "#username", "sw-a").await?;
    fill(&browser, "#password", PASSWORD).await?;
    click(&browser, "#sign-in button[type=submit]").await?;
    browser
        .wait_for(
            "the caseload",
            "document.querySelector('#caseload')?.textContent.includes('Child child-00')",
        )
        .await?;
    sync_words(&browser, "last synced").await?;
    browser
        .wait_for(
            "the service worker to keep the app",
            "navigator.serviceWorker.controller !== null",
        )
        .await?;

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
    browser
        .wait_for(
            "the unlock form",
            "document.querySelector('#unlock') !== null",
        )
        .await?;
    assert!(holds(&browser, "navigator.onLine === false").await?);
    fill(&browser, "#password", PASSWORD).await?;
    click(&browser, "#unlock button[type=submit]").await?;
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
