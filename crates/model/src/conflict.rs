//! Finding fields where concurrent edits left competing values. Automerge keeps them all and
//! picks one deterministically; people must see the others.
//!
//! Statements and other single values conflict in automerge itself (two concurrent puts).
//! Prose (a note's body) merges as text, so its conflicts are found here: when the document's
//! heads are concurrent versions that each rewrote the same passage of the common ancestor's
//! text (their changed word ranges overlap), the field is reported with each side's whole
//! text and the merged text. Edits in different places (two appends) are not a conflict.

use std::collections::{HashMap, HashSet};

use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, Value};
use serde::Serialize;
use similar::{DiffOp, TextDiff};

/// A field with more than one concurrent value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldConflict {
    /// The field, as a path (`title`, `tags/2`, `picture/media_type`).
    pub field: String,
    pub values: Vec<ConflictValue>,
    /// For prose rewritten concurrently in overlapping places: the text the merge shows now
    /// (`values` are then each side's whole text, neither of them shown as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<String>,
}

impl FieldConflict {
    /// Whether one of the competing values was written by one of `changes` (for instance the
    /// changes a push brought): the conflict was created or changed by them.
    pub fn involves(&self, changes: &[ChangeHash]) -> bool {
        let hex: Vec<String> = changes.iter().map(ToString::to_string).collect();
        self.values.iter().any(|v| hex.contains(&v.change))
    }

    /// The value the merge shows.
    pub fn winner(&self) -> Option<&ConflictValue> {
        self.values.iter().find(|v| v.winner)
    }
}

/// One of the competing values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictValue {
    /// The value, rendered as text.
    pub value: String,
    /// The actor (device) that wrote it, hex.
    pub actor: String,
    /// The change that wrote it, hex (empty if it cannot be found).
    pub change: String,
    /// That change's device time, ms since the epoch (0 if it cannot be found).
    pub device_time_ms: i64,
    /// True for the value the merge shows.
    pub winner: bool,
}

fn actor_of(id: &ObjId) -> String {
    match id {
        ObjId::Root => String::new(),
        ObjId::Id(_, actor, _) => actor.to_hex_string(),
    }
}

fn render(doc: &AutoCommit, value: &Value<'_>, id: &ObjId) -> String {
    match value {
        Value::Scalar(s) => s.as_str().map_or_else(|| s.to_string(), str::to_owned),
        Value::Object(ObjType::Text) => doc.text(id).unwrap_or_default(),
        Value::Object(ObjType::List) => "<list>".to_owned(),
        Value::Object(_) => "<map>".to_owned(),
    }
}

fn inspect(doc: &AutoCommit, obj: &ObjId, prop: Prop, path: String, out: &mut Vec<FieldConflict>) {
    let Ok(all) = doc.get_all(obj, prop.clone()) else {
        return;
    };
    if all.len() < 2 {
        return;
    }
    // The same scalar written concurrently (two devices completing one note) is no conflict.
    let first = &all[0].0;
    if matches!(first, Value::Scalar(_)) && all.iter().all(|(v, _)| v == first) {
        return;
    }
    let winner = doc.get(obj, prop).ok().flatten().map(|(_, id)| id);
    out.push(FieldConflict {
        field: path,
        values: all
            .iter()
            .map(|(value, id)| {
                let change = doc.hash_for_opid(id);
                ConflictValue {
                    value: render(doc, value, id),
                    actor: actor_of(id),
                    change: change.map(|h| h.to_string()).unwrap_or_default(),
                    device_time_ms: change
                        .and_then(|h| doc.get_change_by_hash(&h))
                        .map_or(0, |c| c.timestamp()),
                    winner: winner.as_ref() == Some(id),
                }
            })
            .collect(),
        merged: None,
    });
}

/// Every conflicting field in the document, root fields first, then entries of lists and maps
/// (not text: prose is checked by [`prose_conflicts`]).
pub(crate) fn find_conflicts(doc: &AutoCommit) -> Vec<FieldConflict> {
    let mut out = Vec::new();
    let keys: Vec<String> = doc.keys(ROOT).collect();
    for key in keys {
        inspect(doc, &ROOT, Prop::Map(key.clone()), key.clone(), &mut out);
        match doc.get(ROOT, key.as_str()) {
            Ok(Some((Value::Object(ObjType::List), list))) => {
                for i in 0..doc.length(&list) {
                    inspect(doc, &list, Prop::Seq(i), format!("{key}/{i}"), &mut out);
                }
            }
            Ok(Some((Value::Object(ObjType::Map), map))) => {
                let inner: Vec<String> = doc.keys(&map).collect();
                for k in inner {
                    inspect(
                        doc,
                        &map,
                        Prop::Map(k.clone()),
                        format!("{key}/{k}"),
                        &mut out,
                    );
                }
            }
            _ => {}
        }
    }
    out
}

/// The text of prose `field` at `heads` (empty when absent or not text).
fn prose_at(doc: &AutoCommit, field: &str, heads: &[ChangeHash]) -> String {
    match doc.get_at(ROOT, field, heads) {
        Ok(Some((Value::Object(ObjType::Text), id))) => doc.text_at(&id, heads).unwrap_or_default(),
        Ok(Some((Value::Scalar(s), _))) => s.as_str().unwrap_or_default().to_owned(),
        _ => String::new(),
    }
}

/// The word ranges of `base` that `edited` changed: `(start, end)` token indexes, empty for a
/// pure insertion.
fn changed_ranges(base: &str, edited: &str) -> Vec<(usize, usize)> {
    TextDiff::from_words(base, edited)
        .ops()
        .iter()
        .filter_map(|op| match *op {
            DiffOp::Equal { .. } => None,
            DiffOp::Delete {
                old_index, old_len, ..
            }
            | DiffOp::Replace {
                old_index, old_len, ..
            } => Some((old_index, old_index + old_len)),
            DiffOp::Insert { old_index, .. } => Some((old_index, old_index)),
        })
        .collect()
}

/// Whether two edits of the same base touch the same words. Two insertions at one place
/// (two appends) do not; an insertion inside the other side's rewritten range does.
fn ranges_overlap(a: (usize, usize), b: (usize, usize)) -> bool {
    match (a.0 == a.1, b.0 == b.1) {
        (true, true) => false,
        (true, false) => b.0 < a.0 && a.0 < b.1,
        (false, true) => a.0 < b.0 && b.0 < a.1,
        (false, false) => a.0 < b.1 && b.0 < a.1,
    }
}

/// Whether two rewrites of `base` overlap.
pub(crate) fn rewrites_overlap(base: &str, a: &str, b: &str) -> bool {
    if a == base || b == base {
        return false;
    }
    let (ra, rb) = (changed_ranges(base, a), changed_ranges(base, b));
    ra.iter().any(|x| rb.iter().any(|y| ranges_overlap(*x, *y)))
}

/// One side of a concurrent edit: its head, and every change in it.
struct SideOf {
    head: ChangeHash,
    changes: HashSet<ChangeHash>,
}

/// Overlapping concurrent rewrites of the prose `fields`: each pair of the document's heads
/// whose versions rewrote the same passage of their common ancestor's text.
pub(crate) fn prose_conflicts(doc: &mut AutoCommit, fields: &[&str]) -> Vec<FieldConflict> {
    let heads = doc.get_heads();
    if heads.len() < 2 || fields.is_empty() {
        return Vec::new();
    }
    let metas: Vec<(ChangeHash, Vec<ChangeHash>)> = doc
        .get_changes_meta(&[])
        .into_iter()
        .map(|m| (m.hash, m.deps))
        .collect();
    let deps: HashMap<ChangeHash, Vec<ChangeHash>> = metas.iter().cloned().collect();
    let order: Vec<ChangeHash> = metas.iter().map(|m| m.0).collect();
    let history = History {
        deps: &deps,
        order: &order,
    };
    let sides: Vec<SideOf> = heads
        .iter()
        .map(|h| SideOf {
            head: *h,
            changes: history.with_ancestors(h),
        })
        .collect();
    let mut out = Vec::new();
    for field in fields {
        'pairs: for (i, a) in sides.iter().enumerate() {
            for b in &sides[i + 1..] {
                if let Some(c) = overlap(doc, &history, field, a, b) {
                    out.push(c);
                    break 'pairs;
                }
            }
        }
    }
    out
}

/// Each change's dependencies, and every change in causal order.
struct History<'a> {
    deps: &'a HashMap<ChangeHash, Vec<ChangeHash>>,
    order: &'a [ChangeHash],
}

impl History<'_> {
    fn deps_of(&self, of: &ChangeHash) -> &[ChangeHash] {
        self.deps.get(of).map_or(&[], Vec::as_slice)
    }

    /// `of` and every change it builds on.
    fn with_ancestors(&self, of: &ChangeHash) -> HashSet<ChangeHash> {
        let mut seen = HashSet::new();
        let mut stack = vec![*of];
        while let Some(h) = stack.pop() {
            if seen.insert(h) {
                stack.extend(self.deps_of(&h).iter().copied());
            }
        }
        seen
    }
}

fn overlap(
    doc: &AutoCommit,
    history: &History<'_>,
    field: &str,
    a: &SideOf,
    b: &SideOf,
) -> Option<FieldConflict> {
    let common: HashSet<ChangeHash> = a.changes.intersection(&b.changes).copied().collect();
    let depended: HashSet<ChangeHash> = common
        .iter()
        .flat_map(|c| history.deps_of(c).iter().copied())
        .collect();
    let base_heads: Vec<ChangeHash> = common
        .iter()
        .filter(|c| !depended.contains(c))
        .copied()
        .collect();
    let base = prose_at(doc, field, &base_heads);
    let text_a = prose_at(doc, field, &[a.head]);
    let text_b = prose_at(doc, field, &[b.head]);
    if !rewrites_overlap(&base, &text_a, &text_b) {
        return None;
    }
    let merged = prose_at(doc, field, &[a.head, b.head]);
    if merged == text_a && merged == text_b {
        return None;
    }
    let side = |s: &SideOf, text: String| {
        let writer = last_writer(doc, history, field, s, &common).unwrap_or(s.head);
        let (actor, time) = doc
            .get_change_by_hash(&writer)
            .map(|c| (c.actor_id().to_hex_string(), c.timestamp()))
            .unwrap_or_default();
        ConflictValue {
            value: text,
            actor,
            change: writer.to_string(),
            device_time_ms: time,
            winner: false,
        }
    };
    Some(FieldConflict {
        field: field.to_owned(),
        values: vec![side(a, text_a), side(b, text_b)],
        merged: Some(merged),
    })
}

/// The latest change on side `s` (not in `common`) that changed prose `field`.
fn last_writer(
    doc: &AutoCommit,
    history: &History<'_>,
    field: &str,
    s: &SideOf,
    common: &HashSet<ChangeHash>,
) -> Option<ChangeHash> {
    history
        .order
        .iter()
        .rev()
        .filter(|h| s.changes.contains(h) && !common.contains(h))
        .find(|h| prose_at(doc, field, &[**h]) != prose_at(doc, field, history.deps_of(h)))
        .copied()
}

/// Each entry of the list `field` as the merge shows it, with the change, actor and device
/// time that wrote it (`winner` is true): who wrote each plan point.
pub(crate) fn list_entries(doc: &AutoCommit, field: &str) -> Vec<ConflictValue> {
    let Ok(Some((Value::Object(ObjType::List), list))) = doc.get(ROOT, field) else {
        return Vec::new();
    };
    (0..doc.length(&list))
        .filter_map(|i| {
            let (value, id) = doc.get(&list, i).ok().flatten()?;
            let change = doc.hash_for_opid(&id);
            Some(ConflictValue {
                value: render(doc, &value, &id),
                actor: actor_of(&id),
                change: change.map(|h| h.to_string()).unwrap_or_default(),
                device_time_ms: change
                    .and_then(|h| doc.get_change_by_hash(&h))
                    .map_or(0, |c| c.timestamp()),
                winner: true,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    //! Concurrent rewrites of every statement field and of a body: statements conflict (each
    //! side's value as written) and never interleave; prose merges where edits are apart and
    //! conflicts where they overlap.

    use automerge::transaction::Transactable;

    use crate::tests::{about_me, contact_card, short_plan};
    use crate::*;

    const T0: i64 = 1_795_600_000_000;

    fn actor(n: u8) -> ActorId {
        ActorId::from([n; 16])
    }

    fn note() -> NewRecord {
        NewRecord::VisitNote(NewVisitNote {
            wishes_and_feelings: "I want to stay".into(),
            ..crate::tests::home_visit("Sam showed me his drawings. We talked about school.")
        })
    }

    fn new_record(kind: DocKind) -> NewRecord {
        match kind {
            DocKind::VisitNote => note(),
            DocKind::AboutMe => about_me(),
            DocKind::ContactCard => contact_card(None),
            DocKind::ShortPlan => short_plan(&["meet at the park", "talk about college"]),
        }
    }

    /// A patch writing `value` to statement `field` (for a list: its entry 1).
    fn statement_patch(doc: &Document, field: &str, value: &str) -> Patch {
        let v = Some(value.to_owned());
        match (doc.read().unwrap(), field) {
            (Record::VisitNote(_), "title") => Patch::VisitNote(VisitNotePatch {
                title: v,
                ..Default::default()
            }),
            (Record::VisitNote(_), "wishes_and_feelings") => Patch::VisitNote(VisitNotePatch {
                wishes_and_feelings: v,
                ..Default::default()
            }),
            (Record::AboutMe(_), field) => {
                let mut p = AboutMePatch::default();
                *match field {
                    "fun" => &mut p.fun,
                    "dislikes" => &mut p.dislikes,
                    "important" => &mut p.important,
                    "how_to_help" => &mut p.how_to_help,
                    other => panic!("no about-me statement {other}"),
                } = v;
                Patch::AboutMe(p)
            }
            (Record::ContactCard(c), field) => {
                let mut p = ContactCardPatch::default();
                match field {
                    "display_name" => p.display_name = v,
                    "how_to_reach" => p.how_to_reach = v,
                    "when_to_reach" => p.when_to_reach = v,
                    "three_things" => {
                        let mut things = c.content.three_things;
                        things[1] = value.to_owned();
                        p.three_things = Some(things);
                    }
                    other => panic!("no card statement {other}"),
                }
                Patch::ContactCard(p)
            }
            (Record::ShortPlan(plan), "points") => {
                let mut points = plan.content.points;
                points[1] = value.to_owned();
                Patch::ShortPlan(ShortPlanPatch {
                    points: Some(points),
                    ..Default::default()
                })
            }
            (_, other) => panic!("no statement {other}"),
        }
    }

    /// The statement's value in the record as text (a list's entry 1).
    fn statement_value(doc: &Document, field: &str) -> String {
        let json = serde_json::to_value(doc.read().unwrap()).unwrap();
        match &json[field] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(items) => items[1].as_str().unwrap().to_owned(),
            other => panic!("{field}: {other}"),
        }
    }

    fn statement_fields() -> Vec<(DocKind, &'static str, FieldRule)> {
        let mut out = Vec::new();
        for kind in DocKind::ALL {
            for rule in [FieldRule::Statement, FieldRule::StatementList] {
                for field in fields_with_rule(*kind, rule) {
                    out.push((*kind, field, rule));
                }
            }
        }
        out
    }

    #[test]
    fn the_rules_name_every_statement_and_the_body() {
        let names: Vec<String> = statement_fields()
            .iter()
            .map(|(k, f, _)| format!("{k}.{f}"))
            .collect();
        assert_eq!(
            names,
            [
                "visit_note.title",
                "visit_note.wishes_and_feelings",
                "about_me.fun",
                "about_me.dislikes",
                "about_me.important",
                "about_me.how_to_help",
                "contact_card.display_name",
                "contact_card.how_to_reach",
                "contact_card.when_to_reach",
                "contact_card.three_things",
                "short_plan.points",
            ]
        );
        assert_eq!(
            fields_with_rule(DocKind::VisitNote, FieldRule::Prose),
            ["body"]
        );
    }

    #[test]
    fn every_statement_rewritten_on_two_devices_is_a_conflict_never_interleaved() {
        for (kind, field, rule) in statement_fields() {
            let mut a = Document::create("d", actor(1), new_record(kind), T0).unwrap();
            let mut b = a.fork(actor(2));
            let (va, vb) = ("I want to go home", "I want to live with my nan");
            a.edit(statement_patch(&a, field, va), T0 + 1).unwrap();
            b.edit(statement_patch(&b, field, vb), T0 + 2).unwrap();
            a.merge(&mut b).unwrap();
            let shown = statement_value(&a, field);
            assert!(
                shown == va || shown == vb,
                "{kind}.{field} merged letter by letter: {shown:?}"
            );
            let path = match rule {
                FieldRule::StatementList => format!("{field}/1"),
                _ => field.to_owned(),
            };
            let conflicts = a.conflicts();
            let conflict = conflicts
                .iter()
                .find(|c| c.field == path)
                .unwrap_or_else(|| panic!("{kind}.{field}: no conflict in {conflicts:?}"));
            let values = crate::tests::values_by_actor(conflict);
            assert_eq!(
                values,
                [
                    (va, "01".repeat(16).as_str()),
                    (vb, "02".repeat(16).as_str())
                ],
                "{kind}.{field}: each side's value as its device wrote it"
            );
            assert!(conflict.values.iter().all(|v| !v.change.is_empty()));
            assert_eq!(conflicts.len(), 1, "{kind}.{field}: {conflicts:?}");

            // The server's merge step reports it as new, raised by the second push.
            let mut origin = Document::create("d", actor(1), new_record(kind), T0).unwrap();
            let base = origin.save();
            let mut x = origin.fork(actor(3));
            let mut y = origin.fork(actor(4));
            let cx = x
                .edit(statement_patch(&x, field, va), T0 + 1)
                .unwrap()
                .unwrap();
            let cy = y
                .edit(statement_patch(&y, field, vb), T0 + 2)
                .unwrap()
                .unwrap();
            let mut stored = merge_incoming("d", Some(&base), &[cx.bytes]).unwrap();
            assert!(stored.new_conflicts.is_empty());
            let merged = merge_incoming("d", Some(&stored.document.save()), &[cy.bytes]).unwrap();
            assert_eq!(
                merged
                    .new_conflicts
                    .iter()
                    .map(|c| c.field.as_str())
                    .collect::<Vec<_>>(),
                [path.as_str()],
                "{kind}.{field}"
            );
        }
    }

    #[test]
    fn the_same_statement_written_on_two_devices_is_no_conflict() {
        let mut a = Document::create("d", actor(1), note(), T0).unwrap();
        let mut b = a.fork(actor(2));
        a.edit(statement_patch(&a, "wishes_and_feelings", "home"), T0)
            .unwrap();
        b.edit(statement_patch(&b, "wishes_and_feelings", "home"), T0)
            .unwrap();
        a.merge(&mut b).unwrap();
        assert!(a.conflicts().is_empty(), "{:?}", a.conflicts());
    }

    fn plan_points(doc: &Document) -> Vec<String> {
        match doc.read().unwrap() {
            Record::ShortPlan(p) => p.content.points,
            other => panic!("{other:?}"),
        }
    }

    fn set_points(doc: &mut Document, points: &[&str]) -> String {
        let patch = Patch::ShortPlan(ShortPlanPatch {
            points: Some(points.iter().map(|p| (*p).to_owned()).collect()),
            ..Default::default()
        });
        doc.edit(patch, T0).unwrap().unwrap().hash.to_string()
    }

    #[test]
    fn points_added_on_two_devices_are_both_kept_without_a_conflict() {
        let mut a = Document::create("p", actor(1), new_record(DocKind::ShortPlan), T0).unwrap();
        let mut b = a.fork(actor(2));
        let created = a.heads()[0].to_string();
        let by_a = set_points(
            &mut a,
            &["meet at the park", "talk about college", "call mum"],
        );
        let by_b = set_points(
            &mut b,
            &["meet at the park", "talk about college", "go to the gym"],
        );
        a.merge(&mut b).unwrap();
        let points = plan_points(&a);
        assert_eq!(points.len(), 4, "{points:?}");
        assert!(
            points.contains(&"call mum".to_owned()) && points.contains(&"go to the gym".to_owned())
        );
        assert!(a.conflicts().is_empty(), "{:?}", a.conflicts());
        // Each point is credited to the device that wrote it.
        let entries = a.list_entries("points");
        let by = |p: &str| {
            let e = entries.iter().find(|e| e.value == p).unwrap();
            (e.actor.clone(), e.change.clone())
        };
        assert_eq!(by("call mum"), ("01".repeat(16), by_a));
        assert_eq!(by("go to the gym"), ("02".repeat(16), by_b));
        assert_eq!(by("meet at the park"), ("01".repeat(16), created));
    }

    #[test]
    fn removing_one_point_while_another_is_rewritten_merges() {
        let mut a = Document::create("p", actor(1), new_record(DocKind::ShortPlan), T0).unwrap();
        let mut b = a.fork(actor(2));
        set_points(&mut a, &["talk about college"]);
        set_points(
            &mut b,
            &["meet at the park", "talk about college next week"],
        );
        a.merge(&mut b).unwrap();
        assert_eq!(plan_points(&a), ["talk about college next week"]);
        assert!(a.conflicts().is_empty(), "{:?}", a.conflicts());
    }

    /// A note as schema 1 wrote it before statements were scalars: wishes and feelings, and
    /// plan-like lists, as automerge text.
    fn legacy_note() -> Document {
        let mut raw = automerge::AutoCommit::new().with_actor(actor(1));
        let root = automerge::ROOT;
        raw.put(root.clone(), "id", "old").unwrap();
        raw.put(root.clone(), "kind", "visit_note").unwrap();
        raw.put(root.clone(), "schema", 1u64).unwrap();
        for (k, v) in [
            ("child_id", "child-1"),
            ("author", "sw-1"),
            ("visit_kind", "home_visit"),
            ("occurred_at", "2026-11-20T14:30:00Z"),
            ("title", "Home visit"),
            ("status", "draft"),
        ] {
            raw.put(root.clone(), k, v).unwrap();
        }
        for (k, v) in [
            ("body", "Sam was well."),
            ("wishes_and_feelings", "I want to go home"),
        ] {
            let text = raw
                .put_object(root.clone(), k, automerge::ObjType::Text)
                .unwrap();
            raw.splice_text(&text, 0, 0, v).unwrap();
        }
        raw.put_object(root.clone(), "tags", automerge::ObjType::List)
            .unwrap();
        raw.put_object(root, "present", automerge::ObjType::List)
            .unwrap();
        raw.commit_with(automerge::transaction::CommitOptions::default().with_time(T0));
        Document::load("old", &raw.save()).unwrap()
    }

    #[test]
    fn a_statement_stored_as_text_still_reads_and_its_next_edit_is_a_scalar() {
        let mut a = legacy_note();
        let n = match a.read().unwrap() {
            Record::VisitNote(n) => n,
            other => panic!("{other:?}"),
        };
        assert_eq!(n.content.wishes_and_feelings, "I want to go home");
        // Unchanged: nothing written.
        assert!(
            a.edit(
                statement_patch(&a, "wishes_and_feelings", "I want to go home"),
                T0
            )
            .unwrap()
            .is_none()
        );
        let mut b = a.fork(actor(2));
        a.edit(
            statement_patch(&a, "wishes_and_feelings", "I want to go home now"),
            T0,
        )
        .unwrap();
        b.edit(
            statement_patch(&b, "wishes_and_feelings", "I want to live with my nan"),
            T0,
        )
        .unwrap();
        a.merge(&mut b).unwrap();
        let shown = statement_value(&a, "wishes_and_feelings");
        assert!(
            shown == "I want to go home now" || shown == "I want to live with my nan",
            "{shown:?}"
        );
        let conflicts = a.conflicts();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert_eq!(conflicts[0].field, "wishes_and_feelings");
        // A reviewer's decision ends it everywhere.
        let mut reviewer = a.fork(actor(3));
        let change = reviewer
            .settle(
                "wishes_and_feelings",
                "I want to live with my nan",
                "asked the child again",
                T0,
            )
            .unwrap();
        a.apply_changes(&[change.bytes]).unwrap();
        assert!(a.conflicts().is_empty());
        assert_eq!(
            statement_value(&a, "wishes_and_feelings"),
            "I want to live with my nan"
        );
    }

    fn body_patch(body: &str) -> Patch {
        Patch::VisitNote(VisitNotePatch {
            body: Some(body.to_owned()),
            ..Default::default()
        })
    }

    fn body_of(doc: &Document) -> String {
        statement_value_any(doc, "body")
    }

    fn statement_value_any(doc: &Document, field: &str) -> String {
        let json = serde_json::to_value(doc.read().unwrap()).unwrap();
        json[field].as_str().unwrap().to_owned()
    }

    const BASE: &str = "Sam showed me his drawings. We talked about school.";

    #[test]
    fn overlapping_rewrites_of_a_body_are_a_conflict_with_both_versions_and_the_merge() {
        let mut a = Document::create("d", actor(1), note(), T0).unwrap();
        let mut b = a.fork(actor(2));
        let va = "Sam showed me his drawings. We talked about his new football team.";
        let vb = "Sam showed me his drawings. We talked about moving to his nan's.";
        let ca = a.edit(body_patch(va), T0 + 1).unwrap().unwrap();
        let cb = b.edit(body_patch(vb), T0 + 2).unwrap().unwrap();
        a.merge(&mut b).unwrap();
        let merged = body_of(&a);
        let conflicts = a.conflicts();
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        let c = &conflicts[0];
        assert_eq!(c.field, "body");
        assert_eq!(c.merged.as_deref(), Some(merged.as_str()));
        let mut sides: Vec<(&str, &str, String)> = c
            .values
            .iter()
            .map(|v| (v.value.as_str(), v.actor.as_str(), v.change.clone()))
            .collect();
        sides.sort();
        assert_eq!(
            sides,
            [
                (va, "01".repeat(16).as_str(), ca.hash.to_string()),
                (vb, "02".repeat(16).as_str(), cb.hash.to_string()),
            ]
        );
        assert!(c.values.iter().all(|v| !v.winner));

        // The server's merge step raises it with the second push, whichever comes first.
        let mut origin = Document::create("d", actor(1), note(), T0).unwrap();
        let base = origin.save();
        let mut x = origin.fork(actor(3));
        let mut y = origin.fork(actor(4));
        let cx = x.edit(body_patch(va), T0).unwrap().unwrap();
        let cy = y.edit(body_patch(vb), T0).unwrap().unwrap();
        let mut first = merge_incoming("d", Some(&base), &[cy.bytes]).unwrap();
        assert!(first.new_conflicts.is_empty());
        let second = merge_incoming("d", Some(&first.document.save()), &[cx.bytes]).unwrap();
        assert_eq!(second.new_conflicts.len(), 1);
        assert_eq!(second.new_conflicts[0].field, "body");

        // Settling writes the reviewer's text; the conflict is gone once both versions are seen.
        let mut reviewer = a.fork(actor(5));
        let settled = reviewer
            .settle("body", va, "the football team is right", T0 + 3)
            .unwrap();
        a.apply_changes(&[settled.bytes]).unwrap();
        assert_eq!(body_of(&a), va);
        assert!(a.conflicts().is_empty(), "{:?}", a.conflicts());
    }

    #[test]
    fn appends_and_edits_apart_in_a_body_merge_without_a_conflict() {
        let mut a = Document::create("d", actor(1), note(), T0).unwrap();
        let mut b = a.fork(actor(2));
        a.edit(body_patch(&format!("{BASE} He was smiling.")), T0)
            .unwrap();
        b.edit(body_patch(&format!("{BASE} Mum made tea.")), T0)
            .unwrap();
        a.merge(&mut b).unwrap();
        let body = body_of(&a);
        assert!(body.starts_with(BASE), "{body}");
        assert!(
            body.contains(" He was smiling.") && body.contains(" Mum made tea."),
            "{body}"
        );
        assert!(a.conflicts().is_empty(), "{:?}", a.conflicts());

        let mut c = Document::create("d", actor(1), note(), T0).unwrap();
        let mut d = c.fork(actor(2));
        c.edit(
            body_patch("Sam showed me all his drawings. We talked about school."),
            T0,
        )
        .unwrap();
        d.edit(
            body_patch("Sam showed me his drawings. We talked about school and friends."),
            T0,
        )
        .unwrap();
        c.merge(&mut d).unwrap();
        assert_eq!(
            body_of(&c),
            "Sam showed me all his drawings. We talked about school and friends."
        );
        assert!(c.conflicts().is_empty(), "{:?}", c.conflicts());
    }

    #[test]
    fn the_overlap_rule() {
        use super::rewrites_overlap;
        let base = "I want to go home";
        assert!(rewrites_overlap(
            base,
            "I want to go to school",
            "I want to live with my nan"
        ));
        assert!(rewrites_overlap(
            base,
            "I want to run home",
            "I want to walk home"
        ));
        assert!(rewrites_overlap(
            base,
            "I want to go back home",
            "I want it"
        ));
        assert!(!rewrites_overlap(
            base,
            "I want to go home now",
            "I want to go home today"
        ));
        assert!(!rewrites_overlap(
            base,
            "I really want to go home",
            "I want to go home today"
        ));
        assert!(!rewrites_overlap(base, base, "anything"));
        assert!(!rewrites_overlap(
            base,
            "I want to go back home",
            "I want to stay home"
        ));
    }
}
