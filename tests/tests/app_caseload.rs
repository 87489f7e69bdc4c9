//! The caseload follows allocation (issue 12), in real headless Chromium at a phone's size
//! against the real server: while a social worker's app is open, their manager allocates a new
//! child to them and moves another child to a colleague. After the app's next sync the new
//! child is listed by name with the note written about them, and the child who left is gone
//! from the caseload, their name and their records with them.

use fieldnotes_protocol::admin::NewChild;
use fieldnotes_tests::app::{click, holds, says, serve, shown, sign_in};
use fieldnotes_tests::browser::{Browser, Viewport};
use fieldnotes_tests::client::Device;
use fieldnotes_tests::fixtures;
use fieldnotes_tests::org::TEAM;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_allocated_or_moved_away_shows_in_the_caseload_after_the_next_sync()
-> anyhow::Result<()> {
    let (_db, server) = serve().await?;
    let url = server.url();
    let browser = Browser::start(Viewport::PHONE).await?;
    browser.goto(&url).await?;
    sign_in(&browser, "sw-a").await?;
    says(&browser, "#child-child-00", "Child child-00").await?;

    // The manager adds a child, allocates them to sw-a and writes the first note; and moves
    // child-00 to sw-b.
    let manager = Device::sign_in(&url, "mgr").await?;
    manager
        .create_child(&NewChild {
            child_id: "child-robin".to_owned(),
            display_name: "Robin Hart".to_owned(),
            team_id: TEAM.to_owned(),
        })
        .await?;
    manager.allocate("child-robin", "sw-a").await?;
    manager
        .create(fixtures::note(
            "child-robin",
            "mgr",
            "Robin's first visit",
            "Robin showed me the garden.",
        ))
        .await?;
    manager.sync().await?;
    manager.allocate("child-00", "sw-b").await?;

    // One sync later, the caseload is theirs as it now stands.
    click(&browser, "#sync-now").await?;
    says(&browser, "#child-child-robin", "Robin Hart").await?;
    says(&browser, "#child-child-robin", "1 record").await?;
    browser
        .wait_for(
            "child-00 to leave the caseload",
            "document.querySelector('#child-child-00') === null",
        )
        .await?;
    assert!(
        !holds(
            &browser,
            "document.body.textContent.includes('Child child-00') \
             || document.body.textContent.includes('no longer in your caseload')"
        )
        .await?,
        "the child who left is still named on the device"
    );
    click(&browser, "#child-child-robin").await?;
    shown(&browser, "#child-notes").await?;
    says(&browser, "#child-notes", "Robin's first visit").await?;

    browser.close().await?;
    server.stop().await
}
