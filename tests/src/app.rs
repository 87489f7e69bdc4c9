//! The field app in a [`Browser`], as the app's tests drive it: the server serving the built
//! app over the standard organisation, and the few things a person does on its pages (type,
//! tap, sign in, cut the network) with the waits that go with them.

use fantoccini::Locator;
use fieldnotes_app::status::Connection;
use serde_json::Value;

use crate::browser::{self, Browser};
use crate::org::seed_standard;
use crate::server::test_config;
use crate::{Backend, PASSWORD, TestDb, TestServer};

/// The standard organisation (`sw-a` holds `child-00`, named "Child child-00") on a fresh
/// SQLite database, and the server serving the built app over it.
pub async fn serve() -> anyhow::Result<(TestDb, TestServer)> {
    let db = TestDb::new(Backend::Sqlite).await?;
    seed_standard(&db.url, 1).await?;
    let mut config = test_config(&db.url);
    config.app_dir = Some(browser::app_dir()?);
    let server = TestServer::start_with_config(&config).await?;
    Ok((db, server))
}

/// Whether the expression `condition` is true in the page.
pub async fn holds(browser: &Browser, condition: &str) -> anyhow::Result<bool> {
    Ok(browser.eval(&format!("return !!({condition});")).await? == Value::Bool(true))
}

/// Type `text` into the field `css`.
pub async fn fill(browser: &Browser, css: &str, text: &str) -> anyhow::Result<()> {
    let field = browser.client().find(Locator::Css(css)).await?;
    field.send_keys(text).await?;
    Ok(())
}

/// Replace what the field `css` holds with `text`, as a person clearing it and typing.
pub async fn retype(browser: &Browser, css: &str, text: &str) -> anyhow::Result<()> {
    browser
        .client()
        .find(Locator::Css(css))
        .await?
        .clear()
        .await?;
    fill(browser, css, text).await
}

/// Tap the element `css`, once it is on the page (a screen draws what it reads from the device
/// a moment after it opens).
pub async fn click(browser: &Browser, css: &str) -> anyhow::Result<()> {
    shown(browser, css).await?;
    browser
        .client()
        .find(Locator::Css(css))
        .await?
        .click()
        .await?;
    Ok(())
}

/// Wait until the element `css` is on the page.
pub async fn shown(browser: &Browser, css: &str) -> anyhow::Result<()> {
    browser
        .wait_for(
            &format!("{css} on the page"),
            &format!("document.querySelector({css:?}) !== null"),
        )
        .await
}

/// Wait until the text of the element `css` contains `words`.
pub async fn says(browser: &Browser, css: &str, words: &str) -> anyhow::Result<()> {
    browser
        .wait_for(
            &format!("{css} to say {words:?}"),
            &format!("document.querySelector({css:?})?.textContent.includes({words:?})"),
        )
        .await
}

/// Wait until the status line's sync words contain `words`.
pub async fn sync_words(browser: &Browser, words: &str) -> anyhow::Result<()> {
    says(browser, "#sync-words", words).await
}

/// Cut the network or give it back, and wait for the status line to follow.
pub async fn go(browser: &Browser, connection: Connection) -> anyhow::Result<()> {
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

/// Sign `user` in on the page and wait for the caseload and a first sync.
pub async fn sign_in(browser: &Browser, user: &str) -> anyhow::Result<()> {
    shown(browser, "#sign-in").await?;
    fill(browser, "#username", user).await?;
    fill(browser, "#password", PASSWORD).await?;
    click(browser, "#sign-in button[type=submit]").await?;
    shown(browser, "#caseload").await?;
    sync_words(browser, "last synced").await
}

/// Wait until the app's service worker controls the page (so the app opens with no network).
pub async fn kept_by_the_service_worker(browser: &Browser) -> anyhow::Result<()> {
    browser
        .wait_for(
            "the service worker to keep the app",
            "navigator.serviceWorker.controller !== null",
        )
        .await
}

/// After a reload: open the records with the password, with or without a network.
pub async fn unlock(browser: &Browser) -> anyhow::Result<()> {
    shown(browser, "#unlock").await?;
    fill(browser, "#password", PASSWORD).await?;
    click(browser, "#unlock button[type=submit]").await?;
    shown(browser, "#caseload").await
}

/// The condition that the list of records on the home page shows one whose line contains
/// `title`.
pub fn record_listed(title: &str) -> String {
    format!(
        "[...document.querySelectorAll('#records li .summary')].some((e) => e.textContent.includes({title:?}))"
    )
}

/// Fail unless axe-core, run in the page, finds no serious or critical accessibility failure
/// on the screen now (named `screen` in the failure).
pub async fn accessible(browser: &Browser, screen: &str) -> anyhow::Result<()> {
    let failures = browser.serious_accessibility_failures().await?;
    anyhow::ensure!(
        failures.is_empty(),
        "serious or critical accessibility failures on {screen} at {}: {failures:#?}",
        browser.viewport()
    );
    Ok(())
}
