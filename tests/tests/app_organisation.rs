//! The organisation part of the console (issue 12), in real headless Chromium against the
//! real server: a manager refers a child to the youth worker and allocates them to another
//! social worker, by name, and finds both in the audit log searched by child and by person;
//! an admin changes the team's plan point limit, sees the quarantine with the reason for each
//! entry, and revokes a device, which then cannot sync.

use fieldnotes_tests::app::{accessible, click, says, serve, shown, sign_in};
use fieldnotes_tests::browser::{Browser, Viewport};
use fieldnotes_tests::client::Device;
use fieldnotes_tests::wire::raw_push;

/// Choose `value` in the select `css`, as a person picking from its list.
async fn choose(browser: &Browser, css: &str, value: &str) -> anyhow::Result<()> {
    browser
        .eval(&format!(
            "const f = document.querySelector({css:?}); f.value = {value:?};
             f.dispatchEvent(new Event('change', {{ bubbles: true }}));
             f.dispatchEvent(new Event('input', {{ bubbles: true }})); return f.value;"
        ))
        .await?;
    Ok(())
}

async fn organisation(viewport: Viewport) -> anyhow::Result<()> {
    let (_db, server) = serve().await?;
    let url = server.url();
    let youth_worker = Device::sign_in(&url, "yw").await?;
    assert!(youth_worker.children().await?.is_empty());

    // The manager: children and their workers, by name.
    let browser = Browser::start(viewport).await?;
    browser.goto(&url).await?;
    sign_in(&browser, "mgr").await?;
    click(&browser, "#open-org").await?;
    shown(&browser, "#org-children").await?;
    says(&browser, "#org-children ul", "social worker: sw-a (test)").await?;
    says(&browser, "#org-people", "yw (test)").await?;
    says(&browser, "#org-people", "Youth worker").await?;

    choose(&browser, "#org-youth", "yw").await?;
    choose(&browser, "#org-until", "2027-06-30").await?;
    click(&browser, "#refer").await?;
    says(&browser, "#org-notice", "is referred until").await?;
    assert_eq!(
        youth_worker.children().await?.len(),
        1,
        "the referral reached the youth worker"
    );

    choose(&browser, "#org-worker", "sw-b").await?;
    click(&browser, "#allocate").await?;
    says(&browser, "#org-notice", "is allocated").await?;
    says(&browser, "#org-children ul", "social worker: sw-b (test)").await?;

    // The audit log, by child and by person.
    choose(&browser, "#audit-child", "child-00").await?;
    choose(&browser, "#audit-person", "mgr").await?;
    click(&browser, "#audit-search").await?;
    says(&browser, "#audit-entries", "refer").await?;
    says(&browser, "#audit-entries", "allocate").await?;
    says(&browser, "#audit-entries", "mgr (test)").await?;
    accessible(&browser, "the organisation (manager)").await?;
    browser.screenshot("organisation-manager").await?;
    browser.close().await?;

    // A device sends what cannot be a change: it is kept in quarantine with the reason.
    let raw = server.device("sw-a").await?;
    raw.sync_round(
        vec![raw_push("a-record", vec![b"not a change".to_vec()])],
        None,
    )
    .await?;
    let worker = Device::sign_in(&url, "sw-a").await?;
    worker.sync().await?;

    // The admin: the team's limit, the quarantine, and revoking a device.
    let browser = Browser::start(viewport).await?;
    browser.goto(&url).await?;
    sign_in(&browser, "admin").await?;
    click(&browser, "#open-org").await?;
    shown(&browser, "#org-teams").await?;
    let field = browser
        .client()
        .find(fantoccini::Locator::Css("#limit-pod-1"))
        .await?;
    field.clear().await?;
    field.send_keys("4").await?;
    click(&browser, "#org-teams li button").await?;
    says(&browser, "#org-notice", "at most 4 points").await?;
    assert_eq!(worker.team().await?.plan_point_limit, 4);

    says(&browser, "#org-quarantine", "malformed change").await?;
    let device = format!("#org-devices li[data-device='{}']", worker.device_id());
    says(&browser, &device, "sw-a's test device").await?;
    says(&browser, &device, "last synced").await?;
    accessible(&browser, "the organisation (admin)").await?;
    browser.screenshot("organisation-admin").await?;
    click(&browser, &format!("{device} button")).await?;
    click(&browser, &format!("{device} button.danger")).await?;
    says(&browser, "#org-notice", "is revoked").await?;
    says(&browser, &device, "Revoked").await?;
    let refused = worker.sync().await;
    assert!(
        refused.is_err(),
        "a revoked device still syncs: {refused:?}"
    );

    browser.close().await?;
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_laptop_managers_and_admins_run_the_organisation_by_name() -> anyhow::Result<()> {
    organisation(Viewport::LAPTOP).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_managers_and_admins_run_the_organisation_by_name() -> anyhow::Result<()> {
    organisation(Viewport::PHONE).await
}
