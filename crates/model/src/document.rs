//! [`Document`]: one record as an automerge document, with typed create, read and edit.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, AutoCommit, Change, ChangeHash, ROOT, ReadDoc, Value};

use crate::conflict::{FieldConflict, find_conflicts, prose_conflicts};
use crate::error::ModelError;
use crate::kinds::{DocKind, NoteStatus};
use crate::read::{read_deletion, read_record};
use crate::record::{
    AboutMePatch, ContactCardPatch, NewRecord, NewShortPlan, NewVisitNote, Patch, Record,
    ShortPlanPatch, VisitNotePatch,
};
use crate::validate::{MAX_PLAN_POINTS, ValidationError, ValidationErrors, check, check_written};
use crate::write::*;

/// The version of the document layout this crate writes.
pub const SCHEMA_VERSION: u64 = 1;

/// One change in its binary encoding, with the facts recorded about it.
#[derive(Debug, Clone)]
pub struct EncodedChange {
    pub hash: ChangeHash,
    pub bytes: Vec<u8>,
    /// Who wrote it (the device's actor id).
    pub actor: ActorId,
    /// The device's own clock when it was made, ms since the epoch. Never used for ordering.
    pub device_time_ms: i64,
    /// The change's message: `amend: <reason>` for an amendment (see
    /// [`crate::amendment_reason`]), [`crate::SIGN_OFF_MESSAGE`] for a sign-off,
    /// `delete: <reason>` for a deletion, `None` for an ordinary edit.
    pub message: Option<String>,
}

impl EncodedChange {
    pub(crate) fn from_change(mut change: Change) -> Self {
        EncodedChange {
            hash: change.hash(),
            actor: change.actor_id().clone(),
            device_time_ms: change.timestamp(),
            message: change.message().map(str::to_owned),
            bytes: change.bytes().into_owned(),
        }
    }
}

/// A record held as an automerge document.
#[derive(Debug)]
pub struct Document {
    pub(crate) doc: AutoCommit,
    pub(crate) id: String,
    pub(crate) kind: DocKind,
}

impl Document {
    /// A new record: root `id`, `kind`, `schema` and the record's fields, written in one change
    /// by `actor` and stamped with `device_time_ms`. Refused if it breaks a rule.
    pub fn create(
        id: &str,
        actor: ActorId,
        record: NewRecord,
        device_time_ms: i64,
    ) -> Result<Document, ModelError> {
        let mut doc = AutoCommit::new().with_actor(actor);
        let kind = record.kind();
        doc.put(ROOT, "id", id)?;
        doc.put(ROOT, "kind", kind.as_str())?;
        doc.put(ROOT, "schema", SCHEMA_VERSION)?;
        let (identity, fields) = creation_parts(record);
        for (field, value) in identity {
            put_str(&mut doc, field, &value)?;
        }
        apply_patch(&mut doc, &fields)?;
        let mut document = Document {
            doc,
            id: id.to_owned(),
            kind,
        };
        document.validate()?;
        check_written(&document.read()?, None, None)?;
        document
            .doc
            .commit_with(CommitOptions::default().with_time(device_time_ms));
        Ok(document)
    }

    /// Load from [`Document::save`] output or from concatenated change bytes, checking that it
    /// is the document `id`.
    pub fn load(id: &str, bytes: &[u8]) -> Result<Document, ModelError> {
        // automerge 0.12 panics on some damaged documents (found by fuzzing this function): a
        // damaged copy must read as damaged, not bring the process down.
        crate::intake::check_chunks(bytes).map_err(|e| ModelError::Load(e.to_string()))?;
        let doc = std::panic::catch_unwind(|| AutoCommit::load(bytes))
            .map_err(|_| ModelError::Load("the document is damaged and cannot be decoded".into()))?
            .map_err(|e| ModelError::Load(e.to_string()))?;
        Self::from_automerge(id, doc)
    }

    /// Wrap an automerge document, reading its `id` and `kind`.
    pub(crate) fn from_automerge(id: &str, doc: AutoCommit) -> Result<Document, ModelError> {
        let found_id = root_str(&doc, "id")?.ok_or(ModelError::MissingField { field: "id" })?;
        if found_id != id {
            return Err(ModelError::WrongId {
                expected: id.to_owned(),
                found: found_id,
            });
        }
        let kind: DocKind = root_str(&doc, "kind")?
            .ok_or(ModelError::MissingField { field: "kind" })?
            .parse()?;
        Ok(Document {
            doc,
            id: id.to_owned(),
            kind,
        })
    }

    /// Write further changes as `actor` (this device).
    pub fn set_actor(&mut self, actor: ActorId) {
        self.doc.set_actor(actor);
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn kind(&self) -> DocKind {
        self.kind
    }

    /// The typed record. Fails, naming each field, if a field has the wrong type or an unknown
    /// value.
    pub fn read(&self) -> Result<Record, ModelError> {
        let (record, errors) = read_record(&self.doc, &self.id, self.kind, None);
        if errors.is_empty() {
            Ok(record)
        } else {
            Err(ValidationErrors(errors).into())
        }
    }

    /// Every rule the document breaks, or `Ok`.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        match root_str(&self.doc, "id") {
            Ok(Some(id)) if id == self.id => {}
            _ => errors.push(ValidationError::new(
                "id",
                "matches",
                format!("must be {:?}", self.id),
            )),
        }
        match root_str(&self.doc, "kind") {
            Ok(Some(kind)) if kind == self.kind.as_str() => {}
            _ => errors.push(ValidationError::new(
                "kind",
                "matches",
                format!(
                    "must stay {:?}: a record cannot change kind",
                    self.kind.as_str()
                ),
            )),
        }
        let (record, read_errors) = read_record(&self.doc, &self.id, self.kind, None);
        errors.extend(read_errors);
        let (deleted, deletion_errors) = read_deletion(&self.doc, None);
        errors.extend(deletion_errors);
        check(&record, deleted.as_ref(), errors)
    }

    /// Apply `patch` as one change stamped `device_time_ms`. Returns the change, or `None` if
    /// nothing changed. A patch that would break a rule is refused and nothing is written.
    ///
    /// A completed or signed-off record is locked: a patch that would change it is refused with
    /// [`ModelError::Locked`] (use [`Document::amend`] with a reason); a deleted record is
    /// refused with [`ModelError::Deleted`].
    pub fn edit(
        &mut self,
        patch: Patch,
        device_time_ms: i64,
    ) -> Result<Option<EncodedChange>, ModelError> {
        self.check_patch_kind(&patch)?;
        self.refuse_if_deleted()?;
        let locked = self.status().filter(|s| s.is_locked());
        self.apply_and_commit(
            &patch,
            CommitOptions::default().with_time(device_time_ms),
            |d| match locked {
                Some(status) if d.doc.pending_ops() > 0 => Err(ModelError::Locked {
                    doc_id: d.id.clone(),
                    status,
                }),
                _ => Ok(()),
            },
        )
    }

    pub(crate) fn check_patch_kind(&self, patch: &Patch) -> Result<(), ModelError> {
        if patch.kind() == self.kind {
            Ok(())
        } else {
            Err(ModelError::WrongKind {
                expected: patch.kind(),
                found: self.kind,
            })
        }
    }

    /// Apply `patch`, run `guard` on the uncommitted result, validate, and commit with
    /// `options`; on any failure nothing is written.
    pub(crate) fn apply_and_commit(
        &mut self,
        patch: &Patch,
        options: CommitOptions,
        guard: impl FnOnce(&Document) -> Result<(), ModelError>,
    ) -> Result<Option<EncodedChange>, ModelError> {
        let before = read_record(&self.doc, &self.id, self.kind, None).0;
        let outcome = self
            .apply_patch(patch)
            .and_then(|()| guard(self))
            .and_then(|()| self.validate().map_err(ModelError::from))
            .and_then(|()| {
                let after = read_record(&self.doc, &self.id, self.kind, None).0;
                check_written(&after, Some(&before), None).map_err(ModelError::from)
            });
        self.commit_if(outcome, options)
    }

    /// Commit the open transaction with `options` when `outcome` (the writes and the checks of
    /// their result) is `Ok`; otherwise roll it back, so nothing is written. `None` if nothing
    /// changed.
    pub(crate) fn commit_if(
        &mut self,
        outcome: Result<(), ModelError>,
        options: CommitOptions,
    ) -> Result<Option<EncodedChange>, ModelError> {
        if let Err(e) = outcome {
            self.doc.rollback();
            return Err(e);
        }
        Ok(self.commit(options))
    }

    /// [`Document::commit_if`] the writes in `outcome` once the record they leave is also valid.
    pub(crate) fn commit_valid(
        &mut self,
        outcome: Result<(), ModelError>,
        options: CommitOptions,
    ) -> Result<Option<EncodedChange>, ModelError> {
        let outcome = outcome.and_then(|()| self.validate().map_err(ModelError::from));
        self.commit_if(outcome, options)
    }

    /// Commit the open transaction, if it changed anything.
    pub(crate) fn commit(&mut self, options: CommitOptions) -> Option<EncodedChange> {
        let hash = self.doc.commit_with(options)?;
        self.doc
            .get_change_by_hash(&hash)
            .map(EncodedChange::from_change)
    }

    /// The record's current status (`None` for contact cards, or if unreadable).
    pub fn status(&self) -> Option<NoteStatus> {
        root_str(&self.doc, "status").ok().flatten()?.parse().ok()
    }

    /// The soft-delete marker, if a manager deleted the record.
    pub fn deletion(&self) -> Option<crate::Deletion> {
        read_deletion(&self.doc, None).0
    }

    /// A change that gives a reason (a deletion, a review decision) is refused on a deleted
    /// record, and without a reason of 3 to 500 characters (`field` names it in the error).
    pub(crate) fn check_reasoned(&self, field: &str, reason: &str) -> Result<(), ModelError> {
        self.refuse_if_deleted()?;
        crate::lock::reason_invalid(field, reason)
    }

    pub(crate) fn refuse_if_deleted(&self) -> Result<(), ModelError> {
        match self.deletion() {
            Some(d) => Err(ModelError::Deleted {
                doc_id: self.id.clone(),
                by: d.by,
                reason: d.reason,
            }),
            None => Ok(()),
        }
    }

    fn apply_patch(&mut self, patch: &Patch) -> Result<(), ModelError> {
        apply_patch(&mut self.doc, patch)
    }

    /// Fields holding concurrent, conflicting values: statements and other values written
    /// differently at the same time (automerge conflicts), and prose rewritten at the same
    /// time in overlapping places ([`FieldConflict::merged`] set). A prose conflict is listed
    /// while the concurrent versions are the document's heads: the next edit made after
    /// seeing both settles it (the review item raised for it stays until decided).
    pub fn conflicts(&mut self) -> Vec<FieldConflict> {
        let mut out = find_conflicts(&self.doc);
        let prose = crate::record::fields_with_rule(self.kind, crate::record::FieldRule::Prose);
        out.extend(prose_conflicts(&mut self.doc, &prose));
        out
    }

    /// Each entry of list `field` (plan points, tags) as the merge shows it, with the change,
    /// actor and device time that wrote that entry: a plan point is credited to its writer.
    pub fn list_entries(&self, field: &str) -> Vec<crate::ConflictValue> {
        crate::conflict::list_entries(&self.doc, field)
    }

    /// The current heads: two replicas with the same heads hold the same state.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The whole document in automerge's compact form.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Every change in the document, in causal order.
    pub fn all_changes(&mut self) -> Vec<EncodedChange> {
        self.doc
            .get_changes(&[])
            .into_iter()
            .map(EncodedChange::from_change)
            .collect()
    }

    /// Apply changes received from elsewhere. Malformed bytes are refused, naming the change.
    /// Changes whose dependencies are missing wait inside the document until they arrive.
    pub fn apply_changes(&mut self, changes: &[Vec<u8>]) -> Result<(), ModelError> {
        let parsed = changes
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                Change::try_from(bytes.as_slice()).map_err(|e| {
                    ModelError::Load(format!("change {i} is not a valid automerge change: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.doc.apply_changes(parsed)?;
        Ok(())
    }

    /// Merge another replica of the same document into this one.
    pub fn merge(&mut self, other: &mut Document) -> Result<(), ModelError> {
        if other.id != self.id {
            return Err(ModelError::WrongId {
                expected: self.id.clone(),
                found: other.id.clone(),
            });
        }
        self.doc.merge(&mut other.doc)?;
        Ok(())
    }

    /// An independent copy that writes as `actor` (tests, simulations).
    pub fn fork(&mut self, actor: ActorId) -> Document {
        Document {
            doc: self.doc.fork().with_actor(actor),
            id: self.id.clone(),
            kind: self.kind,
        }
    }

    /// An empty stand-in for a document whose creating change has not arrived yet.
    pub(crate) fn placeholder(id: &str) -> Document {
        Document {
            doc: AutoCommit::new(),
            id: id.to_owned(),
            kind: DocKind::VisitNote,
        }
    }
}

/// A new record split in two: the fields only its creation writes (whose it is and what it is
/// about), and every other field as a patch that sets each one, with the status `draft`. The
/// creating change writes them in this order, as an edit writes the patch.
fn creation_parts(record: NewRecord) -> (Vec<(&'static str, String)>, Patch) {
    let identity = match &record {
        NewRecord::VisitNote(NewVisitNote {
            child_id, author, ..
        })
        | NewRecord::ShortPlan(NewShortPlan {
            child_id, author, ..
        }) => vec![("child_id", child_id.clone()), ("author", author.clone())],
        NewRecord::AboutMe(n) => vec![
            ("subject_kind", n.subject_kind.as_str().to_owned()),
            ("subject_id", n.subject_id.clone()),
        ],
        NewRecord::ContactCard(n) => vec![("worker_id", n.worker_id.clone())],
    };
    (identity, fields_patch(record, Some(NoteStatus::Draft)))
}

/// A patch that sets every field of `record` but its status to the record's values: the
/// record's content as it stood, written back.
pub(crate) fn content_patch(record: Record) -> Patch {
    fields_patch(record.into_content(), None)
}

/// A patch that sets every field of `content` but those only creation writes, and `status`
/// (contact cards have none).
fn fields_patch(content: NewRecord, status: Option<NoteStatus>) -> Patch {
    match content {
        NewRecord::VisitNote(n) => Patch::VisitNote(VisitNotePatch {
            visit_kind: Some(n.visit_kind),
            occurred_at: Some(n.occurred_at),
            title: Some(n.title),
            body: Some(n.body),
            wishes_and_feelings: Some(n.wishes_and_feelings),
            tags: Some(n.tags),
            present: Some(n.present),
            child_seen: Some(n.child_seen),
            seen_alone: Some(n.seen_alone),
            not_alone_reason: Some(n.not_alone_reason),
            status,
        }),
        NewRecord::AboutMe(a) => Patch::AboutMe(AboutMePatch {
            fun: Some(a.fun),
            dislikes: Some(a.dislikes),
            important: Some(a.important),
            how_to_help: Some(a.how_to_help),
            status,
        }),
        NewRecord::ContactCard(c) => Patch::ContactCard(ContactCardPatch {
            display_name: Some(c.display_name),
            picture: Some(c.picture),
            three_things: Some(c.three_things),
            how_to_reach: Some(c.how_to_reach),
            when_to_reach: Some(c.when_to_reach),
        }),
        NewRecord::ShortPlan(p) => Patch::ShortPlan(ShortPlanPatch {
            points: Some(p.points),
            review_on: Some(p.review_on),
            planned_end: Some(p.planned_end),
            status,
        }),
    }
}

/// Write every field `patch` sets into the document's root.
fn apply_patch(doc: &mut AutoCommit, patch: &Patch) -> Result<(), ModelError> {
    match patch {
        Patch::VisitNote(p) => patch_visit_note(doc, p),
        Patch::AboutMe(p) => patch_about_me(doc, p),
        Patch::ContactCard(p) => patch_contact_card(doc, p),
        Patch::ShortPlan(p) => patch_short_plan(doc, p),
    }
}

/// Write `value` into root `field` with `put`, when the patch sets it (`None` leaves the field
/// as it is).
fn set<T>(
    doc: &mut AutoCommit,
    field: &str,
    value: Option<T>,
    put: impl FnOnce(&mut AutoCommit, &str, T) -> Result<(), ModelError>,
) -> Result<(), ModelError> {
    value.map_or(Ok(()), |v| put(doc, field, v))
}

// The fields of each patch, written in this order (the order of the change's ops).

fn patch_visit_note(doc: &mut AutoCommit, p: &VisitNotePatch) -> Result<(), ModelError> {
    set(doc, "visit_kind", p.visit_kind.map(|v| v.as_str()), put_str)?;
    set(doc, "occurred_at", p.occurred_at.as_deref(), put_str)?;
    set(doc, "title", p.title.as_deref(), put_statement)?;
    set(doc, "body", p.body.as_deref(), put_text)?;
    let wishes = p.wishes_and_feelings.as_deref();
    set(doc, "wishes_and_feelings", wishes, put_statement)?;
    set(doc, "tags", p.tags.as_deref(), put_str_list)?;
    set(doc, "present", p.present.as_deref(), put_str_list)?;
    set(doc, "child_seen", p.child_seen, put_opt_bool)?;
    set(doc, "seen_alone", p.seen_alone, put_opt_bool)?;
    let reason = p.not_alone_reason.map(|v| v.map(|r| r.as_str()));
    set(doc, "not_alone_reason", reason, put_opt_str)?;
    set_status(doc, p.status)
}

fn patch_about_me(doc: &mut AutoCommit, p: &AboutMePatch) -> Result<(), ModelError> {
    set(doc, "fun", p.fun.as_deref(), put_statement)?;
    set(doc, "dislikes", p.dislikes.as_deref(), put_statement)?;
    set(doc, "important", p.important.as_deref(), put_statement)?;
    set(doc, "how_to_help", p.how_to_help.as_deref(), put_statement)?;
    set_status(doc, p.status)
}

fn patch_contact_card(doc: &mut AutoCommit, p: &ContactCardPatch) -> Result<(), ModelError> {
    set(
        doc,
        "display_name",
        p.display_name.as_deref(),
        put_statement,
    )?;
    set(
        doc,
        "picture",
        p.picture.as_ref().map(Option::as_ref),
        put_picture,
    )?;
    set(
        doc,
        "three_things",
        p.three_things.as_deref(),
        put_statement_list,
    )?;
    set(
        doc,
        "how_to_reach",
        p.how_to_reach.as_deref(),
        put_statement,
    )?;
    set(
        doc,
        "when_to_reach",
        p.when_to_reach.as_deref(),
        put_statement,
    )
}

fn patch_short_plan(doc: &mut AutoCommit, p: &ShortPlanPatch) -> Result<(), ModelError> {
    if let Some(points) = &p.points
        && points.len() > MAX_PLAN_POINTS
    {
        return Err(too_many_points(points.len()));
    }
    set(doc, "points", p.points.as_deref(), put_statement_list)?;
    set(
        doc,
        "review_on",
        p.review_on.as_ref().map(Option::as_deref),
        put_opt_str,
    )?;
    let end = p.planned_end.as_ref().map(Option::as_deref);
    set(doc, "planned_end", end, put_opt_str)?;
    set_status(doc, p.status)
}

fn set_status(doc: &mut AutoCommit, status: Option<NoteStatus>) -> Result<(), ModelError> {
    set(doc, "status", status.map(NoteStatus::as_str), put_str)
}

fn too_many_points(n: usize) -> ModelError {
    ModelError::Invalid(ValidationErrors(vec![ValidationError::new(
        "points",
        "max_items",
        format!("a short plan has at most {MAX_PLAN_POINTS} points, got {n}"),
    )]))
}

pub(crate) fn root_str(
    doc: &AutoCommit,
    field: &'static str,
) -> Result<Option<String>, ModelError> {
    Ok(match doc.get(ROOT, field)? {
        Some((Value::Scalar(s), _)) => s.as_str().map(str::to_owned),
        _ => None,
    })
}
