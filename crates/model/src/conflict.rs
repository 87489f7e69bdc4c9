//! Finding fields where concurrent edits left competing values. Automerge keeps them all and
//! picks one deterministically; people must see the others.

use automerge::{AutoCommit, ObjId, ObjType, Prop, ROOT, ReadDoc, Value};
use serde::Serialize;

/// A field with more than one concurrent value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldConflict {
    /// The field, as a path (`title`, `tags/2`, `picture/media_type`).
    pub field: String,
    pub values: Vec<ConflictValue>,
}

/// One of the competing values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConflictValue {
    /// The value, rendered as text.
    pub value: String,
    /// The actor (device) that wrote it, hex.
    pub actor: String,
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
    if all.len() > 1 {
        let winner = doc.get(obj, prop).ok().flatten().map(|(_, id)| id);
        out.push(FieldConflict {
            field: path.clone(),
            values: all
                .iter()
                .map(|(value, id)| ConflictValue {
                    value: render(doc, value, id),
                    actor: actor_of(id),
                    winner: winner.as_ref() == Some(id),
                })
                .collect(),
        });
    }
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
