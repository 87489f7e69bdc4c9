//! Finding fields where concurrent edits left competing values. Automerge keeps them all and
//! picks one deterministically; people must see the others.

use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, Value};
use serde::Serialize;

/// A field with more than one concurrent value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldConflict {
    /// The field, as a path (`title`, `tags/2`, `picture/media_type`).
    pub field: String,
    pub values: Vec<ConflictValue>,
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
    });
}

/// Every conflicting field in the document, root fields first, then entries of lists and maps
/// (not text: concurrent text edits interleave and never conflict).
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
