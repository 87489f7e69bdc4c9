//! Write rules: who may make which change to a record, checked change by change. The one place
//! these rules live: the server runs them on every push (after merging, before storing) and
//! the device runs them on every local change before it is written, so a device never commits
//! a change the server must refuse, and both give the same sentence.
//!
//! * **Fields fixed at creation** ([`IMMUTABLE_FIELDS`]: `id`, `kind`, `child_id`,
//!   `subject_kind`, `subject_id`, `author`, `worker_id`) are written by the record's creating
//!   change (the one change with no dependencies) and by no other. Every new change is read op
//!   by op, so a change that rewrites `author` is refused even if a later change puts it back.
//!   The record has no creation-time field: the creating change's own time is the record's.
//! * **Life-cycle moves**, whoever makes them, checked on each change that writes `status`
//!   against the status that change saw (the version at its dependencies):
//!   - *complete*: the record's author only, from draft;
//!   - *sign off*: a manager or admin, in their own name (`signed_off_by`), only from completed;
//!   - *delete*: a manager or admin, in their own name; after that nothing changes;
//!   - *back to draft*: nobody. A completed or signed-off record is a legal record: it changes
//!     only by an amendment with a reason (which cannot change the status). A record completed
//!     by mistake is amended, or deleted by a manager and written again.
//! * **Locks**: a change made after seeing the record completed or signed off must be an
//!   amendment (`amend: <reason>`) or a deletion; a deleted record takes no change at all.
//! * **A new record** must name its writer as author.
//!
//! Each refusal is a [`Refusal`]: a [`RuleCode`] (the server maps it to its wire reject code)
//! and one sentence that says what to do instead.

use std::collections::BTreeSet;

use automerge::legacy::{Key, ObjectId, OpType};
use automerge::{Change, ChangeHash, ROOT, ReadDoc, ScalarValue, Value};

use crate::document::{Document, EncodedChange};
use crate::kinds::NoteStatus;
use crate::lock::{DELETE_PREFIX, amendment_reason};
use crate::read::read_deletion;

/// Root fields written once, by the change that creates the record.
pub const IMMUTABLE_FIELDS: &[&str] = &[
    "id",
    "kind",
    "child_id",
    "subject_kind",
    "subject_id",
    "author",
    "worker_id",
];

/// The role of the person writing: the vocabulary's role (managers and admins, who
/// [`WriterRole::manages`], sign off and delete).
pub use fieldnotes_vocab::Role as WriterRole;

/// A role as a sentence names it.
fn role_name(role: WriterRole) -> &'static str {
    match role {
        WriterRole::SocialWorker => "social worker",
        WriterRole::YouthWorker => "youth worker",
        WriterRole::Manager => "manager",
        WriterRole::Admin => "admin",
    }
}

/// Who is writing: every new change checked was made on their device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Writer<'a> {
    pub user_id: &'a str,
    pub role: WriterRole,
}

/// Which rule a change breaks (the server sends it as its reject code of the same name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleCode {
    /// A field fixed at creation is written again.
    ImmutableField,
    /// A life-cycle move this person may not make.
    NotPermitted,
    /// A locked (completed, signed-off or deleted) record changed without an amendment.
    Locked,
    /// A new record names someone else as its author.
    WrongAuthor,
    /// The record is about a child (or worker) outside what this person may write.
    OutOfScope,
}

impl RuleCode {
    /// The wire name (the same as the server's reject code).
    pub fn as_str(self) -> &'static str {
        match self {
            RuleCode::ImmutableField => "immutable_field",
            RuleCode::NotPermitted => "not_permitted",
            RuleCode::Locked => "locked",
            RuleCode::WrongAuthor => "wrong_author",
            RuleCode::OutOfScope => "out_of_scope",
        }
    }
}

/// A change the rules refuse: the rule and a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: RuleCode,
    pub message: String,
}

impl Refusal {
    /// Name the change that broke the rule (so a device holding several can tell which).
    fn for_change(mut self, hash: &ChangeHash) -> Refusal {
        if !self.message.contains(&hash.to_string()) {
            self.message = format!("{} (change {hash})", self.message);
        }
        self
    }
}

fn refuse<T>(code: RuleCode, message: String) -> Result<T, Refusal> {
    Err(Refusal { code, message })
}

/// A record event the checked changes make (audited by the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordEvent {
    Complete,
    SignOff,
    Delete,
    Amend,
}

impl RecordEvent {
    /// The audit action name.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordEvent::Complete => "complete",
            RecordEvent::SignOff => "sign_off",
            RecordEvent::Delete => "delete_record",
            RecordEvent::Amend => "amend",
        }
    }
}

/// The refusal for writing a record under `scope_key` that `user_id` may not write. The device
/// gives it for a child it does not hold; the server for any key outside the person's scope.
pub fn out_of_scope(user_id: &str, scope_key: &str) -> Refusal {
    Refusal {
        code: RuleCode::OutOfScope,
        message: format!(
            "{user_id} may not write records for {scope_key}: it is not allocated or referred to \
             them, and they hold no access to it. Check the child id; if the child was allocated \
             to them just now, sync first; otherwise ask the team manager for access"
        ),
    }
}

/// The refusal for a plain edit to a completed or signed-off record.
pub fn locked(doc_id: &str, status: NoteStatus) -> Refusal {
    Refusal {
        code: RuleCode::Locked,
        message: format!(
            "record {doc_id} is {} and locked: it changes only by an amendment that gives a \
             reason",
            status_name(Some(status))
        ),
    }
}

/// The refusal for any change to a deleted record.
pub fn deleted(doc_id: &str, by: &str, reason: &str) -> Refusal {
    Refusal {
        code: RuleCode::Locked,
        message: format!(
            "record {doc_id} was deleted by {by} ({reason:?}): it can no longer be changed; \
             record anything new on a new record"
        ),
    }
}

/// What one change writes on the record's root.
struct RootWrites {
    hash: ChangeHash,
    deps: Vec<ChangeHash>,
    message: Option<String>,
    /// Root fields it writes (put, delete or a new object), with the string it puts, if any.
    fields: Vec<(String, Option<String>)>,
}

impl RootWrites {
    fn of(change: &EncodedChange) -> Result<RootWrites, Refusal> {
        let parsed = Change::try_from(change.bytes.as_slice()).map_err(|e| Refusal {
            code: RuleCode::NotPermitted,
            message: format!("change {} cannot be read: {e}", change.hash),
        })?;
        Ok(RootWrites::of_parsed(&parsed))
    }

    fn of_parsed(parsed: &Change) -> RootWrites {
        let expanded = parsed.decode();
        let fields = expanded
            .operations
            .iter()
            .filter(|op| op.obj == ObjectId::Root)
            .filter_map(|op| match &op.key {
                Key::Map(key) => Some((
                    key.to_string(),
                    match &op.action {
                        OpType::Put(ScalarValue::Str(s)) => Some(s.to_string()),
                        _ => None,
                    },
                )),
                Key::Seq(_) => None,
            })
            .collect();
        RootWrites {
            hash: parsed.hash(),
            deps: parsed.deps().to_vec(),
            message: parsed.message().map(str::to_owned),
            fields,
        }
    }

    fn writes(&self, field: &str) -> bool {
        self.fields.iter().any(|(f, _)| f == field)
    }

    /// The last string this change puts in `field`.
    fn puts(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(f, _)| f == field)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// Fields fixed at creation: only the creating change of a new record (the one change with no
/// dependencies) writes them.
fn check_fixed(id: &str, new_record: bool, writes: &[RootWrites]) -> Result<(), Refusal> {
    let mut creator: Option<ChangeHash> = None;
    for w in writes {
        let Some(field) = IMMUTABLE_FIELDS.iter().find(|f| w.writes(f)) else {
            continue;
        };
        let creates = new_record && w.deps.is_empty() && creator.is_none();
        if !creates {
            return refuse(
                RuleCode::ImmutableField,
                format!(
                    "change {} rewrites `{field}` of record {id}, which is fixed when the record \
                     is created; a record filed with the wrong {field} is deleted by a manager \
                     and recorded again",
                    w.hash
                ),
            );
        }
        creator = Some(w.hash);
    }
    Ok(())
}

/// The fields-fixed-at-creation rule alone, over raw pushed changes and the stored document's
/// saved bytes (`None` for a record not stored yet); changes the stored document already holds
/// are skipped. For a push the merge refuses on other grounds (a rewritten `kind` or `id`
/// leaves a document that no longer reads): the rewrite is the cause worth naming.
pub fn check_fixed_fields(
    doc_id: &str,
    stored: Option<&[u8]>,
    incoming: &[Vec<u8>],
) -> Result<(), Refusal> {
    let stored = match stored {
        Some(bytes) => match automerge::AutoCommit::load(bytes) {
            Ok(doc) => Some(doc),
            // Not this rule's question.
            Err(_) => return Ok(()),
        },
        None => None,
    };
    let mut writes = Vec::new();
    for bytes in incoming {
        let Ok(change) = Change::try_from(bytes.as_slice()) else {
            continue;
        };
        let known = stored
            .as_ref()
            .is_some_and(|d| d.get_change_by_hash(&change.hash()).is_some());
        if !known && !writes.iter().any(|w: &RootWrites| w.hash == change.hash()) {
            writes.push(RootWrites::of_parsed(&change));
        }
    }
    check_fixed(doc_id, stored.is_none(), &writes)
}

fn status_name(status: Option<NoteStatus>) -> &'static str {
    match status {
        Some(NoteStatus::Draft) | None => "a draft",
        Some(NoteStatus::Completed) => "completed",
        Some(NoteStatus::SignedOff) => "signed off",
    }
}

impl Document {
    /// The record's status as it was at `heads` (`None` before the record existed).
    fn status_at(&self, heads: &[ChangeHash]) -> Option<NoteStatus> {
        if heads.is_empty() {
            return None;
        }
        match self.doc.get_at(ROOT, "status", heads) {
            Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                ScalarValue::Str(t) => t.parse().ok(),
                _ => None,
            },
            _ => None,
        }
    }

    /// Check `new` — changes this document now holds that the other side did not have
    /// (`before` is the heads of what was stored before them: empty for a new record) —
    /// against the write rules for `writer`, who made them all. Returns the record events
    /// they make, or the first rule broken.
    pub fn check_write_rules(
        &self,
        writer: &Writer<'_>,
        before: &[ChangeHash],
        new: &[EncodedChange],
    ) -> Result<Vec<RecordEvent>, Refusal> {
        let mut events = BTreeSet::new();
        if new.is_empty() {
            return Ok(Vec::new());
        }
        let record = self.read().ok();
        let author = record.as_ref().and_then(|r| r.author().map(str::to_owned));
        let id = &self.id;
        if !before.is_empty()
            && let (Some(gone), _) = read_deletion(&self.doc, Some(before))
        {
            return Err(deleted(id, &gone.by, &gone.reason));
        }
        // A new record: its writer is its author.
        if before.is_empty()
            && let Some(author) = author.as_deref().filter(|a| *a != writer.user_id)
        {
            return refuse(
                RuleCode::WrongAuthor,
                format!(
                    "a new record must name its writer as author: it names {author:?}, but it is \
                     written by {}",
                    writer.user_id
                ),
            );
        }
        let writes = new
            .iter()
            .map(RootWrites::of)
            .collect::<Result<Vec<_>, _>>()?;

        check_fixed(id, before.is_empty(), &writes)?;

        let deleted_now = self.deletion();
        for w in &writes {
            self.check_change(
                writer,
                w,
                author.as_deref(),
                deleted_now.is_some(),
                &mut events,
            )
            .map_err(|r| r.for_change(&w.hash))?;
        }
        if let Some(marker) = &deleted_now
            && events.contains(&RecordEvent::Delete)
            && marker.by != writer.user_id
        {
            return refuse(
                RuleCode::NotPermitted,
                format!(
                    "a deletion is in the manager's own name: it names {}, but it is written by {}",
                    marker.by, writer.user_id
                ),
            );
        }
        Ok(events.into_iter().collect())
    }

    /// The life-cycle and lock rules for one new change.
    fn check_change(
        &self,
        writer: &Writer<'_>,
        w: &RootWrites,
        author: Option<&str>,
        deleted_now: bool,
        events: &mut BTreeSet<RecordEvent>,
    ) -> Result<(), Refusal> {
        let id = &self.id;
        let seen = self.status_at(&w.deps);
        if w.writes("status") {
            events.extend(check_status_move(id, writer, w, seen, author)?);
        } else {
            check_no_stray_sign_off(id, w)?;
        }
        if w.writes("deleted") {
            check_may_delete(id, writer)?;
            events.insert(RecordEvent::Delete);
        }
        if deleted_now && !w.deps.is_empty() && !w.writes("deleted") {
            self.check_not_deleted_at(&w.deps)?;
        }
        let amendment = amendment_reason(w.message.as_deref()).is_some();
        if amendment {
            events.insert(RecordEvent::Amend);
        }
        check_unlocked(id, w, seen, amendment)
    }

    /// The record was not deleted at `heads`.
    fn check_not_deleted_at(&self, heads: &[ChangeHash]) -> Result<(), Refusal> {
        match read_deletion(&self.doc, Some(heads)) {
            (Some(gone), _) => Err(deleted(&self.id, &gone.by, &gone.reason)),
            (None, _) => Ok(()),
        }
    }
}

/// A change that writes `status`, from `seen` (the status at its dependencies): the event it
/// makes, or the rule it breaks. Draft to draft, or a value validation refuses with its own
/// reason, makes none.
fn check_status_move(
    id: &str,
    writer: &Writer<'_>,
    w: &RootWrites,
    seen: Option<NoteStatus>,
    author: Option<&str>,
) -> Result<Option<RecordEvent>, Refusal> {
    match w.puts("status").and_then(|s| s.parse::<NoteStatus>().ok()) {
        Some(NoteStatus::Draft) if seen.is_some_and(NoteStatus::is_locked) => refuse(
            RuleCode::NotPermitted,
            format!(
                "record {id} is {}; it cannot go back to draft: change it by an amendment with a \
                 reason",
                status_name(seen)
            ),
        ),
        Some(NoteStatus::Completed) => {
            check_complete(id, writer, seen, author).map(|()| Some(RecordEvent::Complete))
        }
        Some(NoteStatus::SignedOff) => {
            check_sign_off(id, writer, w, seen).map(|()| Some(RecordEvent::SignOff))
        }
        _ => Ok(None),
    }
}

/// Completing: from draft, by the author only.
fn check_complete(
    id: &str,
    writer: &Writer<'_>,
    seen: Option<NoteStatus>,
    author: Option<&str>,
) -> Result<(), Refusal> {
    if seen.is_some_and(NoteStatus::is_locked) {
        return refuse(
            RuleCode::Locked,
            format!(
                "record {id} is already {}; change it by an amendment with a reason",
                status_name(seen)
            ),
        );
    }
    if let Some(author) = author.filter(|a| *a != writer.user_id) {
        return refuse(
            RuleCode::NotPermitted,
            format!(
                "only the author ({author}) completes record {id}; {} may add to it but not \
                 complete it",
                writer.user_id
            ),
        );
    }
    Ok(())
}

/// Signing off: by a manager or admin, only from completed, in their own name.
fn check_sign_off(
    id: &str,
    writer: &Writer<'_>,
    w: &RootWrites,
    seen: Option<NoteStatus>,
) -> Result<(), Refusal> {
    if !writer.role.manages() {
        return refuse(
            RuleCode::NotPermitted,
            format!(
                "signing a record off is a manager's decision; {} is a {}: ask the team manager \
                 to sign record {id} off",
                writer.user_id,
                role_name(writer.role)
            ),
        );
    }
    match seen {
        Some(NoteStatus::Completed) => {}
        Some(NoteStatus::SignedOff) => {
            return refuse(
                RuleCode::Locked,
                format!("record {id} is already signed off"),
            );
        }
        _ => {
            return refuse(
                RuleCode::NotPermitted,
                format!(
                    "only a completed record can be signed off: record {id} is {}, and its \
                     author completes it first",
                    status_name(seen)
                ),
            );
        }
    }
    if w.puts("signed_off_by") != Some(writer.user_id) {
        return refuse(
            RuleCode::NotPermitted,
            format!(
                "a sign-off is in the manager's own name: change {} names {:?}, but it is \
                 written by {}",
                w.hash,
                w.puts("signed_off_by").unwrap_or(""),
                writer.user_id
            ),
        );
    }
    Ok(())
}

/// Only a sign-off (a change that writes `status`) names its manager.
fn check_no_stray_sign_off(id: &str, w: &RootWrites) -> Result<(), Refusal> {
    if w.writes("signed_off_by") {
        return refuse(
            RuleCode::NotPermitted,
            format!(
                "change {} writes who signed record {id} off without signing it off; only a \
                 sign-off names its manager",
                w.hash
            ),
        );
    }
    Ok(())
}

/// Deleting is a manager's (or admin's) decision.
fn check_may_delete(id: &str, writer: &Writer<'_>) -> Result<(), Refusal> {
    if !writer.role.manages() {
        return refuse(
            RuleCode::NotPermitted,
            format!(
                "deleting a record is a manager's decision; {} is a {}: ask the team manager to \
                 delete record {id}",
                writer.user_id,
                role_name(writer.role)
            ),
        );
    }
    Ok(())
}

/// A change that saw the record locked is an amendment, a sign-off or a deletion; anything
/// else is a direct edit of a locked record.
fn check_unlocked(
    id: &str,
    w: &RootWrites,
    seen: Option<NoteStatus>,
    amendment: bool,
) -> Result<(), Refusal> {
    let deletion = w
        .message
        .as_deref()
        .is_some_and(|m| m.starts_with(DELETE_PREFIX))
        && w.writes("deleted");
    if let Some(status) = seen.filter(|s| s.is_locked())
        && !amendment
        && !deletion
        && !w.writes("status")
    {
        return Err(locked(id, status));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;

    use super::*;
    use crate::tests::{T0, actor, note, status, title};

    const SW: Writer<'static> = Writer {
        user_id: "sw-1",
        role: WriterRole::SocialWorker,
    };
    const OTHER: Writer<'static> = Writer {
        user_id: "sw-2",
        role: WriterRole::SocialWorker,
    };
    const MGR: Writer<'static> = Writer {
        user_id: "mgr",
        role: WriterRole::Manager,
    };

    /// Run `step` on `doc` and check what it wrote as `writer`.
    fn check_step(
        doc: &mut Document,
        writer: &Writer<'_>,
        step: impl FnOnce(&mut Document),
    ) -> Result<Vec<RecordEvent>, Refusal> {
        let before = doc.heads();
        let known: Vec<ChangeHash> = doc.all_changes().iter().map(|c| c.hash).collect();
        step(doc);
        let new: Vec<EncodedChange> = doc
            .all_changes()
            .into_iter()
            .filter(|c| !known.contains(&c.hash))
            .collect();
        doc.check_write_rules(writer, &before, &new)
    }

    /// The refusal of `step`, written by `writer`.
    fn refusal(
        doc: &mut Document,
        writer: &Writer<'_>,
        step: impl FnOnce(&mut Document),
    ) -> Refusal {
        check_step(doc, writer, step).unwrap_err()
    }

    /// The events of `step`, written by `writer` and accepted.
    fn accepted(
        doc: &mut Document,
        writer: &Writer<'_>,
        step: impl FnOnce(&mut Document),
    ) -> Vec<RecordEvent> {
        check_step(doc, writer, step).unwrap()
    }

    /// The refusal of `puts`, written raw (see [`raw_puts`]) by `writer`.
    fn raw_refusal(doc: &mut Document, writer: &Writer<'_>, puts: &[(&str, &str)]) -> Refusal {
        refusal(doc, writer, |d| raw_puts(d, puts))
    }

    /// The refusal of `puts`, written raw by `writer` to a note just [`created`].
    fn raw_refusal_of_new(writer: &Writer<'_>, puts: &[(&str, &str)]) -> Refusal {
        raw_refusal(&mut created(), writer, puts)
    }

    /// Raw root writes as a hostile device could make them, one change per write.
    fn raw_puts(doc: &mut Document, puts: &[(&str, &str)]) {
        let mut raw = automerge::AutoCommit::load(&doc.save())
            .unwrap()
            .with_actor(actor(9));
        for (field, value) in puts {
            raw.put(ROOT, *field, *value).unwrap();
            raw.commit();
        }
        *doc = Document::load(doc.id(), &raw.save()).unwrap();
    }

    fn created() -> Document {
        Document::create("n1", actor(1), note(), T0).unwrap()
    }

    /// [`created`], then completed by its author.
    fn completed() -> Document {
        let mut doc = created();
        doc.edit(status(NoteStatus::Completed), T0 + 1).unwrap();
        doc
    }

    #[test]
    fn a_new_record_by_its_author_passes() {
        let mut doc = created();
        let new = doc.all_changes();
        assert_eq!(doc.check_write_rules(&SW, &[], &new), Ok(Vec::new()));
        let err = doc.check_write_rules(&OTHER, &[], &new).unwrap_err();
        assert_eq!(err.code, RuleCode::WrongAuthor);
    }

    #[test]
    fn every_fixed_field_is_refused_after_creation() {
        for field in IMMUTABLE_FIELDS {
            // `id` and `kind` are put back, or the document would not load as this record.
            let puts: &[(&str, &str)] = match *field {
                "id" => &[("id", "someone-else"), ("id", "n1")],
                "kind" => &[("kind", "about_me"), ("kind", "visit_note")],
                other => &[(other, "someone-else")],
            };
            let err = raw_refusal_of_new(&SW, puts);
            assert_eq!(err.code, RuleCode::ImmutableField, "{field}: {err}");
            assert!(err.message.contains(&format!("`{field}`")), "{err}");
        }
    }

    #[test]
    fn a_rewrite_put_back_later_is_still_refused() {
        let mut doc = created();
        let err = raw_refusal(&mut doc, &SW, &[("author", "sw-2"), ("author", "sw-1")]);
        assert_eq!(err.code, RuleCode::ImmutableField);
        assert_eq!(
            doc.read().unwrap().author(),
            Some("sw-1"),
            "end state clean"
        );
    }

    #[test]
    fn the_author_swap_then_complete_attack_is_refused() {
        let err = raw_refusal_of_new(&OTHER, &[("author", "sw-2"), ("status", "completed")]);
        assert_eq!(err.code, RuleCode::ImmutableField);
    }

    #[test]
    fn only_the_author_completes() {
        let mut doc = created();
        let err = refusal(&mut doc, &OTHER, |d| {
            d.edit(status(NoteStatus::Completed), T0 + 1).unwrap();
        });
        assert_eq!(err.code, RuleCode::NotPermitted);
        assert!(err.message.contains("only the author (sw-1)"), "{err}");
        let mut doc = created();
        let events = accepted(&mut doc, &SW, |d| {
            d.edit(status(NoteStatus::Completed), T0 + 1).unwrap();
        });
        assert_eq!(events, vec![RecordEvent::Complete]);
    }

    #[test]
    fn sign_off_is_a_managers_and_only_from_completed() {
        let mut doc = completed();
        let err = refusal(&mut doc.fork(actor(2)), &SW, |d| {
            d.sign_off("sw-1", T0 + 2).unwrap();
        });
        assert_eq!(err.code, RuleCode::NotPermitted);
        assert!(err.message.contains("manager"), "{err}");
        let events = accepted(&mut doc.fork(actor(3)), &MGR, |d| {
            d.sign_off("mgr", T0 + 2).unwrap();
        });
        assert_eq!(events, vec![RecordEvent::SignOff]);
        // In someone else's name.
        let err = refusal(&mut doc.fork(actor(3)), &MGR, |d| {
            d.sign_off("other-mgr", T0 + 2).unwrap();
        });
        assert_eq!(err.code, RuleCode::NotPermitted);
        // Straight from draft, written raw.
        let err = raw_refusal_of_new(&MGR, &[("status", "signed_off"), ("signed_off_by", "mgr")]);
        assert_eq!(err.code, RuleCode::NotPermitted);
    }

    #[test]
    fn nobody_takes_a_locked_record_back_to_draft() {
        let mut doc = completed();
        for writer in [&SW, &MGR] {
            let err = raw_refusal(&mut doc.fork(actor(4)), writer, &[("status", "draft")]);
            assert_eq!(err.code, RuleCode::NotPermitted, "{err}");
            assert!(err.message.contains("amendment"), "{err}");
        }
    }

    #[test]
    fn a_locked_record_takes_amendments_not_edits() {
        let mut doc = completed();
        let err = raw_refusal(&mut doc.fork(actor(5)), &SW, &[("title", "Changed")]);
        assert_eq!(err.code, RuleCode::Locked);
        let events = accepted(&mut doc.fork(actor(5)), &SW, |d| {
            d.amend(title("Changed"), "typo in the title", T0 + 2)
                .unwrap();
        });
        assert_eq!(events, vec![RecordEvent::Amend]);
    }

    #[test]
    fn deletion_is_a_managers_and_ends_all_change() {
        let mut doc = created();
        let err = refusal(&mut doc.fork(actor(6)), &SW, |d| {
            d.delete("sw-1", "wrong child", T0 + 1).unwrap();
        });
        assert_eq!(err.code, RuleCode::NotPermitted);
        assert!(err.message.contains("manager's decision"), "{err}");
        let events = accepted(&mut doc, &MGR, |d| {
            d.delete("mgr", "wrong child", T0 + 1).unwrap();
        });
        assert_eq!(events, vec![RecordEvent::Delete]);
        let err = raw_refusal(&mut doc, &MGR, &[("title", "x")]);
        assert_eq!(err.code, RuleCode::Locked);
        assert!(err.message.contains("deleted by mgr"), "{err}");
    }

    #[test]
    fn an_edit_not_seeing_the_lock_is_left_for_review() {
        let mut doc = created();
        let mut offline = doc.fork(actor(7));
        doc.edit(status(NoteStatus::Completed), T0 + 1).unwrap();
        offline.edit(title("Offline"), T0 + 2).unwrap();
        let new: Vec<EncodedChange> = offline.all_changes().into_iter().skip(1).collect();
        let before = doc.heads();
        doc.merge(&mut offline).unwrap();
        assert_eq!(doc.check_write_rules(&OTHER, &before, &new), Ok(Vec::new()));
    }
}
