//! The field app's main screens pass axe-core's accessibility rules (issue 12): axe-core runs
//! inside the page, in real headless Chromium against the real server, on each screen a
//! social worker meets, at a phone's size and a school laptop's; no serious or critical
//! violation is allowed. (Labels, keyboard use, focus, touch-target size and sideways
//! scrolling are also checked one by one in `browser_shell.rs`.)

use fieldnotes_tests::app::{click, fill, says, serve, shown, sign_in, unlock};
use fieldnotes_tests::browser::{Browser, Viewport};
use serde_json::Value;

/// Every serious or critical failure on the screen now, named by `screen`.
async fn check(
    browser: &Browser,
    screen: &str,
    found: &mut Vec<(String, Value)>,
) -> anyhow::Result<()> {
    for failure in browser.serious_accessibility_failures().await? {
        found.push((screen.to_owned(), failure));
    }
    Ok(())
}

async fn the_main_screens_have_no_serious_accessibility_failures(
    viewport: Viewport,
) -> anyhow::Result<()> {
    let (_db, server) = serve().await?;
    let browser = Browser::start(viewport).await?;
    browser.goto(&server.url()).await?;
    let mut found = Vec::new();

    shown(&browser, "#sign-in").await?;
    check(&browser, "sign in", &mut found).await?;
    sign_in(&browser, "sw-a").await?;
    check(&browser, "my children", &mut found).await?;

    click(&browser, "#child-child-00").await?;
    shown(&browser, "#child-workers").await?;
    check(&browser, "a child's page", &mut found).await?;

    // A short plan past the team's limit, so the refusal's words are checked too.
    click(&browser, "#new-plan").await?;
    shown(&browser, "#short-plan textarea#points").await?;
    fill(&browser, "#points", "One\nTwo\nThree\nFour").await?;
    says(&browser, "#points-tally", "this one has 4").await?;
    check(&browser, "a short plan over the limit", &mut found).await?;
    click(&browser, "#plan-back").await?;

    click(&browser, "#new-note-for-child").await?;
    shown(&browser, "#visit-note").await?;
    // Every question the form can ask, shown.
    click(&browser, "#seen-yes").await?;
    click(&browser, "#alone-no").await?;
    shown(&browser, "#not-alone-reason").await?;
    check(&browser, "a visit note", &mut found).await?;
    click(&browser, "#note-back").await?;

    shown(&browser, "#child-about-me").await?;
    click(&browser, "#child-about-me").await?;
    shown(&browser, "#about-me textarea#fun").await?;
    check(&browser, "about me", &mut found).await?;

    click(&browser, "#about-me button.quiet").await?;
    click(&browser, "#back-home").await?;
    click(&browser, "#my-card").await?;
    shown(&browser, "#contact-card input#display-name").await?;
    check(&browser, "my contact card", &mut found).await?;

    browser.reload().await?;
    shown(&browser, "#unlock").await?;
    check(&browser, "unlock", &mut found).await?;
    unlock(&browser).await?;

    browser.close().await?;
    server.stop().await?;
    assert!(
        found.is_empty(),
        "serious or critical accessibility failures at {viewport}:\n{}",
        found
            .iter()
            .map(|(screen, failure)| format!("{screen}: {failure}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_the_main_screens_have_no_serious_accessibility_failures() -> anyhow::Result<()>
{
    the_main_screens_have_no_serious_accessibility_failures(Viewport::PHONE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_laptop_the_main_screens_have_no_serious_accessibility_failures() -> anyhow::Result<()>
{
    the_main_screens_have_no_serious_accessibility_failures(Viewport::LAPTOP).await
}
