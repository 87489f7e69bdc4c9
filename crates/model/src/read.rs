//! Reading typed records out of automerge documents. Wrong types and unknown values are
//! collected as validation errors naming the field, never panics.

use automerge::{AutoCommit, AutomergeError, ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc};
use automerge::{ScalarValue, Value};

use crate::kinds::{DocKind, NoteStatus, SubjectKind, VisitKind};
use crate::record::{
    AboutMe, ContactCard, Deletion, NewAboutMe, NewContactCard, NewShortPlan, NewVisitNote,
    Picture, Record, ShortPlan, VisitNote,
};
use crate::validate::ValidationError;

/// Collects field values and the problems found reading them, at the current state or at a
/// past version (`heads`).
pub(crate) struct Reader<'a> {
    doc: &'a AutoCommit,
    heads: Option<&'a [ChangeHash]>,
    pub(crate) errors: Vec<ValidationError>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(doc: &'a AutoCommit, heads: Option<&'a [ChangeHash]>) -> Self {
        Reader {
            doc,
            heads,
            errors: Vec::new(),
        }
    }

    fn get(
        &self,
        obj: &ObjId,
        prop: impl Into<Prop>,
    ) -> Result<Option<(Value<'a>, ObjId)>, AutomergeError> {
        match self.heads {
            Some(heads) => self.doc.get_at(obj, prop, heads),
            None => self.doc.get(obj, prop),
        }
    }

    fn text_of(&self, obj: &ObjId) -> String {
        match self.heads {
            Some(heads) => self.doc.text_at(obj, heads),
            None => self.doc.text(obj),
        }
        .unwrap_or_default()
    }

    fn length_of(&self, obj: &ObjId) -> usize {
        match self.heads {
            Some(heads) => self.doc.length_at(obj, heads),
            None => self.doc.length(obj),
        }
    }

    fn wrong_type(&mut self, field: &str, expected: &str) {
        self.errors.push(ValidationError::new(
            field,
            "type",
            format!("must be {expected}"),
        ));
    }

    fn value(&mut self, obj: &ObjId, field: &str) -> Option<(Value<'a>, ObjId)> {
        match self.get(obj, field) {
            Ok(v) => v,
            Err(e) => {
                self.errors.push(ValidationError::new(
                    field,
                    "readable",
                    format!("cannot be read: {e}"),
                ));
                None
            }
        }
    }

    /// A root scalar that `pick` reads; `None` when absent, and a type error (it must be
    /// `expected`) when it is anything else.
    fn scalar<T>(
        &mut self,
        field: &str,
        expected: &str,
        pick: impl FnOnce(&ScalarValue) -> Option<T>,
    ) -> Option<T> {
        let found = match self.value(&ROOT, field)? {
            (Value::Scalar(s), _) => pick(s.as_ref()),
            _ => None,
        };
        if found.is_none() {
            self.wrong_type(field, expected);
        }
        found
    }

    /// A scalar string; `None` when absent.
    pub(crate) fn opt_str(&mut self, field: &str) -> Option<String> {
        self.scalar(field, "a string", |s| match s {
            ScalarValue::Str(s) => Some(s.to_string()),
            _ => None,
        })
    }

    /// A scalar string; empty when absent (the rules decide whether absence is allowed).
    pub(crate) fn str(&mut self, field: &str) -> String {
        self.opt_str(field).unwrap_or_default()
    }

    pub(crate) fn opt_bool(&mut self, field: &str) -> Option<bool> {
        self.scalar(field, "true or false", |s| match s {
            ScalarValue::Boolean(b) => Some(*b),
            _ => None,
        })
    }

    /// An enumerated value stored as a string.
    pub(crate) fn opt_enum<T: std::str::FromStr>(&mut self, field: &str, valid: &str) -> Option<T> {
        let raw = self.opt_str(field)?;
        match raw.parse() {
            Ok(v) => Some(v),
            Err(_) => {
                self.errors.push(ValidationError::new(
                    field,
                    "enum",
                    format!("{raw:?} is not one of: {valid}"),
                ));
                None
            }
        }
    }

    /// An enumerated value that must be present.
    pub(crate) fn enum_or<T: std::str::FromStr>(
        &mut self,
        field: &str,
        valid: &str,
        default: T,
    ) -> T {
        match self.opt_enum(field, valid) {
            Some(v) => v,
            None => {
                if !self.errors.iter().any(|e| e.field == field) {
                    self.errors.push(ValidationError::new(
                        field,
                        "required",
                        "is required".into(),
                    ));
                }
                default
            }
        }
    }

    /// A statement: a scalar string, or text in documents written before statements were
    /// scalars; empty when absent.
    pub(crate) fn statement(&mut self, field: &str) -> String {
        match self.value(&ROOT, field) {
            None => String::new(),
            Some((Value::Object(ObjType::Text), id)) => self.text_of(&id),
            Some((Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Str(_)) => {
                s.as_str().unwrap_or_default().to_owned()
            }
            Some(_) => {
                self.wrong_type(field, "a string");
                String::new()
            }
        }
    }

    /// A list of statements: scalar strings, or text entries in older documents.
    pub(crate) fn statement_list(&mut self, field: &str) -> Vec<String> {
        self.string_list(field, |reader, value, id| match value {
            Value::Object(ObjType::Text) => Some(reader.text_of(id)),
            Value::Scalar(s) => s.as_str().map(str::to_owned),
            _ => None,
        })
    }

    /// A text object (collaborative text); empty when absent.
    pub(crate) fn text(&mut self, field: &str) -> String {
        match self.value(&ROOT, field) {
            None => String::new(),
            Some((Value::Object(ObjType::Text), id)) => self.text_of(&id),
            Some(_) => {
                self.wrong_type(field, "text");
                String::new()
            }
        }
    }

    fn list(&mut self, field: &str) -> Option<ObjId> {
        match self.value(&ROOT, field)? {
            (Value::Object(ObjType::List), id) => Some(id),
            _ => {
                self.wrong_type(field, "a list");
                None
            }
        }
    }

    /// A list of scalar strings.
    pub(crate) fn str_list(&mut self, field: &str) -> Vec<String> {
        self.string_list(field, |_, value, _| match value {
            Value::Scalar(s) => s.as_str().map(str::to_owned),
            _ => None,
        })
    }

    /// A list whose entries `entry` reads as strings (`None`: the entry is of the wrong type,
    /// and is reported and left out); empty when absent.
    fn string_list(
        &mut self,
        field: &str,
        entry: impl Fn(&Self, Value<'a>, &ObjId) -> Option<String>,
    ) -> Vec<String> {
        let Some(list) = self.list(field) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for i in 0..self.length_of(&list) {
            let read = match self.get(&list, i) {
                Ok(Some((value, id))) => entry(self, value, &id),
                _ => None,
            };
            match read {
                Some(s) => out.push(s),
                None => self.wrong_type(&format!("{field}/{i}"), "a string"),
            }
        }
        out
    }

    pub(crate) fn picture(&mut self, field: &str) -> Option<Picture> {
        let map = match self.value(&ROOT, field)? {
            (Value::Object(ObjType::Map), id) => id,
            _ => {
                self.wrong_type(field, "a picture (media type and bytes)");
                return None;
            }
        };
        let media_type = match self.get(&map, "media_type") {
            Ok(Some((Value::Scalar(s), _))) => s.as_str().map(str::to_owned),
            _ => None,
        };
        let bytes = match self.get(&map, "bytes") {
            Ok(Some((Value::Scalar(s), _))) => s.as_bytes().map(<[u8]>::to_vec),
            _ => None,
        };
        match (media_type, bytes) {
            (Some(media_type), Some(bytes)) => Some(Picture { media_type, bytes }),
            _ => {
                self.wrong_type(field, "a picture (media type and bytes)");
                None
            }
        }
    }
}

fn valid<T: Copy + std::fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Read the record of `kind` from `doc` (at `heads`, or now), collecting every problem found on
/// the way.
pub(crate) fn read_record(
    doc: &AutoCommit,
    id: &str,
    kind: DocKind,
    heads: Option<&[ChangeHash]>,
) -> (Record, Vec<ValidationError>) {
    let mut r = Reader::new(doc, heads);
    let status_values = valid(NoteStatus::ALL);
    let record = match kind {
        DocKind::VisitNote => Record::VisitNote(VisitNote {
            id: id.to_owned(),
            content: NewVisitNote {
                child_id: r.str("child_id"),
                author: r.str("author"),
                visit_kind: r.enum_or("visit_kind", &valid(VisitKind::ALL), VisitKind::HomeVisit),
                occurred_at: r.str("occurred_at"),
                title: r.statement("title"),
                body: r.text("body"),
                wishes_and_feelings: r.statement("wishes_and_feelings"),
                tags: r.str_list("tags"),
                present: r.str_list("present"),
                child_seen: r.opt_bool("child_seen"),
                seen_alone: r.opt_bool("seen_alone"),
                not_alone_reason: r.opt_enum(
                    "not_alone_reason",
                    &valid(crate::kinds::NotAloneReason::ALL),
                ),
            },
            status: r.enum_or("status", &status_values, NoteStatus::Draft),
            signed_off_by: r.opt_str("signed_off_by"),
        }),
        DocKind::AboutMe => Record::AboutMe(AboutMe {
            id: id.to_owned(),
            content: NewAboutMe {
                subject_kind: r.enum_or(
                    "subject_kind",
                    &valid(SubjectKind::ALL),
                    SubjectKind::Child,
                ),
                subject_id: r.str("subject_id"),
                fun: r.statement("fun"),
                dislikes: r.statement("dislikes"),
                important: r.statement("important"),
                how_to_help: r.statement("how_to_help"),
            },
            status: r.enum_or("status", &status_values, NoteStatus::Draft),
        }),
        DocKind::ContactCard => Record::ContactCard(ContactCard {
            id: id.to_owned(),
            content: NewContactCard {
                worker_id: r.str("worker_id"),
                display_name: r.statement("display_name"),
                picture: r.picture("picture"),
                three_things: r.statement_list("three_things"),
                how_to_reach: r.statement("how_to_reach"),
                when_to_reach: r.statement("when_to_reach"),
            },
        }),
        DocKind::ShortPlan => Record::ShortPlan(ShortPlan {
            id: id.to_owned(),
            content: NewShortPlan {
                child_id: r.str("child_id"),
                author: r.str("author"),
                points: r.statement_list("points"),
                review_on: r.opt_str("review_on"),
                planned_end: r.opt_str("planned_end"),
            },
            status: r.enum_or("status", &status_values, NoteStatus::Draft),
            signed_off_by: r.opt_str("signed_off_by"),
        }),
    };
    (record, r.errors)
}

/// Read the soft-delete marker (root `deleted`, a map of `by` and `reason`), at `heads` or now.
pub(crate) fn read_deletion(
    doc: &AutoCommit,
    heads: Option<&[ChangeHash]>,
) -> (Option<Deletion>, Vec<ValidationError>) {
    let mut r = Reader::new(doc, heads);
    let map = match r.value(&ROOT, "deleted") {
        None => return (None, r.errors),
        Some((Value::Object(ObjType::Map), id)) => id,
        Some(_) => {
            r.wrong_type("deleted", "a map of `by` and `reason`");
            return (None, r.errors);
        }
    };
    let mut field = |name: &str| match r.get(&map, name) {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(s) => s.to_string(),
            _ => {
                r.wrong_type(&format!("deleted/{name}"), "a string");
                String::new()
            }
        },
        Ok(None) => String::new(),
        _ => {
            r.wrong_type(&format!("deleted/{name}"), "a string");
            String::new()
        }
    };
    let by = field("by");
    let reason = field("reason");
    (Some(Deletion { by, reason }), r.errors)
}
