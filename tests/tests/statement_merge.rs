//! A child's words never merge letter by letter, end to end over the real server on both
//! backends: two devices replace a note's wishes and feelings offline; the sync raises one
//! review item with each side's value as its device wrote it (who, which device, which
//! change); no device shows interleaved text; the manager settles it and every device then
//! shows the settled value. Overlapping rewrites of a body go to review with both versions and
//! the merged text, appends do not; plan points are credited to the device that wrote each;
//! an amendment accepted as it stands is recorded as resolved.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::cast_possible_wrap)]

mod common;

use fieldnotes_client::Resolution;
use fieldnotes_model::{NewRecord, NewShortPlan, Record};
use fieldnotes_protocol::review::ItemKind;
use fieldnotes_protocol::{PushOutcome, RejectCode, ReviewStatus};
use fieldnotes_tests::check::the_only;
use fieldnotes_tests::fixtures::{self, body, note_status, visit_note_in, wishes};
use fieldnotes_tests::wire::push_all;
use fieldnotes_tests::{Backend, Team};

#[track_caller]
fn note_field(record: Option<Record>, field: &str) -> String {
    let n = visit_note_in(record);
    match field {
        "wishes_and_feelings" => n.content.wishes_and_feelings,
        "body" => n.content.body,
        other => panic!("{other}"),
    }
}

const HOME: &str = "I want to go home";
const NAN: &str = "I want to live with my nan";

async fn wishes_rewritten_offline_on_two_devices_go_to_review(
    backend: Backend,
) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let id = t.shared_note("Sam showed me his drawings.").await?;
    // Offline, each device replaces the child's words.
    t.edit_apart(&id, [(&t.laptop, wishes(HOME)), (&t.phone, wishes(NAN))])
        .await?;

    for device in t.devices() {
        let shown = note_field(device.get(&id).await?, "wishes_and_feelings");
        assert!(shown == HOME || shown == NAN, "letter by letter: {shown:?}");
        let conflicts = device.conflicts(&id).await?;
        assert_eq!(
            conflicts
                .iter()
                .map(|c| c.field.as_str())
                .collect::<Vec<_>>(),
            ["wishes_and_feelings"],
            "the device lists the conflict"
        );
    }

    let item = the_only(t.items_with_status(&id, ReviewStatus::Open).await?);
    assert_eq!(
        (item.item_kind, item.field.as_str()),
        (ItemKind::Conflict, "wishes_and_feelings")
    );
    let mut sides: Vec<(&str, Option<&str>, Option<&str>)> = item
        .sides
        .iter()
        .map(|s| {
            (
                s.value.as_str(),
                s.user_id.as_deref(),
                s.device_id.as_deref(),
            )
        })
        .collect();
    sides.sort_unstable();
    assert_eq!(
        sides,
        [
            (HOME, Some("sw-a"), Some(t.laptop.device_id())),
            (NAN, Some("sw-a"), Some(t.phone.device_id())),
        ],
        "each side's value as its device wrote it"
    );
    assert!(item.sides.iter().all(|s| s.change.len() == 64));
    assert_ne!(item.sides[0].change, item.sides[1].change);

    // The manager settles it; after the next sync every device shows the decision.
    t.settle(
        item.item_id,
        Resolution::Value(NAN.to_owned()),
        "Sam said it again at school",
    )
    .await?;
    for device in t.devices() {
        assert_eq!(
            note_field(device.get(&id).await?, "wishes_and_feelings"),
            NAN
        );
        assert!(device.conflicts(&id).await?.is_empty());
    }
    assert!(
        t.items_with_status(&id, ReviewStatus::Open)
            .await?
            .is_empty()
    );
    let resolved = t.items_with_status(&id, ReviewStatus::Resolved).await?;
    assert_eq!(resolved.len(), 1);
    assert_eq!(
        resolved[0].decision.as_ref().unwrap().value.as_deref(),
        Some(NAN)
    );
    Ok(())
}

const BODY: &str = "Sam showed me his drawings. We talked about school.";

async fn overlapping_body_rewrites_go_to_review_and_appends_do_not(
    backend: Backend,
) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let id = t.shared_note(BODY).await?;
    // Two appends: merged, no item.
    let smiling = body(&format!("{BODY} He was smiling."));
    let tea = body(&format!("{BODY} Mum made tea."));
    t.edit_apart(&id, [(&t.laptop, smiling), (&t.phone, tea)])
        .await?;
    let appended = note_field(t.manager.get(&id).await?, "body");
    assert!(
        appended.contains("He was smiling.") && appended.contains("Mum made tea."),
        "{appended}"
    );
    assert!(
        t.items_with_status(&id, ReviewStatus::Open)
            .await?
            .is_empty()
    );

    // The same sentence rewritten on both devices: one item, both versions and the merge.
    let a = appended.replace(
        "We talked about school.",
        "We talked about his football team.",
    );
    let b = appended.replace(
        "We talked about school.",
        "We talked about moving to nan's.",
    );
    t.edit_apart(&id, [(&t.laptop, body(&a)), (&t.phone, body(&b))])
        .await?;
    let merged = note_field(t.manager.get(&id).await?, "body");
    let item = the_only(t.items_with_status(&id, ReviewStatus::Open).await?);
    assert_eq!(
        (item.item_kind, item.field.as_str()),
        (ItemKind::Conflict, "body")
    );
    let values: Vec<&str> = item.sides.iter().map(|s| s.value.as_str()).collect();
    assert_eq!(values.len(), 3, "{values:?}");
    assert!(values[..2].contains(&a.as_str()) && values[..2].contains(&b.as_str()));
    assert_eq!(values[2], merged, "the last side is the merged text");
    assert!(item.sides[2].shown);
    let device_of = |text: &str| {
        item.sides
            .iter()
            .find(|s| s.value == text)
            .and_then(|s| s.device_id.clone())
    };
    assert_eq!(device_of(&a).as_deref(), Some(t.laptop.device_id()));
    assert_eq!(device_of(&b).as_deref(), Some(t.phone.device_id()));

    t.settle(item.item_id, Resolution::Value(b.clone()), "nan's is right")
        .await?;
    for device in t.devices() {
        assert_eq!(note_field(device.get(&id).await?, "body"), b);
    }
    assert!(
        t.items_with_status(&id, ReviewStatus::Open)
            .await?
            .is_empty()
    );
    Ok(())
}

/// Each device adds a point to a plan: four points, over the limit of three; the item
/// credits each point to the device (and change) that wrote it.
async fn plan_points_are_credited_to_their_writers(backend: Backend) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let id = t.plan_over_its_limit().await?;
    let items = t.items_with_status(&id, ReviewStatus::Open).await?;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].item_kind, ItemKind::PlanLimit);
    let side = |p: &str| items[0].sides.iter().find(|s| s.value == p).unwrap();
    assert_eq!(
        side("Football on Fridays").device_id.as_deref(),
        Some(t.laptop.device_id())
    );
    assert_eq!(
        side("Call nan").device_id.as_deref(),
        Some(t.phone.device_id())
    );
    assert_eq!(
        side("Meet on Tuesdays").device_id.as_deref(),
        Some(t.laptop.device_id())
    );
    assert_ne!(side("Call nan").change, side("Football on Fridays").change);
    assert_ne!(
        side("Meet on Tuesdays").change,
        side("Football on Fridays").change
    );
    Ok(())
}

/// An amendment accepted as it stands is a resolution: `--status resolved` lists it.
async fn an_accepted_amendment_is_recorded_as_resolved(backend: Backend) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let id = t
        .laptop
        .create(fixtures::note("child-00", "sw-a", "Home visit", BODY))
        .await?;
    t.laptop
        .edit(&id, note_status(fieldnotes_model::NoteStatus::Completed))
        .await?;
    t.sync_all().await?;
    t.laptop
        .amend(
            &id,
            wishes("I want to see my brother"),
            "Sam told me on the way out",
        )
        .await?;
    t.sync_all().await?;
    let items = t.items_with_status(&id, ReviewStatus::Open).await?;
    let item = items
        .iter()
        .find(|i| i.item_kind == ItemKind::Amendment)
        .expect("queued");
    let decided = t
        .manager
        .resolve_review(item.item_id, Resolution::Accept, "it is what Sam said")
        .await?;
    assert_eq!(decided.status, ReviewStatus::Resolved);
    let decision = decided.decision.unwrap();
    assert_eq!(decision.action, ReviewStatus::Resolved);
    assert_eq!(
        decision.change.as_deref(),
        Some(item.sides[0].change.as_str())
    );
    let resolved = t.items_with_status(&id, ReviewStatus::Resolved).await?;
    assert_eq!(
        resolved.iter().map(|i| i.item_id).collect::<Vec<_>>(),
        [item.item_id]
    );
    assert!(
        t.items_with_status(&id, ReviewStatus::Dismissed)
            .await?
            .is_empty()
    );
    // The record keeps the amendment.
    assert_eq!(
        note_field(t.phone.get(&id).await?, "wishes_and_feelings"),
        "I want to see my brother"
    );
    Ok(())
}

/// A change written with plain automerge on top of `doc` (a device that skips the model's
/// checks), setting root `field` to `value`.
fn raw_put(doc: &mut fieldnotes_model::Document, field: &str, value: &str) -> anyhow::Result<()> {
    use automerge::ReadDoc;
    use automerge::transaction::Transactable;
    let mut raw =
        automerge::AutoCommit::load(&doc.save())?.with_actor(doc.all_changes()[0].actor.clone());
    match raw.get(automerge::ROOT, field)? {
        // Prose: rewrite the text in place.
        Some((automerge::Value::Object(automerge::ObjType::Text), text)) => {
            let len = raw.text(&text)?.chars().count();
            raw.splice_text(&text, 0, len as isize, value)?;
        }
        _ => raw.put(automerge::ROOT, field, value)?,
    }
    raw.commit();
    let last = raw.get_changes(&[]).last().unwrap().raw_bytes().to_vec();
    doc.apply_changes(&[last])?;
    Ok(())
}

/// The rules for values as written hold on the server against its receive time, whatever a
/// device sends, and on the device against its clock before anything is written.
async fn the_rules_for_written_values_hold_on_server_and_device(
    backend: Backend,
) -> anyhow::Result<()> {
    let t = Team::new(backend).await?;
    let raw = t.server.device("sw-a").await?;
    let note = || fixtures::note("child-00", "sw-a", "Home visit", BODY);
    let cases = [
        ("title", "  ", "give the note a short title"),
        ("body", "", "write what happened"),
        (
            "occurred_at",
            "2031-05-01T10:00:00Z",
            "more than a day ahead",
        ),
    ];
    for (field, value, words) in cases {
        let mut doc = raw.create(note())?;
        raw_put(&mut doc, field, value)?;
        let response = raw.sync_round(vec![push_all(&mut doc)], None).await?;
        match &response.results[0].outcome {
            PushOutcome::Rejected { code, reason, .. } => {
                assert_eq!(*code, RejectCode::InvalidDocument, "{reason}");
                assert!(
                    reason.contains(&format!("`{field}`")) && reason.contains(words),
                    "{field}: {reason}"
                );
            }
            other => panic!("{field}={value:?} was not refused: {other:?}"),
        }
    }
    let mut plan = raw.create(NewRecord::ShortPlan(NewShortPlan {
        child_id: "child-00".into(),
        author: "sw-a".into(),
        points: vec!["Meet on Tuesdays".into()],
        review_on: Some("2027-01-10".into()),
        planned_end: Some("2027-02-01".into()),
    }))?;
    raw_put(&mut plan, "planned_end", "2027-01-01")?;
    let response = raw.sync_round(vec![push_all(&mut plan)], None).await?;
    assert!(
        matches!(&response.results[0].outcome,
            PushOutcome::Rejected { reason, .. } if reason.contains("`planned_end`")
                && reason.contains("before the review date")),
        "{:?}",
        response.results[0]
    );
    // A good note from the same device is stored.
    let mut good = raw.create(note())?;
    let response = raw.sync_round(vec![push_all(&mut good)], None).await?;
    assert!(
        matches!(response.results[0].outcome, PushOutcome::Accepted { .. }),
        "{:?}",
        response.results[0]
    );

    // On the device: refused before anything is written, naming the field.
    let mut ahead = note();
    if let NewRecord::VisitNote(n) = &mut ahead {
        n.occurred_at = "2031-05-01T10:00:00Z".into();
    }
    let before = t.laptop.list(None).await?.len();
    let err = t.laptop.create(ahead).await.unwrap_err().to_string();
    assert!(
        err.contains("occurred_at") && err.contains("more than a day ahead"),
        "{err}"
    );
    assert_eq!(t.laptop.list(None).await?.len(), before, "nothing written");
    let id = t.laptop.create(note()).await?;
    let err = t
        .laptop
        .edit(
            &id,
            fixtures::visit_patch(|p| p.occurred_at = Some("2031-05-01T10:00:00Z".into())),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than a day ahead"), "{err}");
    Ok(())
}

on_both_backends!(
    the_rules_for_written_values_hold_on_server_and_device,
    wishes_rewritten_offline_on_two_devices_go_to_review,
    overlapping_body_rewrites_go_to_review_and_appends_do_not,
    plan_points_are_credited_to_their_writers,
    an_accepted_amendment_is_recorded_as_resolved,
);
