//! The field app's own figures (issue 12), in real headless Chromium against the real server
//! (built with the bench profile) on 127.0.0.1, at a phone's size:
//!
//! - the first load: bytes over the network and the time until the sign-in screen shows, with
//!   an empty browser profile;
//! - opening with no network once the service worker keeps the app: the time until the unlock
//!   screen shows, then until the records are listed after the password;
//! - a cold start with 2,000 notes on the device: from pressing "Open my records" to the list
//!   of 2,000 records on screen;
//! - from a typed character to its durable write (the form's draft kept in IndexedDB), p50,
//!   p95, p99 and the worst, over every keystroke of a typed note.
//!
//! The times are the page's own: User Timing marks the app leaves (`fieldnotes:sign-in`,
//! `fieldnotes:unlock`, `fieldnotes:records-listed`, `fieldnotes:typed-to-kept`), so polling
//! from the driver adds nothing. Prints one JSON line per run and a summary.
//!
//! ```text
//! cargo xtask app && cargo bench -p fieldnotes-tests --bench app -- --runs 5
//! ```

// Test code: a failed unwrap is a failed run, and sizes here are small.
#![allow(clippy::unwrap_used, clippy::cast_precision_loss)]

use anyhow::Context;
use fieldnotes_app::status::Connection;
use fieldnotes_tests::app::{click, fill, go, kept_by_the_service_worker, shown, sign_in};
use fieldnotes_tests::bench::{median, percentile, read_flags};
use fieldnotes_tests::browser::{self, Browser, Viewport};
use fieldnotes_tests::fixtures::{rng, visit_note};
use fieldnotes_tests::org::seed_standard;
use fieldnotes_tests::server::test_config;
use fieldnotes_tests::wire::push_all;
use fieldnotes_tests::{Backend, PASSWORD, TestDb, TestServer};
use serde_json::{Value, json};

const HELP: &str = "\
The field app's benchmark: first load, opening offline, a cold start with 2,000 notes, and
typed character to durable write, in headless Chromium (see the top of benches/app.rs).

usage: app [--runs R] [--notes N] [--typed C]

  --runs   runs of each of the first three (default 3)
  --notes  notes on the device for the cold start (default 2000)
  --typed  characters typed for the keystroke figure (default 400)

Build the app first (`cargo xtask app`); FIELDNOTES_APP_DIR names another build.";

/// The time of the first User Timing mark `name`, in ms since the page's navigation began.
async fn mark(browser: &Browser, name: &str) -> anyhow::Result<f64> {
    browser
        .wait_for(
            &format!("the mark {name}"),
            &format!("performance.getEntriesByName({name:?}).length > 0"),
        )
        .await?;
    let at = browser
        .eval(&format!(
            "return performance.getEntriesByName({name:?})[0].startTime;"
        ))
        .await?;
    at.as_f64().context("a mark without a time")
}

/// Bytes that came over the network for this page (the document and everything it loaded),
/// and their size once decoded.
async fn bytes(browser: &Browser) -> anyhow::Result<(f64, f64)> {
    let v = browser
        .eval(
            "const all = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
             return [all.reduce((n, e) => n + e.transferSize, 0), all.reduce((n, e) => n + e.decodedBodySize, 0)];",
        )
        .await?;
    Ok((
        v[0].as_f64().unwrap_or(f64::NAN),
        v[1].as_f64().unwrap_or(f64::NAN),
    ))
}

/// The server over the standard organisation (25 children, `sw-a` holding them) with the
/// built app.
async fn serve() -> anyhow::Result<(TestDb, TestServer)> {
    let db = TestDb::new(Backend::Sqlite).await?;
    seed_standard(&db.url, 25).await?;
    let mut config = test_config(&db.url);
    config.app_dir = Some(browser::app_dir()?);
    let server = TestServer::start_with_config(&config).await?;
    Ok((db, server))
}

/// Press "Open my records" from the page itself, so the press and the marks share a clock;
/// the time it was pressed.
async fn open_records(browser: &Browser) -> anyhow::Result<f64> {
    shown(browser, "#unlock").await?;
    fill(browser, "#password", PASSWORD).await?;
    let at = browser
        .eval(
            "performance.clearMarks('fieldnotes:records-listed'); performance.clearMarks('fieldnotes:home');
             const t = performance.now(); document.querySelector('#unlock button[type=submit]').click(); return t;",
        )
        .await?;
    at.as_f64().context("no time for the press")
}

fn summary(name: &str, values: &mut [f64], unit: &str) -> Value {
    let med = median(values);
    println!(
        "{name}: median {med:.1} {unit} over {} runs ({values:?})",
        values.len()
    );
    json!({ "figure": name, "median": med, "runs": values, "unit": unit })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let (mut runs, mut notes, mut typed) = (3usize, 2000usize, 400usize);
    let go_on = read_flags(HELP, |flag, value| {
        match flag {
            "--runs" => runs = value()?.parse()?,
            "--notes" => notes = value()?.parse()?,
            "--typed" => typed = value()?.parse()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if !go_on {
        println!("{HELP}");
        return Ok(());
    }
    let (_db, server) = serve().await?;
    let url = server.url();
    let mut figures = Vec::new();

    // The first load, with an empty profile each time.
    let (mut first, mut sent, mut decoded) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let browser = Browser::start(Viewport::PHONE).await?;
        browser.goto(&url).await?;
        let at = mark(&browser, "fieldnotes:sign-in").await?;
        let (over_network, whole) = bytes(&browser).await?;
        println!(
            "{}",
            json!({ "run": "first_load", "ms": at, "transfer_bytes": over_network, "decoded_bytes": whole })
        );
        first.push(at);
        sent.push(over_network);
        decoded.push(whole);
        browser.close().await?;
    }
    figures.push(summary(
        "first load, to the sign-in screen",
        &mut first,
        "ms",
    ));
    figures.push(summary(
        "first load, bytes over the network",
        &mut sent,
        "bytes",
    ));
    figures.push(summary(
        "first load, bytes once decoded",
        &mut decoded,
        "bytes",
    ));

    // 2,000 notes for the person, then one device that holds them all.
    let raw = server.device("sw-a").await?;
    let mut r = rng(12);
    let mut docs: Vec<_> = (0..notes)
        .map(|i| raw.create(visit_note(&mut r, i, "sw-a")))
        .collect::<Result<_, _>>()?;
    for chunk in docs.chunks_mut(200) {
        raw.sync_round(chunk.iter_mut().map(push_all).collect(), None)
            .await?;
    }
    let browser = Browser::start(Viewport::PHONE).await?;
    browser.goto(&url).await?;
    sign_in(&browser, "sw-a").await?;
    kept_by_the_service_worker(&browser).await?;
    browser
        .wait_for(
            "every note on the device",
            &format!("document.querySelectorAll('#records li').length >= {notes}"),
        )
        .await?;

    // Opening with no network, and the cold start with the notes.
    go(&browser, Connection::Offline).await?;
    let (mut opened, mut listed) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        browser.reload().await?;
        let unlock = mark(&browser, "fieldnotes:unlock").await?;
        let pressed = open_records(&browser).await?;
        let shown_at = mark(&browser, "fieldnotes:records-listed").await?;
        let on_screen = browser
            .eval("return document.querySelectorAll('#records li').length;")
            .await?;
        anyhow::ensure!(
            on_screen.as_u64() == Some(notes as u64),
            "{on_screen} records listed, not {notes}"
        );
        println!(
            "{}",
            json!({ "run": "offline_open", "to_unlock_ms": unlock, "press_to_listed_ms": shown_at - pressed, "notes": notes })
        );
        opened.push(unlock);
        listed.push(shown_at - pressed);
    }
    figures.push(summary(
        "opening offline, to the unlock screen",
        &mut opened,
        "ms",
    ));
    figures.push(summary(
        &format!("cold start, 'Open my records' to {notes} notes listed"),
        &mut listed,
        "ms",
    ));

    // Typing a note: each character to its durable write.
    click(&browser, "#new-note").await?;
    shown(&browser, "#visit-note #body").await?;
    let text: String = "Sam showed me the garden and talked about school. "
        .chars()
        .cycle()
        .take(typed)
        .collect();
    // One key at a time at a fast typist's pace (25 a second), each its own key press.
    let body = browser
        .client()
        .find(fantoccini::Locator::Css("#body"))
        .await?;
    for c in text.chars() {
        body.send_keys(&c.to_string()).await?;
        tokio::time::sleep(std::time::Duration::from_millis(40)).await;
    }
    browser
        .wait_for(
            "every keystroke kept",
            &format!("performance.getEntriesByName('fieldnotes:typed-to-kept').length >= {typed}"),
        )
        .await?;
    let durations = browser
        .eval("return performance.getEntriesByName('fieldnotes:typed-to-kept').map((e) => e.duration);")
        .await?;
    let mut kept: Vec<f64> = durations
        .as_array()
        .context("no durations")?
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    kept.sort_by(f64::total_cmp);
    let keystrokes = json!({
        "figure": "typed character to durable write",
        "keystrokes": kept.len(),
        "p50_ms": percentile(&kept, 0.50),
        "p95_ms": percentile(&kept, 0.95),
        "p99_ms": percentile(&kept, 0.99),
        "max_ms": kept.last(),
        "notes_on_device": notes,
    });
    println!("{keystrokes}");
    figures.push(keystrokes);
    browser.close().await?;
    server.stop().await?;
    println!("{}", json!({ "summary": figures }));
    Ok(())
}
