//! Unit tests of completion, sign-off, amendments, deletion and lock classification.

use automerge::transaction::Transactable;

use super::*;
use crate::tests::{T0, actor, body, changes, note, patch, status, title, visit};

fn complete() -> Patch {
    status(NoteStatus::Completed)
}

fn plan(points: &[&str]) -> NewRecord {
    NewRecord::ShortPlan(NewShortPlan {
        child_id: "yp-1".into(),
        author: "yw-1".into(),
        points: points.iter().map(|p| (*p).to_owned()).collect(),
        review_on: None,
        planned_end: Some("2027-01-31".into()),
    })
}

fn completed_note() -> Document {
    let mut doc = Document::create("n1", actor(1), note(), T0).unwrap();
    doc.edit(complete(), T0 + 1).unwrap();
    doc
}

/// A raw automerge edit of `doc`'s root, as a buggy or hostile client could write it.
fn raw_put(doc: &mut Document, field: &str, value: &str) -> Document {
    let mut raw = automerge::AutoCommit::load(&doc.save()).unwrap();
    raw.put(automerge::ROOT, field, value).unwrap();
    raw.commit();
    Document::load(doc.id(), &raw.save()).unwrap()
}

/// `doc` does not validate: `field` breaks `rule`.
#[track_caller]
fn assert_invalid(doc: &Document, field: &str, rule: &str) {
    let errors = doc.validate().unwrap_err();
    assert!(errors.for_field(field).any(|e| e.rule == rule), "{errors}");
}

#[test]
fn a_completed_note_is_locked_and_edits_are_refused() {
    let mut doc = completed_note();
    assert_eq!(doc.status(), Some(NoteStatus::Completed));
    assert!(doc.read().unwrap().is_locked());
    let err = doc.edit(title("Changed"), T0 + 2).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::Locked {
                status: NoteStatus::Completed,
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("amendment") && text.contains("reason"),
        "{text}"
    );
    assert_eq!(visit(&doc).content.title, "Home visit");
    assert_eq!(doc.all_changes().len(), 2);
    // A patch that changes nothing writes nothing and is not an error.
    assert!(doc.edit(complete(), T0 + 3).unwrap().is_none());
    // A completed "about me" profile is locked too.
    let about = NewRecord::AboutMe(NewAboutMe {
        subject_kind: SubjectKind::Child,
        subject_id: "child-1".into(),
        fun: "football".into(),
        dislikes: String::new(),
        important: String::new(),
        how_to_help: String::new(),
    });
    let mut profile = Document::create("a1", actor(1), about, T0).unwrap();
    let done = AboutMePatch {
        status: Some(NoteStatus::Completed),
        ..Default::default()
    };
    profile.edit(Patch::AboutMe(done), T0).unwrap();
    let more = AboutMePatch {
        fun: Some("swimming".into()),
        ..Default::default()
    };
    let err = profile.edit(Patch::AboutMe(more), T0).unwrap_err();
    assert!(matches!(err, ModelError::Locked { .. }), "{err}");
}

#[test]
fn sign_off_comes_only_after_completion_and_only_for_notes_and_plans() {
    let mut draft = Document::create("n1", actor(1), note(), T0).unwrap();
    let err = draft.sign_off("mgr-1", T0).unwrap_err();
    assert!(
        matches!(err, ModelError::CannotSignOff { .. }) && err.to_string().contains("complete"),
        "{err}"
    );
    assert_eq!(draft.all_changes().len(), 1);

    let card = NewRecord::ContactCard(NewContactCard {
        worker_id: "sw-1".into(),
        display_name: "Alex".into(),
        ..Default::default()
    });
    let mut card = Document::create("c1", actor(1), card, T0).unwrap();
    let err = card.sign_off("mgr-1", T0).unwrap_err().to_string();
    assert!(err.contains("only visit notes and short plans"), "{err}");

    let mut doc = completed_note();
    doc.set_actor(actor(9));
    let change = doc.sign_off("mgr-1", T0 + 10).unwrap();
    assert_eq!(change.message.as_deref(), Some(SIGN_OFF_MESSAGE));
    assert_eq!((change.actor, change.device_time_ms), (actor(9), T0 + 10));
    let n = visit(&doc);
    assert_eq!(n.status, NoteStatus::SignedOff);
    assert_eq!(n.signed_off_by.as_deref(), Some("mgr-1"));
    assert_eq!(doc.read().unwrap().signed_off_by(), Some("mgr-1"));
    assert_eq!(doc.lock_change(), Some(change.hash));
    let err = doc.sign_off("mgr-2", T0).unwrap_err().to_string();
    assert!(err.contains("already signed off by mgr-1"), "{err}");
    let err = doc.edit(title("x"), T0).unwrap_err();
    assert!(
        matches!(
            err,
            ModelError::Locked {
                status: NoteStatus::SignedOff,
                ..
            }
        ),
        "{err}"
    );

    let mut p = Document::create("p1", actor(1), plan(&["a"]), T0).unwrap();
    let done = ShortPlanPatch {
        status: Some(NoteStatus::Completed),
        ..Default::default()
    };
    p.edit(Patch::ShortPlan(done), T0).unwrap();
    p.sign_off("mgr-1", T0).unwrap();
    assert!(
        matches!(p.read().unwrap(), Record::ShortPlan(r) if r.signed_off_by.as_deref() == Some("mgr-1"))
    );
}

#[test]
fn an_amendment_needs_a_locked_record_and_a_reason_and_keeps_the_status() {
    let mut draft = Document::create("n1", actor(1), note(), T0).unwrap();
    let err = draft.amend(title("x"), "typo fix", T0).unwrap_err();
    assert!(matches!(err, ModelError::NotLocked { .. }), "{err}");

    let mut doc = completed_note();
    for (reason, rule) in [("  x ", "required"), ("", "required")] {
        let err = doc.amend(title("New"), reason, T0).unwrap_err();
        let ModelError::Invalid(errors) = &err else {
            panic!("{err}")
        };
        assert!(errors.for_field("reason").any(|e| e.rule == rule), "{err}");
    }
    let long = "r".repeat(501);
    let err = doc.amend(title("New"), &long, T0).unwrap_err().to_string();
    assert!(
        err.contains("reason") && err.contains("at most 500"),
        "{err}"
    );
    let to_draft = status(NoteStatus::Draft);
    let err = doc.amend(to_draft, "reopen", T0).unwrap_err().to_string();
    assert!(
        err.contains("status") && err.contains("cannot change"),
        "{err}"
    );
    // An amendment still keeps the rules: a completed note needs a body.
    let err = doc.amend(body(""), "cleared", T0).unwrap_err().to_string();
    assert!(err.contains("body"), "{err}");
    assert_eq!(doc.all_changes().len(), 2);

    let change = doc
        .amend(title("Home visit (amended)"), "  wrong title  ", T0 + 5)
        .unwrap()
        .expect("a change");
    assert_eq!(change.message.as_deref(), Some("amend: wrong title"));
    assert_eq!(
        amendment_reason(change.message.as_deref()),
        Some("wrong title")
    );
    assert_eq!(amendment_reason(Some(SIGN_OFF_MESSAGE)), None);
    assert_eq!(amendment_reason(None), None);
    assert_eq!(visit(&doc).content.title, "Home visit (amended)");
    assert_eq!(visit(&doc).status, NoteStatus::Completed);
    // Restating the status is allowed; an amendment that changes nothing writes nothing.
    let same = patch(VisitNotePatch {
        title: Some("Home visit (amended)".into()),
        status: Some(NoteStatus::Completed),
        ..Default::default()
    });
    assert!(doc.amend(same, "no-op", T0).unwrap().is_none());
}

#[test]
fn a_signed_off_plan_is_amended_within_its_point_limit() {
    let mut p = Document::create("p1", actor(1), plan(&["a", "b"]), T0).unwrap();
    let done = ShortPlanPatch {
        status: Some(NoteStatus::Completed),
        ..Default::default()
    };
    p.edit(Patch::ShortPlan(done), T0).unwrap();
    p.sign_off("mgr-1", T0).unwrap();
    // The model holds the structural cap; a team's own limit is the device's to keep (the SDK).
    let too_many = ShortPlanPatch {
        points: Some(
            (0..=crate::validate::MAX_PLAN_POINTS)
                .map(|i| format!("point {i}"))
                .collect(),
        ),
        ..Default::default()
    };
    let err = p.amend(Patch::ShortPlan(too_many), "more", T0).unwrap_err();
    assert!(err.to_string().contains("at most 20 points"), "{err}");
    assert_eq!(p.read().unwrap().plan_points(), Some(2), "nothing written");
    let four = ShortPlanPatch {
        points: Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]),
        ..Default::default()
    };
    p.amend(Patch::ShortPlan(four), "agreed two more points", T0)
        .unwrap();
    let record = p.read().unwrap();
    assert_eq!(record.plan_points(), Some(4));
    assert_eq!(record.status(), Some(NoteStatus::SignedOff));
}

#[test]
fn a_deleted_record_keeps_its_marker_and_refuses_changes() {
    let mut doc = completed_note();
    let err = doc.delete("mgr-1", " ", T0).unwrap_err().to_string();
    assert!(err.contains("deleted/reason"), "{err}");
    let err = doc.delete("", "wrong child", T0).unwrap_err().to_string();
    assert!(err.contains("deleted/by"), "{err}");
    assert_eq!(doc.deletion(), None);

    // Locked records can be deleted: it is a manager's decision.
    let change = doc
        .delete("mgr-1", " filed on the wrong child ", T0 + 9)
        .unwrap();
    assert_eq!(
        change.message.as_deref(),
        Some("delete: filed on the wrong child")
    );
    let deletion = doc.deletion().expect("deleted");
    assert_eq!(
        deletion,
        Deletion {
            by: "mgr-1".into(),
            reason: "filed on the wrong child".into()
        }
    );
    assert!(doc.validate().is_ok());
    // The record itself is still readable.
    assert_eq!(visit(&doc).content.title, "Home visit");
    for err in [
        doc.amend(title("x"), "because", T0).unwrap_err(),
        doc.sign_off("mgr-1", T0).unwrap_err(),
        doc.delete("mgr-2", "again please", T0).unwrap_err(),
    ] {
        assert!(matches!(err, ModelError::Deleted { .. }), "{err}");
        assert!(err.to_string().contains("mgr-1"), "{err}");
    }
    let mut draft = Document::create("n2", actor(1), note(), T0).unwrap();
    draft.delete("mgr-1", "duplicate", T0).unwrap();
    let err = draft.edit(title("x"), T0).unwrap_err();
    assert!(matches!(err, ModelError::Deleted { .. }), "{err}");
    // It survives saving and loading.
    let loaded = Document::load("n2", &draft.save()).unwrap();
    assert_eq!(
        loaded.deletion().map(|d| d.reason),
        Some("duplicate".into())
    );
}

#[test]
fn records_without_the_new_fields_still_load() {
    // A document as written before sign-off existed has no `signed_off_by` or `deleted`.
    let mut doc = completed_note();
    let loaded = Document::load("n1", &doc.save()).unwrap();
    assert_eq!(visit(&loaded).signed_off_by, None);
    assert_eq!(loaded.deletion(), None);
    // ... and JSON of a record without `signed_off_by` deserializes.
    let mut json = serde_json::to_value(loaded.read().unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("signed_off_by");
    let record: Record = serde_json::from_value(json).unwrap();
    assert_eq!(record.signed_off_by(), None);
}

#[test]
fn validation_ties_signed_off_by_to_the_status() {
    let mut doc = completed_note();
    let bad = raw_put(&mut doc, "signed_off_by", "mgr-1");
    assert_invalid(&bad, "signed_off_by", "consistent");
    let bad = raw_put(&mut doc, "status", "signed_off");
    assert_invalid(&bad, "signed_off_by", "required");
    let about = NewRecord::AboutMe(NewAboutMe {
        subject_kind: SubjectKind::Worker,
        subject_id: "sw-1".into(),
        fun: "cats".into(),
        dislikes: String::new(),
        important: String::new(),
        how_to_help: String::new(),
    });
    let mut profile = Document::create("a1", actor(1), about, T0).unwrap();
    let bad = raw_put(&mut profile, "status", "signed_off");
    assert_invalid(&bad, "status", "enum");
    let bad = raw_put(&mut profile, "deleted", "yes");
    assert_invalid(&bad, "deleted", "type");
}

#[test]
fn the_lock_change_and_how_other_changes_stand_to_it() {
    let mut doc = Document::create("n1", actor(1), note(), T0).unwrap();
    let create = doc.heads()[0];
    let c1 = doc.edit(title("Edited"), T0 + 1).unwrap().unwrap().hash;
    assert_eq!(doc.lock_change(), None);
    assert_eq!(doc.lock_relation(&c1), LockRelation::NoLock);
    // A device that goes offline before the completion.
    let mut offline = doc.fork(actor(2));
    let c2 = doc.edit(complete(), T0 + 2).unwrap().unwrap().hash;
    assert_eq!(doc.lock_change(), Some(c2));
    let c3 = doc
        .amend(body("Amended."), "clearer", T0 + 3)
        .unwrap()
        .unwrap()
        .hash;
    assert!(doc.is_ancestor(&create, &c2));
    assert!(doc.is_ancestor(&c1, &c2));
    assert!(!doc.is_ancestor(&c2, &c1));
    assert!(!doc.is_ancestor(&c2, &c2));
    assert_eq!(doc.lock_relation(&c1), LockRelation::Before);
    assert_eq!(doc.lock_relation(&c2), LockRelation::IsLock);
    assert_eq!(doc.lock_relation(&c3), LockRelation::After);
    let c4 = offline
        .edit(title("Offline"), T0 + 4)
        .unwrap()
        .unwrap()
        .hash;
    doc.merge(&mut offline).unwrap();
    assert_eq!(doc.lock_relation(&c4), LockRelation::Concurrent);
    assert_eq!(doc.lock_change(), Some(c2));

    // The signed-off version stays readable whatever comes after it.
    let s = doc.sign_off("mgr-1", T0 + 5).unwrap().hash;
    doc.amend(body("Amended again."), "one more fix", T0 + 6)
        .unwrap();
    assert_eq!(doc.lock_change(), Some(s));
    let signed = doc.version_at(&[s]).unwrap();
    assert_eq!(visit(&signed).content.body, "Amended.");
    assert_eq!(visit(&signed).status, NoteStatus::SignedOff);
    assert_eq!(visit(&doc).content.body, "Amended again.");
    assert_eq!(doc.lock_relation(&c3), LockRelation::Before);
    let unknown = parse_hash(&"ab".repeat(32)).unwrap();
    let err = doc.version_at(&[unknown]).unwrap_err();
    assert!(matches!(err, ModelError::UnknownVersion(_)), "{err}");
    assert!(
        doc.is_ancestor(&c3, &s),
        "the sign-off saw the earlier change"
    );
    assert!(!doc.is_ancestor(&s, &c3), "not the other way round");
}

#[test]
fn concurrent_identical_completions_are_no_conflict_and_both_lock() {
    let mut a = Document::create("n1", actor(1), note(), T0).unwrap();
    let mut b = a.fork(actor(2));
    let ca = a.edit(complete(), T0).unwrap().unwrap().hash;
    let cb = b.edit(complete(), T0).unwrap().unwrap().hash;
    a.merge(&mut b).unwrap();
    assert!(a.conflicts().is_empty(), "{:?}", a.conflicts());
    assert_eq!(a.lock_relation(&ca), LockRelation::IsLock);
    assert_eq!(a.lock_relation(&cb), LockRelation::IsLock);
}

#[test]
fn conflict_values_name_their_change_and_device_time() {
    let mut a = Document::create("n1", actor(1), note(), T0).unwrap();
    let mut b = a.fork(actor(2));
    let ca = a.edit(title("From A"), T0 + 10).unwrap().unwrap().hash;
    let cb = b.edit(title("From B"), T0 + 20).unwrap().unwrap().hash;
    a.merge(&mut b).unwrap();
    let conflicts = a.conflicts();
    assert_eq!(conflicts.len(), 1);
    let c = &conflicts[0];
    let value = |v: &str| c.values.iter().find(|x| x.value == v).unwrap();
    assert_eq!(value("From A").change, hash_hex(&ca));
    assert_eq!(value("From A").device_time_ms, T0 + 10);
    assert_eq!(value("From B").change, hash_hex(&cb));
    assert_eq!(value("From B").device_time_ms, T0 + 20);
    assert!(c.involves(&[cb]));
    assert!(c.involves(&[ca, cb]));
    let create = a.all_changes()[0].hash;
    assert!(!c.involves(&[create]));
    assert!(!c.involves(&[]));
    assert!(c.winner().is_some());
}

#[test]
fn the_server_classifies_pushed_changes_against_the_lock() {
    let mut device = Document::create("n1", actor(1), note(), T0).unwrap();
    let merged = merge_incoming("n1", None, &changes(&mut device)).unwrap();
    assert_eq!(merged.status_before, None);
    assert_eq!(merged.status_after, Some(NoteStatus::Draft));
    assert_eq!(merged.lock, None);
    assert_eq!(merged.classified[0].relation, LockRelation::NoLock);
    let mut stored = merged.document;

    // Another device of the team goes offline with the draft.
    let mut offline = device.fork(actor(2));
    let off = offline
        .edit(body("Written offline."), T0 + 2)
        .unwrap()
        .unwrap();

    let done = device.edit(complete(), T0 + 1).unwrap().unwrap();
    let merged = merge_incoming(
        "n1",
        Some(&stored.save()),
        std::slice::from_ref(&done.bytes),
    )
    .unwrap();
    assert_eq!(merged.status_before, Some(NoteStatus::Draft));
    assert_eq!(merged.status_after, Some(NoteStatus::Completed));
    assert_eq!(merged.lock, Some(done.hash));
    assert_eq!(merged.classified.len(), 1);
    assert_eq!(merged.classified[0].relation, LockRelation::IsLock);
    stored = merged.document;

    // The offline edit made without seeing the completion: concurrent, a pending amendment.
    let merged = merge_incoming("n1", Some(&stored.save()), &changes(&mut offline)).unwrap();
    assert_eq!(merged.new_changes.len(), 1);
    assert_eq!(
        merged.classified,
        [NewChangeInfo {
            hash: off.hash,
            relation: LockRelation::Concurrent,
            amendment: None
        }]
    );
    assert!(merged.invalid_after_merge.is_none());
    stored = merged.document;

    // An amendment made after seeing the completion.
    device.merge(&mut stored.fork(actor(7))).unwrap();
    let amend = device
        .amend(title("Home visit, amended"), "wrong title", T0 + 3)
        .unwrap()
        .unwrap();
    let merged = merge_incoming("n1", Some(&stored.save()), &[amend.bytes]).unwrap();
    assert_eq!(merged.classified[0].relation, LockRelation::After);
    assert_eq!(
        merged.classified[0].amendment.as_deref(),
        Some("wrong title")
    );
    stored = merged.document;

    // Sign-off and deletion are reported so the server can check who did them.
    let s = device.sign_off("mgr-1", T0 + 4).unwrap();
    let d = device.delete("mgr-1", "wrong child", T0 + 5).unwrap();
    let merged = merge_incoming("n1", Some(&stored.save()), &[s.bytes, d.bytes]).unwrap();
    assert_eq!(merged.status_before, Some(NoteStatus::Completed));
    assert_eq!(merged.status_after, Some(NoteStatus::SignedOff));
    assert_eq!(merged.lock, Some(s.hash));
    assert_eq!(merged.deleted_before, None);
    assert_eq!(merged.deleted_after.map(|d| d.by), Some("mgr-1".into()));
    let relations: Vec<LockRelation> = merged.classified.iter().map(|c| c.relation).collect();
    assert_eq!(relations, [LockRelation::IsLock, LockRelation::After]);
}

#[test]
fn a_document_invalid_only_through_merging_is_merged_and_reported() {
    // A completed statutory visit: seen, not alone, because the child refused.
    let mut a = Document::create("n1", actor(1), note(), T0).unwrap();
    a.edit(
        patch(VisitNotePatch {
            visit_kind: Some(VisitKind::StatutoryVisit),
            child_seen: Some(Some(true)),
            seen_alone: Some(Some(false)),
            not_alone_reason: Some(Some(NotAloneReason::ChildRefused)),
            status: Some(NoteStatus::Completed),
            ..Default::default()
        }),
        T0,
    )
    .unwrap();
    let stored = merge_incoming("n1", None, &changes(&mut a)).unwrap();
    let mut stored = stored.document;
    let mut b = a.fork(actor(2));
    // A: the child was seen alone after all. B, concurrently: a different reason.
    let seen_alone = patch(VisitNotePatch {
        seen_alone: Some(Some(true)),
        not_alone_reason: Some(None),
        ..Default::default()
    });
    let ca = a
        .amend(seen_alone, "seen alone later", T0 + 1)
        .unwrap()
        .unwrap();
    let other_reason = patch(VisitNotePatch {
        not_alone_reason: Some(Some(NotAloneReason::WorkerUnable)),
        ..Default::default()
    });
    let cb = b
        .amend(other_reason, "reason corrected", T0 + 2)
        .unwrap()
        .unwrap();
    let merged = merge_incoming("n1", Some(&stored.save()), &[ca.bytes]).unwrap();
    assert!(merged.invalid_after_merge.is_none());
    stored = merged.document;
    let merged = merge_incoming("n1", Some(&stored.save()), &[cb.bytes]).unwrap();
    let errors = merged.invalid_after_merge.expect("invalid through merging");
    assert!(
        errors
            .for_field("not_alone_reason")
            .any(|e| e.rule == "consistent"),
        "{errors}"
    );
    assert!(!merged.was_invalid);
    assert_eq!(merged.new_changes.len(), 1);
    assert_eq!(merged.classified[0].relation, LockRelation::After);
    // The merged document still reads, so it can be stored and reviewed.
    merged.document.read().unwrap();
    // A later push of a change the server already has reports the stored state as invalid.
    let mut stored = merged.document;
    let replay = merge_incoming("n1", Some(&stored.save()), &changes(&mut b)).unwrap();
    assert!(replay.invalid_after_merge.is_some() && replay.was_invalid);
}

#[test]
fn merged_plan_points_can_pass_the_local_limit_and_are_counted() {
    let mut a = Document::create("p1", actor(1), plan(&["a", "b"]), T0).unwrap();
    let stored = merge_incoming("p1", None, &changes(&mut a)).unwrap();
    let mut stored = stored.document;
    let mut b = a.fork(actor(2));
    let three = |p: &str| ShortPlanPatch {
        points: Some(vec!["a".into(), "b".into(), p.into()]),
        ..Default::default()
    };
    let ca = a.edit(Patch::ShortPlan(three("c")), T0).unwrap().unwrap();
    let cb = b.edit(Patch::ShortPlan(three("d")), T0).unwrap().unwrap();
    let m = merge_incoming("p1", Some(&stored.save()), &[ca.bytes]).unwrap();
    stored = m.document;
    let m = merge_incoming("p1", Some(&stored.save()), &[cb.bytes]).unwrap();
    assert!(m.invalid_after_merge.is_none());
    let points = m.document.read().unwrap().plan_points();
    assert_eq!(points, Some(4));
    // Past the local limit: the server compares with the team's limit and raises a review.
    assert!(points.unwrap() > PLAN_POINT_LIMIT);
}

#[test]
fn merge_incoming_reports_only_conflicts_the_push_is_part_of() {
    let mut a = Document::create("n1", actor(1), note(), T0).unwrap();
    let mut b = a.fork(actor(2));
    let mut c = a.fork(actor(3));
    a.edit(title("From A"), T0).unwrap();
    b.edit(title("From B"), T0).unwrap();
    let mut stored = merge_incoming("n1", None, &changes(&mut a)).unwrap();
    let merged = merge_incoming("n1", Some(&stored.document.save()), &changes(&mut b)).unwrap();
    assert_eq!(merged.new_conflicts.len(), 1);
    assert_eq!(merged.new_conflicts[0].field, "title");
    let mut stored = merged.document;
    // C edits another field: the title conflict is not its doing.
    c.edit(body("From C"), T0).unwrap();
    let mut merged = merge_incoming("n1", Some(&stored.save()), &changes(&mut c)).unwrap();
    assert!(merged.new_conflicts.is_empty());
    assert_eq!(merged.document.conflicts().len(), 1);
}
