//! Unit tests of the typed API, validation, conflicts and the server merge step.

use super::*;

pub(crate) const T0: i64 = 1_763_900_000_000;

pub(crate) fn actor(n: u8) -> ActorId {
    ActorId::from([n; 16])
}

/// A home visit to child-1 by sw-1, titled "Home visit", with `body`.
pub(crate) fn home_visit(body: &str) -> NewVisitNote {
    NewVisitNote::new(
        "child-1",
        "sw-1",
        VisitKind::HomeVisit,
        "2026-11-20T14:30:00Z",
        "Home visit",
        body,
    )
}

pub(crate) fn note() -> NewRecord {
    NewRecord::VisitNote(NewVisitNote {
        wishes_and_feelings: "I want to stay at my school.".into(),
        tags: vec!["school".into()],
        present: vec!["mum".into()],
        ..home_visit("Sam showed me his drawings.")
    })
}

/// child-1's "about me" profile.
pub(crate) fn about_me() -> NewRecord {
    NewRecord::AboutMe(NewAboutMe {
        subject_kind: SubjectKind::Child,
        subject_id: "child-1".into(),
        fun: "football".into(),
        dislikes: "loud rooms".into(),
        important: "my dog".into(),
        how_to_help: "text me first".into(),
    })
}

/// sw-1's contact card, "Alex", with `picture`.
pub(crate) fn contact_card(picture: Option<Picture>) -> NewRecord {
    NewRecord::ContactCard(NewContactCard {
        worker_id: "sw-1".into(),
        display_name: "Alex".into(),
        picture,
        three_things: vec!["cats".into(), "running".into(), "baking".into()],
        how_to_reach: "07700 900000".into(),
        when_to_reach: "weekdays".into(),
    })
}

/// yw-1's short plan for yp-1 with `points`, reviewed on 2026-12-01 and ending 2027-01-31.
pub(crate) fn short_plan(points: &[&str]) -> NewRecord {
    NewRecord::ShortPlan(NewShortPlan {
        child_id: "yp-1".into(),
        author: "yw-1".into(),
        points: points.iter().map(|p| p.to_string()).collect(),
        review_on: Some("2026-12-01".into()),
        planned_end: Some("2027-01-31".into()),
    })
}

pub(crate) fn visit(doc: &Document) -> VisitNote {
    match doc.read().unwrap() {
        Record::VisitNote(n) => n,
        other => panic!("not a visit note: {other:?}"),
    }
}

pub(crate) fn patch(p: VisitNotePatch) -> Patch {
    Patch::VisitNote(p)
}

/// A visit-note patch that sets the title.
pub(crate) fn title(t: &str) -> Patch {
    patch(VisitNotePatch {
        title: Some(t.into()),
        ..Default::default()
    })
}

/// A visit-note patch that sets the body.
pub(crate) fn body(b: &str) -> Patch {
    patch(VisitNotePatch {
        body: Some(b.into()),
        ..Default::default()
    })
}

/// A visit-note patch that sets the status.
pub(crate) fn status(s: NoteStatus) -> Patch {
    patch(VisitNotePatch {
        status: Some(s),
        ..Default::default()
    })
}

/// A conflict's values with the actor that wrote each, sorted.
pub(crate) fn values_by_actor(conflict: &FieldConflict) -> Vec<(&str, &str)> {
    let mut values: Vec<(&str, &str)> = conflict
        .values
        .iter()
        .map(|v| (v.value.as_str(), v.actor.as_str()))
        .collect();
    values.sort();
    values
}

/// A three-byte PNG for a contact card.
pub(crate) fn picture() -> Picture {
    Picture {
        media_type: "image/png".into(),
        bytes: vec![1, 2, 3],
    }
}

/// Note `n1`, created by actor 1 at `T0` and retitled "Second" at `T0 + 1`: two changes.
pub(crate) fn retitled_note() -> Document {
    let mut doc = Document::create("n1", actor(1), note(), T0).unwrap();
    doc.edit(title("Second"), T0 + 1).unwrap();
    doc
}

#[test]
fn each_kind_is_created_and_read_back() {
    let doc = Document::create("n1", actor(1), note(), T0).unwrap();
    let n = visit(&doc);
    assert_eq!(
        (n.id.as_str(), n.content.title.as_str(), n.status),
        ("n1", "Home visit", NoteStatus::Draft)
    );
    assert_eq!(
        n.content.wishes_and_feelings,
        "I want to stay at my school."
    );

    let doc = Document::create("a1", actor(1), about_me(), T0).unwrap();
    assert!(matches!(doc.read().unwrap(), Record::AboutMe(a) if a.content.fun == "football"));
    assert_eq!(doc.read().unwrap().child_id(), Some("child-1"));

    let card = contact_card(Some(picture()));
    let doc = Document::create("c1", actor(1), card, T0).unwrap();
    assert!(
        matches!(doc.read().unwrap(), Record::ContactCard(ref c) if c.content.picture.as_ref().unwrap().bytes == [1, 2, 3])
    );

    let plan = short_plan(&["meet at the park"]);
    let doc = Document::create("p1", actor(1), plan, T0).unwrap();
    assert!(
        matches!(doc.read().unwrap(), Record::ShortPlan(p) if p.content.points == ["meet at the park"])
    );
}

/// A record's JSON (the CLI's `--json`, what apps keep) is one flat object: the kind, the id,
/// what the record says, then its status and sign-off.
#[test]
fn a_record_is_one_flat_json_object() {
    let json = |id: &str, new: NewRecord| {
        let doc = Document::create(id, actor(1), new, T0).unwrap();
        let record = doc.read().unwrap();
        let text = serde_json::to_string(&record).unwrap();
        let back: Record = serde_json::from_str(&text).unwrap();
        assert_eq!(back, record);
        text
    };
    assert_eq!(
        json("n1", note()),
        r#"{"kind":"visit_note","id":"n1","child_id":"child-1","author":"sw-1","#.to_owned()
            + r#""visit_kind":"home_visit","occurred_at":"2026-11-20T14:30:00Z","#
            + r#""title":"Home visit","body":"Sam showed me his drawings.","#
            + r#""wishes_and_feelings":"I want to stay at my school.","tags":["school"],"#
            + r#""present":["mum"],"child_seen":null,"seen_alone":null,"#
            + r#""not_alone_reason":null,"status":"draft","signed_off_by":null}"#
    );
    assert_eq!(
        json("a1", about_me()),
        r#"{"kind":"about_me","id":"a1","subject_kind":"child","subject_id":"child-1","#.to_owned()
            + r#""fun":"football","dislikes":"loud rooms","important":"my dog","#
            + r#""how_to_help":"text me first","status":"draft"}"#
    );
    assert_eq!(
        json("c1", contact_card(None)),
        r#"{"kind":"contact_card","id":"c1","worker_id":"sw-1","display_name":"Alex","#.to_owned()
            + r#""picture":null,"three_things":["cats","running","baking"],"#
            + r#""how_to_reach":"07700 900000","when_to_reach":"weekdays"}"#
    );
    assert_eq!(
        json("p1", short_plan(&["meet at the park"])),
        r#"{"kind":"short_plan","id":"p1","child_id":"yp-1","author":"yw-1","#.to_owned()
            + r#""points":["meet at the park"],"review_on":"2026-12-01","#
            + r#""planned_end":"2027-01-31","status":"draft","signed_off_by":null}"#
    );
}

#[test]
fn an_edit_is_one_change_with_the_device_time_and_actor() {
    let mut doc = Document::create("n1", actor(1), note(), T0).unwrap();
    doc.set_actor(actor(2));
    let change = doc
        .edit(title("Home visit, after school"), T0 + 5)
        .unwrap()
        .expect("a change");
    assert_eq!(change.device_time_ms, T0 + 5);
    assert_eq!(change.actor, actor(2));
    assert_eq!(doc.all_changes().len(), 2);
    // Nothing changed: no change.
    let same = doc.edit(title("Home visit, after school"), T0 + 6);
    assert!(same.unwrap().is_none());
}

#[test]
fn validation_names_the_field_and_the_rule() {
    let cases: Vec<(VisitNotePatch, &str, &str)> = vec![
        (
            VisitNotePatch {
                title: Some("x".repeat(201)),
                ..Default::default()
            },
            "title",
            "max_length",
        ),
        (
            VisitNotePatch {
                occurred_at: Some("yesterday".into()),
                ..Default::default()
            },
            "occurred_at",
            "format",
        ),
        (
            VisitNotePatch {
                tags: Some(vec!["t".into(); 21]),
                ..Default::default()
            },
            "tags",
            "max_items",
        ),
        (
            VisitNotePatch {
                tags: Some(vec![String::new()]),
                ..Default::default()
            },
            "tags/0",
            "required",
        ),
    ];
    for (p, field, rule) in cases {
        let mut doc = Document::create("n1", actor(1), note(), T0).unwrap();
        let err = doc.edit(patch(p), T0).unwrap_err();
        let ModelError::Invalid(errors) = &err else {
            panic!("{err}")
        };
        assert!(
            errors.for_field(field).any(|e| e.rule == rule),
            "{field}/{rule}: {err}"
        );
        assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
        // A refused edit writes nothing.
        assert_eq!(doc.all_changes().len(), 1);
        assert_eq!(visit(&doc).content.title, "Home visit");
    }
}

#[test]
fn a_statutory_visit_completes_only_with_whether_the_child_was_seen_alone() {
    let mut doc = Document::create("n1", actor(1), note(), T0).unwrap();
    let statutory = VisitNotePatch {
        visit_kind: Some(VisitKind::StatutoryVisit),
        ..Default::default()
    };
    doc.edit(patch(statutory), T0).unwrap();
    let complete = || status(NoteStatus::Completed);

    // Each answer in turn: completing is refused for the missing one, which is then given.
    let answers = [
        (
            "child_seen",
            VisitNotePatch {
                child_seen: Some(Some(true)),
                ..Default::default()
            },
        ),
        (
            "seen_alone",
            VisitNotePatch {
                seen_alone: Some(Some(false)),
                ..Default::default()
            },
        ),
    ];
    for (missing, answer) in answers {
        let err = doc.edit(complete(), T0).unwrap_err().to_string();
        assert!(err.contains(missing), "{err}");
        doc.edit(patch(answer), T0).unwrap();
    }
    let err = doc.edit(complete(), T0).unwrap_err().to_string();
    assert!(
        err.contains("not_alone_reason") && err.contains("child_refused"),
        "{err}"
    );
    let reason = VisitNotePatch {
        not_alone_reason: Some(Some(NotAloneReason::ChildRefused)),
        status: Some(NoteStatus::Completed),
        ..Default::default()
    };
    doc.edit(patch(reason), T0).unwrap();
    assert_eq!(visit(&doc).status, NoteStatus::Completed);
}

#[test]
fn a_completed_statutory_visit_cannot_contradict_itself() {
    let statutory = |seen: bool, alone: Option<bool>, reason: Option<NotAloneReason>| {
        let mut doc = Document::create("n2", actor(1), note(), T0).unwrap();
        doc.edit(
            patch(VisitNotePatch {
                visit_kind: Some(VisitKind::StatutoryVisit),
                child_seen: Some(Some(seen)),
                seen_alone: Some(alone),
                not_alone_reason: Some(reason),
                ..Default::default()
            }),
            T0,
        )
        .expect("a draft may be inconsistent while it is written");
        doc.edit(status(NoteStatus::Completed), T0)
    };
    let err = statutory(false, Some(true), None).unwrap_err().to_string();
    assert!(
        err.contains("seen_alone") && err.contains("not seen"),
        "{err}"
    );
    let err = statutory(true, Some(true), Some(NotAloneReason::WorkerUnable))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not_alone_reason") && err.contains("seen alone"),
        "{err}"
    );
    statutory(false, None, None).expect("not seen: nothing more to say");
    statutory(true, Some(true), None).expect("seen alone");
}

#[test]
fn a_plan_keeps_to_the_structural_cap_and_no_team_limit() {
    let plan = NewRecord::ShortPlan(NewShortPlan {
        child_id: "yp-1".into(),
        author: "yw-1".into(),
        points: vec!["a".into(), "b".into(), "c".into()],
        ..Default::default()
    });
    let mut doc = Document::create("p1", actor(1), plan, T0).unwrap();
    // A team may allow more than the default three: the model does not decide a team's rule.
    let four = ShortPlanPatch {
        points: Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]),
        ..Default::default()
    };
    doc.edit(Patch::ShortPlan(four), T0).unwrap();
    assert_eq!(doc.read().unwrap().plan_points(), Some(4));
    let too_many = ShortPlanPatch {
        points: Some(
            (0..=crate::validate::MAX_PLAN_POINTS)
                .map(|i| i.to_string())
                .collect(),
        ),
        ..Default::default()
    };
    let err = doc
        .edit(Patch::ShortPlan(too_many), T0)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("points") && err.contains("at most 20"),
        "{err}"
    );
    assert_eq!(
        doc.read().unwrap().plan_points(),
        Some(4),
        "nothing written"
    );
    let wrong = doc.edit(patch(VisitNotePatch::default()), T0).unwrap_err();
    assert!(matches!(wrong, ModelError::WrongKind { .. }), "{wrong}");
}

#[test]
fn concurrent_titles_are_reported_as_a_conflict_with_both_authors() {
    let mut a = Document::create("n1", actor(1), note(), T0).unwrap();
    let mut b = a.fork(actor(2));
    a.edit(title("Title from A"), T0).unwrap();
    b.edit(title("Title from B"), T0).unwrap();
    a.merge(&mut b).unwrap();
    let conflicts = a.conflicts();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].field, "title");
    let values = values_by_actor(&conflicts[0]);
    assert_eq!(
        values,
        [
            ("Title from A", "01".repeat(16).as_str()),
            ("Title from B", "02".repeat(16).as_str())
        ]
    );
    assert_eq!(conflicts[0].values.iter().filter(|v| v.winner).count(), 1);
    let shown = visit(&a).content.title;
    assert!(
        conflicts[0]
            .values
            .iter()
            .any(|v| v.winner && v.value == shown)
    );
}

#[test]
fn edits_to_different_parts_of_one_body_are_both_kept() {
    let mut a = Document::create("n1", actor(1), note(), T0).unwrap();
    let mut b = a.fork(actor(2));
    let text = visit(&a).content.body;
    a.edit(body(&format!("Before school. {text}")), T0).unwrap();
    b.edit(body(&format!("{text} He was smiling.")), T0)
        .unwrap();
    a.merge(&mut b).unwrap();
    assert_eq!(
        visit(&a).content.body,
        "Before school. Sam showed me his drawings. He was smiling."
    );
    assert!(a.conflicts().is_empty());
}

pub(crate) fn changes(doc: &mut Document) -> Vec<Vec<u8>> {
    doc.all_changes().into_iter().map(|c| c.bytes).collect()
}

#[test]
fn merge_incoming_accepts_a_new_document_and_a_replay() {
    let mut doc = retitled_note();
    let all = changes(&mut doc);
    let mut merged = merge_incoming("n1", None, &all).unwrap();
    assert_eq!(merged.new_changes.len(), 2);
    assert_eq!(merged.accepted.len(), 2);
    assert!(merged.missing_deps.is_empty());
    assert_eq!(merged.new_changes[1].device_time_ms, T0 + 1);
    let stored = merged.document.save();

    let replay = merge_incoming("n1", Some(&stored), &all).unwrap();
    assert!(replay.new_changes.is_empty());
    assert_eq!(replay.accepted.len(), 2);

    // Out of order inside one push is fine, and the new changes come out in causal order
    // (the feed's order: a device loads a document it never held from them).
    let mut reversed = all.clone();
    reversed.reverse();
    let merged = merge_incoming("n1", None, &reversed).unwrap();
    let new: Vec<Vec<u8>> = merged.new_changes.iter().map(|c| c.bytes.clone()).collect();
    assert_eq!(new, all);
}

#[test]
fn merge_incoming_defers_a_change_whose_dependency_is_missing() {
    let mut doc = retitled_note();
    let all = changes(&mut doc);
    let merged = merge_incoming("n1", None, &all[1..]).unwrap();
    assert_eq!(merged.missing_deps.len(), 1);
    assert!(merged.new_changes.is_empty());
}

/// A change waiting for one the server lacks does not hold back the push's others: they go
/// in, and the waiting one is left out of `accepted` (the device sends it again).
#[test]
fn merge_incoming_takes_what_is_ready_and_leaves_the_rest() {
    let mut doc = retitled_note();
    let all = changes(&mut doc);
    // A change built on another that never reaches the server.
    let mut unsent = doc.fork(actor(2));
    unsent.edit(title("Not sent"), T0 + 5).unwrap();
    let mut later = doc.fork(actor(3));
    later.merge(&mut unsent).unwrap();
    let waiting = later.edit(title("Built on it"), T0 + 6).unwrap().unwrap();
    let push = vec![waiting.bytes.clone(), all[1].clone(), all[0].clone()];
    let merged = merge_incoming("n1", None, &push).unwrap();
    assert!(merged.missing_deps.is_empty());
    assert_eq!(merged.new_changes.len(), 2);
    assert_eq!(merged.accepted.len(), 2);
    assert!(!merged.accepted.contains(&waiting.hash));
}

#[test]
fn merge_incoming_refuses_bad_input_with_a_reason() {
    let err = merge_incoming("n1", None, &[vec![1, 2, 3]]).unwrap_err();
    assert!(
        matches!(err, MergeError::Malformed { index: 0, .. }),
        "{err}"
    );

    let mut doc = Document::create("n1", actor(1), note(), T0).unwrap();
    let err = merge_incoming("n2", None, &changes(&mut doc)).unwrap_err();
    assert!(matches!(err, MergeError::WrongDocument { .. }), "{err}");
    assert!(err.to_string().contains("n2"), "{err}");
}

#[test]
fn merge_incoming_refuses_a_change_that_breaks_a_rule() {
    use automerge::transaction::Transactable;
    let mut doc = Document::create("n1", actor(1), note(), T0).unwrap();
    let stored = doc.save();
    let mut raw = automerge::AutoCommit::load(&stored).unwrap();
    raw.put(automerge::ROOT, "visit_kind", "picnic").unwrap();
    raw.commit();
    let bad: Vec<Vec<u8>> = raw
        .get_changes(&[])
        .into_iter()
        .map(|mut c| c.bytes().into_owned())
        .collect();
    let err = merge_incoming("n1", Some(&stored), &bad).unwrap_err();
    assert!(matches!(err, MergeError::Invalid(_)), "{err}");
    assert!(
        err.to_string().contains("visit_kind") && err.to_string().contains("picnic"),
        "{err}"
    );
}
