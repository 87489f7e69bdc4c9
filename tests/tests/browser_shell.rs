//! The field app in real headless Chromium, against the real server serving the built app
//! (`cargo xtask test` builds it and names it in `FIELDNOTES_APP_DIR`): the whole pipeline from
//! Rust to a page, and the app shell opening with no network from its service worker.
//! Screenshots go to `docs/screenshots/`.

use std::time::Duration;

use fieldnotes_app::status::Connection;
use fieldnotes_tests::browser::{self, Browser, Viewport};
use fieldnotes_tests::server::test_config;
use fieldnotes_tests::{Backend, TestDb, TestServer};
use serde_json::{Value, json};

/// A server on a fresh SQLite database, serving the built app.
async fn serve_app() -> anyhow::Result<(TestDb, TestServer)> {
    let db = TestDb::new(Backend::Sqlite).await?;
    let mut config = test_config(&db.url);
    config.app_dir = Some(browser::app_dir()?);
    let server = TestServer::start_with_config(&config).await?;
    Ok((db, server))
}

/// The app opened at `viewport` in a new Chromium, its shell drawn and checked.
async fn open_app(viewport: Viewport) -> anyhow::Result<(TestDb, TestServer, Browser)> {
    let (db, server) = serve_app().await?;
    let browser = Browser::start(viewport).await?;
    browser.goto(&server.url()).await?;
    check_shell(&browser).await?;
    Ok((db, server, browser))
}

const SHELL_DRAWN: &str = "document.querySelector('#sign-in button') !== null";

/// Whether the expression `condition` is true in the page.
async fn holds(browser: &Browser, condition: &str) -> anyhow::Result<bool> {
    let value = browser.eval(&format!("return !!({condition});")).await?;
    Ok(value == Value::Bool(true))
}

/// The shell is drawn, and looks as it should at this size: nothing scrolls sideways, every
/// control has a label and is at least 44 px each way.
async fn check_shell(browser: &Browser) -> anyhow::Result<()> {
    browser
        .wait_for("the app to draw its shell", SHELL_DRAWN)
        .await?;
    assert_eq!(browser.text("header h1").await?, "Fieldnotes");
    let size = browser
        .eval("return [window.innerWidth, window.innerHeight];")
        .await?;
    let viewport = browser.viewport();
    assert_eq!(size, json!([viewport.width, viewport.height]));
    assert!(
        !holds(
            browser,
            "document.documentElement.scrollWidth > window.innerWidth"
        )
        .await?,
        "the page scrolls sideways at {viewport}"
    );
    let unlabelled = browser
        .eval("return [...document.querySelectorAll('input')].filter((e) => e.labels.length === 0).map((e) => e.id);")
        .await?;
    assert_eq!(unlabelled, json!([]), "controls without a label");
    let small = browser
        .eval(
            "return [...document.querySelectorAll('input, button')]\
               .filter((e) => { const r = e.getBoundingClientRect(); return r.width < 44 || r.height < 44; })\
               .map((e) => e.id || e.textContent);",
        )
        .await?;
    assert_eq!(small, json!([]), "touch targets under 44 px at {viewport}");
    Ok(())
}

/// Cut the network or give it back, and wait for the status line to follow.
async fn go(browser: &Browser, connection: Connection) -> anyhow::Result<()> {
    browser
        .set_offline(connection == Connection::Offline)
        .await?;
    let shown = format!(
        "document.querySelector('#status').dataset.connection === '{}'",
        connection.as_str()
    );
    browser
        .wait_for(&format!("the status line to say {connection:?}"), &shown)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_opens_offline_from_its_service_worker() -> anyhow::Result<()> {
    let (_db, server, browser) = open_app(Viewport::PHONE).await?;
    assert_eq!(
        browser.text("#status .connection").await?,
        Connection::Online.message()
    );

    // The service worker installs, keeps the shell and takes the page.
    browser
        .wait_for(
            "the service worker to control the page",
            "navigator.serviceWorker.controller !== null",
        )
        .await?;
    let kept = browser
        .eval_async(
            "caches.keys().then((names) => Promise.all(names.map((name) => caches.open(name)\
               .then((cache) => cache.keys())))).then((lists) => lists.flat().map((r) => new URL(r.url).pathname))",
        )
        .await?;
    for path in [
        "/",
        "/index.html",
        "/fieldnotes_app.js",
        "/fieldnotes_app_bg.wasm",
    ] {
        assert!(
            kept.as_array()
                .is_some_and(|kept| kept.contains(&json!(path))),
            "{path} is not kept for offline use: {kept}"
        );
    }
    browser.screenshot("shell").await?;

    // Cut the network: the status line says so, and the page's requests fail.
    go(&browser, Connection::Offline).await?;
    let reached = browser
        .eval_async("fetch('/healthz').then(() => 'reached', () => 'failed')")
        .await?;
    assert_eq!(
        reached,
        json!("failed"),
        "a request went through with the network cut"
    );
    // Stop the server too, so whatever opens now comes from the device alone.
    tokio::time::timeout(Duration::from_secs(10), server.stop()).await??;

    browser.reload().await?;
    check_shell(&browser).await?;
    assert_eq!(
        browser.text("#status .connection").await?,
        Connection::Offline.message()
    );
    assert!(
        holds(&browser, "navigator.serviceWorker.controller !== null").await?,
        "the reloaded page did not come from the service worker"
    );
    browser.screenshot("shell-offline").await?;

    // The signal comes back: the status line follows.
    go(&browser, Connection::Online).await?;
    browser.close().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sign_in_says_why_on_a_laptop() -> anyhow::Result<()> {
    let (_db, server, browser) = open_app(Viewport::LAPTOP).await?;
    let client = browser.client();
    let find = |css| client.find(fantoccini::Locator::Css(css));
    find("#username").await?.send_keys("sam").await?;
    find("#password")
        .await?
        .send_keys("no such account")
        .await?;
    find("#sign-in button").await?.click().await?;
    browser
        .wait_for(
            "the form's answer",
            "document.querySelector('.answer').textContent !== ''",
        )
        .await?;
    // The server has no such person: the form says so, and the page stays on the form.
    let answer = browser.text(".answer").await?;
    assert!(answer.starts_with("Sign-in refused"), "{answer}");
    assert!(holds(&browser, "document.querySelector('#sign-in') !== null").await?);
    browser.screenshot("sign-in-refused").await?;
    browser.close().await?;
    server.stop().await
}
