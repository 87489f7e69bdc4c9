//! Writing record fields into an automerge document so that concurrent edits merge well:
//! collaborative text is edited with minimal splices, lists element by element.

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

/// Set a collaborative text field to `value` with the smallest edit.
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

/// Set a list of collaborative texts, editing each entry in place.
pub(crate) fn put_text_list(doc: &mut AutoCommit, field: &str, values: &[String]) -> Result<()> {
    let list = list(doc, field)?;
    let len = doc.length(&list);
    for (i, value) in values.iter().enumerate() {
        let existing = if i < len {
            match doc.get(&list, i)? {
                Some((Value::Object(ObjType::Text), id)) => Some(id),
                _ => None,
            }
        } else {
            None
        };
        let obj = match existing {
            Some(id) => id,
            None if i < len => doc.put_object(&list, i, ObjType::Text)?,
            None => doc.insert_object(&list, i, ObjType::Text)?,
        };
        set_text(doc, &obj, value)?;
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
