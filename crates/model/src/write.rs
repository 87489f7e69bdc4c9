//! Writing record fields into an automerge document by their merge rule
//! ([`crate::FieldRule`]): a statement is one scalar put of the whole string, a statement list
//! changes only the entries that differ (each one put whole), prose is edited with minimal
//! text splices.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use crate::error::ModelError;
use crate::record::Picture;

type Result<T> = std::result::Result<T, ModelError>;

pub(crate) fn put_str(doc: &mut AutoCommit, field: &str, value: &str) -> Result<()> {
    let same =
        matches!(doc.get(ROOT, field)?, Some((Value::Scalar(s), _)) if s.as_str() == Some(value));
    if !same {
        doc.put(ROOT, field, value)?;
    }
    Ok(())
}

pub(crate) fn put_opt_str(doc: &mut AutoCommit, field: &str, value: Option<&str>) -> Result<()> {
    match value {
        Some(v) => put_str(doc, field, v),
        None => delete(doc, field),
    }
}

pub(crate) fn put_opt_bool(doc: &mut AutoCommit, field: &str, value: Option<bool>) -> Result<()> {
    match value {
        Some(v) => {
            let same = matches!(doc.get(ROOT, field)?, Some((Value::Scalar(s), _)) if s.as_bool() == Some(v));
            if !same {
                doc.put(ROOT, field, v)?;
            }
            Ok(())
        }
        None => delete(doc, field),
    }
}

fn delete(doc: &mut AutoCommit, field: &str) -> Result<()> {
    if doc.get(ROOT, field)?.is_some() {
        doc.delete(ROOT, field)?;
    }
    Ok(())
}

/// Set a statement field to `value` as one scalar: two different concurrent values are an
/// automerge conflict, never interleaved text. A field still held as text (written before
/// statements were scalars) is left alone when it already reads `value`, and replaced by the
/// scalar otherwise.
pub(crate) fn put_statement(doc: &mut AutoCommit, field: &str, value: &str) -> Result<()> {
    if current_statement(doc, &ROOT, field)?.as_deref() != Some(value) {
        doc.put(ROOT, field, value)?;
    }
    Ok(())
}

/// The string a statement field or entry holds (scalar or legacy text), if it holds one.
fn current_statement(
    doc: &AutoCommit,
    obj: &ObjId,
    prop: impl Into<automerge::Prop>,
) -> Result<Option<String>> {
    Ok(match doc.get(obj, prop)? {
        Some((Value::Scalar(s), _)) => s.as_str().map(str::to_owned),
        Some((Value::Object(ObjType::Text), id)) => Some(doc.text(&id)?),
        _ => None,
    })
}

/// Set a list of statements (plan points, a card's three things) to `values`, changing only
/// what differs from the current list (a sequence diff): a changed entry is one put of the
/// whole string on that entry, so a concurrent change of the same entry conflicts there,
/// while entries added, removed or kept elsewhere merge.
pub(crate) fn put_statement_list(
    doc: &mut AutoCommit,
    field: &str,
    values: &[String],
) -> Result<()> {
    let list = list(doc, field)?;
    let len = doc.length(&list);
    let mut old = Vec::with_capacity(len);
    for i in 0..len {
        // An entry that is not a string cannot equal any value: the diff replaces it.
        old.push(current_statement(doc, &list, i)?.unwrap_or_else(|| "\u{0}".repeat(i + 1)));
    }
    if old == values {
        return Ok(());
    }
    for op in similar::capture_diff_slices(similar::Algorithm::Myers, &old, values) {
        match op {
            similar::DiffOp::Equal { .. } => {}
            similar::DiffOp::Delete {
                old_len, new_index, ..
            } => {
                for _ in 0..old_len {
                    doc.delete(&list, new_index)?;
                }
            }
            similar::DiffOp::Insert {
                new_index, new_len, ..
            } => {
                for (k, v) in values.iter().enumerate().skip(new_index).take(new_len) {
                    doc.insert(&list, k, v.as_str())?;
                }
            }
            similar::DiffOp::Replace {
                old_len,
                new_index,
                new_len,
                ..
            } => {
                let shared = old_len.min(new_len);
                let replaced = values.iter().enumerate().skip(new_index);
                for (k, v) in replaced.clone().take(shared) {
                    doc.put(&list, k, v.as_str())?;
                }
                for _ in shared..old_len {
                    doc.delete(&list, new_index + shared)?;
                }
                for (k, v) in replaced.take(new_len).skip(shared) {
                    doc.insert(&list, k, v.as_str())?;
                }
            }
        }
    }
    Ok(())
}

/// Set a prose (collaborative text) field to `value` with the smallest edit.
pub(crate) fn put_text(doc: &mut AutoCommit, field: &str, value: &str) -> Result<()> {
    let obj = match doc.get(ROOT, field)? {
        Some((Value::Object(ObjType::Text), id)) => id,
        _ => doc.put_object(ROOT, field, ObjType::Text)?,
    };
    set_text(doc, &obj, value)
}

fn set_text(doc: &mut AutoCommit, obj: &ObjId, value: &str) -> Result<()> {
    if doc.text(obj)? != value {
        doc.update_text(obj, value)?;
    }
    Ok(())
}

fn list(doc: &mut AutoCommit, field: &str) -> Result<ObjId> {
    Ok(match doc.get(ROOT, field)? {
        Some((Value::Object(ObjType::List), id)) => id,
        _ => doc.put_object(ROOT, field, ObjType::List)?,
    })
}

/// Set a list of strings, changing only the entries that differ.
pub(crate) fn put_str_list(doc: &mut AutoCommit, field: &str, values: &[String]) -> Result<()> {
    let list = list(doc, field)?;
    let len = doc.length(&list);
    for (i, value) in values.iter().enumerate() {
        if i < len {
            let same = matches!(doc.get(&list, i)?, Some((Value::Scalar(s), _)) if s.as_str() == Some(value.as_str()));
            if !same {
                doc.put(&list, i, value.as_str())?;
            }
        } else {
            doc.insert(&list, i, value.as_str())?;
        }
    }
    for i in (values.len()..len).rev() {
        doc.delete(&list, i)?;
    }
    Ok(())
}

pub(crate) fn put_picture(
    doc: &mut AutoCommit,
    field: &str,
    picture: Option<&Picture>,
) -> Result<()> {
    match picture {
        None => delete(doc, field),
        Some(p) => {
            let map = doc.put_object(ROOT, field, ObjType::Map)?;
            doc.put(&map, "media_type", p.media_type.as_str())?;
            doc.put(&map, "bytes", ScalarValue::Bytes(p.bytes.clone()))?;
            Ok(())
        }
    }
}
