//! Nothing decided silently, end to end: each kind of merge a person must decide raises a
//! review item with the right sides; a manager settles it from their own device; the decision
//! reaches every device and the audit log. Sign-off locks a record; an edit made offline
//! without seeing it is a pending amendment, kept and reviewable, and the signed-off content
//! is not lost. History shows every version with who, which device and when.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod common;

use fieldnotes_client::{ClientError, Resolution};
use fieldnotes_model::{NewRecord, NoteStatus, Patch, Record, ShortPlanPatch};
use fieldnotes_protocol::admin::{Listing, TeamPatch};
use fieldnotes_protocol::review::{Decision, DiffSpanView, ItemKind, ReviewItem};
use fieldnotes_protocol::{DocKind, ReviewStatus, Role};
use fieldnotes_tests::fixtures::{self, visit_note_in};
use fieldnotes_tests::org::TEAM;
use fieldnotes_tests::{Backend, Team, TestServer};

const DRAWINGS: &str = "Sam showed me his drawings of the dog.";

fn note(author: &str) -> NewRecord {
    fixtures::note("child-00", author, "Home visit", DRAWINGS)
}

fn title(record: Option<Record>) -> String {
    visit_note_in(record).content.title
}

fn body(record: Option<Record>) -> String {
    visit_note_in(record).content.body
}

/// Two people set different titles offline: one item, both sides attributed; the manager
/// chooses; everyone then sees the choice and no conflict; the audit log has the decision.
async fn concurrent_values_go_to_review(backend: Backend) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let id = t.shared_note(DRAWINGS).await?;
    let (home, nans) = (
        fixtures::title("Visit at home"),
        fixtures::title("Visit at nan's"),
    );
    t.edit_apart(&id, [(&t.laptop, home), (&t.manager, nans)])
        .await?;

    let items = t.open_items(&id).await?;
    assert_eq!(items.len(), 1, "{items:?}");
    let item = t.manager.review_item(items[0].item_id).await?;
    assert_eq!(
        (item.item_kind, item.field.as_str()),
        (ItemKind::Conflict, "title")
    );
    let mut values: Vec<&str> = item.sides.iter().map(|s| s.value.as_str()).collect();
    values.sort_unstable();
    assert_eq!(values, vec!["Visit at home", "Visit at nan's"]);
    // Each side names the person and the device that wrote it, and when.
    for (value, user, device) in [
        ("Visit at home", "sw-a", t.laptop.device_id()),
        ("Visit at nan's", "mgr", t.manager.device_id()),
    ] {
        let side = item.sides.iter().find(|s| s.value == value).unwrap();
        assert_eq!(side.user_id.as_deref(), Some(user), "{value}");
        assert_eq!(side.device_id.as_deref(), Some(device), "{value}");
        assert!(side.received_at.is_some() && !side.device_time.is_empty());
    }
    assert_eq!(item.sides.iter().filter(|s| s.shown).count(), 1);
    assert!(!item.seen_heads.is_empty());

    // Edited again before review: the same item is updated, not duplicated.
    let tuesday = fixtures::title("Visit, Tuesday");
    let wednesday = fixtures::title("Visit, Wednesday");
    t.edit_apart(&id, [(&t.phone, tuesday), (&t.laptop, wednesday)])
        .await?;
    let items = t.open_items(&id).await?;
    assert_eq!(items.len(), 1, "updated in place: {items:?}");

    let decided = t
        .manager
        .resolve_review(
            items[0].item_id,
            Resolution::Value("Home visit, Tuesday".into()),
            "checked the diary",
        )
        .await?;
    assert_eq!(decided.status, ReviewStatus::Resolved);
    assert_eq!(decided.decided_by.as_deref(), Some("mgr"));
    t.sync_all().await?;
    for device in t.devices() {
        assert_eq!(title(device.get(&id).await?), "Home visit, Tuesday");
        assert!(device.conflicts(&id).await?.is_empty());
    }
    let audit = t.audit("review_resolved").await?;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].user_id.as_deref(), Some("mgr"));
    assert_eq!(audit[0].details["decision"]["value"], "Home visit, Tuesday");
    assert!(
        t.audit("push")
            .await?
            .iter()
            .any(|e| e.user_id.as_deref() == Some("sw-a"))
    );
    assert!(
        t.audit("pull")
            .await?
            .iter()
            .any(|e| e.user_id.as_deref() == Some("mgr"))
    );
    Ok(())
}

/// The author edits offline on a device that has not seen the sign-off: the edit is in
/// history, a pending amendment waits for review, and the signed-off body is not lost — the
/// manager restores it, and every device then holds the signed-off content.
async fn an_offline_edit_to_a_signed_off_note_is_a_pending_amendment(
    backend: Backend,
) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let id = t.shared_note(DRAWINGS).await?;
    // The phone goes offline holding the draft.
    t.laptop
        .edit(&id, fixtures::note_status(NoteStatus::Completed))
        .await?;
    t.laptop.sync().await?;
    t.manager.sync().await?;
    t.manager.sign_off(&id).await?;
    t.manager.sync().await?;
    let signed_body = body(t.manager.get(&id).await?);

    // Locked on devices that know: a plain edit is refused, with the way forward.
    t.laptop.sync().await?;
    let refused = t.laptop.edit(&id, fixtures::body("changed")).await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Refused {
                code: fieldnotes_model::RuleCode::Locked,
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(refused.unwrap_err().to_string().contains("amend"));

    t.phone
        .edit(
            &id,
            fixtures::body("Sam showed me his drawings. Added later on the bus."),
        )
        .await?;
    let report = t.phone.sync().await?;
    assert!(
        report.protocol.refused.is_empty(),
        "kept, not refused: {report:?}"
    );
    t.sync_all().await?;

    let items = t.open_items(&id).await?;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].item_kind, ItemKind::PendingAmendment);
    assert!(items[0].summary.contains("body"), "{}", items[0].summary);

    // In history, and the signed-off version is still readable.
    let history = t.manager.history(&id).await?;
    let offline = history
        .iter()
        .find(|v| {
            v.changed.contains(&"body".to_owned())
                && v.device_id.as_deref() == Some(t.phone.device_id())
        })
        .expect("the phone's edit is in history");
    assert_eq!(offline.user_id.as_deref(), Some("sw-a"));
    assert_eq!(
        items[0].sides[1].change, offline.change,
        "the item names the phone's change"
    );
    assert_eq!(
        items[0].sides[1].device_id.as_deref(),
        Some(t.phone.device_id())
    );
    let lock = &items[0].sides[0].change;
    assert_eq!(
        items[0].sides[0].user_id.as_deref(),
        Some("mgr"),
        "the sign-off's side"
    );
    let record = t
        .manager
        .document(&id)
        .await?
        .unwrap()
        .read_at(&[fieldnotes_model::parse_hash(lock)?])?;
    assert!(
        matches!(record, Record::VisitNote(ref n) if n.content.body == signed_body && n.status == NoteStatus::SignedOff)
    );

    t.settle(
        items[0].item_id,
        Resolution::Restore,
        "the signed-off note stands; add a new note instead",
    )
    .await?;
    for device in t.devices() {
        let Some(Record::VisitNote(n)) = device.get(&id).await? else {
            panic!("note")
        };
        assert_eq!(n.content.body, signed_body);
        assert_eq!(n.status, NoteStatus::SignedOff);
    }
    assert!(
        t.open_items(&id).await?.is_empty(),
        "the restoring change raised nothing new"
    );
    assert_eq!(t.audit("review_resolved").await?.len(), 1);
    let signed = t.audit("sign_off").await?;
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].user_id.as_deref(), Some("mgr"));
    Ok(())
}

/// An amendment with a reason lands, is shown as such in history, and is queued; a manager
/// accepts it. Only a manager signs off or deletes.
async fn amendments_sign_off_and_deletion(backend: Backend) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let id = t.laptop.create(note("sw-a")).await?;
    t.laptop
        .edit(&id, fixtures::note_status(NoteStatus::Completed))
        .await?;
    t.sync_all().await?;

    // The author cannot sign off: the device refuses it before writing it (the server would
    // refuse it too; tests/tests/write_rules.rs sends it anyway).
    let refused = t.laptop.sign_off(&id).await;
    assert!(
        matches!(&refused, Err(ClientError::Refused { code: fieldnotes_model::RuleCode::NotPermitted, message }) if message.contains("manager")),
        "{refused:?}"
    );
    assert_eq!(t.laptop.pending_changes().await?, 0);

    let other = t.phone.create(note("sw-a")).await?;
    let refused = t.phone.amend(&other, fixtures::title("x"), "typo").await;
    assert!(
        matches!(
            refused,
            Err(ClientError::Model(
                fieldnotes_model::ModelError::NotLocked { .. }
            ))
        ),
        "a draft is edited, not amended: {refused:?}"
    );
    t.manager.sync().await?;
    let refused = t
        .phone
        .delete_record(&other, "filed on the wrong child")
        .await;
    assert!(
        matches!(&refused, Err(ClientError::Refused { code: fieldnotes_model::RuleCode::NotPermitted, message }) if message.contains("manager")),
        "{refused:?}"
    );
    let report = t.phone.sync().await?;
    assert!(report.protocol.refused.is_empty(), "{report:?}");

    let id2 = t.manager.create(note("mgr")).await?;
    t.manager.sync().await?;
    t.manager
        .delete_record(&id2, "filed on the wrong child")
        .await?;
    t.manager.sync().await?;
    let deleted = t.audit("delete_record").await?;
    assert_eq!(
        deleted.len(),
        1,
        "the manager's deletion, not the refused one: {deleted:?}"
    );
    assert_eq!(deleted[0].user_id.as_deref(), Some("mgr"));
    assert!(
        t.manager.delete_record(&id2, "again").await.is_err(),
        "already deleted"
    );

    // A fresh device: amend the completed note with a reason.
    let fresh = t.server.client("sw-a").await?;
    fresh.sync().await?;
    fresh
        .amend(
            &id,
            fixtures::wishes("I want to see my brother"),
            "Sam told me on the way out",
        )
        .await?;
    fresh.sync().await?;
    let history = t.manager.history(&id).await?;
    assert!(
        history
            .iter()
            .any(|v| v.amendment.as_deref() == Some("Sam told me on the way out"))
    );
    let items = t.open_items(&id).await?;
    let amendment = items
        .iter()
        .find(|i| i.item_kind == ItemKind::Amendment)
        .expect("queued");
    assert_eq!(
        amendment.sides[0].reason.as_deref(),
        Some("Sam told me on the way out")
    );
    let decided = t
        .manager
        .resolve_review(amendment.item_id, Resolution::Accept, "fine")
        .await?;
    // Accepting an amendment is a resolution (issue 9), not a dismissal.
    assert_eq!(decided.status, ReviewStatus::Resolved);
    assert_eq!(decided.decision.unwrap().reason.as_deref(), Some("fine"));
    Ok(())
}

/// Two devices each add a point to a two-point plan: four points, over the team's limit of
/// three: an item listing the points; the manager settles on three.
async fn a_plan_over_its_limit_goes_to_review(backend: Backend) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let id = t.plan_over_its_limit().await?;
    let items = t.open_items(&id).await?;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].item_kind, ItemKind::PlanLimit);
    let mut sides: Vec<&str> = items[0].sides.iter().map(|s| s.value.as_str()).collect();
    sides.sort_unstable();
    assert_eq!(
        sides,
        vec![
            "Call nan",
            "Football on Fridays",
            "Meet on Tuesdays",
            "Skate park"
        ],
        "every merged point is a side"
    );
    // Rewording the points but keeping all four does not settle it: the server refuses, and
    // the item stays open.
    let four =
        || Resolution::Value("Meet on Tuesdays\nSkate park\nCall nan\nFootball on Friday".into());
    let refused = t
        .manager
        .resolve_review(items[0].item_id, four(), "all four")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("still has 4 points") && refused.contains("limit is 3"),
        "{refused}"
    );
    let still = t.open_items(&id).await?;
    assert_eq!(still.len(), 1, "{still:?}");
    assert_eq!(still[0].item_id, items[0].item_id);
    // A device that knows its team's limit refuses it before writing anything.
    t.manager.team().await?;
    let pending = t.manager.pending_changes().await?;
    let refused = t
        .manager
        .resolve_review(items[0].item_id, four(), "all four")
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("at most 3 points"), "{refused}");
    assert_eq!(
        t.manager.pending_changes().await?,
        pending,
        "a change was written"
    );
    let three = Resolution::Value("Meet on Tuesdays\nSkate park\nCall nan".into());
    t.settle(items[0].item_id, three, "three points").await?;
    for device in t.devices() {
        let Some(Record::ShortPlan(plan)) = device.get(&id).await? else {
            panic!("plan")
        };
        assert_eq!(
            plan.content.points,
            vec!["Meet on Tuesdays", "Skate park", "Call nan"]
        );
    }
    assert!(t.open_items(&id).await?.is_empty());
    let decided = t.audit("review_resolved").await?;
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0].details["item_kind"], "plan_limit");
    Ok(())
}

/// A device keeps its own plans to its team's point limit, as the server last gave it (here
/// 2, below the model's own 3): a plan past it is refused before anything is written, with
/// words that say what to do; one within it is written.
async fn a_device_keeps_its_plans_to_its_teams_limit(backend: Backend) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let admin = t.server.client("admin").await?;
    let patch = TeamPatch {
        plan_point_limit: Some(2),
        ..TeamPatch::default()
    };
    admin.update_team(TEAM, &patch).await?;
    assert_eq!(t.laptop.known_team().await?, None, "not fetched yet");
    // Before it has learnt its team, a device keeps to the default of three.
    let four = fixtures::plan("child-00", "sw-a", &["a", "b", "c", "d"]);
    let refused = t.laptop.create(four).await.unwrap_err().to_string();
    assert!(
        refused.contains("at most 3 points, and this one has 4"),
        "{refused}"
    );
    assert_eq!(t.laptop.team().await?.plan_point_limit, 2);
    assert_eq!(
        t.laptop
            .known_team()
            .await?
            .map(|team| team.plan_point_limit),
        Some(2),
        "kept on the device for when there is no signal"
    );

    let three = fixtures::plan(
        "child-00",
        "sw-a",
        &["Meet on Tuesdays", "Skate park", "Call nan"],
    );
    let refused = t.laptop.create(three).await.unwrap_err().to_string();
    assert!(
        refused.contains("at most 2 points, and this one has 3")
            && refused.contains("take one out"),
        "{refused}"
    );
    let id = t
        .laptop
        .create(fixtures::plan(
            "child-00",
            "sw-a",
            &["Meet on Tuesdays", "Skate park"],
        ))
        .await?;
    let more = fixtures::plan_points(vec![
        "Meet on Tuesdays".into(),
        "Skate park".into(),
        "Call nan".into(),
    ]);
    let refused = t.laptop.edit(&id, more).await.unwrap_err().to_string();
    assert!(refused.contains("at most 2 points"), "{refused}");
    let Some(Record::ShortPlan(plan)) = t.laptop.get(&id).await? else {
        panic!("plan")
    };
    assert_eq!(
        plan.content.points,
        ["Meet on Tuesdays", "Skate park"],
        "nothing was written"
    );
    assert_eq!(
        t.laptop.list(Some(DocKind::ShortPlan)).await?.len(),
        1,
        "the refused plan was not kept"
    );
    // A team that allows more than the default three: the device keeps to the team's own
    // limit, in an edit and in an amendment, and the server takes a plan within it as it is.
    let four = TeamPatch {
        plan_point_limit: Some(4),
        ..TeamPatch::default()
    };
    admin.update_team(TEAM, &four).await?;
    assert_eq!(t.laptop.team().await?.plan_point_limit, 4);
    let points = |n: usize| fixtures::plan_points((1..=n).map(|i| format!("Point {i}")).collect());
    t.laptop.edit(&id, points(4)).await?;
    let refused = t.laptop.edit(&id, points(5)).await.unwrap_err().to_string();
    assert!(
        refused.contains("at most 4 points, and this one has 5"),
        "{refused}"
    );
    // Completed, the plan changes only by amendment, and an amendment keeps to the limit too.
    let done = Patch::ShortPlan(ShortPlanPatch {
        status: Some(NoteStatus::Completed),
        planned_end: Some(Some("2027-03-31".into())),
        ..ShortPlanPatch::default()
    });
    t.laptop.edit(&id, done).await?;
    let refused = t
        .laptop
        .amend(&id, points(5), "agreed one more")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("at most 4 points, and this one has 5"),
        "{refused}"
    );
    t.laptop.sync().await?;
    assert!(
        t.open_items(&id).await?.is_empty(),
        "a plan within the team's limit went to review"
    );
    t.manager.sync().await?;
    let Some(Record::ShortPlan(plan)) = t.manager.get(&id).await? else {
        panic!("the manager's device has no plan")
    };
    assert_eq!(plan.content.points.len(), 4, "{:?}", plan.content.points);
    // A person in no team is told so, not given a limit.
    let refused = admin.team().await.unwrap_err().to_string();
    assert!(refused.contains("in no team"), "{refused}");
    // The team's people, by name: every active person of the team and no one else.
    let mut names: Vec<String> = t
        .laptop
        .team_people()
        .await?
        .into_iter()
        .map(|p| p.display_name)
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["mgr (test)", "sw-a (test)", "sw-b (test)", "yw (test)"]
    );
    Ok(())
}

/// A child's "about me" profile is completed on one device while the other clears its only
/// answer: each valid, together not (a completed profile must say something). Stored, and an
/// item names the field. (Before issue 9 this cleared a note's title; a blank title is now
/// refused when written, so the merge is made with a profile instead.)
async fn a_merge_that_breaks_a_rule_goes_to_review(backend: Backend) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let id = t
        .laptop
        .create(fixtures::about_me("child-00", "football"))
        .await?;
    t.sync_all().await?;
    t.laptop
        .edit(
            &id,
            fixtures::about_me_patch(|p| p.status = Some(NoteStatus::Completed)),
        )
        .await?;
    t.phone
        .edit(
            &id,
            fixtures::about_me_patch(|p| p.fun = Some(String::new())),
        )
        .await?;
    t.laptop.sync().await?;
    let report = t.phone.sync().await?;
    assert!(report.protocol.refused.is_empty(), "{report:?}");
    t.manager.sync().await?;
    let items = t.open_items(&id).await?;
    let broken = items
        .iter()
        .find(|i| i.item_kind == ItemKind::InvalidMerge)
        .expect("an item");
    assert_eq!(broken.field, "fun");
    assert!(!broken.sides.is_empty());
    for side in &broken.sides {
        assert_eq!(
            side.device_id.as_deref(),
            Some(t.phone.device_id()),
            "the merging push"
        );
        assert!(side.value.contains("fun"), "{}", side.value);
    }
    let restored = Resolution::Value("football".into());
    t.settle(broken.item_id, restored, "restored the answer")
        .await?;
    for device in t.devices() {
        let Some(Record::AboutMe(profile)) = device.get(&id).await? else {
            panic!("profile")
        };
        assert_eq!(profile.content.fun, "football");
    }
    let decided = t.audit("review_resolved").await?;
    assert!(
        decided
            .iter()
            .any(|e| e.details["item_kind"] == "invalid_merge")
    );
    Ok(())
}

/// Three devices edit one note; history shows each version with the right person and device,
/// and the diff between two versions of the body is exact.
async fn history_names_every_version_and_diffs_the_body(backend: Backend) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let id = t.shared_note(DRAWINGS).await?;
    t.phone
        .edit(
            &id,
            fixtures::body("Sam showed me his drawings of the dog and the cat."),
        )
        .await?;
    t.phone.sync().await?;
    // Each in turn catches up, edits and sends.
    for (device, patch) in [
        (
            &t.manager,
            fixtures::body("Sam showed me his new drawings of the dog and the cat."),
        ),
        (&t.laptop, fixtures::title("Home visit after school")),
    ] {
        device.sync().await?;
        device.edit(&id, patch).await?;
        device.sync().await?;
    }

    let history = t.manager.history(&id).await?;
    assert_eq!(history.len(), 4, "{history:?}");
    let who: Vec<(&str, &str)> = history
        .iter()
        .map(|v| {
            (
                v.user_id.as_deref().unwrap(),
                v.device_id.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        who,
        vec![
            ("sw-a", t.laptop.device_id()),
            ("sw-a", t.phone.device_id()),
            ("mgr", t.manager.device_id()),
            ("sw-a", t.laptop.device_id()),
        ]
    );
    assert_eq!(history[1].changed, vec!["body".to_owned()]);
    assert_eq!(history[3].changed, vec!["title".to_owned()]);
    assert!(history.iter().all(|v| v.received_at.is_some()));

    let diff = t
        .manager
        .diff(&id, &history[0].change, &history[2].change, None)
        .await?;
    let (mut old, mut new) = (String::new(), String::new());
    for span in &diff {
        match span {
            DiffSpanView::Same(s) => {
                old.push_str(s);
                new.push_str(s);
            }
            DiffSpanView::Added(s) => new.push_str(s),
            DiffSpanView::Removed(s) => old.push_str(s),
        }
    }
    assert_eq!(old, "Sam showed me his drawings of the dog.");
    assert_eq!(
        new,
        "Sam showed me his new drawings of the dog and the cat."
    );
    let added: Vec<&str> = diff
        .iter()
        .filter_map(|s| match s {
            DiffSpanView::Added(t) => Some(t.trim()),
            _ => None,
        })
        .collect();
    assert!(added.contains(&"new"), "{diff:?}");
    Ok(())
}

/// The queue's filters, as a manager and an admin use them: team, child, document kind, item
/// kind, age, status and paging; a manager sees only their team's items.
async fn the_queue_filters_and_pages(backend: Backend) -> anyhow::Result<()> {
    use fieldnotes_store::directory::Actor;
    use fieldnotes_store::review::{NewReviewItem, ReviewFinding};
    let (_db, server) = TestServer::standard(backend, 2).await?;
    let org = server.org();
    org.team("pod-2", false).await?;
    org.person("mgr2", Role::Manager, Some("pod-2")).await?;
    org.child("child-90", "pod-2").await?;
    let store = &*server.state.store;
    let now = fieldnotes_tests::org::now_ms();
    let hours = |h: i64| h * 3_600_000;
    let mut ids = std::collections::HashMap::new();
    for (name, kind, child, item, at) in [
        (
            "a",
            DocKind::VisitNote,
            "child-00",
            ItemKind::Conflict,
            now - hours(48),
        ),
        (
            "b",
            DocKind::ShortPlan,
            "child-01",
            ItemKind::PlanLimit,
            now,
        ),
        (
            "c",
            DocKind::VisitNote,
            "child-90",
            ItemKind::Amendment,
            now - hours(48),
        ),
        (
            "d",
            DocKind::VisitNote,
            "child-00",
            ItemKind::InvalidMerge,
            now,
        ),
    ] {
        let id = store
            .record_review(&NewReviewItem {
                doc_id: format!("doc-{name}"),
                doc_kind: kind,
                child_id: Some(child.to_owned()),
                finding: ReviewFinding {
                    item_kind: item,
                    field: "title".to_owned(),
                    summary: format!("item {name}"),
                    sides: serde_json::json!([]),
                    seen_heads: Vec::new(),
                },
                device_id: None,
                at_ms: at,
            })
            .await?;
        ids.insert(name, id);
    }
    store
        .decide_review(
            ids["d"],
            &Decision {
                action: ReviewStatus::Dismissed,
                value: None,
                change: None,
                reason: Some("fine as it is".to_owned()),
            },
            &Actor::default(),
        )
        .await?;

    let listed = |device: fieldnotes_tests::RawDevice, query: &'static str| async move {
        let items: Listing<ReviewItem> = device.get(&format!("/v1/review{query}")).await?.json()?;
        let mut names: Vec<char> = items
            .items
            .iter()
            .map(|i| i.summary.chars().last().unwrap_or('?'))
            .collect();
        names.sort_unstable();
        anyhow::Ok(names.into_iter().collect::<String>())
    };
    let admin = server.device("admin").await?;
    for (query, expected) in [
        ("", "abc"),
        ("?team=pod-1", "ab"),
        ("?child=child-90", "c"),
        ("?kind=short_plan", "b"),
        ("?item=amendment", "c"),
        ("?older_than_hours=24", "ac"),
        ("?newer_than_hours=24", "b"),
        ("?status=dismissed", "d"),
        ("?status=all", "abcd"),
        ("?team=pod-1&item=conflict&older_than_hours=24", "a"),
        ("?limit=1", "a"),
    ] {
        assert_eq!(
            listed(admin.clone(), query).await?,
            expected,
            "admin {query}"
        );
    }
    let after_a: Listing<ReviewItem> = admin
        .get(&format!("/v1/review?after={}&limit=1", ids["a"]))
        .await?
        .json()?;
    assert_eq!(
        after_a.items[0].item_id, ids["b"],
        "paging goes on after the id given"
    );

    let manager = server.device("mgr").await?;
    assert_eq!(
        listed(manager.clone(), "").await?,
        "ab",
        "only the manager's team"
    );
    assert_eq!(listed(manager.clone(), "?child=child-00").await?, "a");
    let other_team = manager.get("/v1/review?team=pod-2").await?;
    assert_eq!(other_team.status, 403);
    let foreign = manager.get(&format!("/v1/review/{}", ids["c"])).await?;
    assert_eq!(foreign.status, 404, "another team's item is not found");
    assert_eq!(listed(server.device("mgr2").await?, "").await?, "c");
    let bad = admin.get("/v1/review?item=whatever").await?;
    assert_eq!(bad.status, 400);
    Ok(())
}

on_both_backends!(
    the_queue_filters_and_pages,
    concurrent_values_go_to_review,
    an_offline_edit_to_a_signed_off_note_is_a_pending_amendment,
    amendments_sign_off_and_deletion,
    a_plan_over_its_limit_goes_to_review,
    a_device_keeps_its_plans_to_its_teams_limit,
    a_merge_that_breaks_a_rule_goes_to_review,
    history_names_every_version_and_diffs_the_body,
);
