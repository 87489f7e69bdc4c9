//! Unit tests of history, reading past versions and text diffs between them.

use super::*;
use crate::tests::{T0, actor, body, note, patch, picture, status, title, visit};

/// A visit-note patch that sets the body and the tags "school" and "art".
fn body_tagged_art(body: &str) -> Patch {
    patch(VisitNotePatch {
        body: Some(body.into()),
        tags: Some(vec!["school".into(), "art".into()]),
        ..Default::default()
    })
}

fn edit(doc: &mut Document, p: Patch, t: i64) -> ChangeHash {
    doc.edit(p, t).unwrap().expect("a change").hash
}

#[test]
fn history_lists_every_version_with_who_when_and_what_changed() {
    let mut doc = Document::create("n1", actor(1), note(), T0).unwrap();
    let create = doc.heads()[0];
    doc.set_actor(actor(2));
    let c_title = edit(&mut doc, title("Home visit, after school"), T0 + 1);
    let c_body = edit(
        &mut doc,
        body_tagged_art("Sam showed me all his drawings."),
        T0 + 2,
    );
    edit(&mut doc, status(NoteStatus::Completed), T0 + 3);
    let amend = body("Sam showed me all his new drawings.");
    let c_amend = doc
        .amend(amend, "missed a word", T0 + 4)
        .unwrap()
        .unwrap()
        .hash;
    doc.set_actor(actor(3));
    doc.sign_off("mgr-1", T0 + 5).unwrap();
    doc.delete("mgr-1", "filed on the wrong child", T0 + 6)
        .unwrap();

    let history = doc.history();
    assert_eq!(history.len(), 7);
    let changed: Vec<Vec<&str>> = history
        .iter()
        .map(|v| v.changed.iter().map(String::as_str).collect())
        .collect();
    assert_eq!(changed[1], ["title"]);
    assert_eq!(changed[2], ["body", "tags"]);
    assert_eq!(changed[3], ["status"]);
    assert_eq!(changed[4], ["body"]);
    assert_eq!(changed[5], ["signed_off_by", "status"]);
    assert_eq!(changed[6], ["deleted"]);
    // The creating change lists the fields it set.
    for field in ["title", "body", "child_id", "author", "status", "tags"] {
        assert!(changed[0].contains(&field), "{field}: {:?}", changed[0]);
    }
    assert!(!changed[0].contains(&"deleted") && !changed[0].contains(&"signed_off_by"));

    assert_eq!(history[0].hash, create);
    assert!(history[0].deps.is_empty());
    assert_eq!(history[1].hash, c_title);
    assert_eq!(history[1].deps, [create]);
    assert_eq!(history[2].hash, c_body);
    let times: Vec<i64> = history.iter().map(|v| v.device_time_ms).collect();
    assert_eq!(times, (0..7).map(|i| T0 + i).collect::<Vec<_>>());
    let actors: Vec<&str> = history.iter().map(|v| &v.actor[..2]).collect();
    assert_eq!(actors, ["01", "02", "02", "02", "02", "03", "03"]);
    assert_eq!(history[4].hash, c_amend);
    assert_eq!(history[4].amendment.as_deref(), Some("missed a word"));
    assert_eq!(history[4].message.as_deref(), Some("amend: missed a word"));
    assert_eq!(history[5].message.as_deref(), Some(SIGN_OFF_MESSAGE));
    assert_eq!(history[5].amendment, None);
    assert_eq!(history[3].message, None);
}

#[test]
fn history_of_concurrent_edits_is_in_causal_order() {
    let mut a = Document::create("n1", actor(1), note(), T0).unwrap();
    let mut b = a.fork(actor(2));
    let ca = edit(&mut a, title("A"), T0 + 1);
    let cb = edit(
        &mut b,
        patch(VisitNotePatch {
            wishes_and_feelings: Some("B".into()),
            ..Default::default()
        }),
        T0 + 1,
    );
    a.merge(&mut b).unwrap();
    let after = edit(&mut a, title("A again"), T0 + 2);
    let history = a.history();
    let pos = |h: ChangeHash| history.iter().position(|v| v.hash == h).unwrap();
    assert!(
        history[0].deps.is_empty(),
        "the creating change comes first"
    );
    // Every version comes after every version it builds on.
    for (i, version) in history.iter().enumerate() {
        for dep in &version.deps {
            assert!(pos(*dep) < i, "{dep} after a change that depends on it");
        }
    }
    assert!(pos(ca) < pos(after) && pos(cb) < pos(after));
    let mut deps = history[pos(after)].deps.clone();
    deps.sort();
    let mut both = vec![ca, cb];
    both.sort();
    assert_eq!(deps, both);
    assert_eq!(history[pos(cb)].changed, ["wishes_and_feelings"]);
    assert_eq!(history[pos(after)].changed, ["title"]);
}

#[test]
fn a_field_is_read_at_any_version_and_diffed() {
    let mut doc = Document::create("n1", actor(1), note(), T0).unwrap();
    let v1 = doc.heads();
    edit(
        &mut doc,
        body_tagged_art("Sam showed me his new drawings. He was smiling."),
        T0 + 1,
    );
    let v2 = doc.heads();
    let old = doc.field_text_at(&v1, "body").unwrap();
    let new = doc.field_text_at(&v2, "body").unwrap();
    assert_eq!(old, "Sam showed me his drawings.");
    assert_eq!(new, visit(&doc).content.body);
    let spans = text_diff(&old, &new);
    assert_eq!(
        spans,
        [
            DiffSpan::Same("Sam showed me his ".into()),
            DiffSpan::Added("new ".into()),
            DiffSpan::Same("drawings.".into()),
            DiffSpan::Added(" He was smiling.".into()),
        ]
    );
    assert_eq!(doc.field_text_at(&v2, "tags").unwrap(), "school\nart");
    assert_eq!(doc.field_text_at(&v1, "child_seen").unwrap(), "");
    assert_eq!(doc.field_text_at(&v1, "deleted").unwrap(), "");
    doc.delete("mgr-1", "wrong child", T0 + 2).unwrap();
    let v3 = doc.heads();
    assert_eq!(
        doc.field_text_at(&v3, "deleted").unwrap(),
        "mgr-1: wrong child"
    );

    let err = doc.field_text_at(&v1, "colour").unwrap_err();
    assert!(matches!(err, ModelError::UnknownField { .. }), "{err}");
    assert!(err.to_string().contains("body"), "{err}");
    let unknown = parse_hash(&"cd".repeat(32)).unwrap();
    let err = doc.field_text_at(&[unknown], "body").unwrap_err();
    assert!(matches!(err, ModelError::UnknownVersion(_)), "{err}");

    let Record::VisitNote(then) = doc.read_at(&v1).unwrap() else {
        panic!("not a visit note")
    };
    assert_eq!(then.content.tags, ["school"]);
    assert!(doc.read_at(&[unknown]).is_err());
}

#[test]
fn a_contact_card_picture_reads_as_a_summary() {
    let card = NewRecord::ContactCard(NewContactCard {
        worker_id: "sw-1".into(),
        display_name: "Alex".into(),
        picture: Some(picture()),
        ..Default::default()
    });
    let mut doc = Document::create("c1", actor(1), card, T0).unwrap();
    let heads = doc.heads();
    assert_eq!(
        doc.field_text_at(&heads, "picture").unwrap(),
        "picture (image/png, 3 bytes)"
    );
    assert_eq!(doc.history().len(), 1);
}
