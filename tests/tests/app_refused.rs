//! A record the server refuses (issue 12), in real headless Chromium against the real server:
//! a phone whose clock runs three days fast dates a visit "now", which the server refuses as
//! more than a day ahead. The status line says a record was refused and offers "See why"; the
//! refused records screen names the note and the server's reason, and takes back what was
//! refused. What it said is kept on the device, sealed, and can be saved as a file; nothing
//! is left waiting.

use base64::Engine as _;
use fieldnotes_tests::app::{
    accessible, click, fill, holds, says, serve, shown, sign_in, sync_words,
};
use fieldnotes_tests::browser::{Browser, Viewport};

/// Make the page's clock run `days` fast (or put it right with 0), as a phone set wrong.
async fn clock_ahead(browser: &Browser, days: u32) -> anyhow::Result<()> {
    browser
        .eval(&format!(
            "const Real = window.__realDate || Date; window.__realDate = Real;
             const shift = {days} * 24 * 3600 * 1000;
             class Shifted extends Real {{
               constructor(...a) {{ if (a.length === 0) {{ super(Real.now() + shift); }} else {{ super(...a); }} }}
               static now() {{ return Real.now() + shift; }}
             }}
             window.Date = Shifted; return new Date().getTime() - Real.now();"
        ))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_is_named_with_its_reason_and_can_be_taken_back_keeping_a_copy()
-> anyhow::Result<()> {
    let (_db, server) = serve().await?;
    let browser = Browser::start(Viewport::PHONE).await?;
    browser.goto(&server.url()).await?;
    sign_in(&browser, "sw-a").await?;

    // The phone's clock is three days fast: the visit is dated "now" by it.
    clock_ahead(&browser, 3).await?;
    let title = "Visit dated by a phone set wrong";
    click(&browser, "#child-child-00").await?;
    click(&browser, "#new-note-for-child").await?;
    shown(&browser, "#visit-note #title").await?;
    click(&browser, "#seen-yes").await?;
    click(&browser, "#alone-yes").await?;
    fill(&browser, "#title", title).await?;
    fill(&browser, "#body", "Sam showed me the new bike.").await?;
    click(&browser, "#save-note").await?;
    says(&browser, "#child-notes", title).await?;
    clock_ahead(&browser, 0).await?;

    // The server refuses it; the status line says so, with the way to see why.
    says(&browser, "#status .refused", "1 record was refused").await?;
    browser.screenshot("status-refused").await?;
    click(&browser, "#see-refused").await?;
    shown(&browser, "#refused-records li").await?;
    says(&browser, "#refused-records li", title).await?;
    says(&browser, "#refused-records li", "correct it").await?;
    // The reason names the field as the form does, and its times as the phone writes them.
    says(&browser, "#refused-records li", "when it happened").await?;
    says(
        &browser,
        "#refused-records li",
        "more than a day ahead of now",
    )
    .await?;
    assert!(
        !holds(
            &browser,
            "/\\d{4}-\\d\\d-\\d\\dT|occurred_at/.test(document.querySelector('#refused-records').textContent)"
        )
        .await?,
        "the reason shows a field's or a time's code"
    );
    let id = browser
        .eval("return document.querySelector('#refused-records li').dataset.id;")
        .await?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the refused record has no id"))?;
    accessible(&browser, "refused records").await?;
    browser.screenshot("refused-records").await?;

    // Taken back: the note leaves the device, a copy of what it said stays, nothing waits.
    click(&browser, &format!("#withdraw-{id}")).await?;
    says(&browser, "#refused-notice", "Taken back").await?;
    shown(&browser, "#refused-none").await?;
    shown(&browser, "#withdrawn a.download").await?;
    // The copy is named as a person knows it: what the record was, and when it was taken back.
    says(
        &browser,
        "#withdrawn li",
        &format!("Visit note: {title}, taken back on"),
    )
    .await?;
    accessible(&browser, "a record taken back").await?;
    let link = browser
        .eval("const a = document.querySelector('#withdrawn a.download'); return [a.getAttribute('href'), a.getAttribute('download')];")
        .await?;
    let href = link[0].as_str().unwrap_or_default();
    let data = href
        .strip_prefix("data:application/json;base64,")
        .ok_or_else(|| anyhow::anyhow!("not a JSON download: {href:.60}"))?;
    let json = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(data)?)?;
    assert!(
        json.contains(title),
        "the kept copy lacks the note: {json:.300}"
    );
    assert!(
        link[1]
            .as_str()
            .is_some_and(|name| name.starts_with(&id) && name.ends_with(".json")),
        "{link}"
    );
    browser.screenshot("refused-taken-back").await?;
    sync_words(&browser, "Nothing waiting to be sent").await?;
    assert!(
        !fieldnotes_tests::app::holds(&browser, "document.querySelector('#see-refused') !== null")
            .await?,
        "the status line still offers refused records"
    );

    browser.close().await?;
    server.stop().await
}
