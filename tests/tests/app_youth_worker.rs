//! The field app for a youth worker (issue 12), in real headless Chromium at a phone's size
//! (360 × 640) and a laptop's, against the real server. A young person is referred to them; they write a
//! short plan, and the plan is refused at the team's point limit as they type. Then the plan
//! is added to on two devices with no signal, the app and a second device of theirs (the
//! native SDK the CLI runs on); when both have synced, the points are over the limit, the
//! review item is in the manager's queue, the app's page of the young person says so, and the
//! youth worker can take a point out. The plan is then marked complete, amended with a reason
//! (an item in the manager's queue), and signed off by the manager in the app.

use fieldnotes_app::status::Connection;
use fieldnotes_client::ReviewQuery;
use fieldnotes_model::{Patch, Record, ShortPlanPatch};
use fieldnotes_protocol::admin::NewReferral;
use fieldnotes_protocol::review::ItemKind;
use fieldnotes_tests::app::{
    accessible, click, fill, go, holds, retype, says, serve, shown, sign_in, sync_words,
};
use fieldnotes_tests::browser::{Browser, Viewport};
use fieldnotes_tests::client::Device;

/// Set a date field as the date picker would (its typed form depends on the locale).
async fn pick_date(browser: &Browser, css: &str, date: &str) -> anyhow::Result<()> {
    browser
        .eval(&format!(
            "const f = document.querySelector({css:?}); f.value = {date:?};
             f.dispatchEvent(new Event('input', {{ bubbles: true }})); return f.value;"
        ))
        .await?;
    Ok(())
}

/// The plan's points as the young person's page lists them.
async fn listed_points(browser: &Browser) -> anyhow::Result<serde_json::Value> {
    browser
        .eval("return [...document.querySelectorAll('#child-plans .plan ol li')].map((li) => li.textContent);")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_phone_a_youth_worker_is_held_to_the_point_limit_and_points_added_apart_go_to_review()
-> anyhow::Result<()> {
    a_plan_with_a_young_person(Viewport::PHONE).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_laptop_a_youth_worker_is_held_to_the_point_limit_and_points_added_apart_go_to_review()
-> anyhow::Result<()> {
    a_plan_with_a_young_person(Viewport::LAPTOP).await
}

/// The plan's story, on a device of this size (the screenshots are taken at it).
async fn a_plan_with_a_young_person(viewport: Viewport) -> anyhow::Result<()> {
    let (_db, server) = serve().await?;
    let url = server.url();
    // The young person's social worker refers them to the youth worker.
    let social_worker = Device::sign_in(&url, "sw-a").await?;
    social_worker
        .refer(
            "child-00",
            &NewReferral {
                youth_worker_id: "yw".to_owned(),
                starts_on: None,
                planned_end: "2027-06-30".to_owned(),
            },
        )
        .await?;

    let browser = Browser::start(viewport).await?;
    browser.goto(&url).await?;
    sign_in(&browser, "yw").await?;
    says(&browser, "#caseload h2", "Young people referred to me").await?;
    says(&browser, "#child-child-00", "Child child-00").await?;
    accessible(&browser, "young people referred").await?;
    browser.screenshot("young-people").await?;

    // A new plan: three points fit the team's limit; the fourth is refused as it is typed.
    click(&browser, "#child-child-00").await?;
    click(&browser, "#new-plan").await?;
    shown(&browser, "#short-plan textarea#points").await?;
    says(&browser, "#points-tally", "at most 3").await?;
    fill(
        &browser,
        "#points",
        "Come to the Tuesday group\nTalk to Jo about college\nWalk to school with Sam",
    )
    .await?;
    says(&browser, "#points-tally", "3 of 3 points").await?;
    assert!(!holds(&browser, "document.querySelector('#save-plan').disabled").await?);
    fill(&browser, "#points", "\nSee the school nurse").await?;
    says(
        &browser,
        "#points-tally",
        "at most 3 points, and this one has 4",
    )
    .await?;
    assert!(
        holds(&browser, "document.querySelector('#save-plan').disabled").await?,
        "a plan over the team's limit can be saved"
    );
    browser.screenshot("short-plan-over-limit").await?;

    // Two points kept, with a review date and a planned ending.
    retype(
        &browser,
        "#points",
        "Come to the Tuesday group\nTalk to Jo about college",
    )
    .await?;
    says(&browser, "#points-tally", "2 of 3 points").await?;
    pick_date(&browser, "#review-on", "2027-01-15").await?;
    pick_date(&browser, "#planned-end", "2027-03-31").await?;
    browser.screenshot("short-plan").await?;
    click(&browser, "#save-plan").await?;
    shown(&browser, "#child-plans .plan").await?;
    says(&browser, "#child-plans", "Talk to Jo about college").await?;
    sync_words(&browser, "Nothing waiting to be sent").await?;
    let plan_id = browser
        .eval("return document.querySelector('#child-plans .plan').dataset.id;")
        .await?
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the plan on the page has no id"))?;

    // The youth worker's second device has the plan.
    let other = Device::sign_in(&url, "yw").await?;
    other.sync().await?;
    let Some(Record::ShortPlan(plan)) = other.get(&plan_id).await? else {
        anyhow::bail!("the second device does not hold the plan");
    };
    assert_eq!(plan.content.review_on.as_deref(), Some("2027-01-15"));
    assert_eq!(plan.content.planned_end.as_deref(), Some("2027-03-31"));

    // No signal on either: each adds a third point.
    go(&browser, Connection::Offline).await?;
    click(&browser, &format!("#plan-{plan_id}")).await?;
    shown(&browser, "#short-plan textarea#points").await?;
    says(&browser, "#points-tally", "2 of 3 points").await?;
    fill(&browser, "#points", "\nCall Mum on Friday").await?;
    says(&browser, "#points-tally", "3 of 3 points").await?;
    click(&browser, "#save-plan").await?;
    says(&browser, "#child-plans", "Call Mum on Friday").await?;
    sync_words(&browser, "1 change waiting to be sent").await?;

    other
        .edit(
            &plan_id,
            Patch::ShortPlan(ShortPlanPatch {
                points: Some(vec![
                    "Come to the Tuesday group".into(),
                    "Talk to Jo about college".into(),
                    "Meet at the youth club on Thursday".into(),
                ]),
                ..ShortPlanPatch::default()
            }),
        )
        .await?;

    // Both sync: the second device first, then the app once the signal is back.
    other.sync().await?;
    go(&browser, Connection::Online).await?;
    sync_words(&browser, "Nothing waiting to be sent").await?;

    // The app's page follows the sync: four points, and why it is over.
    says(
        &browser,
        "#child-plans",
        "Meet at the youth club on Thursday",
    )
    .await?;
    says(
        &browser,
        &format!("#plan-over-{plan_id}"),
        "4 points, more than your team's 3",
    )
    .await?;
    assert_eq!(
        listed_points(&browser).await?.as_array().map(Vec::len),
        Some(4)
    );
    browser
        .eval("document.querySelector('#child-plans').scrollIntoView(); return true;")
        .await?;
    accessible(&browser, "a plan over the limit on a young person's page").await?;
    browser.screenshot("child-page-plan-over-limit").await?;

    // The review item is in the manager's queue: the four points, each credited to the
    // device that wrote it.
    let manager = Device::sign_in(&url, "mgr").await?;
    let items = manager.review_items(&ReviewQuery::default()).await?;
    let item = items
        .iter()
        .find(|i| i.doc_id == plan_id && i.item_kind == ItemKind::PlanLimit)
        .ok_or_else(|| anyhow::anyhow!("no plan-limit item for the plan in {items:?}"))?;
    assert!(
        item.summary.contains("4 points") && item.summary.contains("limit is 3"),
        "{}",
        item.summary
    );
    let values: Vec<&str> = item.sides.iter().map(|s| s.value.as_str()).collect();
    for point in ["Call Mum on Friday", "Meet at the youth club on Thursday"] {
        assert!(values.contains(&point), "{point} is not a side: {values:?}");
    }
    let devices: std::collections::BTreeSet<_> = item
        .sides
        .iter()
        .filter_map(|s| s.device_id.clone())
        .collect();
    assert_eq!(
        devices.len(),
        2,
        "the points are not credited to both devices: {:?}",
        item.sides
    );

    // The way out on the device: opened, the plan says it is over and cannot be saved until
    // a point is taken out.
    click(&browser, &format!("#plan-{plan_id}")).await?;
    says(&browser, "#points-tally", "this one has 4").await?;
    assert!(holds(&browser, "document.querySelector('#save-plan').disabled").await?);
    retype(
        &browser,
        "#points",
        "Come to the Tuesday group\nTalk to Jo about college\nCall Mum on Friday",
    )
    .await?;
    says(&browser, "#points-tally", "3 of 3 points").await?;
    click(&browser, "#save-plan").await?;
    shown(&browser, "#child-plans").await?;
    sync_words(&browser, "Nothing waiting to be sent").await?;
    assert!(
        !holds(
            &browser,
            "document.querySelector('#child-plans .over') !== null"
        )
        .await?,
        "the plan still shows as over the limit"
    );
    other.sync().await?;
    let Some(Record::ShortPlan(plan)) = other.get(&plan_id).await? else {
        anyhow::bail!("the second device lost the plan");
    };
    assert_eq!(
        plan.content.points,
        [
            "Come to the Tuesday group",
            "Talk to Jo about college",
            "Call Mum on Friday"
        ]
    );

    // Agreed: the plan is marked complete, and is then locked.
    click(&browser, &format!("#plan-{plan_id}")).await?;
    click(&browser, "#save-plan-complete").await?;
    says(&browser, "#child-plans", "Completed").await?;
    click(&browser, &format!("#plan-{plan_id}")).await?;
    shown(&browser, "#amend-plan").await?;
    assert!(
        holds(
            &browser,
            "document.querySelector('#save-plan') === null \
             && document.querySelector('#short-plan fieldset').disabled"
        )
        .await?,
        "a completed plan is offered for change without an amendment"
    );

    // An amendment begun and given up leaves the plan as it was, and keeps no reason.
    click(&browser, "#amend-plan").await?;
    retype(&browser, "#points", "Something else").await?;
    fill(&browser, "#plan-why", "Not sure yet").await?;
    click(&browser, "#plan-keep").await?;
    shown(&browser, "#amend-plan").await?;
    assert!(
        holds(
            &browser,
            "document.querySelector('#points').value.includes('Call Mum on Friday') \
             && document.querySelector('#plan-why') === null"
        )
        .await?,
        "the plan does not show as it stands after the amendment was given up"
    );

    // Changed after it was agreed: an amendment, with a reason, seen by a manager.
    click(&browser, "#amend-plan").await?;
    retype(
        &browser,
        "#points",
        "Come to the Tuesday group\nTalk to Jo about college\nCall Mum on Saturday",
    )
    .await?;
    click(&browser, "#save-plan-amendment").await?;
    says(&browser, "#short-plan .answer", "reason").await?;
    fill(&browser, "#plan-why", "Mum works on Fridays").await?;
    accessible(&browser, "a plan's amendment").await?;
    browser.screenshot("short-plan-amend").await?;
    click(&browser, "#save-plan-amendment").await?;
    says(&browser, "#child-plans", "Call Mum on Saturday").await?;
    says(&browser, "#child-plans", "Completed").await?;
    sync_words(&browser, "Nothing waiting to be sent").await?;
    let items = manager.review_items(&ReviewQuery::default()).await?;
    let amendment = items
        .iter()
        .find(|i| i.doc_id == plan_id && i.item_kind == ItemKind::Amendment)
        .ok_or_else(|| anyhow::anyhow!("no amendment item for the plan in {items:?}"))?;
    assert!(
        amendment.summary.contains("Mum works on Fridays"),
        "{}",
        amendment.summary
    );

    // The manager signs the plan off from the young person's page in the app, and the youth
    // worker's app shows it after its next sync.
    let console = Browser::start(Viewport::LAPTOP).await?;
    console.goto(&url).await?;
    sign_in(&console, "mgr").await?;
    click(&console, "#child-child-00").await?;
    shown(&console, &format!("#plan-{plan_id}")).await?;
    click(&console, &format!("#plan-{plan_id}")).await?;
    shown(&console, "#sign-off-plan").await?;
    click(&console, "#sign-off-plan").await?;
    says(&console, "#child-plans", "Signed off").await?;
    sync_words(&console, "Nothing waiting to be sent").await?;
    click(&browser, "#sync-now").await?;
    says(&browser, "#child-plans", "Signed off").await?;
    other.sync().await?;
    let Some(Record::ShortPlan(plan)) = other.get(&plan_id).await? else {
        anyhow::bail!("the second device lost the plan");
    };
    assert_eq!(plan.signed_off_by.as_deref(), Some("mgr"));
    assert_eq!(plan.content.points[2], "Call Mum on Saturday");

    console.close().await?;
    browser.close().await?;
    server.stop().await
}
