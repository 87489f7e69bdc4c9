//! Settling a review item: a reviewer's value written over every competing value of one field.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ChangeHash, ObjId, ObjType, Prop, ROOT, ReadDoc, ScalarValue, Value};

use crate::document::{Document, EncodedChange, content_patch};
use crate::error::ModelError;
use crate::lock::AMEND_PREFIX;
use crate::record::Patch;

/// The message prefix of a review decision (after `amend: ` on a locked record).
pub const REVIEW_PREFIX: &str = "review:";

impl Document {
    /// Write `value` to `field` — a root field (`title`) or a list entry (`tags/2`) — as one
    /// change that supersedes every concurrent value, even when `value` is the one the merge
    /// already shows. A boolean field takes `true` or `false`; a statement takes `value` as
    /// one scalar; prose (a note's body) is edited to read `value`. On a
    /// completed or signed-off record the change is an amendment whose reason is
    /// `review: <reason>`. The result must keep the record's rules.
    pub fn settle(
        &mut self,
        field: &str,
        value: &str,
        reason: &str,
        device_time_ms: i64,
    ) -> Result<EncodedChange, ModelError> {
        self.check_reasoned("reason", reason)?;
        let (obj, prop) = self.target(field)?;
        let current = self.doc.get(&obj, prop.clone())?;
        let outcome = match current {
            Some((Value::Scalar(s), _)) if matches!(s.as_ref(), ScalarValue::Boolean(_)) => {
                let b = match value {
                    "true" | "yes" => true,
                    "false" | "no" => false,
                    other => {
                        return Err(ModelError::Load(format!(
                            "field `{field}` is yes or no; {other:?} is neither"
                        )));
                    }
                };
                self.doc.put(&obj, prop, b)
            }
            // Prose is edited as text; a statement still held as text (an older document) is
            // replaced by one scalar value, like any statement.
            Some((Value::Object(ObjType::Text), text)) if self.is_prose(field) => {
                if self.doc.text(&text)? == value {
                    return Err(ModelError::Load(format!(
                        "field `{field}` already reads this text: nothing to write; dismiss the \
                         item with a reason instead"
                    )));
                }
                self.doc.update_text(&text, value)
            }
            Some((Value::Object(_), _)) => {
                return Err(ModelError::Load(format!(
                    "field `{field}` holds a list or map; settle one of its entries"
                )));
            }
            _ => self.doc.put(&obj, prop, value),
        };
        let options = self.review_options(reason, device_time_ms);
        self.commit_valid(outcome.map_err(ModelError::from), options)?
            .ok_or_else(|| ModelError::Load("the settling change wrote nothing".into()))
    }

    /// Put the record's content (every field but its status) back as it stood at `heads`, as
    /// one review change (see [`Document::review_edit`]). Returns `None` if nothing changed.
    pub fn restore_version(
        &mut self,
        heads: &[ChangeHash],
        reason: &str,
        device_time_ms: i64,
    ) -> Result<Option<EncodedChange>, ModelError> {
        let record = self.read_at(heads)?;
        self.review_edit(content_patch(record), reason, device_time_ms)
    }

    /// Apply a reviewer's `patch` (restoring a version, or settling a plan's points) as one
    /// change with the message of a review decision: an amendment `review: <reason>` on a
    /// locked record, `review: <reason>` otherwise. Returns `None` if nothing changed.
    pub fn review_edit(
        &mut self,
        patch: Patch,
        reason: &str,
        device_time_ms: i64,
    ) -> Result<Option<EncodedChange>, ModelError> {
        self.check_reasoned("reason", reason)?;
        self.check_patch_kind(&patch)?;
        let status = self.status();
        let options = self.review_options(reason, device_time_ms);
        // A review decision settles content; the record's status stays as it is.
        self.apply_and_commit(&patch, options, |doc| {
            if doc.status() == status {
                Ok(())
            } else {
                Err(ModelError::Load(
                    "a review decision cannot change the record's status".into(),
                ))
            }
        })
    }

    /// Whether `field` (a root field) is prose, edited as text.
    fn is_prose(&self, field: &str) -> bool {
        crate::record::field_rule(self.kind, field) == Some(crate::record::FieldRule::Prose)
    }

    /// The commit options of a review decision on this record.
    fn review_options(&self, reason: &str, device_time_ms: i64) -> CommitOptions {
        let locked = self.status().is_some_and(|s| s.is_locked());
        let message = if locked {
            format!("{AMEND_PREFIX}{REVIEW_PREFIX} {}", reason.trim())
        } else {
            format!("{REVIEW_PREFIX} {}", reason.trim())
        };
        CommitOptions::default()
            .with_time(device_time_ms)
            .with_message(message)
    }

    /// The object and property a field path names.
    fn target(&self, field: &str) -> Result<(ObjId, Prop), ModelError> {
        let unknown = || ModelError::UnknownField {
            kind: self.kind(),
            field: field.to_owned(),
            valid: "a field of the record, or a list entry like tags/2".to_owned(),
        };
        match field.split_once('/') {
            None => {
                if self.doc.get(ROOT, field)?.is_none() {
                    return Err(unknown());
                }
                Ok((ROOT, Prop::Map(field.to_owned())))
            }
            Some((list, index)) => {
                let index: usize = index.parse().map_err(|_| unknown())?;
                match self.doc.get(ROOT, list)? {
                    Some((Value::Object(ObjType::List), id)) if index < self.doc.length(&id) => {
                        Ok((id, Prop::Seq(index)))
                    }
                    _ => Err(unknown()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use automerge::ActorId;

    use crate::tests::{status, title};
    use crate::*;

    fn note() -> NewRecord {
        NewRecord::VisitNote(NewVisitNote::new(
            "c1",
            "sw-1",
            VisitKind::HomeVisit,
            "2026-11-20T14:30:00Z",
            "Visit",
            "Body",
        ))
    }

    #[test]
    fn settling_the_shown_value_still_ends_the_conflict() {
        let mut a = Document::create("d", ActorId::from([1u8; 16]), note(), 1).unwrap();
        let mut b = a.fork(ActorId::from([2u8; 16]));
        a.edit(title("From A"), 2).unwrap();
        b.edit(title("From B"), 2).unwrap();
        a.merge(&mut b).unwrap();
        let shown = a.conflicts()[0].winner().unwrap().value.clone();
        let mut reviewer = a.fork(ActorId::from([3u8; 16]));
        let change = reviewer
            .settle("title", &shown, "both visits were the same day", 3)
            .unwrap();
        assert!(reviewer.conflicts().is_empty());
        assert_eq!(
            change.message.as_deref(),
            Some("review: both visits were the same day")
        );
        a.apply_changes(&[change.bytes]).unwrap();
        assert!(
            a.conflicts().is_empty(),
            "the decision reaches the other replicas"
        );
    }

    #[test]
    fn settling_a_locked_record_is_a_review_amendment() {
        let mut doc = Document::create("d", ActorId::from([1u8; 16]), note(), 1).unwrap();
        doc.edit(status(NoteStatus::Completed), 2).unwrap();
        let change = doc.settle("title", "Settled", "restore", 3).unwrap();
        assert_eq!(change.message.as_deref(), Some("amend: review: restore"));
        assert!(matches!(
            doc.settle("nope", "x", "why", 4),
            Err(ModelError::UnknownField { .. })
        ));
        assert!(
            doc.settle("title", "x", "ok", 4).is_err(),
            "a reason of 3 characters or more"
        );
        doc.delete("mgr", "filed on the wrong child", 5).unwrap();
        assert!(
            matches!(
                doc.settle("title", "x", "restore", 6),
                Err(ModelError::Deleted { .. })
            ),
            "a deleted record is not settled"
        );
    }

    #[test]
    fn a_review_edit_keeps_the_status_and_marks_the_decision() {
        let mut doc = Document::create("d", ActorId::from([1u8; 16]), note(), 1).unwrap();
        let change = doc
            .review_edit(title("Merged"), "both titles kept", 2)
            .unwrap()
            .unwrap();
        assert_eq!(change.message.as_deref(), Some("review: both titles kept"));
        let completing = status(NoteStatus::Completed);
        assert!(doc.review_edit(completing, "sneak", 3).is_err());
        assert_eq!(doc.status(), Some(NoteStatus::Draft));
    }
}
